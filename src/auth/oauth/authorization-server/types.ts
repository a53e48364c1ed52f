/**
 * The embedded authorization server's configuration and handle.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWTVerifyGetKey } from 'jose';

/** A person who logs in at the authorization server's login page. */
export interface LocalUser {
  username: string;
  /** `scrypt$N$r$p$saltB64$hashB64` (`toolmesh credential hash-password`). */
  passwordHash: string;
  /** Copied into the `groups` claim of this user's access tokens. */
  groups: string[];
  /** The most this user's tokens may carry (further limited to `scopesSupported()`). */
  scopes: string[];
}

/** A registered agent: obtains tokens with the client_credentials grant. */
export interface AgentClient {
  clientId: string;
  /** `scrypt$…` hash of the secret (preferred); exactly one of this and `clientSecret`. */
  clientSecretHash?: string;
  /** The secret in clear (compared in constant time). */
  clientSecret?: string;
  groups: string[];
  scopes: string[];
}

export interface AuthorizationServerConfig {
  /** `${publicUrl}/oauth`: the path is the prefix the node's listener hands to `handle`. */
  issuer: string;
  /**
   * The gateway's resource URI (RFC 8707), e.g. `${publicUrl}/mcp`: the `aud`
   * of every access token, and the resource assumed when a client names none.
   */
  resource: string;
  users: LocalUser[];
  clients: AgentClient[];
  /** Scopes that exist right now (`mcp:admin`, `mcp:tool:{slug}:read|write` …), asked at request time. */
  scopesSupported: () => string[];
  /** Access token lifetime; default 600. */
  accessTokenTtlSeconds?: number;
  /** Signing keys, the cookie key and registered clients live here. */
  dataDir: string;
}

export interface AuthorizationServer {
  readonly issuer: string;
  /**
   * The RFC 8414 metadata path at the node root for this issuer,
   * `/.well-known/oauth-authorization-server/oauth` (MCP clients look there
   * for issuers with a path); served by `handle`.
   */
  readonly metadataPath: string;
  /**
   * True for the paths `handle` serves: the issuer's path and everything under
   * it (`/oauth`, `/oauth/…`), and `metadataPath`. `path` excludes the query.
   */
  owns(path: string): boolean;
  /** Serves a request for which `owns(path)` is true; answers every request itself (404 for others). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The public signing keys, for verifying this server's tokens without HTTP. */
  localKeys(): JWTVerifyGetKey;
  /** Waits for pending writes (registered clients). */
  close(): Promise<void>;
}
