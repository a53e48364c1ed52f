/**
 * Structural check of a decoded manifest payload (after the signature, before
 * any field is trusted). Strict: unknown members, wrong types, out-of-range
 * numbers, non-JSON values in schemas and duplicate tools are all
 * `manifest_malformed`, with the offending path in the message.
 */
import semver from 'semver';
import { LIFECYCLES, SLUG_PATTERN } from '../../src/registry/types.js';
import { parseEd25519PeerId } from '../peer/identity.js';
import { ManifestError } from './errors.js';
import type { JsonObject, Manifest, ManifestTool } from './types.js';

/** Bounds of one manifest (the byte limit bounds the total anyway). */
export const MANIFEST_LIMITS = {
  tools: 1_000,
  jsonDepth: 32,
  text: 8_192,
  name: 128,
} as const;

/** A tool name as manifests (and remote calls) may carry it. */
export const TOOL_NAME = /^[A-Za-z0-9_.\-/]{1,128}$/;
const MANIFEST_KEYS = ['audience', 'expiresAt', 'issuedAt', 'issuer', 'seq', 'tools', 'v'];
const TOOL_REQUIRED = ['access', 'inputSchema', 'lifecycle', 'name', 'slug', 'version'];
const TOOL_OPTIONAL = ['annotations', 'description', 'outputSchema', 'title'];

function malformed(path: string, reason: string): never {
  throw new ManifestError('manifest_malformed', `${path}: ${reason}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function exactKeys(value: Record<string, unknown>, path: string, required: readonly string[], optional: readonly string[] = []): void {
  for (const key of required) if (!(key in value)) malformed(`${path}.${key}`, 'missing');
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) malformed(`${path}.${key}`, 'unknown member');
  }
}

function text(value: unknown, path: string, max: number = MANIFEST_LIMITS.text): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) malformed(path, `expected a string of 1-${max} characters`);
  return value;
}

function time(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) malformed(path, 'expected ms since epoch (a non-negative safe integer)');
  return value;
}

function peerId(value: unknown, path: string): string {
  const id = text(value, path, 128);
  try {
    parseEd25519PeerId(id);
  } catch {
    malformed(path, 'expected an Ed25519 peer id');
  }
  return id;
}

function json(value: unknown, path: string, depth: number): void {
  if (depth > MANIFEST_LIMITS.jsonDepth) malformed(path, `nested deeper than ${MANIFEST_LIMITS.jsonDepth}`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) malformed(path, 'not a finite number');
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => json(item, `${path}[${i}]`, depth + 1));
    return;
  }
  if (!isPlainObject(value)) malformed(path, 'not a JSON value');
  for (const [key, member] of Object.entries(value)) json(member, `${path}.${key}`, depth + 1);
}

function jsonObject(value: unknown, path: string): JsonObject {
  if (!isPlainObject(value)) malformed(path, 'expected an object');
  json(value, path, 0);
  return value as JsonObject;
}

function tool(value: unknown, path: string): ManifestTool {
  if (!isPlainObject(value)) malformed(path, 'expected an object');
  exactKeys(value, path, TOOL_REQUIRED, TOOL_OPTIONAL);
  const slug = text(value.slug, `${path}.slug`, 63);
  if (!SLUG_PATTERN.test(slug)) malformed(`${path}.slug`, `must match ${SLUG_PATTERN}`);
  const version = text(value.version, `${path}.version`, 64);
  // Versions route calls and sort the peer's records here: only a plain semantic version, as the registry keeps them.
  if (semver.valid(version) !== version) malformed(`${path}.version`, 'must be a semantic version (e.g. 1.2.0)');
  const name = text(value.name, `${path}.name`, MANIFEST_LIMITS.name);
  if (!TOOL_NAME.test(name)) malformed(`${path}.name`, `must match ${TOOL_NAME}`);
  if (!(LIFECYCLES as readonly unknown[]).includes(value.lifecycle)) malformed(`${path}.lifecycle`, `expected one of ${LIFECYCLES.join(', ')}`);
  if (value.access !== 'read' && value.access !== 'write') malformed(`${path}.access`, 'expected read or write');
  jsonObject(value.inputSchema, `${path}.inputSchema`);
  if (value.outputSchema !== undefined) jsonObject(value.outputSchema, `${path}.outputSchema`);
  if (value.annotations !== undefined) jsonObject(value.annotations, `${path}.annotations`);
  if (value.title !== undefined) text(value.title, `${path}.title`, 256);
  if (value.description !== undefined) text(value.description, `${path}.description`);
  return value as unknown as ManifestTool;
}

/**
 * Returns `value` typed as a manifest, or throws `manifest_malformed`.
 *
 * @example
 * ```ts
 * import { validateManifest } from './validate.js';
 * try { validateManifest({ v: 2 }); } catch (err) { console.log((err as Error).message); } // "manifest.audience: missing"
 * ```
 */
export function validateManifest(value: unknown): Manifest {
  if (!isPlainObject(value)) malformed('manifest', 'expected an object');
  exactKeys(value, 'manifest', MANIFEST_KEYS);
  if (value.v !== 1) malformed('manifest.v', 'unsupported version (expected 1)');
  const issuer = value.issuer;
  if (!isPlainObject(issuer)) malformed('manifest.issuer', 'expected an object');
  exactKeys(issuer, 'manifest.issuer', ['namespace', 'peerId']);
  text(issuer.namespace, 'manifest.issuer.namespace', 128);
  peerId(issuer.peerId, 'manifest.issuer.peerId');
  peerId(value.audience, 'manifest.audience');
  if (typeof value.seq !== 'number' || !Number.isSafeInteger(value.seq) || value.seq < 1) malformed('manifest.seq', 'expected a positive safe integer');
  const issuedAt = time(value.issuedAt, 'manifest.issuedAt');
  const expiresAt = time(value.expiresAt, 'manifest.expiresAt');
  if (expiresAt <= issuedAt) malformed('manifest.expiresAt', 'must be after issuedAt');
  if (!Array.isArray(value.tools)) malformed('manifest.tools', 'expected an array');
  if (value.tools.length > MANIFEST_LIMITS.tools) malformed('manifest.tools', `more than ${MANIFEST_LIMITS.tools} tools`);
  const seen = new Set<string>();
  value.tools.forEach((item, i) => {
    const t = tool(item, `manifest.tools[${i}]`);
    const id = `${t.slug}\0${t.version}\0${t.name}`;
    if (seen.has(id)) malformed(`manifest.tools[${i}]`, `duplicate tool ${t.slug}@${t.version}/${t.name}`);
    seen.add(id);
  });
  return value as unknown as Manifest;
}
