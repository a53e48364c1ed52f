/**
 * Incremental `text/event-stream` parsing (and the matching one-event encoder),
 * per the WHATWG HTML "server-sent events" interpretation rules.
 *
 * Chunks may split anywhere — inside a UTF-8 sequence, a line, or a CRLF pair —
 * so the parser keeps a streaming decoder, the unfinished line and the event
 * being assembled between `push()` calls. It never allocates per byte and does
 * no JSON work: what `data` means is the caller's business.
 */

/** One dispatched event. `event` defaults to `'message'` as the spec says. */
export interface SseEvent {
  event: string;
  /** The `data:` lines joined with `\n` (may be empty: priming events). */
  data: string;
  /** The last event id seen on the stream so far (sticky, as in EventSource). */
  id: string | undefined;
  /** The latest `retry:` reconnection delay seen on the stream (sticky too). */
  retry: number | undefined;
}

export interface SseParserOptions {
  /**
   * Upper bound on buffered characters (unfinished line plus pending data).
   * A peer that never ends a line or event would otherwise grow memory without
   * bound; beyond it `push()` throws `SseOverflowError`. Default 16 MiB.
   */
  maxBufferedChars?: number;
}

/** Thrown by {@link SseParser.push} when an event outgrows `maxBufferedChars`. */
export class SseOverflowError extends Error {
  readonly code = 'SSE_OVERFLOW';
  constructor(limit: number) {
    super(`event stream buffered more than ${limit} characters without completing an event`);
    this.name = 'SseOverflowError';
  }
}

const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024;

/**
 * Feeds bytes or text in, calls `onEvent` for every complete event, in order.
 *
 * @example
 * ```ts
 * const parser = new SseParser((ev) => console.log(ev.event, JSON.parse(ev.data)));
 * parser.push('event: message\ndata: {"a"');
 * parser.push(':1}\n\n'); // logs: message { a: 1 }
 * parser.end();
 * ```
 */
export class SseParser {
  private readonly onEvent: (event: SseEvent) => void;
  private readonly maxBuffered: number;
  private readonly decoder = new TextDecoder('utf-8');
  /** Text after the last line terminator, waiting for the rest of its line. */
  private rest = '';
  /** A chunk ended on CR: a LF opening the next chunk belongs to that CR. */
  private skipLf = false;
  private started = false;
  private data: string[] = [];
  private dataChars = 0;
  private eventType = '';
  private lastId: string | undefined;
  private retry: number | undefined;

  constructor(onEvent: (event: SseEvent) => void, options: SseParserOptions = {}) {
    this.onEvent = onEvent;
    this.maxBuffered = options.maxBufferedChars ?? DEFAULT_MAX_BUFFERED;
  }

  /** Parses one chunk; dispatches every event it completes. */
  push(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf) {
      this.skipLf = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    const buf = this.rest.length === 0 ? text : this.rest + text;
    const len = buf.length;
    let start = 0;
    // indexOf results are reused until passed, so a stream without CRs costs
    // one failed CR scan per chunk, not one per line.
    let lf = buf.indexOf('\n');
    let cr = buf.indexOf('\r');
    while (start < len) {
      if (lf !== -1 && lf < start) lf = buf.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = buf.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        if (lf === -1) break;
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 < len) next = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
        else {
          next = cr + 1;
          this.skipLf = true;
        }
      }
      this.line(buf, start, end);
      start = next;
    }
    this.rest = start === 0 ? buf : buf.slice(start);
    if (this.rest.length + this.dataChars > this.maxBuffered) throw new SseOverflowError(this.maxBuffered);
  }

  /**
   * Ends the stream. Per the spec an event not closed by a blank line is
   * discarded, so this only flushes the decoder and resets state.
   */
  end(): void {
    const tail = this.decoder.decode();
    if (tail.length > 0) this.push(tail);
    this.rest = '';
    this.data = [];
    this.dataChars = 0;
    this.eventType = '';
  }

  private line(buf: string, start: number, end: number): void {
    if (start === end) {
      this.dispatch();
      return;
    }
    if (buf.charCodeAt(start) === 58 /* ':' */) return; // comment / keep-alive
    const colon = buf.indexOf(':', start);
    let field: string;
    let value: string;
    if (colon === -1 || colon >= end) {
      field = buf.slice(start, end);
      value = '';
    } else {
      field = buf.slice(start, colon);
      const v = buf.charCodeAt(colon + 1) === 32 && colon + 1 < end ? colon + 2 : colon + 1;
      value = buf.slice(v, end);
    }
    switch (field) {
      case 'data':
        this.data.push(value);
        this.dataChars += value.length + 1;
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored by the spec
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      // A blank line with no data (e.g. a bare `id:` or `retry:`) dispatches nothing.
      this.eventType = '';
      return;
    }
    const data = this.data.length === 1 ? (this.data[0] as string) : this.data.join('\n');
    const event = this.eventType === '' ? 'message' : this.eventType;
    this.data = [];
    this.dataChars = 0;
    this.eventType = '';
    this.onEvent({ event, data, id: this.lastId, retry: this.retry });
  }
}

/**
 * Encodes one event. Multi-line `data` is split into several `data:` lines so
 * a payload containing newlines cannot end the event early.
 *
 * @example
 * ```ts
 * encodeSseEvent(JSON.stringify({ jsonrpc: '2.0', method: 'ping' }));
 * // 'event: message\ndata: {"jsonrpc":"2.0","method":"ping"}\n\n'
 * ```
 */
export function encodeSseEvent(data: string, event = 'message', id?: string): string {
  let out = id === undefined ? '' : `id: ${id}\n`;
  if (event !== '') out += `event: ${event}\n`;
  if (data.includes('\n') || data.includes('\r')) {
    for (const part of data.split(/\r\n|\r|\n/)) out += `data: ${part}\n`;
  } else {
    out += `data: ${data}\n`;
  }
  return out + '\n';
}
