/**
 * The audit log's public surface, for the node and the gateway to wire in:
 * `AuditLog` (append, verify, read, prune), the entry model, the keyed
 * arguments hash and the typed errors.
 */
export { AuditLog, type AuditLogOptions } from './audit-log.js';
export { AUDIT_KINDS, auditIdentity, type AuditActor, type AuditEntry, type AuditEntryInput, type AuditIdentity, type AuditKind } from './entry.js';
export { argsHash, loadOrCreateAuditKey, AUDIT_KEY_BYTES } from './args-hash.js';
export { entryHash, GENESIS_HASH, seqKey } from './chain.js';
export { CHECKPOINT_TYP, checkpointVerifier, type Checkpoint, type CheckpointPayload } from './checkpoint.js';
export { AuditError, AuditUnavailableError, isAuditUnavailable, type AuditErrorCode } from './errors.js';
export type { AuditQuery, TailOptions } from './reader.js';
export type { PruneOptions, PruneResult } from './retention.js';
export type { AuditWriteOp, ChainHead } from './store.js';
export type { VerifyOptions, VerifyProblem, VerifyProblemKind, VerifyReport } from './verify.js';
export type { AppendOptions, AvailabilityListener } from './writer.js';
