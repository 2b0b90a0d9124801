/**
 * The HTTP service on real sockets (127.0.0.1): HTTPS with a certificate made by openssl, the
 * one-time setup link, Secure session cookies under TLS, and the bind error naming --http-port.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import { configSchema } from '../../src/config/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { createHttpService, type HttpService } from '../../src/web/app.js';
import type { SessionBody } from '../helpers/api-bodies.js';
import { selfSignedCert } from '../helpers/tls.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsCall(
  port: number,
  ca: Buffer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca,
        servername: 'localhost',
        headers: {
          ...headers,
          ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

function cookieHeader(setCookie: string[] | string | undefined): string {
  return ([] as string[])
    .concat(setCookie ?? [])
    .map((c) => c.split(';')[0])
    .join('; ');
}

describe('HTTP service over TLS', () => {
  let dir: string;
  let store: Store;
  let svc: HttpService;
  let ca: Buffer;
  let link = '';
  const announced: string[] = [];
  const secret: boolean[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-web-tls-'));
    selfSignedCert(dir);
    ca = readFileSync(join(dir, 'cert.pem'));
    const config = configSchema.parse({
      'data-dir': join(dir, 'data'),
      'listen-address': '127.0.0.1',
      http: { port: 0, 'tls-cert': join(dir, 'cert.pem'), 'tls-key': join(dir, 'key.pem') },
    });
    store = await openStore(config['data-dir']);
    svc = createHttpService(config, { store, log: silentLogger }, (l, isSecret) => {
      announced.push(l);
      secret.push(Boolean(isSecret));
      link = l;
    });
    await svc.start();
  });
  afterAll(async () => {
    await svc?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints an https setup link, and the session cookie it yields is Secure, HttpOnly, SameSite=Strict', async () => {
    const port = svc.address()!.port;
    const m = /(https:\/\/127\.0\.0\.1:(\d+)\/setup\?token=([A-Za-z0-9_-]+))/.exec(link);
    expect(m?.[2]).toBe(String(port));
    // Where the console is, as a URL a browser can open (not the 0.0.0.0 or :: it may be bound to).
    expect(announced[0]).toBe(`statelesx: console at https://127.0.0.1:${port}/`);
    // The setup link is announced as a secret (stderr by default), and kept in a 0600 file.
    expect(secret).toEqual([false, true]);
    const file = join(dir, 'data', 'setup-link');
    expect(readFileSync(file, 'utf8')).toBe(`${m![1]}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = m![3]!;
    const page = await httpsCall(port, ca, 'GET', `/setup?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Create admin');
    const s = await httpsCall(port, ca, 'GET', '/api/v1/session');
    const pre = ([] as string[]).concat(s.headers['set-cookie'] ?? []);
    expect(pre.find((c) => c.startsWith('sx_prelogin='))).toMatch(/; Secure/);
    const created = await httpsCall(
      port,
      ca,
      'POST',
      '/api/v1/setup',
      { cookie: cookieHeader(pre), 'x-csrf-token': (JSON.parse(s.body) as SessionBody).csrfToken },
      JSON.stringify({ token, username: 'admin', password: 'a-long-admin-password' }),
    );
    expect(created.status).toBe(201);
    const session = ([] as string[])
      .concat(created.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('sx_session='))!;
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; SameSite=Strict/);
    const hosts = await httpsCall(port, ca, 'GET', '/api/v1/hosts', { cookie: session.split(';')[0]! });
    expect(hosts.status).toBe(200);
    expect(JSON.parse(hosts.body)).toEqual([]);
    // The link was single-use, and its file is gone.
    expect((await httpsCall(port, ca, 'GET', `/setup?token=${token}`)).status).toBe(403);
    expect(existsSync(join(dir, 'data', 'setup-link'))).toBe(false);
  });

  it('names the port and --http-port when the port is taken', async () => {
    const port = svc.address()!.port;
    const config = configSchema.parse({ 'data-dir': join(dir, 'data'), 'listen-address': '127.0.0.1', http: { port } });
    const second = createHttpService(config, { store, log: silentLogger }, () => undefined);
    await expect(second.start()).rejects.toThrow(
      new RegExp(`HTTP \\(tcp\\) cannot bind 127\\.0\\.0\\.1:${port}: the port is already in use.*--http-port`),
    );
  });
});

describe('the one-time setup link by default (issue 16, finding 12)', () => {
  it('goes to stderr and to a 0600 file in the data directory, never to stdout (the log stream)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-web-setup-'));
    const config = configSchema.parse({
      'data-dir': join(dir, 'data'),
      'listen-address': '127.0.0.1',
      http: { port: 0 },
    });
    const store = await openStore(config['data-dir']);
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
    const svc = createHttpService(config, { store, log: silentLogger });
    try {
      await svc.start();
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
    try {
      const link = readFileSync(join(dir, 'data', 'setup-link'), 'utf8').trim();
      expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/setup\?token=[A-Za-z0-9_-]{43}$/);
      const token = /token=(.*)$/.exec(link)![1]!;
      expect(statSync(join(dir, 'data', 'setup-link')).mode & 0o777).toBe(0o600);
      expect(err.join('')).toContain(link);
      expect(out.join('')).not.toContain(token);
      // stdout is not a terminal here: it carries only log lines, the console's address goes to stderr.
      expect(out.join('')).toBe('');
      expect(err.join('')).toContain('statelesx: console at http://127.0.0.1:');
    } finally {
      await svc.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
