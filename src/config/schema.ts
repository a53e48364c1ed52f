/**
 * The node's configuration file, as a JSON Schema (draft 2020-12). Validated
 * once at start; an error names the offending field by its JSON pointer.
 */

const RULE = { type: 'object', additionalProperties: false, required: ['perMinute', 'burst'], properties: { perMinute: { type: 'number', exclusiveMinimum: 0 }, burst: { type: 'integer', minimum: 1 } } };

export const CONFIG_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://toolmesh.dev/schemas/config.json',
  title: 'Toolmesh node configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
      },
    },
    publicUrl: {
      description: 'Base URL clients use to reach this gateway (catalog links, resource URI). Defaults to http://{host}:{port}.',
      type: 'string',
      format: 'uri',
    },
    gateway: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxBodyBytes: { type: 'integer', minimum: 1024, maximum: 67108864 },
        allowedOrigins: {
          description: 'Origins (scheme://host[:port]) allowed to call MCP endpoints from a browser. Loopback origins are always allowed for a loopback listener.',
          type: 'array',
          items: { type: 'string' },
        },
        sessionTtlSeconds: { type: 'integer', minimum: 60 },
        drainTimeoutMs: { type: 'integer', minimum: 0 },
      },
    },
    auth: {
      type: 'object',
      additionalProperties: false,
      properties: {
        resource: {
          description: "This gateway's resource URI (RFC 8707): the audience access tokens must name. Defaults to {publicUrl}/mcp.",
          type: 'string',
          format: 'uri',
        },
        issuers: {
          description: 'Trusted OAuth 2.0 / OIDC issuers (a corporate IdP). The embedded authorization server is trusted as well when enabled.',
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['issuer'],
            properties: {
              issuer: { type: 'string', format: 'uri' },
              audience: { type: 'string' },
              algorithms: { type: 'array', items: { enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] } },
              groupsClaim: { type: 'string' },
              scopeClaim: { type: 'string' },
              typ: { type: 'string' },
            },
          },
        },
        allowInsecureIssuers: { description: 'Accept http: issuers (loopback development only).', type: 'boolean' },
        clockSkewSeconds: { type: 'integer', minimum: 0, maximum: 300 },
        jwksCooldownSeconds: { type: 'integer', minimum: 1 },
        authorizationServer: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enabled: { type: 'boolean' },
            accessTokenTtlSeconds: { type: 'integer', minimum: 30, maximum: 86400 },
            users: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['username', 'passwordHash'],
                properties: {
                  username: { type: 'string', minLength: 1 },
                  passwordHash: { type: 'string', pattern: '^scrypt\\$' },
                  groups: { type: 'array', items: { type: 'string' } },
                  scopes: { type: 'array', items: { type: 'string' } },
                },
              },
            },
            clients: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['clientId'],
                properties: {
                  clientId: { type: 'string', minLength: 1 },
                  clientSecretHash: { type: 'string', pattern: '^scrypt\\$' },
                  clientSecret: { type: 'string', minLength: 16 },
                  groups: { type: 'array', items: { type: 'string' } },
                  scopes: { type: 'array', items: { type: 'string' } },
                },
              },
            },
          },
        },
        mtls: {
          type: 'object',
          additionalProperties: false,
          required: ['port', 'cert', 'key', 'ca'],
          properties: {
            host: { type: 'string' },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
            cert: { type: 'string', description: 'PEM file: the listener certificate chain' },
            key: { type: 'string', description: 'PEM file: its private key' },
            ca: { type: 'string', description: 'PEM file: CA bundle trusted for client certificates' },
            crl: { type: 'string', description: 'PEM file: certificate revocation list(s), re-read when it changes' },
          },
        },
        lifecycle: {
          type: 'object',
          additionalProperties: false,
          properties: {
            alpha: { type: 'array', items: { type: 'string' }, description: 'Teams (groups) admitted to alpha versions.' },
            beta: { type: 'array', items: { type: 'string' }, description: 'Teams (groups) approved for beta versions.' },
          },
        },
        adminGroups: { type: 'array', items: { type: 'string' }, description: 'Groups whose members (people or agents) may use the admin API.' },
        bootstrapToken: { type: 'boolean', description: 'Accept the bootstrap admin token (default true).' },
        anonymous: {
          description:
            'Grants callers without credentials an `anonymous` identity (local development, conformance runs). Off by default. `true` grants no groups or scopes; an object names them.',
          oneOf: [
            { type: 'boolean' },
            {
              type: 'object',
              additionalProperties: false,
              properties: {
                groups: { type: 'array', items: { type: 'string', minLength: 1 } },
                scopes: { type: 'array', items: { type: 'string', minLength: 1 } },
              },
            },
          ],
        },
      },
    },
    rateLimits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        person: RULE,
        agent: RULE,
        tenant: RULE,
        groups: { type: 'object', additionalProperties: RULE },
        tenants: { type: 'object', additionalProperties: RULE },
        maxTrackedIdentities: { type: 'integer', minimum: 1000 },
      },
    },
    federation: {
      description: 'Peering with other nodes (PRODUCT.md §9). Off unless a trust policy directory is given (here or with --trust).',
      type: 'object',
      additionalProperties: false,
      properties: {
        trustDir: { description: 'The trust policy directory (trust-config/ format); relative to the data directory.', type: 'string', minLength: 1 },
        listen: { description: 'libp2p listen multiaddrs. Default: /ip4/127.0.0.1/tcp/7400.', type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' } },
        manifestTtlSeconds: { description: 'Lifetime of the capability manifests this node signs (refreshed at two thirds). Default 3600.', type: 'integer', minimum: 10, maximum: 86400 },
        policyPollMs: { description: 'How often the trust policy directory is re-read for changes. Default 1000.', type: 'integer', minimum: 100 },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        checkpointEvery: { description: 'Sign a checkpoint of the chain head at least every this many entries.', type: 'integer', minimum: 1, maximum: 1000000 },
        checkpointIntervalSeconds: { description: 'Sign a checkpoint at least this often when anything new was recorded (0: only by count).', type: 'number', minimum: 0 },
        retention: {
          description: 'Entries older than hotDays are exported (JSON lines) to archiveDir, then pruned behind a signed retention checkpoint. Absent: keep everything.',
          type: 'object',
          additionalProperties: false,
          required: ['hotDays'],
          properties: {
            hotDays: { description: 'How long entries stay in the node’s log, in days (fractions allowed).', type: 'number', exclusiveMinimum: 0 },
            archiveDir: { description: 'Where pruned entries are exported; relative to the data directory. Default: audit-archive.', type: 'string', minLength: 1 },
            intervalSeconds: { description: 'How often the retention pass runs. Default: 3600.', type: 'number', minimum: 1 },
          },
        },
      },
    },
    backends: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowLoopback: { type: 'boolean' },
        allowPrivate: { type: 'boolean' },
        callTimeoutMs: { type: 'integer', minimum: 100 },
        connectTimeoutMs: { type: 'integer', minimum: 100 },
        connections: { type: 'integer', minimum: 1, maximum: 1024 },
        driftCheckIntervalMs: { type: 'integer', minimum: 0 },
        stdioRestart: {
          type: 'object',
          additionalProperties: false,
          properties: {
            initialDelayMs: { type: 'integer', minimum: 10 },
            maxDelayMs: { type: 'integer', minimum: 10 },
          },
        },
      },
    },
  },
} as const;
