/**
 * How a request's credential becomes an Identity. One authenticator per
 * credential kind; the authenticate policy step picks the one the request's
 * credential belongs to and never falls back to another after a failure.
 */
import type { IncomingMessage } from 'node:http';
import type { Identity } from './identity.js';

/** The credential a request presents, extracted once by the transport. */
export interface PresentedCredential {
  /** The token of `Authorization: Bearer <token>`, if any. */
  bearer?: string;
  /** The request arrived on the mTLS listener with a verified client certificate. */
  tlsPeer?: boolean;
}

export interface Authenticator {
  /**
   * Resolves the caller, or `undefined` when the request carries no
   * credential of this authenticator's kind. Throws `GatewayError`
   * (`invalid_token`) when a credential of its kind is present but bad.
   */
  authenticate(req: IncomingMessage, credential: PresentedCredential): Identity | undefined | Promise<Identity | undefined>;
}

/** API keys are recognisable by their prefix; everything else that is a bearer token is a JWT. */
export const API_KEY_PREFIX = 'tm_';
