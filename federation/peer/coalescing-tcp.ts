/**
 * `@libp2p/tcp` with one socket write per encrypted message.
 *
 * Noise hands the TCP connection each message as a list of buffers (length
 * prefix, ciphertext pieces, tag) and the stock connection writes them one by
 * one: four `write(2)` calls per message, each crossing the loopback stack on
 * its own. Corking the socket around one `sendData` makes Node flush the list
 * as a single `writev(2)`: the same bytes in the same order, a third of the
 * syscalls per remote call (measured in `scripts/bench-federation.ts`).
 *
 * The decorator wraps the upgrader the transport hands its new connections to,
 * so both dialled and accepted connections are covered and nothing else of
 * the transport changes.
 */
import type { Socket } from 'node:net';
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface';
import { tcp, type TCPComponents, type TCPOptions } from '@libp2p/tcp';

type SendData = (data: Iterable<Uint8Array>) => { sentBytes: number; canSendMore: boolean };

/** The stock connection's internals this relies on (checked at run time: without them it changes nothing). */
interface TcpConnectionInternals {
  socket?: Socket;
  sendData?: SendData;
}

function corkEachSend(maConn: MultiaddrConnection): void {
  const conn = maConn as unknown as TcpConnectionInternals;
  const socket = conn.socket;
  const send = conn.sendData;
  if (typeof send !== 'function' || typeof socket?.cork !== 'function') return;
  conn.sendData = (data) => {
    socket.cork();
    try {
      return send.call(conn, data);
    } finally {
      socket.uncork();
    }
  };
}

function coalescing(upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get(target, property, receiver) {
      if (property === 'upgradeInbound' || property === 'upgradeOutbound') {
        const upgrade = Reflect.get(target, property, receiver) as (maConn: MultiaddrConnection, ...rest: unknown[]) => unknown;
        return (maConn: MultiaddrConnection, ...rest: unknown[]) => {
          corkEachSend(maConn);
          return upgrade.call(target, maConn, ...rest);
        };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Drop-in for `tcp(init)` in a libp2p `transports` list. */
export function coalescingTcp(init?: TCPOptions): (components: TCPComponents) => Transport {
  const factory = tcp(init);
  return (components) => {
    const transport = factory(components);
    const dial = transport.dial.bind(transport);
    const createListener = transport.createListener.bind(transport);
    transport.dial = (ma, options) => dial(ma, { ...options, upgrader: coalescing(options.upgrader) });
    transport.createListener = (options) => createListener({ ...options, upgrader: coalescing(options.upgrader) });
    return transport;
  };
}
