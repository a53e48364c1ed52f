/**
 * In-process measurement of what identity costs per call: authentication
 * (a cached JWT verification, an API key HMAC check, the anonymous grant),
 * the rate-limit bucket and the authorization decision — the three policy
 * steps the identity work added to the chain. CPU time from
 * `process.cpuUsage()` over many iterations, so loopback and kernel noise
 * that dominates the end-to-end runs does not blur it.
 *
 * Usage: node dist/scripts/bench-policy.js   (BENCH_POLICY_ITERATIONS, default 200000)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { Store } from '../src/store/db.js';
import { ApiKeys } from '../src/auth/apikeys/api-keys.js';
import { TrustedIssuers } from '../src/auth/oauth/issuers.js';
import { JwtVerifier } from '../src/auth/oauth/jwt-verifier.js';
import { RateLimiter, DEFAULT_RATE_LIMITS } from '../src/auth/rate-limit.js';
import { decideTool } from '../src/auth/authorization.js';
import { callerIdentifier } from '../src/gateway/policy/authenticate.js';
import type { Endpoint } from '../src/gateway/call.js';
import type { PinnedTool, ServerRecord } from '../src/registry/types.js';

const ITERATIONS = Number(process.env.BENCH_POLICY_ITERATIONS ?? 200_000);
const ISSUER = 'https://idp.bench.example';
const RESOURCE = 'http://127.0.0.1:7300/mcp';

const tool: PinnedTool = { name: 'echo', inputSchema: { type: 'object' }, access: 'write', approvedBy: 'bench', approvedAt: 'now' };
const record = (namespace?: string): ServerRecord => ({
  slug: 'raw',
  version: '1.0.0',
  backend: { http: 'http://127.0.0.1/mcp' },
  tools: [tool],
  lifecycle: 'stable',
  allowedGroups: [],
  approvedBy: 'bench',
  approvedAt: 'now',
  createdAt: 'now',
  ...(namespace ? { namespace } : {}),
});

function request(authorization?: string): IncomingMessage {
  return { url: '/mcp/v1/tools/raw/rpc', headers: authorization ? { authorization } : {}, socket: { encrypted: false } } as unknown as IncomingMessage;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'toolmesh-bench-policy-'));
  const store = new Store(join(dir, 'db'));
  await store.open();
  try {
    const apiKeys = new ApiKeys(store, randomBytes(32));
    await apiKeys.load();
    const { key } = await apiKeys.issue('acme', { scopes: ['mcp:tool:raw:write'] }, 'bench');

    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const issuers = new TrustedIssuers([]);
    issuers.addLocal(ISSUER, createLocalJWKSet({ keys: [jwk] }), { algorithms: ['ES256'] });
    const jwt = new JwtVerifier(issuers, { audience: RESOURCE });
    const token = await new SignJWT({ scope: 'mcp:tool:raw:write', groups: ['bench'], client_id: 'bench-client' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setSubject('alice')
      .setAudience(RESOURCE)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);

    const identify = callerIdentifier({ jwt, apiKeys, anonymous: { groups: [], scopes: [] }, resourceMetadataUrl: () => `${RESOURCE}/.well-known` });
    const limiter = new RateLimiter({ ...DEFAULT_RATE_LIMITS, defaults: { person: { perMinute: 1e12, burst: 1e12 }, agent: { perMinute: 1e12, burst: 1e12 }, tenant: { perMinute: 1e12, burst: 1e12 } } });
    const endpoint: Endpoint = { kind: 'server', slug: 'raw', major: 1 };
    const lifecycle = { alpha: [], beta: [] };

    const cases: [string, IncomingMessage, ServerRecord][] = [
      ['anonymous grant', request(), record()],
      ['OAuth JWT (verified once, then cached)', request(`Bearer ${token}`), record()],
      ['tenant API key (HMAC each call)', request(`Bearer ${key}`), record('acme')],
    ];
    const rows: string[] = [];
    for (const [label, req, server] of cases) {
      for (let i = 0; i < 2000; i++) {
        const who = await identify(req, endpoint); // warm-up: JIT, caches
        limiter.take(who);
        decideTool(who, server, tool, lifecycle);
      }
      const before = process.cpuUsage();
      for (let i = 0; i < ITERATIONS; i++) {
        const who = await identify(req, endpoint);
        if (!limiter.take(who).allowed) throw new Error('rate limited in the bench');
        if (!decideTool(who, server, tool, lifecycle).allowed) throw new Error(`${label}: not authorized in the bench`);
      }
      const used = process.cpuUsage(before);
      rows.push(`| ${label} | ${((used.user + used.system) / ITERATIONS).toFixed(2)} µs |`);
    }
    process.stdout.write(
      [
        '',
        `Identity policy steps in process (authenticate + rate limit + authorize), ${ITERATIONS.toLocaleString('en-US')} calls each, CPU per call:`,
        '',
        '| caller | CPU per call (target: ≤ 60 µs added) |',
        '|---|---:|',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-policy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
