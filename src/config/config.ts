/**
 * Loading the node configuration: embedded defaults, then the file (if any),
 * then command-line overrides; validated against CONFIG_SCHEMA at start.
 * A bad config fails the start with the field's path, never a request later.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { CONFIG_SCHEMA } from './schema.js';
import { DEFAULT_RATE_LIMITS, type RateLimitConfig, type RateRule } from '../auth/rate-limit.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export interface NodeConfig {
  dataDir: string;
  listen: { host: string; port: number };
  publicUrl: string;
  gateway: { maxBodyBytes: number; allowedOrigins: string[]; sessionTtlSeconds: number; drainTimeoutMs: number };
  auth: {
    /** Groups and scopes of the `anonymous` identity, or undefined when anonymous callers are not granted anything. */
    anonymous: { groups: string[]; scopes: string[] } | undefined;
    /** Resource URI access tokens must name; empty = `${publicUrl}/mcp`. */
    resource: string;
    issuers: { issuer: string; audience?: string; algorithms?: string[]; groupsClaim?: string; scopeClaim?: string; typ?: string }[];
    allowInsecureIssuers: boolean;
    clockSkewSeconds: number;
    jwksCooldownSeconds: number;
    authorizationServer: {
      enabled: boolean;
      accessTokenTtlSeconds: number;
      users: { username: string; passwordHash: string; groups: string[]; scopes: string[] }[];
      clients: { clientId: string; clientSecretHash?: string; clientSecret?: string; groups: string[]; scopes: string[] }[];
    };
    mtls: { host?: string; port: number; cert: string; key: string; ca: string; crl?: string } | undefined;
    lifecycle: { alpha: string[]; beta: string[] };
    adminGroups: string[];
    bootstrapToken: boolean;
  };
  rateLimits: RateLimitConfig;
  /** Absent: no federation. `trustDir` is absolute once loaded. */
  federation: { trustDir: string; listen: string[]; manifestTtlSeconds: number; policyPollMs: number } | undefined;
  audit: {
    checkpointEvery: number;
    checkpointIntervalSeconds: number;
    /** Absent: entries are kept for ever. `archiveDir` is absolute once loaded. */
    retention: { hotDays: number; archiveDir: string; intervalSeconds: number } | undefined;
  };
  backends: {
    allowLoopback: boolean;
    allowPrivate: boolean;
    callTimeoutMs: number;
    connectTimeoutMs: number;
    connections: number;
    driftCheckIntervalMs: number;
    stdioRestart: { initialDelayMs: number; maxDelayMs: number };
  };
}

export const DEFAULTS: Omit<NodeConfig, 'dataDir' | 'publicUrl' | 'auth' | 'rateLimits' | 'audit' | 'federation'> = {
  listen: { host: '127.0.0.1', port: 7300 },
  gateway: { maxBodyBytes: 1_048_576, allowedOrigins: [], sessionTtlSeconds: 86_400, drainTimeoutMs: 10_000 },
  backends: {
    // A loopback node proxying loopback servers is the local-development shape;
    // private ranges must be opted into; link-local/metadata are never allowed.
    allowLoopback: true,
    allowPrivate: false,
    callTimeoutMs: 30_000,
    connectTimeoutMs: 5_000,
    connections: 16,
    driftCheckIntervalMs: 60_000,
    stdioRestart: { initialDelayMs: 100, maxDelayMs: 10_000 },
  },
};

export class ConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigOverrides {
  dataDir: string;
  host?: string;
  port?: number;
  /** `--trust DIR`: enables federation with this policy directory. */
  trustDir?: string;
}

let validator: ReturnType<Ajv2020['compile']> | undefined;

/** Validates a parsed config document; throws ConfigError naming the first bad field. */
export function validateConfigDocument(doc: unknown, source: string): void {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: false, strict: true });
    addFormats(ajv);
    validator = ajv.compile(CONFIG_SCHEMA);
  }
  if (!validator(doc)) {
    const err = validator.errors?.[0];
    const where = err?.instancePath ? err.instancePath : '/';
    const extra = err?.keyword === 'additionalProperties' ? ` (${String((err.params as { additionalProperty?: string }).additionalProperty)})` : '';
    throw new ConfigError(`${source}: ${where} ${err?.message ?? 'is invalid'}${extra}`);
  }
}

/**
 * Reads `file` if it exists (JSON), merges defaults and overrides, validates. With `required`
 * (a file the user named) a missing file is an error: a typo must not start a node on defaults.
 */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides, options: { required?: boolean } = {}): Promise<NodeConfig> {
  let doc: Record<string, unknown> = {};
  if (file) {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (options.required === true) throw new ConfigError(`${file}: no such file`);
    }
    if (text !== undefined) {
      try {
        doc = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
      }
      validateConfigDocument(doc, file);
    }
  }
  const section = <K extends keyof typeof DEFAULTS>(key: K) => ({ ...DEFAULTS[key], ...((doc[key] as object | undefined) ?? {}) });
  const listen = section('listen');
  if (overrides.host !== undefined) listen.host = overrides.host;
  if (overrides.port !== undefined) listen.port = overrides.port;
  const backends = section('backends');
  backends.stdioRestart = { ...DEFAULTS.backends.stdioRestart, ...((doc.backends as { stdioRestart?: object } | undefined)?.stdioRestart ?? {}) };
  const config: NodeConfig = {
    dataDir: overrides.dataDir,
    listen,
    publicUrl: typeof doc.publicUrl === 'string' ? doc.publicUrl.replace(/\/+$/, '') : '',
    gateway: section('gateway'),
    auth: authSection((doc.auth ?? {}) as Record<string, unknown>),
    rateLimits: rateLimitSection((doc.rateLimits ?? {}) as Record<string, unknown>),
    audit: auditSection((doc.audit ?? {}) as Record<string, unknown>, overrides.dataDir),
    federation: federationSection((doc.federation ?? {}) as Record<string, unknown>, overrides),
    backends,
  };
  validateConfigDocument({ listen: config.listen, gateway: config.gateway, backends: config.backends }, 'effective config');
  return config;
}

function federationSection(doc: Record<string, unknown>, overrides: ConfigOverrides): NodeConfig['federation'] {
  const trustDir = overrides.trustDir ?? (doc.trustDir as string | undefined);
  if (trustDir === undefined) return undefined;
  return {
    trustDir: resolve(overrides.dataDir, trustDir),
    listen: (doc.listen as string[] | undefined) ?? ['/ip4/127.0.0.1/tcp/7400'],
    manifestTtlSeconds: (doc.manifestTtlSeconds as number | undefined) ?? 3600,
    policyPollMs: (doc.policyPollMs as number | undefined) ?? 1000,
  };
}

function auditSection(doc: Record<string, unknown>, dataDir: string): NodeConfig['audit'] {
  const retention = doc.retention as { hotDays: number; archiveDir?: string; intervalSeconds?: number } | undefined;
  return {
    checkpointEvery: (doc.checkpointEvery as number | undefined) ?? 1000,
    checkpointIntervalSeconds: (doc.checkpointIntervalSeconds as number | undefined) ?? 10,
    retention: retention && {
      hotDays: retention.hotDays,
      archiveDir: resolve(dataDir, retention.archiveDir ?? 'audit-archive'),
      intervalSeconds: retention.intervalSeconds ?? 3600,
    },
  };
}

/** The URL clients reach the gateway at, once the listener's port is known. */
export function resolvePublicUrl(config: NodeConfig, boundPort: number): string {
  if (config.publicUrl) return config.publicUrl;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return `http://${host}:${boundPort}`;
}

function anonymousGrant(value: unknown): NodeConfig['auth']['anonymous'] {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { groups: [], scopes: [] };
  const v = value as { groups?: string[]; scopes?: string[] };
  return { groups: v.groups ?? [], scopes: v.scopes ?? [] };
}

type AuthDoc = Partial<Record<keyof NodeConfig['auth'], unknown>>;

function authSection(doc: AuthDoc): NodeConfig['auth'] {
  const as = (doc.authorizationServer ?? {}) as Partial<NodeConfig['auth']['authorizationServer']>;
  const lifecycle = (doc.lifecycle ?? {}) as Partial<NodeConfig['auth']['lifecycle']>;
  return {
    anonymous: anonymousGrant(doc.anonymous),
    resource: typeof doc.resource === 'string' ? doc.resource : '',
    issuers: (doc.issuers as NodeConfig['auth']['issuers'] | undefined) ?? [],
    allowInsecureIssuers: doc.allowInsecureIssuers === true,
    clockSkewSeconds: (doc.clockSkewSeconds as number | undefined) ?? 30,
    jwksCooldownSeconds: (doc.jwksCooldownSeconds as number | undefined) ?? 30,
    authorizationServer: {
      enabled: as.enabled ?? true,
      accessTokenTtlSeconds: as.accessTokenTtlSeconds ?? 600,
      users: (as.users ?? []).map((u) => ({ ...u, groups: u.groups ?? [], scopes: u.scopes ?? [] })),
      clients: (as.clients ?? []).map((c) => ({ ...c, groups: c.groups ?? [], scopes: c.scopes ?? [] })),
    },
    mtls: doc.mtls as NodeConfig['auth']['mtls'],
    lifecycle: { alpha: lifecycle.alpha ?? [], beta: lifecycle.beta ?? [] },
    adminGroups: (doc.adminGroups as string[] | undefined) ?? ['toolmesh-admins'],
    bootstrapToken: doc.bootstrapToken !== false,
  };
}

function rateLimitSection(doc: Record<string, unknown>): RateLimitConfig {
  const d = DEFAULT_RATE_LIMITS.defaults;
  return {
    defaults: {
      person: (doc.person as RateRule | undefined) ?? d.person,
      agent: (doc.agent as RateRule | undefined) ?? d.agent,
      tenant: (doc.tenant as RateRule | undefined) ?? d.tenant,
    },
    groups: (doc.groups as Record<string, RateRule> | undefined) ?? {},
    tenants: (doc.tenants as Record<string, RateRule> | undefined) ?? {},
    maxTracked: (doc.maxTrackedIdentities as number | undefined) ?? DEFAULT_RATE_LIMITS.maxTracked,
  };
}
