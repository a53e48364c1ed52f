/**
 * What federation writes to the audit log: link events, manifests both ways,
 * token exchanges at our endpoint and trust-policy changes. Events that
 * already happened are written unsynced (fsynced within the log's sync
 * interval); a granted token exchange and a policy change are durable before
 * they take effect.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEntryInput, AuditIdentity, AuditLog } from '../../src/audit/index.js';
import type { ManifestExchange } from '../manifest/index.js';
import type { PeerHost } from '../peer/index.js';
import type { DecisionSink, ExchangeDecision } from '../token-exchange/index.js';
import { findPeer, renderTrustDiff, type TrustPolicy, type TrustPolicyVersion } from '../trust/index.js';

/** Appends one entry (a fresh correlation id unless given); never throws: the log's own availability makes calls fail closed. */
export type PeerEventRecorder = (input: Omit<AuditEntryInput, 'correlationId'> & { correlationId?: string }) => Promise<unknown>;

export function peerEventRecorder(audit: Pick<AuditLog, 'append'>): PeerEventRecorder {
  return (input) => audit.append({ correlationId: randomUUID(), ...input }, { sync: false }).catch(() => undefined);
}

/** Records the peer host's link events and the manifest exchange's events. */
export function auditLinksAndManifests(host: PeerHost, exchange: ManifestExchange, record: PeerEventRecorder): void {
  host.on('peer:connected', (s) => void record({ kind: 'peer', method: 'peer_connected', outcome: 'ok', detail: { peer: s.alias, peerId: s.peerId } }));
  host.on('peer:disconnected', (s) => void record({ kind: 'peer', method: 'peer_disconnected', outcome: 'ok', detail: { peer: s.alias, peerId: s.peerId } }));
  host.on('peer:refused', (r) =>
    void record({ kind: 'peer', method: 'peer_refused', outcome: 'refused', reason: 'trust_denied', detail: { peerId: r.peerId, direction: r.direction, reason: r.reason, ...(r.alias ? { peer: r.alias } : {}) } }),
  );
  exchange.on('accepted', ({ alias, manifest }) =>
    void record({ kind: 'peer', method: 'manifest_accepted', outcome: 'ok', detail: { peer: alias, seq: manifest.seq, tools: manifest.tools.length, expiresAt: new Date(manifest.expiresAt).toISOString() } }),
  );
  exchange.on('rejected', ({ alias, code, message }) => void record({ kind: 'peer', method: 'manifest_rejected', outcome: code, reason: code, detail: { peer: alias, message } }));
  exchange.on('expired', ({ alias, manifest }) => void record({ kind: 'peer', method: 'manifest_expired', outcome: 'expired', detail: { peer: alias, seq: manifest.seq } }));
  exchange.on('removed', ({ alias }) => void record({ kind: 'peer', method: 'peer_removed', outcome: 'ok', detail: { peer: alias } }));
  exchange.on('answered', ({ alias, seq, ack }) => void record({ kind: 'peer', method: 'manifest_pushed', outcome: ack.ok ? 'ok' : ack.code, detail: { peer: alias, seq } }));
}

/** Our token endpoint's decisions; a grant is durable before the token is issued (the endpoint awaits it). */
export function tokenExchangeAuditor(audit: Pick<AuditLog, 'append'>, policy: () => TrustPolicy): DecisionSink {
  return async (d: ExchangeDecision) => {
    await audit.append(
      {
        kind: 'peer',
        correlationId: d.correlationId,
        method: 'token_exchange',
        outcome: d.outcome === 'granted' ? 'ok' : 'trust_denied',
        ...(d.outcome === 'granted' ? {} : { reason: 'trust_denied' }),
        ...(d.subject ? { identity: exchangeIdentity(d, policy()) } : {}),
        detail: {
          ...(d.peer ? { peer: d.peer } : {}),
          ...(d.error ? { error: d.error } : {}),
          ...(d.reason ? { cause: d.reason } : {}),
          ...(d.requestedScopes ? { requestedScopes: d.requestedScopes } : {}),
          ...(d.grantedScopes ? { grantedScopes: d.grantedScopes } : {}),
          ...(d.expiresIn !== undefined ? { expiresIn: d.expiresIn } : {}),
        },
      },
      { sync: d.outcome === 'granted' },
    );
  };
}

/** An applied policy version, durable before it takes effect (a change that cannot be audited does not apply). */
export function trustPolicyAuditor(audit: Pick<AuditLog, 'append'>): (version: TrustPolicyVersion) => Promise<void> {
  return async (version) => {
    await audit.append({
      kind: 'admin',
      correlationId: randomUUID(),
      method: 'trust-policy',
      outcome: 'ok',
      detail: { seq: version.seq, hash: version.hash, trigger: version.trigger, changes: renderTrustDiff(version.changes).split('\n').filter(Boolean).slice(0, 200) },
    });
  };
}

/** The caller of a token exchange as the later call entries name it: `{peer namespace}:{subject}`, acted for by the peer node. */
function exchangeIdentity(d: ExchangeDecision, policy: TrustPolicy): AuditIdentity {
  const peer = d.peer === undefined ? undefined : findPeer(policy, d.peer);
  const namespace = peer?.namespace ?? d.peer ?? 'unknown';
  return {
    kind: 'peer',
    subject: `${namespace}:${d.subject}`,
    groups: d.groups ?? [],
    ...(d.peerEntityId ? { issuer: d.peerEntityId, actor: [{ subject: d.peerEntityId, node: namespace }] } : {}),
  };
}
