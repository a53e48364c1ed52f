/**
 * A low-level HTTP request for hostile-input tests, on `node:http` so a test
 * controls what `fetch` would not let it: the `Host` header, a chunked body
 * without Content-Length, any method, and no default headers at all.
 */
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  body: any;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  /** Sent in one piece, with Content-Length. */
  body?: string | Buffer;
  /** Sent one write per chunk with `Transfer-Encoding: chunked` and no Content-Length. */
  chunks?: (string | Buffer)[];
}

export function rawRequest(url: string, options: RawRequest = {}): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: options.method ?? 'POST',
        headers: {
          ...(options.body !== undefined ? { 'content-length': String(Buffer.byteLength(options.body)) } : {}),
          ...(options.chunks !== undefined ? { 'transfer-encoding': 'chunked' } : {}),
          ...options.headers,
        },
        // A fresh connection per request: a refused body must not poison a pooled socket.
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let body: any;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
        res.on('error', reject);
      },
    );
    // The server may answer (413) and close before the whole body is written.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (options.chunks) for (const c of options.chunks) req.write(c);
    else if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
