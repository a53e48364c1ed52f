/**
 * Admin API of the federation (mounted under /admin, behind admin auth):
 *
 *   GET  /admin/v1/peers             every pinned peer: link state, trust, manifests both ways
 *   GET  /admin/v1/peers/{alias}     one peer, with the tools it offers us
 *   GET  /admin/v1/trust             the running policy (hash, node, peers, and the whole normalised
 *                                    `policy` for `toolmesh trust diff`), its directory and its history
 *   POST /admin/v1/trust/reload      re-read the policy directory now: applied, unchanged or refused
 */
import Router from '@koa/router';
import { HttpError } from '../../src/http/errors.js';
import type { ManifestExchange } from '../manifest/index.js';
import type { PeerHost, PeerState } from '../peer/index.js';
import { renderTrustDiff, type TrustPolicyStore } from '../trust/index.js';

export interface PeerAdminDeps {
  host: PeerHost;
  exchange: ManifestExchange;
  trust: TrustPolicyStore;
  trusted: (alias: string) => boolean | undefined;
}

export function peerAdminRoutes(deps: PeerAdminDeps): Router {
  const router = new Router({ prefix: '/v1' });
  const view = (state: PeerState, withTools: boolean) => {
    const policy = deps.trust.current.peers.find((p) => p.alias === state.alias);
    const manifest = deps.exchange.manifest(state.alias);
    return {
      alias: state.alias,
      peerId: state.peerId,
      entityId: policy?.entityId ?? null,
      addresses: state.addresses,
      status: state.status,
      trusted: deps.trusted(state.alias) ?? null,
      lastConnectedAt: state.lastConnectedAt ? new Date(state.lastConnectedAt).toISOString() : null,
      lastError: state.lastError ? { ...state.lastError, at: new Date(state.lastError.at).toISOString() } : null,
      rttMs: state.rttMs ?? null,
      reconnectAttempts: state.reconnectAttempts,
      received: manifest
        ? {
            seq: manifest.seq,
            expiresAt: new Date(manifest.expiresAt).toISOString(),
            tools: withTools ? manifest.tools.map((t) => ({ slug: t.slug, version: t.version, name: t.name, access: t.access, lifecycle: t.lifecycle })) : manifest.tools.length,
          }
        : null,
    };
  };

  router.get('/peers', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { peerId: deps.host.peerId, multiaddrs: deps.host.multiaddrs(), peers: deps.host.peers().map((p) => view(p, false)) };
  });

  router.get('/peers/:alias', (ctx) => {
    const state = deps.host.peer(ctx.params.alias!);
    if (!state) throw new HttpError(404, 'not_found', `no peer ${ctx.params.alias}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = view(state, true);
  });

  router.get('/trust', (ctx) => {
    const policy = deps.trust.current;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      hash: policy.source.hash,
      dir: deps.trust.dir,
      node: policy.node,
      trustAnchors: policy.trustAnchors.map((a) => a.entityId),
      peers: policy.peers,
      // The normalised policy, so a proposed directory can be diffed against what runs (`toolmesh trust diff DIR`).
      policy,
      history: deps.trust.versions().map((v) => ({ seq: v.seq, hash: v.hash, appliedAt: v.appliedAt, trigger: v.trigger, changes: renderTrustDiff(v.changes) })),
      // The directory on disk is not what runs: what was refused and why (absent when they agree).
      ...(deps.trust.refusal ? { refused: deps.trust.refusal } : {}),
    };
  });

  router.post('/trust/reload', async (ctx) => {
    const result = await deps.trust.reload();
    if (result.status === 'refused') throw new HttpError(422, result.error.code, result.error.message);
    ctx.body = result.status === 'applied' ? { status: 'applied', seq: result.version.seq, hash: result.version.hash, changes: renderTrustDiff(result.version.changes) } : { status: 'unchanged' };
  });

  return router;
}
