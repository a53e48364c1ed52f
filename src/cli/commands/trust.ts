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
  type LintFinding,
  type TrustPolicy,
} from '../../../federation/trust/index.js';

const USAGE = 'usage: toolmesh trust check DIR [--json] [--node URL] | diff DIR --against DIR2 [--json]';

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

async function diff(dir: string, against: string, json: boolean): Promise<void> {
  const [from, to] = await Promise.all([tryLoad(against), tryLoad(dir)]);
  if ('error' in from || 'error' in to) {
    const invalid = [...('error' in from ? [[against, from.error] as const] : []), ...('error' in to ? [[dir, to.error] as const] : [])];
    if (json) printJson({ ok: false, invalid: invalid.map(([d, e]) => ({ dir: d, error: errorJson(e) })) });
    else process.stdout.write(invalid.map(([d, e]) => errorText(d, e)).join('\n') + '\n');
    process.exitCode = 1;
    return;
  }
  const changes = diffTrustPolicies(from.policy, to.policy);
  if (json) printJson({ ok: true, from: { dir: against, hash: from.policy.source.hash }, to: { dir, hash: to.policy.source.hash }, changes });
  else process.stdout.write(`${against} → ${dir}\n${renderTrustDiff(changes)}\n`);
}

export async function trustCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { ...CONNECTION_OPTIONS, against: { type: 'string' } } });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) throw new CliError(USAGE, 2);
  switch (sub) {
    case 'check':
      if (values.against !== undefined) throw new CliError('trust check: --against belongs to trust diff', 2);
      return check(dir, values);
    case 'diff':
      if (values.against === undefined) throw new CliError('trust diff: pass --against DIR2 (a diff against the running node is not available yet)', 2);
      return diff(dir, values.against, values.json === true);
    default:
      throw new CliError(`unknown trust command ${sub}\n${USAGE}`, 2);
  }
}
