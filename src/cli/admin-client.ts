/**
 * The CLI's view of a running node: its admin API over HTTP (LevelDB is
 * single-process, so the CLI never opens the database of a running node).
 *
 * Node URL: `--node` > `TOOLMESH_URL` > http://127.0.0.1:7300.
 * Token: `--token` > `TOOLMESH_TOKEN` > `<data>/admin.token`
 * (data: `--data` > `TOOLMESH_DATA` > ./.toolmesh).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ConnectionFlags {
  node?: string;
  token?: string;
  data?: string;
}

export function defaultDataDir(flag?: string): string {
  return flag ?? process.env.TOOLMESH_DATA ?? '.toolmesh';
}

export class AdminClient {
  readonly baseUrl: string;
  readonly #token: string;

  constructor(flags: ConnectionFlags) {
    this.baseUrl = (flags.node ?? process.env.TOOLMESH_URL ?? 'http://127.0.0.1:7300').replace(/\/+$/, '');
    const token = flags.token ?? process.env.TOOLMESH_TOKEN ?? readTokenFile(defaultDataDir(flags.data));
    if (!token) {
      throw new CliError(`no admin token: pass --token, set TOOLMESH_TOKEN, or run where ${join(defaultDataDir(flags.data), 'admin.token')} exists`);
    }
    this.#token = token;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new CliError(`cannot reach the node at ${this.baseUrl} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}); is it running? (toolmesh start)`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: reported below */
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(`${res.status} ${error?.code ?? res.statusText}: ${error?.message ?? text}`);
    }
    return parsed as T;
  }
}

function readTokenFile(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The flags every command that talks to a running node accepts (node:util parseArgs options). */
export const CONNECTION_OPTIONS = {
  node: { type: 'string' },
  token: { type: 'string' },
  data: { type: 'string' },
  json: { type: 'boolean' },
} as const;
