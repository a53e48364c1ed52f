/**
 * A signed capability manifest (PRODUCT.md §9): the exact tools one node
 * exports to one peer, with schemas and lifecycle, a strictly increasing
 * sequence number per issuer → audience, and an expiry.
 */
import type { Lifecycle, ToolAccess } from '../../src/registry/types.js';

/** A JSON object (schemas, annotations): plain objects, arrays, strings, finite numbers, booleans, null. */
export type JsonObject = { [key: string]: JsonValue };
/** A JSON value (no `undefined`, no non-finite numbers). */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** One exported tool. `(slug, version, name)` is unique within a manifest. */
export interface ManifestTool {
  /** Registry slug of the server the tool belongs to. */
  slug: string;
  /** Server version. */
  version: string;
  lifecycle: Lifecycle;
  /** Tool name as MCP clients call it. */
  name: string;
  title?: string;
  description?: string;
  inputSchema: JsonObject;
  outputSchema?: JsonObject;
  annotations?: JsonObject;
  /** Registry classification on the issuing node. */
  access: ToolAccess;
}

/** The signed content. */
export interface Manifest {
  v: 1;
  issuer: { namespace: string; peerId: string };
  /** Peer id of the one node this manifest is for. */
  audience: string;
  /** Strictly increasing per issuer → audience (never reused, across restarts too). */
  seq: number;
  /** ms since epoch. */
  issuedAt: number;
  /** ms since epoch; after it the receiver drops the tools. */
  expiresAt: number;
  tools: ManifestTool[];
}

/** A manifest as signed for sending: the decoded form and the exact envelope bytes. */
export interface SignedManifest {
  manifest: Manifest;
  /** The canonical msgpackr encoding of `manifest` (what is signed). */
  payload: Uint8Array;
  /** msgpackr `{ payload, sig }`: what travels. */
  envelope: Uint8Array;
}
