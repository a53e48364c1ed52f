/**
 * Signed capability manifests: what a node exports to each peer, signed with
 * its node key, verified against the peer's pinned id, pushed over libp2p.
 */
export type { Manifest, ManifestTool, SignedManifest, JsonObject, JsonValue } from './types.js';
export { ManifestError, MANIFEST_ERROR_CODES, type ManifestErrorCode } from './errors.js';
export { encodeManifest, signManifest, signEnvelope, openEnvelope } from './codec.js';
export { validateManifest, MANIFEST_LIMITS } from './validate.js';
export { ManifestReceiver, type ManifestReceiverInit, type ManifestReceiverEvents, type AcceptResult } from './receiver.js';
export { ManifestPublisher, type ManifestPublisherInit, type ManifestPublisherEvents } from './publisher.js';
export { MemorySeqStore, LevelSeqStore, type SeqStore } from './seq-store.js';
export { ManifestExchange, MANIFEST_PROTOCOL, type ManifestAck, type ManifestExchangeInit, type ManifestExchangeEvents } from './exchange.js';
