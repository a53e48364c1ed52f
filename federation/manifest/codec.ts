/**
 * Manifest bytes. The payload is the canonical msgpackr encoding of the
 * manifest — object keys sorted, `undefined` members dropped, tools sorted by
 * (slug, version, name) — so equal content gives equal bytes, and a receiver
 * can demand that a payload re-encodes to itself (anything else is malformed).
 * The signature is Ed25519 over a domain tag followed by the payload: the
 * node key also signs checkpoints and tokens, and a signature made for one of
 * those must never read as a manifest signature (nor the reverse).
 */
import { createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import type { NodeIdentity } from '../../src/node/identity.js';
import { publicKeyFromPeerId } from '../peer/identity.js';
import { ManifestError } from './errors.js';
import type { Manifest, ManifestTool, SignedManifest } from './types.js';

const DOMAIN = Buffer.from('toolmesh/manifest/v1\0', 'ascii');
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Sorted keys, no `undefined`, recursively (arrays keep their order). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Uint8Array) return value;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = canonical(member);
    }
    return out;
  }
  return value;
}

/** Code-unit order: locale-independent, so every node sorts the same way. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toolOrder(a: ManifestTool, b: ManifestTool): number {
  return compare(a.slug, b.slug) || compare(a.version, b.version) || compare(a.name, b.name);
}

/**
 * The canonical payload bytes of a manifest.
 *
 * @example
 * ```ts
 * import { encodeManifest } from './codec.js';
 * const bytes = encodeManifest({ v: 1, issuer: { namespace: 'acme', peerId: '12D3KooW…' }, audience: '12D3KooW…', seq: 1, issuedAt: 0, expiresAt: 3_600_000, tools: [] });
 * ```
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const tools = [...manifest.tools].sort(toolOrder);
  return packr.pack(canonical({ ...manifest, tools }));
}

/** Canonical bytes of any value (used to compare tool sets for change). */
export function encodeCanonical(value: unknown): Uint8Array {
  return packr.pack(canonical(value));
}

/** Decodes msgpack bytes; any decoder failure (truncation, trailing bytes) is `manifest_malformed`. */
export function decodeMsgpack(bytes: Uint8Array, what: string): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    throw new ManifestError('manifest_malformed', `${what}: not msgpack (${(err as Error).message.slice(0, 80)})`, { cause: err });
  }
}

const signingKeys = new WeakMap<object, KeyObject>();

function signingKey(identity: Pick<NodeIdentity, 'privateJwk'>): KeyObject {
  let key = signingKeys.get(identity.privateJwk);
  if (key === undefined) {
    const { kty, crv, d, x } = identity.privateJwk;
    key = createPrivateKey({ key: { kty: kty as string, crv: crv as string, d: d as string, x: x as string }, format: 'jwk' });
    signingKeys.set(identity.privateJwk, key);
  }
  return key;
}

/** Verification keys of pinned signers (a small, operator-defined set). */
const verifyKeys = new Map<string, KeyObject>();

function verifyKey(peerId: string): KeyObject {
  let key = verifyKeys.get(peerId);
  if (key === undefined) {
    key = publicKeyFromPeerId(peerId);
    if (verifyKeys.size >= 1_024) verifyKeys.clear();
    verifyKeys.set(peerId, key);
  }
  return key;
}

function signedBytes(payload: Uint8Array): Buffer {
  return Buffer.concat([DOMAIN, payload]);
}

/**
 * Wraps payload bytes as they are into a signed envelope. `signManifest` is
 * the normal way; this one exists to build hostile test vectors too.
 */
export function signEnvelope(payload: Uint8Array, identity: Pick<NodeIdentity, 'privateJwk'>): Uint8Array {
  const sig = sign(null, signedBytes(payload), signingKey(identity));
  return packr.pack({ payload, sig: new Uint8Array(sig) });
}

/**
 * Encodes and signs a manifest with the node identity.
 *
 * @example
 * ```ts
 * import { signManifest } from './codec.js';
 * import { loadOrCreateIdentity } from '../../src/node/identity.js';
 * import type { Manifest } from './types.js';
 * declare const manifest: Manifest;
 * const { identity } = await loadOrCreateIdentity('/tmp/toolmesh-a');
 * const { envelope } = signManifest(manifest, identity); // send these bytes
 * ```
 */
export function signManifest(manifest: Manifest, identity: Pick<NodeIdentity, 'privateJwk'>): SignedManifest {
  const payload = encodeManifest(manifest);
  return { manifest, payload, envelope: signEnvelope(payload, identity) };
}

/**
 * Splits an envelope and checks its signature against the Ed25519 key inlined
 * in `signerPeerId`. Returns the signed payload bytes (still undecoded).
 */
export function openEnvelope(envelope: Uint8Array, signerPeerId: string): Uint8Array {
  const outer = decodeMsgpack(envelope, 'envelope');
  if (outer === null || typeof outer !== 'object' || Array.isArray(outer)) {
    throw new ManifestError('manifest_malformed', 'envelope: expected a map { payload, sig }');
  }
  const keys = Object.keys(outer).sort();
  const { payload, sig } = outer as { payload?: unknown; sig?: unknown };
  if (keys.length !== 2 || keys[0] !== 'payload' || keys[1] !== 'sig' || !(payload instanceof Uint8Array) || !(sig instanceof Uint8Array)) {
    throw new ManifestError('manifest_malformed', 'envelope: expected exactly binary payload and sig');
  }
  if (sig.byteLength !== 64) throw new ManifestError('manifest_bad_signature', 'sig: an Ed25519 signature is 64 bytes');
  if (!verify(null, signedBytes(payload), verifyKey(signerPeerId), sig)) {
    throw new ManifestError('manifest_bad_signature', `signature does not verify against ${signerPeerId}`);
  }
  return payload;
}
