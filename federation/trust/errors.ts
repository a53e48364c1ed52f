/**
 * Errors of trust-policy loading and applying (PRODUCT.md §10). Each carries a
 * stable `code`, the HTTP status an admin API answers with, and the issues
 * found, each naming the file (relative to the policy directory) and the JSON
 * pointer of the field, so an admin can fix every problem in one pass.
 *
 * Callers branch on `err.code`, never on the message.
 */

/** Why a policy directory was refused. Changing a member is a breaking change. */
export type TrustPolicyErrorCode =
  /** The directory or its node file does not exist. */
  | 'trust_policy_not_found'
  /** A file could not be read (permissions, I/O). */
  | 'trust_policy_unreadable'
  /** A file is not valid YAML or JSON. */
  | 'trust_policy_syntax'
  /** A file does not match trust-config/schema.json. */
  | 'trust_policy_schema'
  /** The files disagree (alias ≠ file name, two files for one peer, unknown trust anchor, …). */
  | 'trust_policy_inconsistent'
  /** The policy is well-formed but lint found errors (duplicate peer ids, a peer that is this node, …). */
  | 'trust_policy_lint'
  /** The policy is valid but recording it in history failed, so it was not applied. */
  | 'trust_policy_history_failed';

/** The contract table: code → HTTP status. */
export const TRUST_POLICY_ERROR_STATUS: Readonly<Record<TrustPolicyErrorCode, number>> = {
  trust_policy_not_found: 404,
  trust_policy_unreadable: 500,
  trust_policy_syntax: 400,
  trust_policy_schema: 400,
  trust_policy_inconsistent: 400,
  trust_policy_lint: 400,
  trust_policy_history_failed: 503,
};

/** One problem in one file. `pointer` is an RFC 6901 JSON pointer ('' = the whole file). */
export interface TrustPolicyIssue {
  /** Path relative to the policy directory, e.g. `peers/acme.yaml`. */
  file: string;
  pointer: string;
  message: string;
  /** 1-based position in the file, when known. */
  line?: number;
  column?: number;
}

/** `peers/acme.yaml:12:7 /exports/0/versions: …` */
export function formatIssue(issue: TrustPolicyIssue): string {
  const at = issue.line !== undefined ? `${issue.file}:${issue.line}:${issue.column ?? 1}` : issue.file;
  return `${at} ${issue.pointer || '/'}: ${issue.message}`;
}

/**
 * A refused policy directory.
 *
 * @example
 * ```ts
 * import { loadTrustPolicy, TrustPolicyError } from './index.js';
 * try {
 *   await loadTrustPolicy('trust-config/examples/sales');
 * } catch (err) {
 *   if (err instanceof TrustPolicyError && err.code === 'trust_policy_schema') {
 *     for (const i of err.issues) console.log(i.file, i.pointer, i.message);
 *   }
 * }
 * ```
 */
export class TrustPolicyError extends Error {
  readonly code: TrustPolicyErrorCode;
  readonly status: number;
  /** Worded for admins and free of secrets (policy files hold none): safe to render. */
  readonly expose = true;
  readonly issues: readonly TrustPolicyIssue[];

  constructor(code: TrustPolicyErrorCode, issues: readonly TrustPolicyIssue[], options?: { cause?: unknown }) {
    const shown = issues.slice(0, 5).map(formatIssue);
    if (issues.length > shown.length) shown.push(`… and ${issues.length - shown.length} more`);
    super(shown.join('\n') || code, options);
    this.name = 'TrustPolicyError';
    this.code = code;
    this.status = TRUST_POLICY_ERROR_STATUS[code];
    this.issues = issues;
  }
}
