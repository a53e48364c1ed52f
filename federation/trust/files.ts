/**
 * Reading a policy directory's files and parsing them (YAML 1.2 or JSON) with
 * positions, so a problem found later by JSON pointer can name its line.
 *
 * Layout (see trust-config/README.md):
 *   node.yaml | node.yml | node.json     exactly one
 *   peers/<alias>.yaml | .yml | .json    one per peer (optional directory)
 * Everything else (README.md, dotfiles, editor backups `*~`) is ignored.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { TrustPolicyError, type TrustPolicyIssue } from './errors.js';

export const NODE_FILE_NAMES = ['node.yaml', 'node.yml', 'node.json'] as const;
export const PEERS_DIR = 'peers';
const POLICY_EXTENSION = /\.(ya?ml|json)$/;
/** Larger than any real policy file; parsing more would stall a running node's reload. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

export interface RawPolicyFile {
  /** Relative to the directory, `/`-separated. */
  path: string;
  text: string;
  sha256: string;
}

export interface RawPolicyDirectory {
  nodeFile: RawPolicyFile;
  peerFiles: RawPolicyFile[];
  /** SHA-256 over every file's path and content hash. */
  hash: string;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Hash of a directory's content, from its files' paths and hashes (order-independent). */
export function directoryHash(files: readonly { path: string; sha256: string }[]): string {
  return sha256([...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((f) => `${f.path}\0${f.sha256}\n`).join(''));
}

function ioIssue(file: string, err: unknown): TrustPolicyIssue {
  return { file, pointer: '', message: (err as Error).message };
}

async function listDir(dir: string, rel: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TrustPolicyError('trust_policy_unreadable', [ioIssue(rel, err)], { cause: err });
  }
}

async function readOne(dir: string, path: string): Promise<RawPolicyFile> {
  let bytes: Buffer;
  try {
    const info = await stat(join(dir, path));
    // A FIFO or a device (say, a symlink to /dev/zero) would block or never end the read: regular files only.
    if (!info.isFile()) {
      throw new TrustPolicyError('trust_policy_unreadable', [{ file: path, pointer: '', message: 'not a regular file' }]);
    }
    const { size } = info;
    if (size > MAX_POLICY_FILE_BYTES) {
      throw new TrustPolicyError('trust_policy_syntax', [{ file: path, pointer: '', message: `${size} bytes: a policy file may have at most ${MAX_POLICY_FILE_BYTES}` }]);
    }
    bytes = await readFile(join(dir, path));
  } catch (err) {
    if (err instanceof TrustPolicyError) throw err;
    // A file removed between listing and reading: the directory is mid-edit.
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'trust_policy_not_found' : 'trust_policy_unreadable';
    throw new TrustPolicyError(code, [ioIssue(path, err)], { cause: err });
  }
  return { path, text: bytes.toString('utf8'), sha256: sha256(bytes) };
}

/** Reads the node file and every peer file; no parsing yet. */
export async function readPolicyDirectory(dir: string): Promise<RawPolicyDirectory> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new TrustPolicyError('trust_policy_not_found', [{ file: '.', pointer: '', message: `${dir} is not a directory` }]);
  } catch (err) {
    if (err instanceof TrustPolicyError) throw err;
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'trust_policy_not_found' : 'trust_policy_unreadable';
    throw new TrustPolicyError(code, [{ file: '.', pointer: '', message: `cannot read policy directory ${dir}: ${(err as Error).message}` }], { cause: err });
  }
  const top = (await listDir(dir, '.')) ?? [];
  const nodeNames = NODE_FILE_NAMES.filter((n) => top.includes(n));
  if (nodeNames.length === 0) {
    throw new TrustPolicyError('trust_policy_not_found', [{ file: 'node.yaml', pointer: '', message: `no node file in ${dir} (node.yaml, node.yml or node.json)` }]);
  }
  if (nodeNames.length > 1) {
    throw new TrustPolicyError('trust_policy_inconsistent', [{ file: nodeNames[1]!, pointer: '', message: `more than one node file (${nodeNames.join(', ')}): keep one` }]);
  }
  const peerNames = ((await listDir(join(dir, PEERS_DIR), PEERS_DIR)) ?? []).filter((n) => !n.startsWith('.') && POLICY_EXTENSION.test(n));
  const byAlias = new Map<string, string>();
  const issues: TrustPolicyIssue[] = [];
  for (const name of peerNames) {
    const alias = name.replace(POLICY_EXTENSION, '');
    const other = byAlias.get(alias);
    if (other !== undefined) issues.push({ file: `${PEERS_DIR}/${name}`, pointer: '', message: `two files for peer "${alias}" (${other} and ${name}): keep one` });
    byAlias.set(alias, name);
  }
  if (issues.length) throw new TrustPolicyError('trust_policy_inconsistent', issues);
  const nodeFile = await readOne(dir, nodeNames[0]!);
  const peerFiles = await Promise.all(peerNames.map((n) => readOne(dir, `${PEERS_DIR}/${n}`)));
  return { nodeFile, peerFiles, hash: directoryHash([nodeFile, ...peerFiles]) };
}

/** A parsed file: its value and a way to find where a JSON pointer is. */
export interface ParsedPolicyFile {
  path: string;
  value: unknown;
  /** 1-based line/column of the field at `pointer` (or of its nearest existing ancestor). */
  locate(pointer: string): { line: number; column: number } | undefined;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function locator(doc: Document, counter: LineCounter): ParsedPolicyFile['locate'] {
  return (pointer) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = (node as { range?: [number] } | null)?.range?.[0];
    for (const raw of pointer.split('/').slice(1).map(unescapePointer)) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === raw);
        if (!pair) break;
        offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && /^\d+$/.test(raw)) {
        const item = node.items[Number(raw)] as { range?: [number] } | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    if (offset === undefined) return undefined;
    const { line, col } = counter.linePos(offset);
    return { line, column: col };
  };
}

/** Parses YAML (1.2 core schema: `yes`/`on` stay strings) or JSON; throws trust_policy_syntax with the position. */
export function parsePolicyFile(file: RawPolicyFile): ParsedPolicyFile {
  const counter = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, merge: false });
  const locate = locator(doc, counter);
  if (file.path.endsWith('.json')) {
    try {
      return { path: file.path, value: JSON.parse(file.text), locate };
    } catch (err) {
      const at = /position (\d+)/.exec((err as Error).message);
      const pos = at ? counter.linePos(Number(at[1])) : undefined;
      throw new TrustPolicyError('trust_policy_syntax', [{ file: file.path, pointer: '', message: `not valid JSON: ${(err as Error).message}`, ...(pos ? { line: pos.line, column: pos.col } : {}) }]);
    }
  }
  // Unknown tags and the like are warnings to the yaml package; a policy is not the place for them.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length) {
    throw new TrustPolicyError(
      'trust_policy_syntax',
      problems.map((p) => {
        const { line, col } = counter.linePos(p.pos[0]);
        return { file: file.path, pointer: '', message: `not valid YAML: ${p.message.split('\n')[0]}`, line, column: col };
      }),
    );
  }
  let value: unknown;
  try {
    // Aliases are allowed (anchors help keep group lists in one place) but not exponentially.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new TrustPolicyError('trust_policy_syntax', [{ file: file.path, pointer: '', message: `not valid YAML: ${(err as Error).message}` }]);
  }
  return { path: file.path, value, locate };
}
