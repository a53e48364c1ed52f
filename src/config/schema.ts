/**
 * The node's configuration file, as a JSON Schema (draft 2020-12). Validated
 * once at start; an error names the offending field by its JSON pointer.
 */

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
