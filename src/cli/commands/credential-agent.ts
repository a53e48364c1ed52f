/**
 * `toolmesh credential agent …`: map mTLS agent certificates (by SAN) to
 * groups and scopes on a running node.
 *
 *   add <san> --groups a,b [--scopes s1,s2]
 *   list
 *   show <san>
 *   remove <san>
 *
 * `<san>` is the certificate's URI SAN (`spiffe://trust.domain/path`) or DNS
 * SAN (`billing.agents.example.org`); any encoding of it names the same agent.
 */
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS } from '../admin-client.js';
import { commaList, printJson, table } from '../format.js';
import type { AgentEntry } from '../../auth/mtls/agents.js';

const PATH = '/admin/v1/credentials/agents';
const USAGE = 'usage: toolmesh credential agent add <san> --groups a,b [--scopes s1,s2] | list | show <san> | remove <san>';

const HEADERS = ['SAN', 'GROUPS', 'SCOPES', 'CREATED', 'BY'];

function row(a: AgentEntry): string[] {
  return [a.san, a.groups.join(',') || '-', a.scopes.join(',') || '-', a.createdAt, a.createdBy];
}

/**
 * @example
 * ```ts
 * await agentCommand(['add', 'spiffe://example.org/ns/prod/sa/billing', '--groups', 'billing']);
 * ```
 */
export async function agentCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { ...CONNECTION_OPTIONS, groups: { type: 'string' }, scopes: { type: 'string' } },
  });
  const out = (value: unknown, text: () => string) => (values.json ? printJson(value) : process.stdout.write(text() + '\n'));
  const san = positionals[0];

  switch (sub) {
    case 'add': {
      const groups = commaList(values.groups);
      if (!san || !groups?.length) throw new CliError('usage: toolmesh credential agent add <san> --groups a,b [--scopes s1,s2]', 2);
      const scopes = commaList(values.scopes);
      const entry = await new AdminClient(values).request<AgentEntry>('POST', PATH, { san, groups, ...(scopes ? { scopes } : {}) });
      out(entry, () => `mapped ${entry.san} → groups ${entry.groups.join(', ')}${entry.scopes.length ? `; scopes ${entry.scopes.join(', ')}` : ''}`);
      return;
    }
    case 'list': {
      const result = await new AdminClient(values).request<{ agents: AgentEntry[] }>('GET', PATH);
      out(result, () => (result.agents.length ? table(HEADERS, result.agents.map(row)) : 'no agents mapped'));
      return;
    }
    case 'show': {
      if (!san) throw new CliError('usage: toolmesh credential agent show <san>', 2);
      const entry = await new AdminClient(values).request<AgentEntry>('GET', `${PATH}/${encodeURIComponent(san)}`);
      out(entry, () => table(HEADERS, [row(entry)]));
      return;
    }
    case 'remove': {
      if (!san) throw new CliError('usage: toolmesh credential agent remove <san>', 2);
      const entry = await new AdminClient(values).request<AgentEntry>('DELETE', `${PATH}/${encodeURIComponent(san)}`);
      out(entry, () => `removed ${entry.san}`);
      return;
    }
    default:
      throw new CliError(USAGE, 2);
  }
}
