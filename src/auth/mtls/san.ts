/**
 * An agent's names, read from its certificate's subjectAltName extension
 * (PRODUCT.md §4: "identity from the SAN … parsed structurally").
 *
 * Rules:
 * - Names come from the DER of the SubjectAlternativeName extension, one
 *   GeneralName at a time. Node's `subjectaltname` display string is never
 *   used: it joins names with ", " and quotes/escapes some of them, so a URI
 *   holding `,` or `"` could read as two names.
 * - Only URI and DNS names are agent names; e-mail, IP, directory and other
 *   names are ignored, and so is the subject CN.
 * - A certificate with more than one SAN extension, or with a URI/DNS name
 *   that cannot be read unambiguously (control characters, whitespace,
 *   non-ASCII, bad syntax), is refused as a whole. Skipping the bad name and
 *   using another would make the identity depend on what we chose to skip.
 * - Each name has a canonical form so that the same agent written in
 *   different encodings is one principal (one rate-limit bucket, one
 *   mapping): DNS names lower-cased without the trailing dot; `spiffe:` and
 *   `https:` URIs normalised by the WHATWG URL parser with scheme and host
 *   lower-cased; other URIs with the scheme lower-cased.
 */
import 'reflect-metadata';
import { SubjectAlternativeNameExtension, X509Certificate } from '@peculiar/x509';
import { MtlsError } from './errors.js';

export type AgentNameType = 'uri' | 'dns';

export interface AgentName {
  type: AgentNameType;
  /** The name as the certificate (or admin) wrote it. */
  value: string;
  /** The form mappings and principals key on. */
  canonical: string;
}

const MAX_NAME_LENGTH = 2048;
/** C0 controls, DEL and C1 controls: refused in any name. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** URIs are printable ASCII without spaces (RFC 3986); SAN URIs are IA5String. */
const URI_CHARS = /^[\x21-\x7e]+$/;
const URI_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** LDH labels (underscore tolerated), an optional leading wildcard label, an optional trailing dot. */
const DNS_NAME = /^(?:\*\.)?(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?$/;
/** Schemes whose authority the WHATWG URL parser can normalise. */
const URL_SCHEMES = new Set(['spiffe', 'https']);

function refuse(type: AgentNameType, value: string, why: string): never {
  // JSON.stringify keeps a hostile name on one line in logs and messages.
  throw new MtlsError('invalid_name', `${type.toUpperCase()} name ${JSON.stringify(value.slice(0, 256))} ${why}`);
}

/**
 * The canonical form of a URI or DNS agent name; throws `MtlsError`
 * (`invalid_name`) for a name that cannot be read unambiguously.
 *
 * @example
 * ```ts
 * canonicalAgentName('dns', 'Billing.Example.ORG.'); // 'billing.example.org'
 * canonicalAgentName('uri', 'SPIFFE://Example.org/ns/prod'); // 'spiffe://example.org/ns/prod'
 * ```
 */
export function canonicalAgentName(type: AgentNameType, value: string): string {
  if (value.length === 0) refuse(type, value, 'is empty');
  if (value.length > MAX_NAME_LENGTH) refuse(type, value, `is longer than ${MAX_NAME_LENGTH} characters`);
  if (CONTROL.test(value)) refuse(type, value, 'contains a control character');
  if (type === 'dns') {
    if (!DNS_NAME.test(value)) refuse(type, value, 'is not a DNS name');
    const name = value.endsWith('.') ? value.slice(0, -1) : value;
    if (name.length > 253) refuse(type, value, 'is longer than 253 characters');
    return name.toLowerCase();
  }
  if (!URI_CHARS.test(value)) refuse(type, value, 'contains whitespace or non-ASCII characters');
  const scheme = URI_SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) refuse(type, value, 'has no scheme');
  if (!URL_SCHEMES.has(scheme)) return scheme + value.slice(scheme.length);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    refuse(type, value, 'is not a valid URL');
  }
  if (url.host === '') refuse(type, value, 'has no host');
  // `spiffe:` is not a WHATWG special scheme: its host is opaque and keeps its case.
  url.host = url.host.toLowerCase();
  return url.href;
}

/**
 * An admin-supplied SAN: a URI when it starts with a scheme and `//`
 * (`spiffe://…`, `https://…`, or `scheme:` for URNs and others), else a DNS name.
 *
 * @example
 * ```ts
 * parseAgentName('spiffe://example.org/ns/prod/sa/billing').type; // 'uri'
 * parseAgentName('billing.agents.example.org').type; // 'dns'
 * ```
 */
export function parseAgentName(san: string): AgentName {
  // A DNS name never contains ':'; anything with a scheme is a URI.
  const type: AgentNameType = URI_SCHEME.test(san) ? 'uri' : 'dns';
  return { type, value: san, canonical: canonicalAgentName(type, san) };
}

/** What the authenticator needs from a certificate, read in one parse. */
export interface AgentCertificate {
  names: AgentName[];
  notAfter: Date;
}

/**
 * The URI and DNS names of a DER certificate (in certificate order) and its
 * expiry. Throws `MtlsError` (`malformed_certificate`, `invalid_name`).
 */
export function readAgentCertificate(der: Buffer): AgentCertificate {
  let cert: X509Certificate;
  let extensions: SubjectAlternativeNameExtension[];
  try {
    cert = new X509Certificate(der);
    extensions = cert.getExtensions(SubjectAlternativeNameExtension);
  } catch (err) {
    throw new MtlsError('malformed_certificate', 'certificate is not a well-formed X.509 certificate', { cause: err });
  }
  // RFC 5280 §4.2: an extension appears at most once; two SANs are two answers.
  if (extensions.length > 1) throw new MtlsError('malformed_certificate', 'certificate has more than one subjectAltName extension');
  const names: AgentName[] = [];
  for (const name of extensions[0]?.names.items ?? []) {
    // @peculiar/x509 calls URIs `url`; names it cannot represent are already left out.
    const type: AgentNameType | undefined = name.type === 'url' ? 'uri' : name.type === 'dns' ? 'dns' : undefined;
    if (type === undefined) continue;
    names.push({ type, value: name.value, canonical: canonicalAgentName(type, name.value) });
  }
  return { names, notAfter: cert.notAfter };
}

/**
 * The URI and DNS names of a DER certificate, in certificate order. Throws
 * `MtlsError` (`malformed_certificate`, `invalid_name`).
 *
 * @example
 * ```ts
 * import { X509Certificate } from 'node:crypto';
 * declare const pem: string;
 * const names = agentNamesFromCertificate(new X509Certificate(pem).raw);
 * // [{ type: 'uri', value: 'spiffe://example.org/sa/a', canonical: 'spiffe://example.org/sa/a' }]
 * ```
 */
export function agentNamesFromCertificate(der: Buffer): { type: AgentNameType; value: string; canonical: string }[] {
  return readAgentCertificate(der).names;
}

/**
 * The name an agent is known by: the first `spiffe://` URI, else the first
 * URI, else the first DNS name. Chosen from the certificate alone, never
 * from which names happen to be mapped, so one certificate is one agent.
 */
export function preferredAgentName(names: readonly AgentName[]): AgentName | undefined {
  return (
    names.find((n) => n.type === 'uri' && n.canonical.startsWith('spiffe://')) ??
    names.find((n) => n.type === 'uri') ??
    names.find((n) => n.type === 'dns')
  );
}
