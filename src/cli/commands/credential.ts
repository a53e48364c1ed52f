/**
 * `toolmesh credential …`: credentials on a running node.
 *
 *   key issue  --tenant T --scopes a,b [--groups g1,g2] [--expires-at DATE]
 *   key rotate --tenant T --key-id K [--overlap SECONDS]
 *   key revoke --tenant T --key-id K
 *   key list   [--tenant T]
 *
 * A newly issued or rotated key is printed once: the node keeps only its digest.
 * (`credential agent …` lives elsewhere.)
 */
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS } from '../admin-client.js';
import { commaList, printJson, table } from '../format.js';
import type { ApiKeyRecord, ApiKeyStatus } from '../../auth/apikeys/api-keys.js';

const BASE = '/admin/v1/credentials/keys';

export const CREDENTIAL_USAGE = `usage: toolmesh credential key issue --tenant T --scopes a,b [--groups g1,g2] [--expires-at DATE]
       toolmesh credential key rotate --tenant T --key-id K [--overlap SECONDS]
       toolmesh credential key revoke --tenant T --key-id K
       toolmesh credential key list [--tenant T]
       toolmesh credential agent …
       toolmesh credential bootstrap rotate|disable
       toolmesh credential hash-password`;

type KeyView = ApiKeyRecord & { status: ApiKeyStatus };

function need(value: string | undefined, flag: string, usage: string): string {
  if (!value) throw new CliError(`missing ${flag}\n${usage}`, 2);
  return value;
}

function keyPath(tenant: string, keyId: string, action: string): string {
  return `${BASE}/${encodeURIComponent(tenant)}/${encodeURIComponent(keyId)}/${action}`;
}

/** The moment a key stops working: its expiry or the end of its rotation overlap, whichever is first. */
function ends(r: ApiKeyRecord): string {
  const candidates = [r.expiresAt, r.notAfter].filter((v): v is string => v !== undefined).sort((a, b) => Date.parse(a) - Date.parse(b));
  return candidates[0] ?? '-';
}

const HEADERS = ['TENANT', 'KEY ID', 'SCOPES', 'CREATED', 'EXPIRES', 'STATUS'];

function row(r: KeyView): string[] {
  return [r.tenant, r.keyId, r.scopes.join(','), r.createdAt, ends(r), r.status];
}

function announce(verb: string, result: { key: string; record: KeyView }): string {
  const r = result.record;
  return [
    `${verb} key ${r.tenant}/${r.keyId} (scopes: ${r.scopes.join(', ')}${r.groups.length ? `; groups: ${r.groups.join(', ')}` : ''}${r.expiresAt ? `; expires ${r.expiresAt}` : ''})`,
    '',
    `  ${result.key}`,
    '',
    'Store this key now: it is not shown again (the node keeps only a digest).',
  ].join('\n');
}

export async function credentialCommand(argv: string[]): Promise<void> {
  const [kind, ...rest] = argv;
  switch (kind) {
    case 'key':
      return keyCommand(rest);
    case 'agent': {
      const { agentCommand } = await import('./credential-agent.js');
      return agentCommand(rest);
    }
    case 'hash-password': {
      const { hashPasswordCommand } = await import('./hash-password.js');
      return hashPasswordCommand(rest);
    }
    case 'bootstrap':
      return bootstrapCommand(rest);
    default:
      throw new CliError(kind === undefined ? CREDENTIAL_USAGE : `unknown credential kind ${kind}: expected key or agent\n${CREDENTIAL_USAGE}`, 2);
  }
}

async function keyCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      ...CONNECTION_OPTIONS,
      tenant: { type: 'string' },
      scopes: { type: 'string' },
      groups: { type: 'string' },
      'expires-at': { type: 'string' },
      'key-id': { type: 'string' },
      overlap: { type: 'string' },
    },
  });
  if (positionals.length) throw new CliError(`unexpected argument ${positionals[0]}\n${CREDENTIAL_USAGE}`, 2);
  const out = (value: unknown, text: () => string) => (values.json ? printJson(value) : process.stdout.write(text() + '\n'));
  const usage = CREDENTIAL_USAGE.split('\n').find((l) => l.includes(`key ${sub} `) || l.endsWith(`key ${sub}`)) ?? CREDENTIAL_USAGE;

  switch (sub) {
    case 'issue': {
      const tenant = need(values.tenant, '--tenant', usage);
      const scopes = commaList(need(values.scopes, '--scopes', usage))!;
      const client = new AdminClient(values);
      const result = await client.request<{ key: string; record: KeyView }>('POST', BASE, {
        tenant,
        scopes,
        ...(values.groups !== undefined ? { groups: commaList(values.groups) } : {}),
        ...(values['expires-at'] !== undefined ? { expiresAt: values['expires-at'] } : {}),
      });
      out(result, () => announce('issued', result));
      return;
    }
    case 'rotate': {
      const tenant = need(values.tenant, '--tenant', usage);
      const keyId = need(values['key-id'], '--key-id', usage);
      let overlapSeconds: number | undefined;
      if (values.overlap !== undefined) {
        overlapSeconds = Number(values.overlap);
        if (!/^\d+$/.test(values.overlap) || !Number.isSafeInteger(overlapSeconds)) throw new CliError(`--overlap: expected whole seconds, got ${values.overlap}`, 2);
      }
      const client = new AdminClient(values);
      const result = await client.request<{ key: string; record: KeyView }>('POST', keyPath(tenant, keyId, 'rotate'), overlapSeconds === undefined ? {} : { overlapSeconds });
      out(result, () => `${announce('rotated to', result)}\nThe old key ${tenant}/${keyId} keeps working during the overlap; then it is refused.`);
      return;
    }
    case 'revoke': {
      const tenant = need(values.tenant, '--tenant', usage);
      const keyId = need(values['key-id'], '--key-id', usage);
      const client = new AdminClient(values);
      const record = await client.request<KeyView>('POST', keyPath(tenant, keyId, 'revoke'), {});
      out(record, () => `revoked key ${record.tenant}/${record.keyId} at ${record.revokedAt} (by ${record.revokedBy ?? '-'})`);
      return;
    }
    case 'list': {
      const client = new AdminClient(values);
      const query = values.tenant !== undefined ? `?tenant=${encodeURIComponent(values.tenant)}` : '';
      const result = await client.request<{ keys: KeyView[] }>('GET', BASE + query);
      out(result, () => (result.keys.length ? table(HEADERS, result.keys.map(row)) : `no API keys${values.tenant ? ` for tenant ${values.tenant}` : ''}`));
      return;
    }
    default:
      throw new CliError(CREDENTIAL_USAGE, 2);
  }
}

/** `credential bootstrap rotate|disable`: the bootstrap admin token. */
async function bootstrapCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({ args: rest, options: { ...CONNECTION_OPTIONS } });
  if (sub !== 'rotate' && sub !== 'disable') throw new CliError('usage: toolmesh credential bootstrap rotate|disable', 2);
  const client = new AdminClient(values);
  const result = await client.request<{ token?: string; disabled?: boolean }>('POST', `/admin/v1/credentials/bootstrap/${sub}`);
  if (values.json) return printJson(result);
  process.stdout.write(
    sub === 'rotate'
      ? `new bootstrap admin token (the old one no longer works; also written to <data>/admin.token):\n\n  ${result.token}\n`
      : 'bootstrap admin token disabled for good; use an mcp:admin token or an admin group from now on\n',
  );
}
