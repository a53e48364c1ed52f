/**
 * `toolmesh credential hash-password`: prints the `scrypt$N$r$p$salt$hash`
 * of a password (or an agent's client secret) for the config file's
 * `auth.authorizationServer.users[].passwordHash` / `clients[].clientSecretHash`.
 *
 * The password comes from stdin, never from the command line (where `ps` and
 * shell history would see it): piped (one line; the final newline is not
 * part of it), or typed at a terminal without echo, twice.
 *
 *   printf '%s' "$PASSWORD" | toolmesh credential hash-password
 */
import { hashPassword } from '../../auth/oauth/authorization-server/password.js';
import { CliError } from '../admin-client.js';

export const HASH_PASSWORD_USAGE = `usage: toolmesh credential hash-password < password-file
       (reads the password from stdin; prompts without echo on a terminal; prints the scrypt hash)`;

export interface HashPasswordIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const MAX_INPUT_BYTES = 4096;

async function readPiped(stdin: HashPasswordIo['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_INPUT_BYTES) throw new CliError(`password input longer than ${MAX_INPUT_BYTES} bytes`, 2);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (/[\r\n]/.test(text)) throw new CliError('expected one line on stdin (the password)', 2);
  return text;
}

function promptHidden(io: HashPasswordIo, prompt: string): Promise<string> {
  const { stdin, stderr } = io;
  stderr.write(prompt);
  stdin.setRawMode?.(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: CliError) => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new CliError('cancelled', 130));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function hashPasswordCommand(argv: string[], io: HashPasswordIo = process): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(HASH_PASSWORD_USAGE + '\n');
    return;
  }
  if (argv.length > 0) throw new CliError(`unexpected argument ${argv[0]}: the password is read from stdin\n${HASH_PASSWORD_USAGE}`, 2);
  let password: string;
  if (io.stdin.isTTY) {
    password = await promptHidden(io, 'Password: ');
    if (password && (await promptHidden(io, 'Repeat password: ')) !== password) throw new CliError('the passwords do not match', 1);
  } else {
    password = await readPiped(io.stdin);
  }
  if (password.length === 0) throw new CliError('empty password', 2);
  io.stdout.write((await hashPassword(password)) + '\n');
}
