/**
 * What the gateway needs to know about servers, wherever they live: this
 * node's registry and, with federation, the servers peers export to it.
 * Routing, authorization, listing and schema validation read only this, so a
 * peer's server is served exactly like a local one.
 */
import type { PinnedTool, ServerRecord } from './types.js';

export interface ServerDirectory {
  /** Every slug with at least one version, sorted. */
  slugs(): string[];
  /** Every version of `slug`, newest first. */
  versions(slug: string): readonly ServerRecord[];
  /** Tools of a version that may be served now. */
  servableTools(record: ServerRecord): PinnedTool[];
  /** A pinned tool held back (drift) until re-approved. */
  isWithheld(record: ServerRecord, tool: string): boolean;
}

/**
 * Several directories as one. A slug lives in exactly one of them (a peer's
 * slugs carry the peer's alias, `sales.crm`, which no local slug can), so
 * each question goes to the directory that holds the slug.
 */
export class CombinedDirectory implements ServerDirectory {
  readonly #parts: readonly ServerDirectory[];

  constructor(parts: readonly ServerDirectory[]) {
    this.#parts = parts;
  }

  slugs(): string[] {
    return this.#parts.flatMap((p) => p.slugs()).sort();
  }

  versions(slug: string): readonly ServerRecord[] {
    for (const part of this.#parts) {
      const versions = part.versions(slug);
      if (versions.length > 0) return versions;
    }
    return [];
  }

  servableTools(record: ServerRecord): PinnedTool[] {
    return this.#holder(record)?.servableTools(record) ?? [];
  }

  isWithheld(record: ServerRecord, tool: string): boolean {
    return this.#holder(record)?.isWithheld(record, tool) ?? true;
  }

  #holder(record: ServerRecord): ServerDirectory | undefined {
    return this.#parts.find((p) => p.versions(record.slug).length > 0);
  }
}

/**
 * The servers that exist for a caller: those of its tenant's namespace, or with no namespace for
 * a caller that is not a tenant. Routing reads through it, so another namespace's server is
 * missing in every answer (404, unknown tool) — never 410 or 403, which would show it exists.
 */
export function namespaceView(directory: ServerDirectory, tenant: string | undefined): ServerDirectory {
  const visible = (r: ServerRecord) => (r.namespace ?? undefined) === tenant;
  return {
    slugs: () => directory.slugs().filter((slug) => directory.versions(slug).some(visible)),
    versions: (slug) => {
      const all = directory.versions(slug);
      return all.every(visible) ? all : all.filter(visible);
    },
    servableTools: (record) => directory.servableTools(record),
    isWithheld: (record, tool) => directory.isWithheld(record, tool),
  };
}
