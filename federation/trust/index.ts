/**
 * Trust policy as files (PRODUCT.md §9, §10): load and validate a policy
 * directory, lint it, diff two versions, keep the running one in step with
 * the directory, and answer federation's default-deny policy questions.
 *
 * @example
 * ```ts
 * import { loadTrustPolicy, lintTrustPolicy, mayPeerCall } from './index.js';
 * const policy = await loadTrustPolicy('trust-config/examples/sales');
 * console.log(lintTrustPolicy(policy).length); // 0
 * console.log(mayPeerCall(policy, 'support', ['support-agents'], 'crm', '2.3.0', 'lookup_customer', 'read')); // true
 * ```
 */
export { TrustPolicyError, TRUST_POLICY_ERROR_STATUS, formatIssue, type TrustPolicyErrorCode, type TrustPolicyIssue } from './errors.js';
export { TRUST_DEFAULTS } from './types.js';
export type { Access, ExportRule, ImportRule, InboundTranslation, NodeSelf, PeerPolicy, PolicyFile, RateLimit, ToolSubset, TrustAnchor, TrustPolicy } from './types.js';
export { TRUST_POLICY_SCHEMA, validatePolicyFile, isEd25519PeerId, isMultiaddr, isSemverRange, type PolicyFileKind, type SchemaViolation } from './schema.js';
export { NODE_FILE_NAMES, PEERS_DIR, readPolicyDirectory, directoryHash, type RawPolicyDirectory, type RawPolicyFile } from './files.js';
export { loadTrustPolicy, parseTrustPolicy, derivedScopeCeiling } from './load.js';
export { lintTrustPolicy, lintError, splitFindingPath, type LintCode, type LintFinding, type LintOptions } from './lint.js';
export { diffTrustPolicies, renderTrustDiff, type TrustChange, type TrustChangeKind, type PeerField, type TranslationField } from './diff.js';
export {
  exportFor,
  decidePeerCall,
  mayPeerCall,
  decideImport,
  mayImport,
  exportedSubset,
  inboundGrant,
  findPeer,
  findPeerById,
  toolInSubset,
  accessCovers,
  versionInRange,
  type PeerExport,
  type PeerCallDenial,
  type ImportDenial,
  type TrustDecision,
  type ExportableServer,
  type InboundGrant,
} from './decide.js';
export { TrustPolicyStore, type TrustPolicyStoreOptions, type TrustPolicyStoreEvents, type TrustPolicyVersion, type TrustHistorySink, type TrustCheckResult } from './store.js';
