/**
 * Password and client-secret hashes (`scrypt$N$r$p$salt$hash`) and the
 * `toolmesh credential hash-password` command that makes them.
 */
import t from 'tap';
import { PassThrough, Readable } from 'node:stream';
import { hashPassword, verifyPassword } from '../../src/auth/oauth/authorization-server/index.js';
import { parseScryptHash } from '../../src/auth/oauth/authorization-server/password.js';
import { hashPasswordCommand, type HashPasswordIo } from '../../src/cli/commands/hash-password.js';

// RFC 7914 §12, third vector: P="pleaseletmein", S="SodiumChloride", N=16384, r=8, p=1, dkLen=64.
const RFC7914 = `scrypt$16384$8$1$${Buffer.from('SodiumChloride').toString('base64')}$${Buffer.from(
  '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
  'hex',
).toString('base64')}`;

t.test('verifies the RFC 7914 test vector', async (t) => {
  t.equal(await verifyPassword('pleaseletmein', RFC7914), true);
  t.equal(await verifyPassword('pleaseletmeout', RFC7914), false);
  t.equal(await verifyPassword('', RFC7914), false);
});

t.test('hashPassword: fresh salt, default cost, round-trips', async (t) => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  t.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
  t.not(a, b, 'salted');
  t.equal(await verifyPassword('correct horse', a), true);
  t.equal(await verifyPassword('correct horsE', a), false);
  t.equal(await verifyPassword('correct horse', await hashPassword('correct horse', { N: 1024, r: 8, p: 1 })), true);
  // NFC normalisation: the same password typed on two keyboards verifies.
  t.equal(await verifyPassword('caf\u0065\u0301', await hashPassword('caf\u00e9')), true);
  await t.rejects(hashPassword(''), { code: 'invalid_secret' });
});

t.test('hostile or broken hashes are refused before any work', async (t) => {
  const salt = Buffer.alloc(16).toString('base64');
  const hash = Buffer.alloc(32).toString('base64');
  const cases: [string, string][] = [
    ['other scheme', `bcrypt$10$8$1$${salt}$${hash}`],
    ['too few fields', `scrypt$16384$8$1$${salt}`],
    ['N not a power of two', `scrypt$1000$8$1$${salt}$${hash}`],
    ['N too large (memory bomb)', `scrypt$2097152$8$1$${salt}$${hash}`],
    ['N·r over 256 MiB', `scrypt$1048576$8$1$${salt}$${hash}`],
    ['r too large', `scrypt$1024$64$1$${salt}$${hash}`],
    ['p too large', `scrypt$1024$8$99$${salt}$${hash}`],
    ['leading zero', `scrypt$01024$8$1$${salt}$${hash}`],
    ['short salt', `scrypt$1024$8$1$${Buffer.alloc(4).toString('base64')}$${hash}`],
    ['short hash', `scrypt$1024$8$1$${salt}$${Buffer.alloc(8).toString('base64')}`],
    ['not base64', `scrypt$1024$8$1$${salt}$not*base64`],
  ];
  for (const [name, stored] of cases) {
    t.throws(() => parseScryptHash(stored), { code: 'invalid_hash' }, name);
    await t.rejects(verifyPassword('x', stored), { code: 'invalid_hash' }, name);
  }
});

function io(stdin: HashPasswordIo['stdin']): HashPasswordIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => (out += c.toString()));
  const stderr = new PassThrough().on('data', (c: Buffer) => (err += c.toString()));
  return { stdin, stdout, stderr, out: () => out, err: () => err };
}

t.test('toolmesh credential hash-password: piped stdin', async (t) => {
  const piped = io(Readable.from([Buffer.from('s3cret pass\n')]));
  await hashPasswordCommand([], piped);
  const line = piped.out();
  t.match(line, /^scrypt\$.*\n$/);
  t.equal(await verifyPassword('s3cret pass', line.trim()), true, 'the final newline is not part of the password');

  const crlf = io(Readable.from([Buffer.from('win\r\n')]));
  await hashPasswordCommand([], crlf);
  t.equal(await verifyPassword('win', crlf.out().trim()), true);

  await t.rejects(hashPasswordCommand([], io(Readable.from([Buffer.from('\n')]))), { exitCode: 2, message: /empty/ });
  await t.rejects(hashPasswordCommand([], io(Readable.from([Buffer.from('two\nlines\n')]))), { name: 'CliError', exitCode: 2 });
  await t.rejects(hashPasswordCommand(['hunter2'], io(Readable.from([]))), { exitCode: 2, message: /stdin/ }, 'never from argv');
  await t.rejects(hashPasswordCommand([], io(Readable.from([Buffer.alloc(5000, 97)]))), { name: 'CliError', exitCode: 2 });

  const help = io(Readable.from([]));
  await hashPasswordCommand(['--help'], help);
  t.match(help.out(), /usage: toolmesh credential hash-password/);
});

t.test('toolmesh credential hash-password: at a terminal, without echo, asked twice', async (t) => {
  const tty = (typed: string[]) => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, rawModes: [] as boolean[], setRawMode(mode: boolean) { stdin.rawModes.push(mode); } });
    // Each prompt reads one line; feed the next one once the previous was consumed.
    let i = 0;
    const feed = () => {
      if (i < typed.length) stdin.write(typed[i++]);
    };
    stdin.on('pause', () => setImmediate(feed));
    setImmediate(feed);
    return stdin;
  };
  const same = tty(['pw\u007fW1\r', 'pW1\r']);
  const ok = io(same);
  await hashPasswordCommand([], ok);
  t.equal(await verifyPassword('pW1', ok.out().trim()), true, 'backspace edits; the hash is of what was typed');
  t.match(ok.err(), /Password: [\s\S]*Repeat password: /);
  t.notMatch(ok.err(), /pW1/, 'nothing echoed');
  t.same(same.rawModes, [true, false, true, false]);

  await t.rejects(hashPasswordCommand([], io(tty(['one\r', 'two\r']))), { message: /do not match/ });
  await t.rejects(hashPasswordCommand([], io(tty(['\u0003']))), { name: 'CliError', exitCode: 130 });
});
