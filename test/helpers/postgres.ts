/**
 * A private PostgreSQL cluster for tests, from Debian's `postgresql` package: `initdb` in a fresh
 * temporary directory, `pg_ctl` to start and stop it, removed by {@link PgCluster.destroy}.
 *
 * - Listens on a Unix socket inside that directory only (a socket path works from every network
 *   namespace); `tcp: true` adds 127.0.0.1 on a free port for tests that need a TCP peer.
 * - Password authentication (SCRAM-SHA-256) with a random password for role `statelesx`: the
 *   product is tested the way an admin runs it, never with `trust`.
 * - `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`: a throwaway cluster; durability
 *   across an OS crash is PostgreSQL's job, not ours to test.
 * - `initdb` refuses to run as root: as root (CI), the cluster runs as Debian's `postgres` user
 *   (`runuser`), the directory is handed to it; otherwise it runs as the test's own user.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** A running private cluster. `url` names database `statelesx` owned by role `statelesx`. */
export interface PgCluster {
  /** `postgresql://statelesx:<password>@/statelesx?host=<socket dir>` (and `&port=` with tcp). */
  readonly url: string;
  /** The same database over TCP on 127.0.0.1 (only with `tcp: true`). */
  readonly tcpUrl: string | undefined;
  /** The role's password (random per cluster). */
  readonly password: string;
  /** The directory holding data, socket and log. */
  readonly dir: string;
  /** Stops the server (`pg_ctl stop -m fast`); the data stays. */
  stop(): Promise<void>;
  /** Starts it again after {@link stop}, same data, same socket. */
  start(): Promise<void>;
  /** Stops the server (immediate) and removes the directory. Safe to call twice. */
  destroy(): Promise<void>;
  /** The server log so far (for assertion messages). */
  log(): Promise<string>;
}

/** The newest installed PostgreSQL's `bin` directory, or undefined when the package is absent. */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

/**
 * Creates and starts a private cluster with database and role `statelesx`.
 * @throws when PostgreSQL is not installed (run scripts/install-test-deps) or does not start
 *   (the error carries the server log)
 */
export async function startPostgres(opts: { tcp?: boolean } = {}): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed: run scripts/install-test-deps (Debian package postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'statelesx-pg-'));
  try {
    return await createCluster(bin, dir, opts);
  } catch (e) {
    // Nothing left behind: a half-made cluster is stopped (if it started) and removed.
    await run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']).catch(() => undefined);
    if (userInfo().uid === 0)
      await run('runuser', [
        '-u',
        'postgres',
        '--',
        join(bin, 'pg_ctl'),
        '-D',
        join(dir, 'data'),
        '-m',
        'immediate',
        'stop',
      ]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function createCluster(bin: string, dir: string, opts: { tcp?: boolean }): Promise<PgCluster> {
  const asRoot = userInfo().uid === 0;
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: g } = await run('id', ['-g', 'postgres']);
    for (const p of [dir, pwfile]) chownSync(p, Number(stdout), Number(g));
  }
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  await as('initdb', [
    '-D',
    data,
    '-U',
    'statelesx',
    `--pwfile=${pwfile}`,
    '--auth-local=scram-sha-256',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-instructions',
  ]);
  rmSync(pwfile);
  const port = opts.tcp ? await freePort() : 5432;
  const serverOpts = [
    `-c listen_addresses='${opts.tcp ? '127.0.0.1' : ''}'`,
    `-p ${port}`,
    `-k ${dir}`,
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
  ].join(' ');
  const readLog = async () => {
    try {
      return await readFile(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const start = async () => {
    try {
      await as('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', serverOpts, 'start']);
    } catch (e) {
      throw new Error(`PostgreSQL did not start in ${dir}: ${(e as Error).message}\n${await readLog()}`, {
        cause: e,
      });
    }
  };
  await start();
  const url = `postgresql://statelesx:${encodeURIComponent(password)}@/statelesx?host=${encodeURIComponent(dir)}&port=${port}`;
  const tcpUrl = opts.tcp
    ? `postgresql://statelesx:${encodeURIComponent(password)}@127.0.0.1:${port}/statelesx`
    : undefined;
  // The role exists (initdb -U); its database is made through the maintenance database.
  await run(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE DATABASE statelesx'], {
    env: {
      ...process.env,
      PGHOST: dir,
      PGPORT: String(port),
      PGUSER: 'statelesx',
      PGDATABASE: 'postgres',
      PGPASSWORD: password,
    },
  });
  let destroyed = false;
  return {
    url,
    tcpUrl,
    password,
    dir,
    log: readLog,
    start,
    async stop() {
      await as('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await as('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
