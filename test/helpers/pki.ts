/**
 * A throwaway PKI for mTLS tests, made at test time with @peculiar/x509 and
 * WebCrypto (ECDSA P-256, fast to generate): certificate authorities, a
 * server certificate for 127.0.0.1/localhost, client certificates with any
 * URI/DNS subjectAltNames and validity, and CRLs revoking chosen certificates.
 *
 * Nothing here is a fixture on disk: every run has fresh keys.
 *
 * @example
 * ```ts
 * const ca = await createCa('Agents CA');
 * const server = await ca.issueServer();
 * const agent = await ca.issueClient({ uris: ['spiffe://example.org/ns/prod/sa/billing'] });
 * const crl = await ca.crl([agent]);
 * ```
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A key and certificate in the PEM forms `tls` options take. */
export interface Issued {
  cert: x509.X509Certificate;
  certPem: string;
  keyPem: string;
  /** Hexadecimal serial number (as CRL entries name it). */
  serial: string;
}

export interface ClientCertOptions {
  uris?: string[];
  dns?: string[];
  /** Subject common name; mTLS must never read it. Defaults to `agent`. */
  cn?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** Extra extensions, appended as given (hostile vectors: a second SAN extension, …). */
  extensions?: x509.Extension[];
}

export interface TestCa extends Issued {
  name: string;
  issueServer(hosts?: { dns?: string[]; ips?: string[] }): Promise<Issued>;
  issueClient(options: ClientCertOptions): Promise<Issued>;
  /** A PEM CRL signed by this CA revoking `revoked` (valid from an hour ago for a day). */
  crl(revoked: Issued[]): Promise<string>;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A positive serial: DER integers are signed, so the first byte stays below 0x80. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export async function createCa(name = 'Toolmesh Test CA'): Promise<TestCa> {
  const keys = await keyPair();
  const serial = serialNumber();
  const subject = `CN=${name}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: subject,
    keys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  const issue = async (options: {
    cn: string;
    names: x509.JsonGeneralNames;
    usage: 'server' | 'client';
    extensions?: x509.Extension[];
    notBefore?: Date;
    notAfter?: Date;
  }): Promise<Issued> => {
    const leafKeys = await keyPair();
    const leafSerial = serialNumber();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: leafSerial,
      subject: `CN=${options.cn}`,
      issuer: cert.subject,
      publicKey: leafKeys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: ALG,
      notBefore: options.notBefore ?? new Date(Date.now() - DAY),
      notAfter: options.notAfter ?? new Date(Date.now() + 7 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        ...(options.names.length ? [new x509.SubjectAlternativeNameExtension(options.names)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ...(options.extensions ?? []),
      ],
    });
    return { cert: leaf, certPem: leaf.toString('pem'), keyPem: await keyPem(leafKeys.privateKey), serial: leafSerial };
  };

  return {
    name,
    cert,
    certPem: cert.toString('pem'),
    keyPem: await keyPem(keys.privateKey),
    serial,
    issueServer(hosts = {}) {
      const dns = hosts.dns ?? ['localhost'];
      const ips = hosts.ips ?? ['127.0.0.1'];
      return issue({
        cn: dns[0] ?? 'server',
        usage: 'server',
        names: [...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))],
      });
    },
    issueClient(options) {
      return issue({
        cn: options.cn ?? 'agent',
        usage: 'client',
        names: [...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })), ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value }))],
        ...(options.extensions ? { extensions: options.extensions } : {}),
        ...(options.notBefore ? { notBefore: options.notBefore } : {}),
        ...(options.notAfter ? { notAfter: options.notAfter } : {}),
      });
    },
    async crl(revoked) {
      const list = await x509.X509CrlGenerator.create({
        issuer: cert.subject,
        thisUpdate: new Date(Date.now() - 3_600_000),
        nextUpdate: new Date(Date.now() + DAY),
        signingKey: keys.privateKey,
        signingAlgorithm: ALG,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey)],
        entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(Date.now() - 60_000), reason: x509.X509CrlReason.keyCompromise })),
      });
      // OpenSSL (and so node:tls) reads only the `X509 CRL` PEM label.
      return x509.PemConverter.encode(list.rawData, 'X509 CRL') + '\n';
    },
  };
}
