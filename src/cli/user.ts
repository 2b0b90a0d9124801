/**
 * `statelesx user add NAME --role admin|operator|viewer`, `user list`, `user passwd NAME`: console
 * users in the store. The password is read from standard input (first line) when it is not a
 * terminal, else prompted for twice without echo. Never taken from the command line (it would show
 * in `ps` and shell history). Changes are written to the audit log as `system:cli`. `user list`
 * also works against a server (`--server`, `GET /api/v1/users`, admin token).
 */
import { storeTarget } from '../config/store-target.js';
import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { openStore, type Store } from '../store/index.js';
import { DuplicateUserError, ROLES, type Role } from '../store/users.js';
import { hashPassword, passwordProblem, usernameProblem } from '../web/auth/passwords.js';
import { configOption, resolveConfigPath } from './common.js';
import { remoteOr } from './remote/dispatch.js';
import type { UserRecord } from '../store/users.js';

/** Reads the whole of a non-TTY stdin and returns its first line (without CR/LF). */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).length > 4096) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Prompts on the terminal without echo. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

/** The new password from stdin or the terminal. @throws Error when refused or not confirmed */
async function readNewPassword(): Promise<string> {
  let pw: string;
  if (process.stdin.isTTY) {
    pw = await promptHidden('Password: ');
    if ((await promptHidden('Repeat password: ')) !== pw) throw new Error('the passwords do not match');
  } else {
    pw = await readStdinLine();
  }
  const p = passwordProblem(pw);
  if (p) throw new Error(`password ${p}`);
  return pw;
}

/** Runs `fn` on the store of the configured data directory (`--config`, `--data-dir`), closed afterwards. @throws Error on a configuration error */
export async function withStore<T>(
  opts: { config?: string; dataDir?: string },
  fn: (s: Store) => T | Promise<T>,
): Promise<T> {
  let target: ReturnType<typeof storeTarget>;
  try {
    target = storeTarget(loadConfig({ ...resolveConfigPath(opts.config), flags: { 'data-dir': opts.dataDir } }).config);
  } catch (e) {
    if (e instanceof ConfigError) throw new Error(`configuration error\n${e.message}`, { cause: e });
    throw e;
  }
  const store = await openStore(target);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Creates a user. @throws Error for a refused name, role or password, or an existing user */
export async function addUser(store: Store, name: string, role: string, password: string): Promise<void> {
  const n = usernameProblem(name);
  if (n) throw new Error(`user name ${n}`);
  if (!ROLES.includes(role as Role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
  const p = passwordProblem(password);
  if (p) throw new Error(`password ${p}`);
  try {
    const u = await store.users.create(name, await hashPassword(password), role as Role);
    await store.audit.add({
      at: Date.now(),
      actor: 'system:cli',
      action: 'user.create',
      target: name,
      before: null,
      after: { username: u.username, role: u.role },
    });
  } catch (e) {
    if (e instanceof DuplicateUserError)
      throw new Error(`${e.message}; use 'statelesx user passwd ${name}' to change the password`, { cause: e });
    throw e;
  }
}

/** `user list` output: one line per user, or JSON. */
function printUsers(users: UserRecord[], opts: { json?: boolean }): void {
  if (opts.json) {
    process.stdout.write(JSON.stringify(users, null, 2) + '\n');
    return;
  }
  if (users.length === 0) {
    process.stdout.write('no users (create the first admin with: statelesx user add NAME --role admin)\n');
    return;
  }
  for (const u of users) {
    process.stdout.write(
      `${u.username.padEnd(24)} ${u.role.padEnd(9)} ${new Date(u.createdAt).toISOString()}${u.disabled ? ' disabled' : ''}\n`,
    );
  }
}

/** Registers `statelesx user add|list|passwd`. */
export function registerUser(program: Command): void {
  const user = program.command('user').description('console users (admin, operator, viewer)');
  const common = (c: Command) =>
    configOption(c).option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)');

  common(
    user
      .command('add <name>')
      .description('create a user; the password is read from stdin (first line) or prompted for')
      .requiredOption('--role <role>', 'admin | operator | viewer'),
  ).action(async (name: string, opts: { role: string; config?: string; dataDir?: string }) => {
    if (!ROLES.includes(opts.role as Role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
    const pw = await readNewPassword();
    await withStore(opts, (s) => addUser(s, name, opts.role, pw));
    process.stdout.write(`user ${name} created (${opts.role})\n`);
  });

  common(user.command('list').description('list users').option('--json', 'JSON output')).action(
    remoteOr(
      async (api, opts: { json?: boolean }) => printUsers(await api.json<UserRecord[]>('GET', '/api/v1/users'), opts),
      async (opts: { json?: boolean; config?: string; dataDir?: string }) => {
        await withStore(opts, async (s) => printUsers(await s.users.list(), opts));
      },
    ),
  );

  common(
    user
      .command('passwd <name>')
      .description("set a user's password (ends their sessions); read from stdin or prompted for"),
  ).action(async (name: string, opts: { config?: string; dataDir?: string }) => {
    const pw = await readNewPassword();
    await withStore(opts, async (s) => {
      const u = await s.users.getByName(name);
      if (!u) throw new Error(`no user ${name} (statelesx user list)`);
      await s.users.setPassword(u.id, await hashPassword(pw));
      await s.audit.add({
        at: Date.now(),
        actor: 'system:cli',
        action: 'user.password',
        target: name,
        before: null,
        after: { password: 'changed' },
      });
    });
    process.stdout.write(`password of ${name} changed\n`);
  });
}
