/**
 * Signed checkpoints of the chain head: a compact JWS (EdDSA, the node's
 * Ed25519 key) over `{node, seq, hash, time}`. A checkpoint commits to every
 * entry up to `seq` (through the hash chain), so an entry altered, removed or
 * truncated below a checkpoint is evident even if the whole database was
 * rewritten — provided the checkpoint was kept (export it elsewhere).
 *
 * A retention checkpoint (`retention: true`) marks where pruning cut the
 * chain: the first retained entry's `prev` must equal its `hash`.
 */
import canonicalize from 'canonicalize';
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose';
import type { NodeIdentity } from '../node/identity.js';

/** The `typ` of checkpoint JWSs, so they cannot be confused with other node signatures. */
export const CHECKPOINT_TYP = 'toolmesh-audit-checkpoint+jws';

/** What a checkpoint signs. */
export interface CheckpointPayload {
  node: string;
  seq: number;
  /** The hash of the entry at `seq`. */
  hash: string;
  /** When the checkpoint was made (ISO 8601). */
  time: string;
  /** Set on the checkpoint a retention run cut the chain behind. */
  retention?: true;
}

/** A stored or exported checkpoint: the signed payload, readable, plus the JWS that proves it. */
export interface Checkpoint extends CheckpointPayload {
  kid: string;
  jws: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function payloadOf(cp: CheckpointPayload): CheckpointPayload {
  const out: CheckpointPayload = { node: cp.node, seq: cp.seq, hash: cp.hash, time: cp.time };
  if (cp.retention === true) out.retention = true;
  return out;
}

/** Signs a checkpoint with the node key. */
export async function signCheckpoint(identity: NodeIdentity, payload: CheckpointPayload): Promise<Checkpoint> {
  const body = payloadOf(payload);
  const jws = await new CompactSign(encoder.encode(canonicalize(body) as string))
    .setProtectedHeader({ alg: 'EdDSA', kid: identity.kid, typ: CHECKPOINT_TYP })
    .sign(identity.privateKey);
  return { ...body, kid: identity.kid, jws };
}

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

/** A verifier for one public key (imported once). */
export async function checkpointVerifier(publicJwk: JWK): Promise<(cp: unknown) => Promise<string | undefined>> {
  const key: VerifyKey = await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA');
  return async (cp) => checkWith(key, cp);
}

/**
 * Checks one checkpoint record: a valid signature by `key`, the right `typ`,
 * and readable fields equal to the signed ones. Returns why it is bad, or
 * undefined when it is good.
 */
async function checkWith(key: VerifyKey, cp: unknown): Promise<string | undefined> {
  if (typeof cp !== 'object' || cp === null) return 'not a checkpoint record';
  const record = cp as Partial<Checkpoint>;
  if (typeof record.jws !== 'string') return 'no signature';
  let signed: unknown;
  try {
    const { payload, protectedHeader } = await compactVerify(record.jws, key, { algorithms: ['EdDSA'] });
    if (protectedHeader.typ !== CHECKPOINT_TYP) return `unexpected typ ${String(protectedHeader.typ)}`;
    signed = JSON.parse(decoder.decode(payload));
  } catch (err) {
    return `signature does not verify (${(err as { code?: string }).code ?? (err as Error).message})`;
  }
  const s = signed as Partial<CheckpointPayload>;
  if (typeof s.seq !== 'number' || typeof s.hash !== 'string' || typeof s.node !== 'string' || typeof s.time !== 'string') {
    return 'signed payload is not a checkpoint';
  }
  if (canonicalize(payloadOf(s as CheckpointPayload)) !== canonicalize(payloadOf(record as CheckpointPayload))) {
    return 'stored fields differ from the signed payload';
  }
  return undefined;
}
