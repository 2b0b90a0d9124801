/**
 * The two HTTP listeners of the real composition (`startServer` on 127.0.0.1), probed with curl
 * (issue 16, finding 4: the console could not be kept off the boot LAN; finding 12: `/metrics`
 * without authentication):
 * - split layout (the default): the boot listener serves `/boot/` and the HTTP phone-home and none
 *   of the console, API, OpenAPI, `/metrics` or static files; the administration listener serves
 *   those and neither `/boot/` nor the phone-home; the URLs handed to hosts name the boot port;
 * - single-port layout (`boot-http` = `http`): one listener serves both, as before;
 * - `/metrics` with `http.metrics-token-env` / `-file`: 401 without the bearer token, 200 with it,
 *   the token in no log line; an unreadable token stops the start naming where it was looked for.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { configSchema } from '../../src/config/schema.js';
import type { RunningServer } from '../../src/app/server.js';
import type { HttpService } from '../../src/web/app.js';
import { freePort, startLogged } from '../helpers/hardening-server.js';
import { configDirs } from '../helpers/serve.js';

const U1 = '4c4c4544-0042-3510-8052-b4c04f384d31';

interface Probe {
  status: number;
  headers: string;
  body: string;
}

const run = promisify(execFile);

/**
 * One request with curl (no retries, 10 s cap): status, response headers and body. Asynchronous:
 * the server runs in this process.
 */
async function curl(url: string, args: string[] = []): Promise<Probe> {
  const { stdout: out } = await run(
    'curl',
    ['-sS', '-m', '10', '-D', '-', '-o', '-', '-w', '\n%{http_code}', ...args, url],
    { encoding: 'utf8' },
  );
  const nl = out.lastIndexOf('\n');
  const status = Number(out.slice(nl + 1));
  const rest = out.slice(0, nl);
  const split = rest.indexOf('\r\n\r\n');
  return { status, headers: rest.slice(0, split), body: rest.slice(split + 4) };
}

interface Running {
  server: RunningServer;
  logs(): string;
}

async function start(dir: string, over: Record<string, unknown>): Promise<Running> {
  const dirs = configDirs(dir);
  writeFileSync(join(dir, 'tftp', 'ok.txt'), 'inside the boot tree\n');
  const config = configSchema.parse({
    ...dirs,
    'listen-address': '127.0.0.1',
    'advertise-address': '127.0.0.1',
    tftp: { port: 0 },
    initiator: { port: 0 },
    ...over,
  });
  const { server, logText } = await startLogged(config);
  return { server, logs: logText };
}

const portOf = (s: RunningServer, name: string) =>
  (s.services.find((x) => x.name === name) as HttpService | undefined)?.address()?.port;

describe('split layout: administration and boot listeners', () => {
  let dir: string;
  let sx: Running;
  let admin: string;
  let boot: string;
  let bootPort: number;
  let adminPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-listeners-'));
    // Fixed free ports: the rendered URLs carry the configured boot port.
    adminPort = await freePort();
    bootPort = await freePort();
    sx = await start(dir, { http: { port: adminPort }, 'boot-http': { port: bootPort } });
    admin = `http://127.0.0.1:${adminPort}`;
    boot = `http://127.0.0.1:${bootPort}`;
  }, 60_000);
  afterAll(async () => {
    await sx?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs two listeners on the configured ports', () => {
    expect(portOf(sx.server, 'http')).toBe(adminPort);
    expect(portOf(sx.server, 'boot-http')).toBe(bootPort);
  });

  it('the boot listener serves /boot/, the HTTP phone-home and health, and nothing of the administration', async () => {
    expect(await curl(`${boot}/boot/ok.txt`)).toMatchObject({ status: 200, body: 'inside the boot tree\n' });
    const ph = await curl(`${boot}/api/v1/phone-home?uuid=${U1}&hostname=esx1`);
    expect(ph.status, ph.body).toBe(200);
    expect(ph.body.trim()).toBe('UNREGISTERED');
    expect((await curl(`${boot}/healthz`)).status).toBe(200);
    expect((await curl(`${boot}/readyz`)).status).toBe(200);
    for (const p of [
      '/',
      '/login',
      '/setup',
      '/hosts',
      '/api/v1/hosts',
      '/api/v1/session',
      '/api/v1/users',
      '/api/docs',
      '/api/docs/json',
      '/metrics',
      '/static/console.css',
    ]) {
      expect((await curl(`${boot}${p}`)).status, `boot listener ${p}`).toBe(404);
    }
    const login = await curl(`${boot}/api/v1/session`, [
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '-d',
      '{}',
    ]);
    expect(login.status, 'POST /api/v1/session on the boot listener').toBe(404);
  });

  it('the administration listener serves the console, API, OpenAPI and /metrics, and neither /boot/ nor the phone-home', async () => {
    expect((await curl(`${admin}/login`)).status).toBe(200);
    expect((await curl(`${admin}/api/v1/hosts`)).status).toBe(401);
    expect((await curl(`${admin}/api/docs/json`)).status).toBe(401);
    const m = await curl(`${admin}/metrics`);
    expect(m.status).toBe(200);
    expect(m.body).toContain('statelesx_http_requests_total');
    expect((await curl(`${admin}/healthz`)).status).toBe(200);
    expect((await curl(`${admin}/static/console.css`)).status).toBe(200);
    for (const p of ['/boot/ok.txt', '/boot/boot.ipxe', `/api/v1/phone-home?uuid=${U1}`]) {
      expect((await curl(`${admin}${p}`)).status, `admin listener ${p}`).toBe(404);
    }
    const post = await curl(`${admin}/api/v1/phone-home`, [
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ uuid: U1 }),
    ]);
    expect(post.status, 'POST phone-home on the administration listener').toBe(404);
  });

  it('hands hosts URLs on the boot listener (iPXE entry script)', async () => {
    const ipxe = await curl(`${boot}/boot/boot.ipxe`);
    expect(ipxe.status).toBe(200);
    expect(ipxe.body).toContain(`chain http://127.0.0.1:${bootPort}/boot/hosts/`);
    expect(ipxe.body).not.toContain(`:${adminPort}/`);
  });
});

describe('single-port layout: boot-http on the same address and port as http', () => {
  let dir: string;
  let sx: Running;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-listeners-one-'));
    const port = await freePort();
    sx = await start(dir, { http: { port }, 'boot-http': { port } });
    base = `http://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(async () => {
    await sx?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('one listener serves console, API, /metrics, /boot/ and the phone-home', async () => {
    expect(sx.server.services.map((s) => s.name)).not.toContain('boot-http');
    expect((await curl(`${base}/boot/ok.txt`)).status).toBe(200);
    expect((await curl(`${base}/api/v1/phone-home?uuid=${U1}`)).status).toBe(200);
    expect((await curl(`${base}/login`)).status).toBe(200);
    expect((await curl(`${base}/api/v1/hosts`)).status).toBe(401);
    expect((await curl(`${base}/metrics`)).status).toBe(200);
  });
});

describe('/metrics bearer token', () => {
  const TOKEN = 'sx-metrics-Zq3v9KQ1m2';
  let dir: string;
  let sx: Running;
  let admin: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-metrics-token-'));
    process.env['SX_TEST_METRICS_TOKEN'] = TOKEN;
    sx = await start(dir, {
      http: { port: 0, 'metrics-token-env': 'SX_TEST_METRICS_TOKEN' },
      'boot-http': { port: 0 },
    });
    admin = `http://127.0.0.1:${portOf(sx.server, 'http')!}`;
  }, 60_000);
  afterAll(async () => {
    await sx?.server.close();
    delete process.env['SX_TEST_METRICS_TOKEN'];
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 401 with WWW-Authenticate: Bearer without the token or with a wrong one', async () => {
    for (const args of [
      [],
      ['-H', 'Authorization: Bearer wrong-token'],
      ['-H', `Authorization: Bearer ${TOKEN}x`],
      ['-H', `Authorization: Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`],
      ['-u', `metrics:${TOKEN}`],
    ]) {
      const r = await curl(`${admin}/metrics`, args);
      expect(r.status, args.join(' ')).toBe(401);
      expect(r.headers.toLowerCase()).toContain('www-authenticate: bearer');
      expect(r.body).not.toContain('statelesx_');
    }
  });

  it('answers 200 with the token (curl --oauth2-bearer), and the token is in no log line', async () => {
    const r = await curl(`${admin}/metrics`, ['--oauth2-bearer', TOKEN]);
    expect(r.status).toBe(200);
    expect(r.body).toContain('statelesx_http_requests_total');
    expect((await curl(`${admin}/healthz`)).status).toBe(200);
    expect(sx.logs()).toContain('/metrics');
    expect(sx.logs()).not.toContain(TOKEN);
  });

  it('reads the token from a file, and refuses to start when the file is missing, naming it', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'sx-metrics-file-'));
    try {
      writeFileSync(join(d2, 'metrics.token'), `${TOKEN}-file\n`, { mode: 0o600 });
      const ok = await start(d2, {
        http: { port: 0, 'metrics-token-file': join(d2, 'metrics.token') },
        'boot-http': { port: 0 },
      });
      try {
        const url = `http://127.0.0.1:${portOf(ok.server, 'http')!}/metrics`;
        expect((await curl(url)).status).toBe(401);
        expect((await curl(url, ['--oauth2-bearer', `${TOKEN}-file`])).status).toBe(200);
      } finally {
        await ok.server.close();
      }
      const missing = join(d2, 'nope.token');
      await expect(
        start(join(d2, 'second'), { http: { port: 0, 'metrics-token-file': missing }, 'boot-http': { port: 0 } }),
      ).rejects.toThrow(`http.metrics-token-file: cannot read password-file ${missing}: ENOENT`);
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  });

  it('refuses an inline token and both sources at once', () => {
    expect(() => configSchema.parse({ http: { 'metrics-token': TOKEN } })).toThrow(/inline metrics token/);
    expect(() => configSchema.parse({ http: { 'metrics-token-env': 'A', 'metrics-token-file': '/x' } })).toThrow(
      /at most one of metrics-token-file or metrics-token-env/,
    );
  });
});
