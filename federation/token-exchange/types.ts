/**
 * The interfaces token translation needs from the node, and the shapes it
 * hands back. The node backs them with trust-config/ and the OpenID
 * Federation trust chain; tests back them with plain maps.
 */
import type { JWK } from 'jose';
import type { ExchangeRefusalReason, OAuthErrorCode } from './errors.js';

/** A peer as our trust layer knows it: its local alias, its namespace, its pinned key. */
export interface PeerKey {
  /** Our name for the peer (trust-config/ `alias`). */
  alias: string;
  /** The namespace the peer asserts its callers in (`ns` claim). */
  namespace: string;
  /** The peer node's Ed25519 public key (pinned peer id and/or trust chain). */
  publicJwk: JWK;
}

/**
 * Resolves a peer by its entity id (the `iss` of its tokens). Undefined
 * for a peer we do not know: its tokens are refused before any other check.
 */
export type PeerKeys = (entityId: string) => PeerKey | undefined | Promise<PeerKey | undefined>;

/** What we grant the callers of one peer (trust-config/ `inbound`). */
export interface InboundPolicy {
  /** Peer group → local groups; unmapped peer groups are dropped. */
  groupMapping: Readonly<Record<string, readonly string[]>>;
  /**
   * The most an issued token may carry: exact scopes; `mcp:tool:{slug}:write`
   * also covers `mcp:tool:{slug}:read`; a `*` segment matches any one segment
   * (`mcp:tool:*:read`).
   */
  scopeCeiling: readonly string[];
  /** Lifetime ceiling of an issued token. */
  maxTtlSeconds: number;
}

/** Undefined: the peer is not trusted for token translation. */
export type InboundPolicyLookup = (peerAlias: string) => InboundPolicy | undefined | Promise<InboundPolicy | undefined>;

/**
 * One node that acted on the caller's behalf, most recent first: the `act`
 * chain of RFC 8693 §4.1 flattened for the audit log.
 */
export interface ActorLink {
  /** The acting node's entity id (`act.sub`). */
  subject: string;
  /** The acting node's namespace (`act.ns`). */
  node: string;
}

/**
 * One decision of the token endpoint, for the audit log. Claims appear only
 * once the token carrying them verified; no token ever appears.
 */
export interface ExchangeDecision {
  kind: 'token_exchange';
  outcome: 'granted' | 'refused';
  /** From `X-Correlation-Id` when the caller sent a well-formed one, else fresh. */
  correlationId: string;
  /** Seconds since the epoch. */
  at: number;
  error?: OAuthErrorCode;
  reason?: ExchangeRefusalReason;
  message?: string;
  /** The peer's alias, once its key is resolved. */
  peer?: string;
  /** The peer's entity id, once its key is resolved. */
  peerEntityId?: string;
  /** The caller as the peer asserted it (verified assertions only). */
  subject?: string;
  /** The caller's credential kind at the peer (`cred`). */
  credential?: string;
  /** The caller's tenant at the peer, if any (recorded, not granted). */
  peerTenant?: string;
  assertionJti?: string;
  requestedScopes?: string[];
  grantedScopes?: string[];
  groups?: string[];
  expiresIn?: number;
  /** `jti` of the issued token. */
  tokenJti?: string;
  /** The issued token's `sub`. */
  issuedSubject?: string;
  actors?: ActorLink[];
}

/** Audit hook: awaited; a rejection on a grant withholds the token (fail closed). */
export type DecisionSink = (event: ExchangeDecision) => void | Promise<void>;
