/**
 * JSON request bodies for the admin API: size-bounded, strictly JSON, and
 * refused with a stable code when they are not.
 */
import type { Context } from 'koa';
import { HttpError } from './errors.js';

export async function readJsonBody(ctx: Context, limit = 1_048_576): Promise<unknown> {
  const type = ctx.get('content-type');
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new HttpError(413, 'payload_too_large', `body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'payload_too_large', `body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
  }
}
