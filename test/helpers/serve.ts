/**
 * The real `statelesx serve` (built CLI, `node dist/cli/main.js serve`) as a child process on
 * 127.0.0.1 random ports, for crash tests that SIGKILL the whole server: spawn, wait until it
 * serves, log in through the REST API (session + CSRF), and wait for its exit.
 * Needs `npm run build` (dist/ up to date).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { hashPassword } from '../../src/web/auth/passwords.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** The built CLI entry point. */
export const CLI = join(ROOT, 'dist/cli/main.js');

/** A running `statelesx serve` child. */
export interface ServeProcess {
  proc: ChildProcess;
  /** `http://127.0.0.1:<port>` of the console/API (the administration listener). */
  base: string;
  /** `http://127.0.0.1:<port>` of the boot listener (`/boot/`, HTTP phone-home). */
  bootBase: string;
  /** stdout + stderr so far (pino JSON lines and the CLI's own messages). */
  output(): string;
  /** Resolves when the process has exited (code, or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The directories a test server uses under `root` (all created). */
export function serveDirs(root: string): { data: string; images: string; tftp: string; clusters: string } {
  const d = {
    data: join(root, 'data'),
    images: join(root, 'images'),
    tftp: join(root, 'tftp'),
    clusters: join(root, 'clusters'),
  };
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
  return d;
}

/**
 * The directory keys of a test server's config over `root` (kebab-case, as in statelesx.yaml):
 * {@link serveDirs} plus `pxelinux.cfg`, all created, and no `loader-dirs` (the boot tree is only
 * what the test puts into `tftp-root`).
 */
export function configDirs(root: string): Record<string, unknown> {
  const d = serveDirs(root);
  const pxelinux = join(root, 'pxelinux.cfg');
  mkdirSync(pxelinux, { recursive: true });
  return {
    'data-dir': d.data,
    'images-dir': d.images,
    'tftp-root': d.tftp,
    'loader-dirs': [],
    'pxelinux-cfg-dir': pxelinux,
    'clusters-dir': d.clusters,
  };
}

/** Creates console users in the store under `dataDir` before the server starts (no setup link). */
export async function createUsers(
  dataDir: string,
  users: Array<[string, string, 'admin' | 'operator' | 'viewer']>,
): Promise<void> {
  const store = await openStore(dataDir);
  try {
    for (const [name, pw, role] of users) await store.users.create(name, await hashPassword(pw), role);
  } finally {
    store.close();
  }
}

/**
 * Starts `node dist/cli/main.js serve` over `root` (see {@link serveDirs}) with DHCP off, every
 * port 0 (two HTTP listeners: administration and boot) and the listen address 127.0.0.1; cwd is `root`, so no ./statelesx.yaml is picked up.
 * @param extra more CLI flags
 * @throws Error with the output when it exits or does not serve within `ms`
 */
export async function spawnServe(root: string, extra: string[] = [], ms = 30_000): Promise<ServeProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const d = serveDirs(root);
  const env = { ...process.env };
  delete env['STATELESX_CONFIG'];
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--data-dir',
      d.data,
      '--images-dir',
      d.images,
      '--tftp-root',
      d.tftp,
      '--clusters-dir',
      d.clusters,
      '--listen-address',
      '127.0.0.1',
      '--http-port',
      '0',
      '--boot-http-port',
      '0',
      '--tftp-port',
      '0',
      '--initiator-port',
      '0',
      '--dhcp-mode',
      'off',
      '--log-level',
      'info',
      ...extra,
    ],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const ports = await new Promise<[number, number]>((res, rej) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`statelesx serve not serving within ${ms} ms:\n${out}`));
    }, ms);
    const check = () => {
      if (!/"msg":"statelesx is serving"/.test(out)) return;
      const m = /"subsystem":"http","address":"127\.0\.0\.1","port":(\d+)/.exec(out);
      const b = /"subsystem":"boot-http","address":"127\.0\.0\.1","port":(\d+)/.exec(out);
      if (!m || !b) return;
      clearTimeout(t);
      proc.stdout.off('data', check);
      proc.stderr.off('data', check);
      res([Number(m[1]), Number(b[1])]);
    };
    proc.stdout.on('data', check);
    proc.stderr.on('data', check);
    void exited.then((e) => {
      clearTimeout(t);
      rej(new Error(`statelesx serve exited (${e.code ?? e.signal}) before serving:\n${out}`));
    });
  });
  return {
    proc,
    base: `http://127.0.0.1:${ports[0]}`,
    bootBase: `http://127.0.0.1:${ports[1]}`,
    output: () => out,
    exited,
  };
}

/** SIGKILLs the child (if still running) and waits for it to be gone. */
export async function killServe(s: ServeProcess): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  await s.exited;
}

/** SIGTERM (graceful stop) and wait; SIGKILL after `ms`. */
export async function stopServe(s: ServeProcess, ms = 15_000): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), ms);
  await s.exited;
  clearTimeout(t);
}

/** An authenticated API client: the session cookie and its CSRF token. */
export interface ApiSession {
  cookie: string;
  csrf: string;
  /** fetch against the server with the session (and, for non-GET, the CSRF header and JSON body). */
  call(method: string, path: string, body?: unknown): Promise<Response>;
}

const cookiesOf = (r: Response): string =>
  r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');

/**
 * Logs in like a browser client: GET /api/v1/session (pre-login cookie + CSRF token), then
 * POST /api/v1/session with both.
 * @throws Error naming the status when the login is refused
 */
export async function login(base: string, username: string, password: string): Promise<ApiSession> {
  const pre = await fetch(`${base}/api/v1/session`);
  const preCookie = cookiesOf(pre);
  const { csrfToken } = (await pre.json()) as { csrfToken: string };
  const res = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { cookie: preCookie, 'content-type': 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login as ${username} at ${base}: HTTP ${res.status} ${await res.text()}`);
  const cookie = cookiesOf(res);
  const csrf = ((await res.json()) as { csrfToken: string }).csrfToken;
  return {
    cookie,
    csrf,
    call: (method, path, body) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          cookie,
          ...(method === 'GET' ? {} : { 'x-csrf-token': csrf }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
  };
}
