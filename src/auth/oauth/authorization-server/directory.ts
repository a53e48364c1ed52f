/**
 * Who may obtain tokens: the configured people (local login) and agents
 * (client_credentials), validated once at start. Checks are constant-time and
 * an unknown username costs the same scrypt as a known one, so timing tells
 * nothing about which usernames exist.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthorizationServerError } from './errors.js';
import { parseScryptHash, verifyParsedHash, type ParsedScryptHash } from './password.js';
import type { AgentClient, LocalUser } from './types.js';

export interface Principal {
  groups: string[];
  /** The most this principal's tokens may carry. */
  scopes: ReadonlySet<string>;
}

interface User extends Principal {
  username: string;
  hash: ParsedScryptHash;
}

interface Agent extends Principal {
  clientId: string;
  /** Exactly one of these. */
  hash?: ParsedScryptHash;
  secretDigest?: Buffer;
}

/** Verified against when the username is unknown: same cost, never matches anything a user typed. */
const DUMMY_HASH = parseScryptHash('scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 scope-token

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function configError(path: string, message: string, cause?: unknown): AuthorizationServerError {
  return new AuthorizationServerError('invalid_config', `${path}: ${message}`, cause === undefined ? undefined : { cause });
}

function checkList(path: string, values: unknown, scopes: boolean): string[] {
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' || v.length === 0)) throw configError(path, 'expected an array of non-empty strings');
  if (scopes) for (const v of values as string[]) if (!SCOPE_TOKEN.test(v)) throw configError(path, `not a scope token: ${JSON.stringify(v)}`);
  return [...(values as string[])];
}

function parseHash(path: string, stored: unknown): ParsedScryptHash {
  if (typeof stored !== 'string') throw configError(path, 'expected an scrypt$… string');
  try {
    return parseScryptHash(stored);
  } catch (err) {
    throw configError(path, (err as Error).message, err);
  }
}

export class Directory {
  readonly #users = new Map<string, User>();
  readonly #agents = new Map<string, Agent>();
  /** SHA-256 of the secret an agent last proved with a hashed secret: repeat token requests skip scrypt. */
  readonly #verifiedSecrets = new Map<string, Buffer>();

  /** Throws `AuthorizationServerError` (`invalid_config`) naming the offending field. */
  constructor(users: LocalUser[], clients: AgentClient[], prefix = '') {
    users.forEach((u, i) => {
      const path = `${prefix}users/${i}`;
      if (typeof u.username !== 'string' || u.username.length === 0) throw configError(`${path}/username`, 'must be a non-empty string');
      if (this.#users.has(u.username)) throw configError(`${path}/username`, `duplicate username ${JSON.stringify(u.username)}`);
      this.#users.set(u.username, {
        username: u.username,
        hash: parseHash(`${path}/passwordHash`, u.passwordHash),
        groups: checkList(`${path}/groups`, u.groups ?? [], false),
        scopes: new Set(checkList(`${path}/scopes`, u.scopes ?? [], true)),
      });
    });
    clients.forEach((c, i) => {
      const path = `${prefix}clients/${i}`;
      if (typeof c.clientId !== 'string' || c.clientId.length === 0) throw configError(`${path}/clientId`, 'must be a non-empty string');
      if (this.#agents.has(c.clientId)) throw configError(`${path}/clientId`, `duplicate client id ${JSON.stringify(c.clientId)}`);
      if ((c.clientSecret === undefined) === (c.clientSecretHash === undefined)) throw configError(path, 'set exactly one of clientSecret and clientSecretHash');
      if (c.clientSecret !== undefined && (typeof c.clientSecret !== 'string' || c.clientSecret.length < 16)) {
        throw configError(`${path}/clientSecret`, 'must be at least 16 characters');
      }
      // Tokens name people and agents by `sub` alone: one name for both would make them indistinguishable.
      if (this.#users.has(c.clientId)) throw configError(`${path}/clientId`, `${JSON.stringify(c.clientId)} is also a username`);
      this.#agents.set(c.clientId, {
        clientId: c.clientId,
        ...(c.clientSecretHash !== undefined ? { hash: parseHash(`${path}/clientSecretHash`, c.clientSecretHash) } : {}),
        ...(c.clientSecret !== undefined ? { secretDigest: sha256(c.clientSecret) } : {}),
        groups: checkList(`${path}/groups`, c.groups ?? [], false),
        scopes: new Set(checkList(`${path}/scopes`, c.scopes ?? [], true)),
      });
    });
  }

  user(username: string): Principal | undefined {
    return this.#users.get(username);
  }

  agent(clientId: string): Principal | undefined {
    return this.#agents.get(clientId);
  }

  get agentIds(): string[] {
    return [...this.#agents.keys()];
  }

  /** The username when the password is right; the same work either way. */
  async login(username: string, password: string): Promise<string | undefined> {
    const user = this.#users.get(username);
    const ok = await verifyParsedHash(password, user?.hash ?? DUMMY_HASH);
    return ok && user ? user.username : undefined;
  }

  /** Checks an agent's presented secret (plain: constant-time digest compare; hashed: scrypt, then cached). */
  async agentSecretMatches(clientId: string, presented: string): Promise<boolean> {
    const agent = this.#agents.get(clientId);
    if (!agent) return false;
    const digest = sha256(presented);
    if (agent.secretDigest) return timingSafeEqual(digest, agent.secretDigest);
    const cached = this.#verifiedSecrets.get(clientId);
    if (cached && timingSafeEqual(digest, cached)) return true;
    if (!agent.hash || !(await verifyParsedHash(presented, agent.hash))) return false;
    this.#verifiedSecrets.set(clientId, digest);
    return true;
  }
}
