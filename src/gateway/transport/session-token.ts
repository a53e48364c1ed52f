/**
 * Legacy-era session ids as signed, self-contained tokens: everything the
 * gateway needs to serve a session travels in the `Mcp-Session-Id` header, so
 * any replica holding the session key serves any session and the gateway keeps
 * no per-session table. HMAC-SHA256 (not Ed25519) because it is verified on
 * every request of the hot path.
 *
 * Format: `s1.<base64url(JSON payload)>.<base64url(mac)>`, kept well under 4 KB.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SessionClaims {
  /** Negotiated protocol version. */
  pv: string;
  /** The endpoint the session belongs to (`aggregate` or `slug@major`). */
  ep: string;
  /** Client capabilities declared at initialize (forwarded to modern backends). */
  caps?: Record<string, unknown>;
  /** Client name and version declared at initialize. */
  ci?: { name?: string; version?: string };
  /** Random session nonce: distinguishes sessions with identical claims. */
  n: string;
  iat: number;
  exp: number;
}

export const MAX_SESSION_TOKEN_BYTES = 4096;

export class SessionTokenCodec {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new Error('session key must be at least 32 bytes');
    this.#key = key;
  }

  #mac(payload: string): Buffer {
    return createHmac('sha256', this.#key).update(payload).digest();
  }

  /** Returns a token, or undefined when the claims would not fit the size bound. */
  sign(claims: SessionClaims): string | undefined {
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const token = `s1.${payload}.${this.#mac(payload).toString('base64url')}`;
    return token.length <= MAX_SESSION_TOKEN_BYTES ? token : undefined;
  }

  /** The token's claims if it is authentic and unexpired, else undefined. */
  verify(token: string, nowSeconds: number): SessionClaims | undefined {
    if (token.length > MAX_SESSION_TOKEN_BYTES || !token.startsWith('s1.')) return undefined;
    const dot = token.indexOf('.', 3);
    if (dot < 0) return undefined;
    const payload = token.slice(3, dot);
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.#mac(payload);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    let claims: SessionClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SessionClaims;
    } catch {
      return undefined;
    }
    if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return undefined;
    return claims;
  }
}
