/**
 * Calls into a real node for the identity tests: modern-era JSON-RPC POSTs
 * over plain HTTP or over the node's mTLS listener (undici with a client
 * certificate), and the shape checks every refusal shares (PRODUCT.md §6).
 */
import { Agent, fetch as undiciFetch } from 'undici';
import type { Test } from 'tap';
import { modern } from './clients.js';
import type { Issued, TestCa } from './pki.js';

export interface CallResult {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** An undici dispatcher presenting `client` (or no certificate) to a listener whose certificate `ca` issued. */
export function mtlsDispatcher(ca: TestCa, client?: Issued): Agent {
  return new Agent({
    connect: {
      ca: ca.certPem,
      servername: 'localhost',
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    },
  });
}

/** One modern-era (2026-07-28) JSON-RPC request; `dispatcher` for mTLS. */
export async function call(
  url: string,
  method: string,
  params: Record<string, unknown> = {},
  options: { bearer?: string; headers?: Record<string, string>; dispatcher?: Agent; id?: number | string } = {},
): Promise<CallResult> {
  const m = modern(method, params, options.id ?? 1);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...m.headers,
    ...(options.bearer !== undefined ? { authorization: `Bearer ${options.bearer}` } : {}),
    ...options.headers,
  };
  const res = await undiciFetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(m.body),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers as unknown as Headers, body, text };
}

/** `tools/call` of `name` with an echo argument. */
export function callTool(url: string, name: string, options: Parameters<typeof call>[3] = {}, text = 'hi'): Promise<CallResult> {
  return call(url, 'tools/call', { name, arguments: { text } }, options);
}

export const JSONRPC_CODE: Record<string, number> = {
  invalid_token: -32001,
  missing_credentials: -32001,
  insufficient_scope: -32003,
  forbidden: -32003,
  not_found: -32004,
  rate_limited: -32005,
  sunset: -32010,
};

/** Asserts a JSON-RPC refusal: HTTP status, `error.code` and `error.data.reason`. */
export function assertRefused(t: Test, res: CallResult, status: number, reason: string, what: string): void {
  t.equal(res.status, status, `${what}: HTTP ${status}`);
  t.equal(res.body?.error?.data?.reason, reason, `${what}: reason ${reason}`);
  t.equal(res.body?.error?.code, JSONRPC_CODE[reason], `${what}: JSON-RPC code ${JSONRPC_CODE[reason]}`);
  t.notOk(res.body?.result, `${what}: no result`);
}

/** Asserts a tool call went through and the echo tool answered `text`. */
export function assertEchoed(t: Test, res: CallResult, text: string, what: string): void {
  t.equal(res.status, 200, `${what}: HTTP 200`, res.status === 200 ? {} : { body: res.text.slice(0, 500) });
  t.same(res.body?.result?.content, [{ type: 'text', text }], `${what}: the backend answered`);
}
