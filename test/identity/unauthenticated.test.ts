/**
 * An unauthenticated caller learns nothing: whatever it sends — no session,
 * a garbage body, an oversized body, a batch — the answer is 401 with the
 * RFC 9728 challenge, decided from headers alone before the body is read.
 */
import t from 'tap';
import { startTestNode, removeDir } from '../helpers/node.js';
import { startLegacyHttpBackend } from '../helpers/backends.js';
import { rawPost } from '../helpers/clients.js';

const backend = await startLegacyHttpBackend();
const tn = await startTestNode({ auth: {}, gateway: { maxBodyBytes: 4096 } });
t.teardown(async () => {
  await tn.stop();
  await backend.close();
  await removeDir(tn.dataDir);
});
await tn.register({ slug: 'crm', version: '1.0.0', backend: { http: backend.url } });

const bodies: [string, string][] = [
  ['legacy request without a session', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })],
  ['legacy initialize', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } })],
  ['invalid JSON', '{"jsonrpc":'],
  ['a batch', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'],
  ['an oversized body', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(100_000) } })],
  ['a notification', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })],
];

for (const url of [`${tn.url}/mcp`, `${tn.url}/mcp/v1/tools/crm/rpc`]) {
  for (const [what, body] of bodies) {
    t.test(`${url.replace(tn.url, '')}: ${what} → 401`, async (t) => {
      const before = backend.seenHeaders.length;
      const res = await rawPost(url, body);
      t.equal(res.status, 401);
      t.equal(res.body?.error?.data?.reason, 'missing_credentials');
      t.equal(res.body?.error?.code, -32001);
      t.match(res.headers.get('www-authenticate') ?? '', /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/);
      t.equal(backend.seenHeaders.length, before, 'the backend saw nothing');
    });
  }
}
