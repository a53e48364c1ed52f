/**
 * Yamux window updates once half of a stream's receive window is used, the
 * rule go-yamux (the reference implementation) follows — not after every data
 * frame, as `@chainsafe/libp2p-yamux` 8 does.
 *
 * Why: a remote call is one data frame each way on a pooled stream. Answering
 * each with a window update adds two encrypted messages per call, each a
 * socket write that wakes the other node, and both sit on the call's critical
 * path (the update is sent before the frame reaches the reader). Measured in
 * `scripts/bench-federation.ts`: each one-way hop about a quarter shorter.
 *
 * Flow control is unchanged in substance: an update still goes out on the
 * frame that takes the unused window below half, so a sender never runs dry
 * while the reader keeps up. Updates that carry SYN/ACK (stream set-up) and a
 * paused stream's behaviour stay the library's. Installed once per process by
 * the peer host; if the library's internals ever differ from what this
 * expects, it leaves the library alone.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

interface StreamWindowInternals {
  state: StreamState;
  recvWindow: unknown;
  recvWindowCapacity: unknown;
}

type SendWindowUpdate = (this: StreamWindowInternals) => void;

let installed = false;

/** Makes every Yamux stream of this process send window updates past half its window only. Idempotent. */
export function installHalfWindowUpdates(): void {
  if (installed) return;
  installed = true;
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate?: SendWindowUpdate };
  const original = proto.sendWindowUpdate;
  if (typeof original !== 'function') return;
  proto.sendWindowUpdate = function sendWindowUpdate(this: StreamWindowInternals): void {
    const { recvWindow, recvWindowCapacity } = this;
    if (
      this.state === StreamState.Established &&
      typeof recvWindow === 'number' &&
      typeof recvWindowCapacity === 'number' &&
      recvWindow - recvWindowCapacity < recvWindow / 2
    ) {
      return; // more than half the window is still open to the sender
    }
    original.call(this);
  };
}
