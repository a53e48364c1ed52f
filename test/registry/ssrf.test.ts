import t from 'tap';
import { assertAddressAllowed, checkBackendUrl, classifyAddress, type SsrfPolicy } from '../../src/registry/ssrf.js';

const STRICT: SsrfPolicy = { allowLoopback: false, allowPrivate: false };
const LOOPBACK: SsrfPolicy = { allowLoopback: true, allowPrivate: false };
const PRIVATE: SsrfPolicy = { allowLoopback: false, allowPrivate: true };
const LAX: SsrfPolicy = { allowLoopback: true, allowPrivate: true };

/** The injected resolver's world. Names not listed fail like ENOTFOUND. */
const DNS: Record<string, string[]> = {
  'example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  localhost: ['127.0.0.1', '::1'],
  'internal.corp.test': ['10.20.30.40'],
  // Rebinding-style answers: one good address must not launder a bad one.
  'dual.example.test': ['93.184.215.14', '169.254.169.254'],
  'dual6.example.test': ['2606:4700::1111', '::1'],
  'mapped.example.test': ['::ffff:169.254.169.254'],
  'empty.example.test': [],
};

const calls: string[] = [];
async function lookup(host: string): Promise<string[]> {
  calls.push(host);
  const answer = DNS[host.replace(/\.$/, '')]; // a trailing dot is the same (fully qualified) name
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return answer;
}

interface Vector {
  url: string;
  policy: SsrfPolicy;
  /** 'allowed', or the RegistryError code expected. */
  expect: 'allowed' | 'ssrf_blocked' | 'invalid_input';
  addressClass?: string;
  /** Text the message must contain (the config key that would allow it, …). */
  mentions?: string;
}

const VECTORS: Vector[] = [
  // Allowed
  { url: 'https://example.com/mcp', policy: STRICT, expect: 'allowed' },
  { url: 'http://93.184.215.14:8080/mcp', policy: STRICT, expect: 'allowed' },
  { url: 'https://[2606:4700::1111]/mcp', policy: STRICT, expect: 'allowed' },
  { url: 'http://172.32.0.1/', policy: STRICT, expect: 'allowed' }, // just past 172.16/12
  { url: 'http://100.128.0.1/', policy: STRICT, expect: 'allowed' }, // just past 100.64/10
  { url: 'http://127.0.0.1:3000/mcp', policy: LOOPBACK, expect: 'allowed' },
  { url: 'http://localhost:3000/mcp', policy: LOOPBACK, expect: 'allowed' },
  { url: 'http://[::1]:3000/', policy: LOOPBACK, expect: 'allowed' },
  { url: 'http://internal.corp.test/mcp', policy: PRIVATE, expect: 'allowed' },
  { url: 'http://[fd12:3456::1]/', policy: PRIVATE, expect: 'allowed' },
  { url: 'http://[::ffff:10.0.0.1]/', policy: PRIVATE, expect: 'allowed' },

  // Loopback without backends.allowLoopback, in every spelling
  ...[
    'http://127.0.0.1/',
    'http://127.1/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0x7f000001/',
    'http://017700000001/',
    'http://[::1]/',
    'http://[0:0:0:0:0:0:0:1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://[::127.0.0.1]/',
    'http://localhost/',
    'http://localhost./',
    'http://dual6.example.test/',
  ].map((url): Vector => ({
    url,
    policy: PRIVATE,
    expect: 'ssrf_blocked',
    addressClass: 'loopback',
    mentions: 'backends.allowLoopback',
  })),

  // Private ranges without backends.allowPrivate
  ...[
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://172.31.255.255/',
    'http://192.168.1.1/',
    'http://100.64.0.1/',
    'http://[fc00::1]/',
    'http://[fd12:3456::1]/',
    'http://[::ffff:192.168.0.1]/',
    'http://internal.corp.test/',
  ].map((url): Vector => ({
    url,
    policy: LOOPBACK,
    expect: 'ssrf_blocked',
    addressClass: 'private',
    mentions: 'backends.allowPrivate',
  })),

  // Never allowed, whatever the policy
  { url: 'http://169.254.169.254/latest/meta-data/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata', mentions: 'never allowed' },
  { url: 'http://[fd00:ec2::254]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://100.100.100.200/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://metadata.google.internal/computeMetadata/v1/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://METADATA.Google.Internal./', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://metadata/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://[::ffff:a9fe:a9fe]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://[64:ff9b::169.254.169.254]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://dual.example.test/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://mapped.example.test/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'metadata' },
  { url: 'http://169.254.1.1/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'link-local' },
  { url: 'http://[fe80::1]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'link-local' },
  { url: 'http://[febf::1]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'link-local' },
  { url: 'http://0.0.0.0/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'unspecified' },
  { url: 'http://0/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'unspecified' },
  { url: 'http://0.1.2.3/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'unspecified' },
  { url: 'http://[::]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'unspecified' },
  { url: 'http://224.0.0.1/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'multicast' },
  { url: 'http://239.255.255.250/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'multicast' },
  { url: 'http://[ff02::1]/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'multicast' },
  { url: 'http://255.255.255.255/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'broadcast' },
  { url: 'http://240.0.0.1/', policy: LAX, expect: 'ssrf_blocked', addressClass: 'reserved' },

  // Not a usable backend URL at all
  { url: 'not a url', policy: LAX, expect: 'invalid_input' },
  { url: 'ftp://example.com/', policy: LAX, expect: 'invalid_input', mentions: 'http or https' },
  { url: 'file:///etc/passwd', policy: LAX, expect: 'invalid_input' },
  { url: 'gopher://127.0.0.1:6379/_PING', policy: LAX, expect: 'invalid_input' },
  { url: 'http://user:secret@example.com/', policy: LAX, expect: 'invalid_input', mentions: 'userinfo' },
  { url: 'http://evil.test@127.0.0.1/', policy: LAX, expect: 'invalid_input' },
  { url: 'http://nx.example.test/', policy: LAX, expect: 'invalid_input', mentions: 'ENOTFOUND' },
  { url: 'http://empty.example.test/', policy: LAX, expect: 'invalid_input' },
];

const label = (p: SsrfPolicy) => (p.allowLoopback ? (p.allowPrivate ? 'lax' : 'loopback') : p.allowPrivate ? 'private' : 'strict');

for (const v of VECTORS) {
  t.test(`${v.url} [${label(v.policy)}] → ${v.expect}${v.addressClass ? ` (${v.addressClass})` : ''}`, async (t) => {
    const p = checkBackendUrl(v.url, v.policy, lookup);
    if (v.expect === 'allowed') {
      const url = await p;
      t.type(url, URL);
      return;
    }
    const err = await p.then(
      () => t.fail('expected a rejection'),
      (e: unknown) => e,
    );
    t.match(err, { name: 'RegistryError', code: v.expect, status: 400 });
    if (v.addressClass) t.match(err, { details: { addressClass: v.addressClass } });
    if (v.mentions) t.match((err as Error).message, v.mentions);
    // The message never echoes credentials from the URL.
    t.notMatch((err as Error).message, 'secret');
  });
}

t.test('IP literals and metadata names are judged without DNS', async (t) => {
  calls.length = 0;
  await checkBackendUrl('http://93.184.215.14/', STRICT, lookup);
  await t.rejects(checkBackendUrl('http://[::ffff:7f00:1]/', STRICT, lookup), { code: 'ssrf_blocked' });
  await t.rejects(checkBackendUrl('http://metadata.google.internal/', LAX, lookup), { code: 'ssrf_blocked' });
  t.same(calls, []);
  await checkBackendUrl('https://example.com/', STRICT, lookup);
  t.same(calls, ['example.com']);
});

t.test('returns the WHATWG-normalised URL', async (t) => {
  const url = await checkBackendUrl('http://0x7f.1:8080/mcp', LOOPBACK, lookup);
  t.equal(url.href, 'http://127.0.0.1:8080/mcp');
});

t.test('blocked details name the address, the class and the config key', async (t) => {
  await t.rejects(checkBackendUrl('http://localhost:9000/', STRICT, lookup), {
    code: 'ssrf_blocked',
    details: { host: 'localhost', address: '127.0.0.1', addressClass: 'loopback', configKey: 'backends.allowLoopback' },
  });
  await t.rejects(checkBackendUrl('http://[::ffff:10.1.1.1]/', STRICT, lookup), {
    code: 'ssrf_blocked',
    details: { addressClass: 'private', embeddedIPv4: '10.1.1.1', configKey: 'backends.allowPrivate' },
  });
});

t.test('classifyAddress / assertAddressAllowed for connect-time checks', async (t) => {
  t.same(classifyAddress('8.8.8.8'), { addressClass: 'public' });
  t.same(classifyAddress('::ffff:127.0.0.1'), { addressClass: 'loopback', embeddedIPv4: '127.0.0.1' });
  t.same(classifyAddress('fe80::1%eth0'), { addressClass: 'link-local' });
  t.throws(() => classifyAddress('example.com'), { code: 'invalid_input' });
  t.same(assertAddressAllowed('127.0.0.1', LOOPBACK), { addressClass: 'loopback' });
  t.throws(() => assertAddressAllowed('169.254.169.254', LAX), { code: 'ssrf_blocked' });
});
