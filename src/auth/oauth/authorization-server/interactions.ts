/**
 * The interaction pages oidc-provider redirects people to (instead of its
 * devInteractions):
 *
 * - `GET  {mount}/interaction/:uid`        login prompt: the form; consent prompt: implicit, answered at once
 * - `POST {mount}/interaction/:uid`        checks the username and password, finishes the login prompt
 * - `GET  {mount}/interaction/:uid/abort`  the person cancels: `access_denied` to the client
 *
 * Rules:
 * - the interaction is the one named by its signed, path-scoped, SameSite=Lax
 *   cookie and must match the `:uid` of the URL: a cross-site form post carries
 *   no cookie and fails (CSRF), a stolen uid without the cookie is useless;
 * - consent is implicit: the grant holds the requested scopes the person is
 *   allowed (config) — others are recorded as rejected so the prompt resolves;
 * - five wrong passwords end the interaction with `access_denied`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { default as Provider, errors as ProviderErrors } from 'oidc-provider';
import type { Directory } from './directory.js';
import { errorPage, loginPage, sendHtml } from './pages.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type ProviderError = InstanceType<typeof ProviderErrors.OIDCProviderError>;

const MAX_FORM_BYTES = 8 * 1024;
const MAX_FAILED_LOGINS = 5;

export interface InteractionOptions {
  provider: Provider;
  directory: Directory;
  /** The issuer's path, e.g. `/oauth`. */
  mountPath: string;
  /** Failures that are bugs, not the person's doing. */
  onInternalError?: (err: unknown) => void;
}

export function interactionUrl(mountPath: string, uid: string): string {
  return `${mountPath}/interaction/${encodeURIComponent(uid)}`;
}

class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FormError(415, 'expected a form submission');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new FormError(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Returns the handler for `{mount}/interaction/…` paths (the path relative to the mount). */
export function interactionHandler(options: InteractionOptions) {
  const { provider, directory, mountPath, onInternalError } = options;
  const failures = new Map<string, number>();

  const clientName = async (clientId: unknown): Promise<string> => {
    const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
    return client?.clientName ?? (typeof clientId === 'string' ? clientId : 'An application');
  };

  const showLogin = async (res: ServerResponse, interaction: Interaction, status: number, extra: { username?: string; error?: string } = {}) => {
    const scope = typeof interaction.params.scope === 'string' ? interaction.params.scope.split(' ').filter(Boolean) : [];
    const action = interactionUrl(mountPath, interaction.uid);
    sendHtml(res, status, loginPage({ action, abortUrl: `${action}/abort`, clientName: await clientName(interaction.params.client_id), scopes: scope, ...extra }));
  };

  /** Implicit consent: grant what was asked and is allowed; record the rest as rejected. */
  const consent = async (req: IncomingMessage, res: ServerResponse, interaction: Interaction) => {
    const accountId = interaction.session?.accountId;
    const user = accountId === undefined ? undefined : directory.user(accountId);
    if (accountId === undefined || !user) {
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'account not found' }, { mergeWithLastSubmission: false });
    }
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const found = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
    const existing = found?.accountId === accountId ? found : undefined; // never extend another person's grant
    const grant = existing ?? new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
    if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope);
    if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      const allowed = scopes.filter((s) => user.scopes.has(s));
      const denied = scopes.filter((s) => !user.scopes.has(s));
      if (allowed.length) grant.addResourceScope(resource, allowed);
      if (denied.length) grant.rejectResourceScope(resource, denied);
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };

  const submitLogin = async (req: IncomingMessage, res: ServerResponse, interaction: Interaction) => {
    const form = await readForm(req);
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const accountId = username && password ? await directory.login(username, password) : undefined;
    if (accountId !== undefined) {
      failures.delete(interaction.uid);
      return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    }
    const count = (failures.get(interaction.uid) ?? 0) + 1;
    if (count >= MAX_FAILED_LOGINS) {
      failures.delete(interaction.uid);
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'too many failed sign-in attempts' }, { mergeWithLastSubmission: false });
    }
    // Bounded: an abandoned interaction's count is dropped once the map is large.
    if (failures.size >= 10_000) failures.delete(failures.keys().next().value as string);
    failures.set(interaction.uid, count);
    return showLogin(res, interaction, 200, { username, error: 'Invalid username or password.' });
  };

  return async function handleInteraction(req: IncomingMessage, res: ServerResponse, relativePath: string): Promise<void> {
    const match = /^\/interaction\/([A-Za-z0-9_-]{1,128})(\/abort)?$/.exec(relativePath);
    try {
      if (!match) throw new FormError(404, 'no such page');
      const [, uid, abort] = match as unknown as [string, string, string | undefined];
      const interaction = await provider.interactionDetails(req, res);
      if (interaction.uid !== uid) throw new FormError(400, 'this sign-in page does not belong to your browser session; start again from the application');
      const method = req.method ?? 'GET';
      if (abort) {
        if (method !== 'GET') throw new FormError(405, 'method not allowed');
        return await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cancelled' }, { mergeWithLastSubmission: false });
      }
      switch (interaction.prompt.name) {
        case 'login':
          if (method === 'GET') return await showLogin(res, interaction, 200);
          if (method === 'POST') return await submitLogin(req, res, interaction);
          throw new FormError(405, 'method not allowed');
        case 'consent':
          if (method !== 'GET' && method !== 'POST') throw new FormError(405, 'method not allowed');
          return await consent(req, res, interaction);
        default:
          throw new FormError(400, `unsupported prompt ${interaction.prompt.name}`);
      }
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      if (err instanceof FormError) return sendHtml(res, err.status, errorPage('Cannot continue', err.message));
      const e = err as Partial<ProviderError> & Error;
      // oidc-provider errors (expired or missing interaction…) are meant for the person; others are not.
      if (e.expose && typeof e.statusCode === 'number') {
        return sendHtml(res, e.statusCode, errorPage('Sign-in expired', 'This sign-in page has expired or was already used. Start again from the application.'));
      }
      onInternalError?.(err);
      sendHtml(res, 500, errorPage('Something went wrong', 'The sign-in could not be completed.'));
    }
  };
}
