/**
 * The shapes of OpenID Federation 1.0 entity statements as Toolmesh uses them.
 * Claim names are the spec's (snake_case) since they are wire data.
 */
import type { JWK } from 'jose';

/** The `typ` header of every entity statement. */
export const ENTITY_STATEMENT_TYP = 'entity-statement+jwt';
/** The media type of entity statements served over HTTP. */
export const ENTITY_STATEMENT_MEDIA_TYPE = 'application/entity-statement+jwt';
/** Where an entity publishes its entity configuration, relative to its entity id. */
export const WELL_KNOWN_PATH = '/.well-known/openid-federation';
/** Our entity type identifier in `metadata`. */
export const TOOLMESH_ENTITY_TYPE = 'toolmesh_node';
/** The spec's entity type for federation endpoints. */
export const FEDERATION_ENTITY_TYPE = 'federation_entity';

/** A public JSON Web Key Set; every key has a `kid`. */
export interface Jwks {
  keys: JWK[];
}

/** Metadata of a Toolmesh node (entity type `toolmesh_node`). */
export interface ToolmeshNodeMetadata {
  /** The libp2p peer id the node proves on connections. */
  peer_id: string;
  namespace: string;
  /** Where peers ask for RFC 8693 token exchange. */
  token_endpoint: string;
  /** The manifest protocol id the node speaks, e.g. `/toolmesh/manifest/1`. */
  manifest_protocol: string;
  /** Scopes the node's token endpoint may issue (shaped by policy, e.g. `subset_of`). */
  scopes_supported?: string[];
  [parameter: string]: unknown;
}

/** Metadata of entity type `federation_entity`. */
export interface FederationEntityMetadata {
  federation_fetch_endpoint?: string;
  organization_name?: string;
  [parameter: string]: unknown;
}

/** `metadata`: entity type → parameter → value. */
export interface EntityMetadata {
  toolmesh_node?: ToolmeshNodeMetadata;
  federation_entity?: FederationEntityMetadata;
  [entityType: string]: Record<string, unknown> | undefined;
}

/** The standard operators; others may appear and are handled per `metadata_policy_crit`. */
export interface PolicyOperators {
  value?: unknown;
  add?: unknown[];
  default?: unknown;
  one_of?: unknown[];
  subset_of?: unknown[];
  superset_of?: unknown[];
  essential?: boolean;
  [operator: string]: unknown;
}

/** `metadata_policy`: entity type → parameter → operators. */
export type MetadataPolicy = Record<string, Record<string, PolicyOperators>>;

/** RFC 5280-style name constraints on entity ids (host-based). */
export interface NamingConstraints {
  permitted?: string[];
  excluded?: string[];
}

export interface Constraints {
  /** Most intermediates allowed between the issuer of the constraint and the leaf. */
  max_path_length?: number;
  naming_constraints?: NamingConstraints;
  /** Entity types the leaf may keep in its resolved metadata (`federation_entity` is always kept). */
  allowed_entity_types?: string[];
  [constraint: string]: unknown;
}

/** The claims of an entity statement (configuration or subordinate statement). */
export interface EntityStatementClaims {
  iss: string;
  sub: string;
  /** NumericDate (seconds). */
  iat: number;
  exp: number;
  jwks: Jwks;
  metadata?: EntityMetadata;
  authority_hints?: string[];
  metadata_policy?: MetadataPolicy;
  metadata_policy_crit?: string[];
  constraints?: Constraints;
  crit?: string[];
  [claim: string]: unknown;
}

/** A statement whose signature and claims were checked. */
export interface VerifiedEntityStatement {
  /** The compact JWS as received. */
  jwt: string;
  /** Protected header: `alg`, `kid`, `typ`. */
  header: { alg: string; kid: string; typ: string };
  claims: EntityStatementClaims;
}

/**
 * A trust anchor we trust, pinned out of band (trust-config): its entity id
 * and either its public keys or the RFC 7638 (SHA-256) thumbprints of the
 * keys its entity configuration must be signed with. At least one is required.
 */
export interface PinnedTrustAnchor {
  entityId: string;
  jwks?: Jwks;
  pinnedKeyThumbprints?: string[];
}
