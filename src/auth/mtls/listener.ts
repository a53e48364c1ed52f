/**
 * The mTLS listener: HTTPS that asks every client for a certificate, checks
 * it against the configured CAs and CRL, and serves the node's one request
 * listener (the same one the plain HTTP listener serves).
 *
 * Why `rejectUnauthorized: false`: a client whose certificate fails (expired,
 * revoked, unknown CA) or who sends none still completes the handshake and
 * gets an HTTP answer, so an MCP client sees a 401 JSON-RPC error saying why
 * instead of a TLS alert it reports as "socket hang up", and a client without
 * a certificate may still use a bearer token on this port. The price: the
 * TLS layer's verdict is only `socket.authorized`, and every reader of the
 * peer certificate must check it (`Agents.authenticate` does; nothing else
 * on the request path reads it).
 *
 * Revocation without restart: `reloadCrl` swaps the secure context (new
 * handshakes see the new CRL), rotates the session-ticket keys (a revoked
 * client cannot resume a session verified before the revocation), and
 * closes open connections whose certificate the new CRL revokes (keep-alive
 * would otherwise outlive the revocation).
 */
import 'reflect-metadata';
import { randomBytes, constants as cryptoConstants } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { BasicConstraintsExtension, PemConverter, X509Certificate, X509Crl } from '@peculiar/x509';
import { ConfigError } from '../../config/config.js';

export interface MtlsFiles {
  /** The server's certificate chain (PEM). */
  cert: string | Buffer;
  /** The server's private key (PEM). */
  key: string | Buffer;
  /** The CAs whose client certificates are accepted (PEM, one or more). Only these: not the system roots. */
  ca: string | Buffer;
  /**
   * CRLs (PEM, one or more, or one DER). When set, OpenSSL checks the client
   * certificate against them and refuses it when its issuer has no CRL here
   * or when that CRL is past its nextUpdate: with several CAs, give one CRL
   * per CA, and publish new ones before nextUpdate.
   */
  crl?: string | Buffer;
}

export interface MtlsServerOptions extends MtlsFiles {
  keepAliveTimeout?: number;
}

export interface MtlsServer extends Server {
  /**
   * Replaces the CRL (or removes it with `undefined`). Throws (and keeps the
   * current CRL) when `crl` does not parse. Returns how many open
   * connections were closed because the new CRL revokes their certificate.
   */
  reloadCrl(crl: string | Buffer | undefined): number;
}

/** TLS settings that are not the operator's to choose. */
const FIXED = {
  minVersion: 'TLSv1.2',
  // A TLS 1.2 renegotiation could swap the client certificate mid-connection.
  secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
} as const;

/**
 * @example
 * ```ts
 * import type { RequestListener } from 'node:http';
 * declare const listener: RequestListener;
 * const files = await loadMtlsFiles({ cert: 'tls/server.pem', key: 'tls/server.key', ca: 'tls/agents-ca.pem', crl: 'tls/agents.crl' });
 * const server = createMtlsServer({ ...files, keepAliveTimeout: 65_000 }, listener);
 * server.listen(7443, '0.0.0.0');
 * // later, after the CA publishes a new CRL:
 * server.reloadCrl(await readFile('tls/agents.crl'));
 * ```
 */
export function createMtlsServer(options: MtlsServerOptions, listener: RequestListener): MtlsServer {
  const base = { cert: options.cert, key: options.key, ca: options.ca, ...FIXED };
  const initial = options.crl === undefined ? undefined : parseCrls(options.crl);
  const server = createServer(
    {
      ...base,
      ...(initial ? { crl: initial.pems } : {}),
      requestCert: true,
      rejectUnauthorized: false,
      ...(options.keepAliveTimeout !== undefined ? { keepAliveTimeout: options.keepAliveTimeout } : {}),
    },
    listener,
  ) as MtlsServer;

  const open = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });

  server.reloadCrl = (crl) => {
    // Parsed first: a bad CRL throws before anything changed.
    const next = crl === undefined ? undefined : parseCrls(crl);
    server.setSecureContext({ ...base, ...(next ? { crl: next.pems } : {}) });
    // Node gives the new context fresh ticket keys today; rotating here makes it a guarantee.
    server.setTicketKeys(randomBytes(48));
    if (!next) return 0;
    let closed = 0;
    for (const socket of open) {
      const raw = socket.getPeerCertificate(false)?.raw;
      if (!raw || raw.length === 0) continue;
      if (isRevoked(new X509Certificate(raw), next.revoked)) {
        socket.destroy();
        closed++;
      }
    }
    return closed;
  };
  return server;
}

interface ParsedCrls {
  /** One PEM per CRL: node:tls reads only the first CRL of a string, so a bundle is passed as a list. */
  pems: string[];
  /** issuer name → revoked serials (normalised hex). */
  revoked: Map<string, Set<string>>;
  /** Each CRL's issuer and the time after which OpenSSL no longer accepts it. */
  validity: { issuer: string; nextUpdate: Date | undefined }[];
}

/** Every CRL of a PEM bundle (or one DER CRL); throws when there is none or one does not parse. */
function parseCrls(crl: string | Buffer): ParsedCrls {
  const text = typeof crl === 'string' ? crl : crl.toString('latin1');
  const ders: (ArrayBuffer | Buffer)[] = PemConverter.isPem(text)
    ? PemConverter.decodeWithHeaders(text).filter((s) => s.type === 'X509 CRL').map((s) => s.rawData)
    : [typeof crl === 'string' ? Buffer.from(crl, 'latin1') : crl];
  if (ders.length === 0) throw new Error('no X509 CRL found');
  const parsed: ParsedCrls = { pems: [], revoked: new Map(), validity: [] };
  for (const der of ders) {
    const list = new X509Crl(der);
    const issuer = list.issuerName.toString();
    const serials = parsed.revoked.get(issuer) ?? new Set<string>();
    for (const entry of list.entries) serials.add(normaliseSerial(entry.serialNumber));
    parsed.revoked.set(issuer, serials);
    parsed.validity.push({ issuer, nextUpdate: list.nextUpdate });
    parsed.pems.push(PemConverter.encode(list.rawData, 'X509 CRL') + '\n');
  }
  return parsed;
}

function isRevoked(cert: X509Certificate, revoked: Map<string, Set<string>>): boolean {
  return revoked.get(cert.issuerName.toString())?.has(normaliseSerial(cert.serialNumber)) ?? false;
}

function normaliseSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** Paths of the mTLS files, as the config names them. */
export interface MtlsFilePaths {
  cert: string;
  key: string;
  ca: string;
  crl?: string;
}

/**
 * Reads the mTLS files and checks that each one is usable, so that a bad
 * file fails the start naming it (`mtls.ca (/etc/…): …`), never a handshake:
 * node:tls itself accepts a CA file without any certificate in it (and then
 * trusts no one), and an expired CRL (and then refuses everyone).
 */
export async function loadMtlsFiles(config: MtlsFilePaths, now: Date = new Date()): Promise<{ cert: Buffer; key: Buffer; ca: Buffer; crl?: Buffer }> {
  const read = async (field: keyof MtlsFilePaths, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new ConfigError(`mtls.${field} (${path}): cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const check = (field: keyof MtlsFilePaths, path: string, make: () => unknown) => {
    try {
      make();
    } catch (err) {
      throw new ConfigError(`mtls.${field} (${path}): ${(err as Error).message}`);
    }
  };
  const cert = await read('cert', config.cert);
  const key = await read('key', config.key);
  const ca = await read('ca', config.ca);
  const crl = config.crl === undefined ? undefined : await read('crl', config.crl);
  check('cert', config.cert, () => createSecureContext({ cert, key }));
  check('ca', config.ca, () => {
    createSecureContext({ ca });
    const blocks = PemConverter.isPem(ca.toString('latin1')) ? PemConverter.decodeWithHeaders(ca.toString('latin1')).filter((b) => b.type === 'CERTIFICATE') : [];
    if (blocks.length === 0) throw new Error('no PEM CERTIFICATE in the file');
    for (const block of blocks) {
      const cert = new X509Certificate(block.rawData);
      if (cert.getExtension(BasicConstraintsExtension)?.ca !== true) throw new Error(`${cert.subject} is not a CA certificate`);
    }
  });
  if (crl !== undefined) {
    check('crl', config.crl!, () => {
      const parsed = parseCrls(crl);
      createSecureContext({ ca, crl: parsed.pems });
      for (const { issuer, nextUpdate } of parsed.validity) {
        if (nextUpdate && nextUpdate.getTime() <= now.getTime()) {
          throw new Error(`the CRL of ${issuer} expired at ${nextUpdate.toISOString()} (nextUpdate): every certificate of that CA would be refused`);
        }
      }
    });
  }
  return { cert, key, ca, ...(crl !== undefined ? { crl } : {}) };
}

/**
 * Reloads the CRL whenever its file changes (polled, so an atomic rename by
 * a CRL publisher is seen too). A CRL that does not parse is reported and
 * the previous one stays in force. Returns a function that stops watching.
 */
export function watchCrlFile(
  server: MtlsServer,
  path: string,
  options: { intervalMs?: number; onReload?: (closed: number) => void; onError?: (err: unknown) => void } = {},
): () => void {
  const onChange = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    readFile(path)
      .then((crl) => options.onReload?.(server.reloadCrl(crl)))
      .catch((err: unknown) => options.onError?.(err));
  };
  watchFile(path, { interval: options.intervalMs ?? 30_000, persistent: false }, onChange);
  return () => unwatchFile(path, onChange);
}
