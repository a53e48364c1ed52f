/**
 * The subordinates an anchor (or intermediate) vouches for: each one's entity
 * id and the keys we registered for it — learned from trust-config or an
 * admin call, never from the subordinate's own configuration — plus the
 * policy and constraints we impose on it. Registrations are checked when
 * added (a bad one fails at the admin call, never on a fetch request).
 */
import { entityIdProblem } from './entity-id.js';
import { FederationTrustError } from './errors.js';
import { mergePolicies } from './metadata-policy.js';
import { claimsProblem } from './statement-claims.js';
import type { Constraints, EntityMetadata, Jwks, MetadataPolicy } from './types.js';

/** One registered subordinate. */
export interface SubordinateRegistration {
  entityId: string;
  /** Its federation keys, as we learned them out of band. */
  jwks: Jwks;
  metadataPolicy?: MetadataPolicy;
  /** Policy operators subordinates' verifiers must understand. */
  metadataPolicyCrit?: string[];
  constraints?: Constraints;
  /** Metadata we assert for it, overriding its own parameters. */
  metadata?: EntityMetadata;
}

export interface AnchorRegistryOptions {
  /** Our own entity id: the issuer of the statements. */
  issuer: string;
  allowInsecure?: boolean;
  entries?: readonly SubordinateRegistration[];
}

/**
 * @example
 * ```ts
 * import { AnchorRegistry } from './registry.js';
 * import type { Jwks } from './types.js';
 * declare const nodeBJwks: Jwks;
 * const registry = new AnchorRegistry({ issuer: 'https://anchor.example' });
 * registry.add({
 *   entityId: 'https://node-b.example',
 *   jwks: nodeBJwks,
 *   metadataPolicy: { toolmesh_node: { namespace: { value: 'sales' } } },
 *   constraints: { max_path_length: 0 },
 * });
 * ```
 */
export class AnchorRegistry {
  readonly issuer: string;
  readonly #allowInsecure: boolean;
  readonly #entries = new Map<string, SubordinateRegistration>();

  constructor(options: AnchorRegistryOptions) {
    const p = entityIdProblem(options.issuer, options.allowInsecure);
    if (p !== undefined) throw new FederationTrustError('invalid_configuration', `registry issuer ${p}`, { entityId: options.issuer });
    this.issuer = options.issuer;
    this.#allowInsecure = options.allowInsecure ?? false;
    for (const e of options.entries ?? []) this.add(e);
  }

  /** Register (or replace) a subordinate. Throws `invalid_configuration` naming the problem. */
  add(registration: SubordinateRegistration): void {
    const { entityId } = registration;
    const probe = {
      iss: this.issuer,
      sub: entityId,
      iat: 0,
      exp: 1,
      jwks: registration.jwks,
      ...(registration.metadataPolicy ? { metadata_policy: registration.metadataPolicy } : {}),
      ...(registration.metadataPolicyCrit ? { metadata_policy_crit: registration.metadataPolicyCrit } : {}),
      ...(registration.constraints ? { constraints: registration.constraints } : {}),
      ...(registration.metadata ? { metadata: registration.metadata } : {}),
    };
    const problem = claimsProblem(probe, 'subordinate', this.#allowInsecure);
    if (problem !== undefined) throw new FederationTrustError('invalid_configuration', `subordinate ${entityId}: ${problem}`, { entityId });
    if (registration.metadataPolicy) {
      try {
        mergePolicies([{ policy: registration.metadataPolicy, ...(registration.metadataPolicyCrit ? { crit: registration.metadataPolicyCrit } : {}) }]);
      } catch (err) {
        throw new FederationTrustError('invalid_configuration', `subordinate ${entityId}: ${(err as Error).message}`, { entityId }, { cause: err });
      }
    }
    this.#entries.set(entityId, structuredClone(registration));
  }

  /** Drop a subordinate; true when it was registered. */
  remove(entityId: string): boolean {
    return this.#entries.delete(entityId);
  }

  get(entityId: string): SubordinateRegistration | undefined {
    const e = this.#entries.get(entityId);
    return e === undefined ? undefined : structuredClone(e);
  }

  /** Every registration, sorted by entity id. */
  list(): SubordinateRegistration[] {
    return [...this.#entries.keys()].sort().map((id) => structuredClone(this.#entries.get(id)!));
  }
}
