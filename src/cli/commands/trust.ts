/**
 * `toolmesh trust …`: check and compare trust-policy directories (PRODUCT.md §10).
 *
 *   check DIR [--json] [--node URL --token T --data D]
 *       validate and lint; exit 1 on errors (warnings are printed, exit 0). With a
 *       node to ask (--node/--token/--data or TOOLMESH_URL), exported servers are
 *       checked against its registry (GET /admin/v1/servers); otherwise, or when the
 *       node cannot be reached, that check is skipped with a note.
 *   diff DIR --against DIR2 [--json]
 *       what applying DIR would change compared to DIR2 (exit 1 if either is invalid)
 *   diff DIR [--json] --node URL|--token T|--data D
 *       without --against: compared to the policy running on the node (GET /admin/v1/trust); one
 *       of the connection flags (or TOOLMESH_URL) must name the node
 *   show [--json]
 *       the running policy: hash, node, peers with their export and import rules, history
 *   apply [--json]
 *       the node re-reads its policy directory now (POST /admin/v1/trust/reload): applied
 *       (with the changes) or unchanged; a refused directory exits 1 and the running policy stays
 */
import { parseArgs } from 'node:util';
import { AdminClient, CliError, CONNECTION_OPTIONS } from '../admin-client.js';
import { printJson, table } from '../format.js';
import {
  diffTrustPolicies,
  formatIssue,
  lintTrustPolicy,
  loadTrustPolicy,
  renderTrustDiff,
  TrustPolicyError,
  type ExportRule,
  type ImportRule,
  type LintFinding,
  type NodeSelf,
  type PeerPolicy,
  type TrustPolicy,
} from '../../../federation/trust/index.js';

const USAGE = 'usage: toolmesh trust check DIR [--json] [--node URL] | diff DIR [--against DIR2] [--json] | show [--json] | apply [--json]   (--node URL --token T for a running node)';

/** GET /admin/v1/trust. */
interface RunningTrust {
  hash: string;
  dir?: string;
  node: NodeSelf;
  trustAnchors: string[];
  peers: PeerPolicy[];
  /** The normalised policy (nodes that predate it leave it out). */
  policy?: TrustPolicy;
  history: { seq: number; hash: string; appliedAt: string; trigger: string; changes: string }[];
  /** Present while the directory on disk was refused (it is not what runs). */
  refused?: { code: string; message: string; at: string; hash?: string };
}

/** POST /admin/v1/trust/reload. */
type ReloadResult = { status: 'applied'; seq: number; hash: string; changes: string } | { status: 'unchanged' };

/** Versions `trust show` prints (all of them with --json). */
const HISTORY_SHOWN = 10;

/** The policy, or the error that refused it (other errors are bugs and propagate). */
async function tryLoad(dir: string): Promise<{ policy: TrustPolicy } | { error: TrustPolicyError }> {
  try {
    return { policy: await loadTrustPolicy(dir) };
  } catch (err) {
    if (err instanceof TrustPolicyError) return { error: err };
    throw err;
  }
}

function errorJson(err: TrustPolicyError): { code: string; issues: TrustPolicyError['issues'] } {
  return { code: err.code, issues: err.issues };
}

function errorText(dir: string, err: TrustPolicyError): string {
  return [`${dir}: INVALID (${err.code})`, ...err.issues.map((i) => `  ${formatIssue(i)}`)].join('\n');
}

/** Slugs registered on the running node, or why they could not be had. */
async function knownServers(flags: { node?: string; token?: string; data?: string }): Promise<{ slugs: string[] } | { note: string }> {
  if (flags.node === undefined && flags.token === undefined && flags.data === undefined && process.env.TOOLMESH_URL === undefined) {
    return { note: 'exported servers not checked against a registry (pass --node URL to ask a running node)' };
  }
  try {
    const { servers } = await new AdminClient(flags).request<{ servers: { slug: string }[] }>('GET', '/admin/v1/servers');
    return { slugs: [...new Set(servers.map((s) => s.slug))] };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { note: `exported servers not checked against a registry: ${err.message}` };
  }
}

function summary(policy: TrustPolicy): string {
  const exports = policy.peers.reduce((n, p) => n + p.exports.length, 0);
  const imports = policy.peers.reduce((n, p) => n + p.imports.length, 0);
  const peers = policy.peers.length ? `: ${policy.peers.map((p) => p.alias).join(', ')}` : '';
  return `node ${policy.node.alias} (${policy.node.namespace}), ${policy.peers.length} peer(s)${peers}; ${exports} export rule(s), ${imports} import rule(s)`;
}

async function check(dir: string, values: { json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  const loaded = await tryLoad(dir);
  if ('error' in loaded) {
    if (values.json) printJson({ dir, ok: false, error: errorJson(loaded.error), findings: [], notes: [] });
    else process.stdout.write(errorText(dir, loaded.error) + '\n');
    process.exitCode = 1;
    return;
  }
  const { policy } = loaded;
  const known = await knownServers(values);
  const findings: LintFinding[] = lintTrustPolicy(policy, 'slugs' in known ? { knownServers: known.slugs } : {});
  const notes = 'note' in known ? [known.note] : [];
  const errors = findings.filter((f) => f.level === 'error').length;
  const ok = errors === 0;
  if (values.json) {
    printJson({ dir, ok, hash: policy.source.hash, node: policy.node, peers: policy.peers.map((p) => p.alias), findings, notes });
  } else {
    const warnings = findings.length - errors;
    const lines = [`${dir}: ${ok ? 'ok' : 'NOT OK'}: ${summary(policy)}${findings.length ? ` — ${errors} error(s), ${warnings} warning(s)` : ''}`];
    if (findings.length) lines.push('', table(['LEVEL', 'CODE', 'WHERE', 'MESSAGE'], findings.map((f) => [f.level, f.code, f.path, f.message])));
    for (const n of notes) lines.push(`note: ${n}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (!ok) process.exitCode = 1;
}

/** The policy running on the node, for `trust diff DIR` without `--against`. */
async function runningPolicy(values: { node?: string; token?: string; data?: string }): Promise<{ client: AdminClient; policy: TrustPolicy }> {
  // As for `check`: a node is asked only when one is named, never a default one by surprise.
  if (values.node === undefined && values.token === undefined && values.data === undefined && process.env.TOOLMESH_URL === undefined) {
    throw new CliError('trust diff: pass --against DIR2, or --node URL (--token, --data) to compare with the running policy', 2);
  }
  const client = new AdminClient(values);
  let running: RunningTrust;
  try {
    running = await client.request<RunningTrust>('GET', '/admin/v1/trust');
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    throw new CliError(`trust diff: no --against DIR2, and the running policy could not be had: ${err.message}`);
  }
  if (!running.policy) throw new CliError(`trust diff: the node at ${client.baseUrl} does not return its whole policy; pass --against DIR2`);
  return { client, policy: running.policy };
}

async function diff(dir: string, values: { against?: string; json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  const json = values.json === true;
  const against = values.against;
  const [running, from, to] = await Promise.all([
    against === undefined ? runningPolicy(values) : undefined,
    against === undefined ? undefined : tryLoad(against),
    tryLoad(dir),
  ]);
  if ((from && 'error' in from) || 'error' in to) {
    const invalid = [...(from && 'error' in from ? [[against!, from.error] as const] : []), ...('error' in to ? [[dir, to.error] as const] : [])];
    if (json) printJson({ ok: false, invalid: invalid.map(([d, e]) => ({ dir: d, error: errorJson(e) })) });
    else process.stdout.write(invalid.map(([d, e]) => errorText(d, e)).join('\n') + '\n');
    process.exitCode = 1;
    return;
  }
  const before = running?.policy ?? from!.policy;
  const changes = diffTrustPolicies(before, to.policy);
  const hash = before.source.hash;
  if (json) printJson({ ok: true, from: running ? { node: running.client.baseUrl, hash } : { dir: against!, hash }, to: { dir, hash: to.policy.source.hash }, changes });
  else process.stdout.write(`${running ? `running policy on ${running.client.baseUrl} (${hash.slice(0, 12)})` : against!} → ${dir}\n${renderTrustDiff(changes)}\n`);
}

function toolsText(tools: ExportRule['tools']): string {
  return tools === '*' ? 'all tools' : tools.join(', ');
}

/** `tickets@^1.0.0 echo (read)`: a rule in a table cell (groups are in --json and in diffs). */
function exportsText(rules: readonly ExportRule[]): string {
  return rules.map((r) => `${r.server}${r.versions === '*' ? '' : `@${r.versions}`} ${toolsText(r.tools)} (${r.access})`).join('; ') || '-';
}

function importsText(rules: readonly ImportRule[]): string {
  return rules.map((r) => `${r.server} ${toolsText(r.tools)}`).join('; ') || '-';
}

async function show(values: { json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  const running = await new AdminClient(values).request<RunningTrust>('GET', '/admin/v1/trust');
  if (values.json) return printJson(running);
  const { node } = running;
  const lines = [
    `running policy  ${running.hash}${running.dir ? `  (${running.dir})` : ''}`,
    `node            ${node.alias} (namespace ${node.namespace}), ${node.entityId}${node.peerId ? `, peer id ${node.peerId}` : ''}`,
    `trust anchors   ${running.trustAnchors.join(', ') || 'none'}`,
    '',
  ];
  if (running.refused) {
    const { code, at, message } = running.refused;
    lines.push(`the directory on disk was REFUSED at ${at} (${code}); the policy above still runs:`, ...message.split('\n').map((l) => `  ${l}`), '');
  }
  if (running.peers.length === 0) lines.push('no peers: nothing exported, nothing imported (default deny)');
  else lines.push(table(['PEER', 'ENTITY ID', 'PEER ID', 'EXPORTS (TO THEM)', 'IMPORTS (FROM THEM)'], running.peers.map((p) => [p.alias, p.entityId, `${p.peerId.slice(0, 10)}…${p.peerId.slice(-6)}`, exportsText(p.exports), importsText(p.imports)])));
  const shown = running.history.slice(-HISTORY_SHOWN);
  lines.push('', `history (${running.history.length} version(s)${running.history.length > shown.length ? `; the last ${shown.length} shown, --json for all` : ''}):`);
  for (const v of shown) {
    lines.push(`#${v.seq}  ${v.appliedAt}  ${v.trigger}  ${v.hash.slice(0, 12)}`, ...v.changes.split('\n').map((c) => `    ${c}`));
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function apply(values: { json?: boolean; node?: string; token?: string; data?: string }): Promise<void> {
  let result: ReloadResult;
  try {
    result = await new AdminClient(values).request<ReloadResult>('POST', '/admin/v1/trust/reload');
  } catch (err) {
    // The admin API refuses an invalid directory with 422 and the policy error's code (AdminClient: `422 code: message`).
    const refused = err instanceof CliError ? /^422 (\S+): ([\s\S]*)$/.exec(err.message) : null;
    if (!refused) throw err;
    if (values.json) printJson({ status: 'refused', code: refused[1], message: refused[2] });
    else process.stdout.write(`refused (${refused[1]}): the running policy stays\n${refused[2]!.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  if (values.json) return printJson(result);
  if (result.status === 'unchanged') process.stdout.write('unchanged: the policy directory matches the running policy\n');
  else process.stdout.write(`applied: policy #${result.seq} (${result.hash})\n${result.changes}\n`);
}

export async function trustCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { ...CONNECTION_OPTIONS, against: { type: 'string' } } });
  if (values.against !== undefined && sub !== 'diff') throw new CliError(`trust ${sub}: --against belongs to trust diff`, 2);
  switch (sub) {
    case 'show':
    case 'apply':
      // The node reads its own policy directory: there is no DIR to name here.
      if (positionals.length) throw new CliError(`trust ${sub} takes no DIR (the node re-reads the directory it was started with)\n${USAGE}`, 2);
      return sub === 'show' ? show(values) : apply(values);
    case 'check':
    case 'diff': {
      const dir = positionals[0];
      if (!dir || positionals.length > 1) throw new CliError(USAGE, 2);
      return sub === 'check' ? check(dir, values) : diff(dir, values);
    }
    default:
      throw new CliError(`unknown trust command ${sub}\n${USAGE}`, 2);
  }
}
