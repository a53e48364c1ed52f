/**
 * SSRF rules for backend URLs (PRODUCT.md §7): a registered backend must not
 * let the gateway reach the node's own infrastructure.
 *
 * Rules, in order:
 *  1. The URL parses, its scheme is http or https, and it carries no userinfo
 *     (credentials belong in `BackendSpec.headers`)            → else `invalid_input`
 *  2. The host is not a cloud metadata name (`metadata.google.internal`, `metadata`)
 *  3. The host is resolved (IP literals as they are; WHATWG URL has already
 *     normalised `2130706433`, `0x7f.1`, `017700000001` to dotted quads) and
 *     EVERY address must pass; one bad answer blocks the URL, so a name that
 *     resolves to both a public and a metadata address is refused.
 *  4. Per address: cloud metadata, link-local, unspecified, broadcast,
 *     multicast and reserved (240/4) are always refused; loopback only with
 *     `backends.allowLoopback`, private ranges only with `backends.allowPrivate`.
 *     IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, also as
 *     `::ffff:7f00:1`; compatible `::a.b.c.d`; NAT64 `64:ff9b::/96`) are judged
 *     by the IPv4 address they carry.
 *
 * A check at registration does not stop DNS rebinding: whatever connects to the
 * backend should run {@link assertAddressAllowed} on the address it actually
 * dials (e.g. in the HTTP agent's `lookup`).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { RegistryError } from './errors.js';

/** Which non-public address classes the node accepts for backends (config `backends.*`). */
export interface SsrfPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type HostLookup = (host: string) => Promise<string[]>;

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export interface AddressClassification {
  addressClass: AddressClass;
  /** The IPv4 address an IPv6 address carries, when that decided the class. */
  embeddedIPv4?: string;
}

/** Host names of cloud metadata services, refused before any DNS lookup. */
const METADATA_HOSTNAMES = new Set(['metadata.google.internal', 'metadata']);

interface Range {
  net: bigint;
  prefix: number;
  addressClass: AddressClass;
}

// First match wins: the specific metadata addresses come before the ranges
// that contain them (169.254/16, 100.64/10, fc00::/7).
const V4_RANGES: readonly Range[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack, …
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud
  v4('0.0.0.0/8', 'unspecified'),
  v4('255.255.255.255/32', 'broadcast'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link-local'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'),
  v4('10.0.0.0/8', 'private'),
  v4('172.16.0.0/12', 'private'),
  v4('192.168.0.0/16', 'private'),
  v4('100.64.0.0/10', 'private'), // carrier-grade NAT, internal in most clouds
];

const V6_RANGES: readonly Range[] = [
  v6('fd00:ec2::254/128', 'metadata'), // AWS IMDS over IPv6
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('fe80::/10', 'link-local'),
  v6('ff00::/8', 'multicast'),
  v6('fc00::/7', 'private'),
];

/** IPv6 prefixes whose last 32 bits are an IPv4 address the packet really goes to. */
const V6_EMBEDDING: readonly Range[] = [
  v6('::ffff:0:0/96', 'public'), // IPv4-mapped
  v6('::/96', 'public'), // IPv4-compatible (deprecated; `::` and `::1` are matched before)
  v6('64:ff9b::/96', 'public'), // NAT64 well-known prefix
];

/**
 * Checks a backend URL against the SSRF rules and returns it parsed.
 *
 * @param lookup resolves DNS names; defaults to `dns.promises.lookup(host, {all: true})`.
 * @throws RegistryError `invalid_input` (unparseable, wrong scheme, userinfo, unresolvable)
 *   or `ssrf_blocked` (an address class the policy refuses).
 *
 * @example
 * ```ts
 * import { checkBackendUrl } from './ssrf.js';
 * const url = await checkBackendUrl('https://mcp.example.com/mcp', { allowLoopback: false, allowPrivate: false });
 * console.log(url.host);
 * ```
 */
export async function checkBackendUrl(
  url: string,
  policy: SsrfPolicy,
  lookup: HostLookup = defaultLookup,
): Promise<URL> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RegistryError('invalid_input', `Backend URL ${JSON.stringify(url)} is not a valid URL`, { url });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RegistryError('invalid_input', `Backend URL scheme ${parsed.protocol} is not allowed; use http or https`, {
      url: parsed.href,
    });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new RegistryError(
      'invalid_input',
      'Backend URL must not contain userinfo (user:password@); put credentials in the backend headers',
      { url: redactUserinfo(parsed) },
    );
  }

  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const bareName = host.replace(/\.$/, '');
  if (METADATA_HOSTNAMES.has(bareName)) {
    throw new RegistryError(
      'ssrf_blocked',
      `Backend URL ${parsed.href}: ${bareName} is a cloud metadata host; never allowed as a backend`,
      { url: parsed.href, host: bareName, addressClass: 'metadata' },
    );
  }

  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await lookup(host);
    } catch (err) {
      const cause = (err as { code?: unknown }).code;
      throw new RegistryError('invalid_input', `Backend host ${host} could not be resolved${cause ? ` (${String(cause)})` : ''}`, {
        url: parsed.href,
        host,
      });
    }
    if (addresses.length === 0) {
      throw new RegistryError('invalid_input', `Backend host ${host} resolves to no address`, { url: parsed.href, host });
    }
  }

  for (const address of addresses) assertAddressAllowed(address, policy, { url: parsed.href, host });
  return parsed;
}

/**
 * Throws `ssrf_blocked` unless the policy allows connecting to `address`.
 * Use it where the connection is made, on the address actually dialled.
 *
 * @example
 * ```ts
 * import { assertAddressAllowed } from './ssrf.js';
 * assertAddressAllowed('93.184.215.14', { allowLoopback: false, allowPrivate: false }); // passes
 * ```
 */
export function assertAddressAllowed(
  address: string,
  policy: SsrfPolicy,
  context: { url?: string; host?: string } = {},
): AddressClassification {
  const classification = classifyAddress(address);
  const { addressClass, embeddedIPv4 } = classification;
  if (
    addressClass === 'public' ||
    (addressClass === 'loopback' && policy.allowLoopback) ||
    (addressClass === 'private' && policy.allowPrivate)
  ) {
    return classification;
  }

  const configKey =
    addressClass === 'loopback' ? 'backends.allowLoopback' : addressClass === 'private' ? 'backends.allowPrivate' : undefined;
  const isLiteral = context.host === undefined || stripZone(context.host) === stripZone(address);
  const subject =
    (context.url ? `Backend URL ${context.url}: ` : '') +
    (isLiteral ? `${address} is` : `${context.host} resolves to ${address},`);
  const carried = embeddedIPv4 ? ` (carrying IPv4 ${embeddedIPv4})` : '';
  const remedy = configKey ? `refused unless ${configKey} is true` : 'never allowed as a backend';
  throw new RegistryError('ssrf_blocked', `${subject} a ${CLASS_LABEL[addressClass]} address${carried}; ${remedy}`, {
    ...context,
    address,
    addressClass,
    ...(embeddedIPv4 ? { embeddedIPv4 } : {}),
    ...(configKey ? { configKey } : {}),
  });
}

/**
 * The class of an IP address (no brackets; an IPv6 zone suffix is ignored).
 * Throws `invalid_input` for anything that is not an IP address.
 */
export function classifyAddress(address: string): AddressClassification {
  const ip = stripZone(address);
  const family = isIP(ip);
  if (family === 4) return { addressClass: match(parseIPv4(ip), 32, V4_RANGES) };
  if (family === 6) {
    const n = parseIPv6(ip);
    // `::` and `::1` also sit inside the IPv4-compatible prefix ::/96; they are not IPv4.
    if (n === 0n) return { addressClass: 'unspecified' };
    if (n === 1n) return { addressClass: 'loopback' };
    if (V6_EMBEDDING.some((r) => inRange(n, 128, r))) {
      const v4n = n & 0xffffffffn;
      return { addressClass: match(v4n, 32, V4_RANGES), embeddedIPv4: formatIPv4(v4n) };
    }
    return { addressClass: match(n, 128, V6_RANGES) };
  }
  throw new RegistryError('invalid_input', `${JSON.stringify(address)} is not an IP address`, { address });
}

const CLASS_LABEL: Readonly<Record<AddressClass, string>> = {
  public: 'public',
  loopback: 'loopback',
  private: 'private-network',
  'link-local': 'link-local',
  metadata: 'cloud metadata',
  unspecified: 'unspecified (0.0.0.0/8, ::)',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved (240.0.0.0/4)',
};

const defaultLookup: HostLookup = async (host) => (await dns.lookup(host, { all: true })).map((r) => r.address);

function match(n: bigint, bits: number, ranges: readonly Range[]): AddressClass {
  return ranges.find((r) => inRange(n, bits, r))?.addressClass ?? 'public';
}

function inRange(n: bigint, bits: number, r: Range): boolean {
  const shift = BigInt(bits - r.prefix);
  return n >> shift === r.net >> shift;
}

function v4(cidr: string, addressClass: AddressClass): Range {
  const [ip = '', prefix = ''] = cidr.split('/');
  return { net: parseIPv4(ip), prefix: Number(prefix), addressClass };
}

function v6(cidr: string, addressClass: AddressClass): Range {
  const [ip = '', prefix = ''] = cidr.split('/');
  return { net: parseIPv6(ip), prefix: Number(prefix), addressClass };
}

/** Dotted quad → 32-bit integer. Callers pass strings `isIP` accepted. */
function parseIPv4(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function formatIPv4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** IPv6 text (with `::` and an optional dotted-quad tail) → 128-bit integer. */
function parseIPv6(ip: string): bigint {
  let text = ip.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const n = parseIPv4(tail);
    text = `${text.slice(0, lastColon + 1)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const zeros = halves.length > 1 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...Array<string>(zeros).fill('0'), ...rest];
  if (halves.length > 2 || groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) {
    throw new RegistryError('invalid_input', `${JSON.stringify(ip)} is not an IPv6 address`, { address: ip });
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function stripZone(address: string): string {
  const pct = address.indexOf('%');
  return pct === -1 ? address : address.slice(0, pct);
}

function redactUserinfo(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/**
 * A `dns.lookup`-compatible resolver for backend connections that applies the
 * same policy to the address actually dialled, so a name that passed the
 * check at registration cannot later be re-pointed (DNS rebinding) at a
 * metadata, link-local or otherwise refused address.
 */
export function guardedLookup(policy: SsrfPolicy): LookupFunction {
  return ((hostname: string, options: LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      try {
        for (const a of addresses) assertAddressAllowed(a.address, policy, { host: hostname });
      } catch (refused) {
        return callback(refused as Error, '', 0);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
