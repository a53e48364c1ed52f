/**
 * Agent names from certificates (src/auth/mtls/san.ts): canonical forms as
 * data, and certificates whose SAN extension is hostile or odd, each with
 * the names expected or the error code.
 */
import 'reflect-metadata';
import t from 'tap';
import * as x509 from '@peculiar/x509';
import { createCa } from '../helpers/pki.js';
import { agentNamesFromCertificate, canonicalAgentName, parseAgentName, preferredAgentName, type AgentNameType } from '../../src/auth/mtls/san.js';
import { MtlsError } from '../../src/auth/mtls/errors.js';

interface CanonicalVector {
  type: AgentNameType;
  value: string;
  /** The canonical form, or the MtlsError code. */
  expect: string | { code: 'invalid_name' };
}

const CANONICAL: CanonicalVector[] = [
  // DNS: lower-cased, one trailing dot dropped.
  { type: 'dns', value: 'reports.agents.example.org', expect: 'reports.agents.example.org' },
  { type: 'dns', value: 'REPORTS.Agents.Example.ORG.', expect: 'reports.agents.example.org' },
  { type: 'dns', value: '*.agents.example.org', expect: '*.agents.example.org' },
  { type: 'dns', value: '_svc.example.org', expect: '_svc.example.org' },
  { type: 'dns', value: 'a..example.org', expect: { code: 'invalid_name' } },
  { type: 'dns', value: 'evil.example.org\u0000.good.example.org', expect: { code: 'invalid_name' } },
  { type: 'dns', value: 'spiffe://example.org/ns', expect: { code: 'invalid_name' } }, // never the same key as a URI
  { type: 'dns', value: 'bücher.example', expect: { code: 'invalid_name' } }, // certificates carry A-labels
  { type: 'dns', value: 'a b.example.org', expect: { code: 'invalid_name' } },
  { type: 'dns', value: '', expect: { code: 'invalid_name' } },
  { type: 'dns', value: 'x.example.org..', expect: { code: 'invalid_name' } },
  // spiffe / https: WHATWG URL, scheme and host lower-cased, path kept.
  { type: 'uri', value: 'spiffe://example.org/ns/prod/sa/billing', expect: 'spiffe://example.org/ns/prod/sa/billing' },
  { type: 'uri', value: 'SPIFFE://Example.ORG/ns/prod/sa/Billing', expect: 'spiffe://example.org/ns/prod/sa/Billing' },
  { type: 'uri', value: 'spiffe://example.org/ns/./prod/x/../sa', expect: 'spiffe://example.org/ns/prod/sa' },
  { type: 'uri', value: 'spiffe://example.org/ns/a,b"c', expect: 'spiffe://example.org/ns/a,b%22c' },
  { type: 'uri', value: 'spiffe://example.org/ns/a,b%22c', expect: 'spiffe://example.org/ns/a,b%22c' },
  { type: 'uri', value: 'HTTPS://Agents.Example.org:443/billing', expect: 'https://agents.example.org/billing' },
  { type: 'uri', value: 'https://agents.example.org', expect: 'https://agents.example.org/' },
  // Other schemes: only the scheme is case-folded.
  { type: 'uri', value: 'URN:uuid:6E8BC430-9C3A-11D9-9669-0800200C9A66', expect: 'urn:uuid:6E8BC430-9C3A-11D9-9669-0800200C9A66' },
  // Refused: what a URL parser would silently strip or rewrite.
  { type: 'uri', value: 'spiffe://exa\tmple.org/ns', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe://example.org/ns\n', expect: { code: 'invalid_name' } },
  { type: 'uri', value: ' spiffe://example.org/ns', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe://example.org/a b', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe://example.org/\u0085', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe://example.org/é', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe:///ns/prod', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'spiffe:ns', expect: { code: 'invalid_name' } },
  { type: 'uri', value: '//example.org/ns', expect: { code: 'invalid_name' } },
  { type: 'uri', value: 'https://exa mple.org/', expect: { code: 'invalid_name' } },
];

t.test('canonical forms', async (t) => {
  for (const v of CANONICAL) {
    const name = `${v.type} ${JSON.stringify(v.value)}`;
    if (typeof v.expect === 'string') t.equal(canonicalAgentName(v.type, v.value), v.expect, name);
    else t.throws(() => canonicalAgentName(v.type, v.value), { name: 'MtlsError', code: v.expect.code }, name);
  }
});

t.test('an admin-supplied SAN is a URI when it has a scheme, else a DNS name', async (t) => {
  t.same(parseAgentName('spiffe://Example.org/a'), { type: 'uri', value: 'spiffe://Example.org/a', canonical: 'spiffe://example.org/a' });
  t.same(parseAgentName('Billing.Example.org.'), { type: 'dns', value: 'Billing.Example.org.', canonical: 'billing.example.org' });
  t.throws(() => parseAgentName('billing example'), { code: 'invalid_name' });
});

t.test('the preferred name: first spiffe URI, else first URI, else first DNS name', async (t) => {
  const n = (type: AgentNameType, value: string) => ({ type, value, canonical: canonicalAgentName(type, value) });
  t.equal(preferredAgentName([n('dns', 'a.example.org'), n('uri', 'https://a.example.org/'), n('uri', 'spiffe://example.org/a')])?.value, 'spiffe://example.org/a');
  t.equal(preferredAgentName([n('dns', 'a.example.org'), n('uri', 'https://a.example.org/')])?.value, 'https://a.example.org/');
  t.equal(preferredAgentName([n('dns', 'a.example.org'), n('dns', 'b.example.org')])?.value, 'a.example.org');
  t.equal(preferredAgentName([]), undefined);
});

t.test('names from certificates', async (t) => {
  const ca = await createCa();
  const names = async (options: Parameters<typeof ca.issueClient>[0]) => agentNamesFromCertificate(Buffer.from((await ca.issueClient(options)).cert.rawData));

  t.same(
    await names({ uris: ['spiffe://example.org/ns/prod/sa/billing'], dns: ['Billing.Example.org.'] }),
    [
      { type: 'uri', value: 'spiffe://example.org/ns/prod/sa/billing', canonical: 'spiffe://example.org/ns/prod/sa/billing' },
      { type: 'dns', value: 'Billing.Example.org.', canonical: 'billing.example.org' },
    ],
    'URI and DNS names in certificate order',
  );

  // Node's display string is `URI:"spiffe://example.org/x\u002cDNS:admin.example.org"` — one name,
  // which a naive split on ", " or "," would read as two.
  t.same(await names({ uris: ['spiffe://example.org/x,DNS:admin.example.org', 'spiffe://example.org/q"u,o"te'] }), [
    { type: 'uri', value: 'spiffe://example.org/x,DNS:admin.example.org', canonical: 'spiffe://example.org/x,DNS:admin.example.org' },
    { type: 'uri', value: 'spiffe://example.org/q"u,o"te', canonical: 'spiffe://example.org/q%22u,o%22te' },
  ]);

  t.same(await names({ cn: 'spiffe://example.org/ns/prod/sa/admin' }), [], 'the subject CN is never a name');

  // e-mail, IP and directory names are not agent names.
  const other = await ca.issueClient({
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'email', value: 'agent@example.org' },
        { type: 'ip', value: '10.0.0.1' },
        { type: 'dn', value: 'CN=spiffe://example.org/admin' },
        { type: 'dns', value: 'only.example.org' },
      ]),
    ],
  });
  t.same(agentNamesFromCertificate(Buffer.from(other.cert.rawData)).map((n) => n.value), ['only.example.org']);

  await t.rejects(names({ uris: ['spiffe://example.org/a\u0001b'] }), { code: 'invalid_name' }, 'a control character refuses the certificate');
  await t.rejects(names({ uris: ['spiffe://example.org/ok'], dns: ['evil.example.org\u0000.good.example.org'] }), { code: 'invalid_name' }, 'even next to a good name');

  const twoSans = await ca.issueClient({
    uris: ['spiffe://example.org/ns/prod/sa/reader'],
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/ns/prod/sa/admin' }])],
  });
  t.throws(() => agentNamesFromCertificate(Buffer.from(twoSans.cert.rawData)), { code: 'malformed_certificate' }, 'two SAN extensions are two answers: refused');

  t.throws(() => agentNamesFromCertificate(Buffer.from('not a certificate')), { code: 'malformed_certificate' });
  t.ok(new MtlsError('not_found', 'x').expose);
});
