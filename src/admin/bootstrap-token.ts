/**
 * The bootstrap admin token: the first admin credential of a fresh node.
 * It can be rotated (a new token is written to `<data>/admin.token`, mode
 * 0600, and returned once) or disabled for good (kept disabled across
 * restarts), once real admin identities exist. `auth.bootstrapToken: false`
 * disables it from config.
 *
 *   POST /admin/v1/credentials/bootstrap/rotate   → { token }
 *   POST /admin/v1/credentials/bootstrap/disable  → { disabled: true }
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import type { JsonSublevel, Store } from '../store/db.js';
import { digestSecret, loadOrCreateAdminToken } from '../node/identity.js';
import { HttpError } from '../http/errors.js';

const STATE_KEY = 'bootstrap-token';

export class BootstrapToken {
  readonly #meta: JsonSublevel;
  readonly #dataDir: string;
  #digest: Buffer | undefined;
  #disabled = false;

  constructor(store: Store, dataDir: string) {
    this.#meta = store.sublevel('meta');
    this.#dataDir = dataDir;
  }

  /**
   * Loads (or, on a fresh node, creates) the token unless it is disabled —
   * by an earlier `disable` or by `enabledByConfig: false`; a disabled token
   * is never written to disk again. Returns the token when it was just created.
   */
  async load(enabledByConfig: boolean): Promise<{ created: string | undefined }> {
    const state = (await this.#meta.get(STATE_KEY)) as { disabled?: boolean } | undefined;
    this.#disabled = state?.disabled === true || !enabledByConfig;
    if (this.#disabled) return { created: undefined };
    const { token, created } = await loadOrCreateAdminToken(this.#dataDir);
    this.#digest = digestSecret(token);
    return { created: created ? token : undefined };
  }

  digest(): Buffer | undefined {
    return this.#digest;
  }

  get disabled(): boolean {
    return this.#disabled;
  }

  async rotate(): Promise<string> {
    if (this.#disabled) throw new HttpError(409, 'conflict', 'the bootstrap admin token is disabled');
    const token = `tmadm_${randomBytes(32).toString('base64url')}`;
    const file = join(this.#dataDir, 'admin.token');
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, token + '\n', { mode: 0o600 });
    await rename(tmp, file);
    this.#digest = digestSecret(token); // the old token stops working now
    return token;
  }

  async disable(): Promise<void> {
    await this.#meta.put(STATE_KEY, { disabled: true, at: new Date().toISOString() });
    this.#disabled = true;
    this.#digest = undefined;
    await rm(join(this.#dataDir, 'admin.token'), { force: true });
  }
}

export function bootstrapTokenRoutes(bootstrap: BootstrapToken): Router {
  const router = new Router({ prefix: '/v1/credentials/bootstrap' }); // mounted under /admin
  router.post('/rotate', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { token: await bootstrap.rotate() };
  });
  router.post('/disable', async (ctx) => {
    await bootstrap.disable();
    ctx.body = { disabled: true };
  });
  return router;
}
