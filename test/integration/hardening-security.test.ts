/**
 * Security checks against a whole server (`startServer`: TFTP, HTTP boot, console/API, phone-home
 * listener, engine) on 127.0.0.1, with the vCenter simulator requiring a password:
 * - path traversal on TFTP and HTTP `/boot/` (`../`, percent- and double-encoded, absolute,
 *   backslash, NUL, overlong UTF-8, symlink escape) — refused, the outside file never sent;
 * - every state-changing route of the running app (enumerated from fastify's route table) refuses
 *   a request without a session and one without the CSRF token, and changes nothing;
 * - session fixation: a session id planted before login is never the logged-in session;
 * - phone-home spoofing (wrong, replayed, other host's token) refused and counted in /metrics;
 * - the configured vCenter/ESXi passwords, console passwords, per-boot phone-home tokens (also
 *   sent in a GET query string), the one-time setup token (`/setup?token=`) and session ids never
 *   appear in the captured pino output or in any API response of the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';
import { encodeAck, encodeRequest, Opcode } from '../../src/boot/tftp/packet.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { consumeSetupToken, issueSetupToken } from '../../src/web/auth/tokens.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { startHardenedServer, writeCluster, type HardenedServer } from '../helpers/hardening-server.js';
import type { SessionBody } from '../helpers/api-bodies.js';
import { waitFor } from '../helpers/wait.js';

const U1 = '4c4c4544-0031-3510-8052-b1c04f303031';
const U2 = '4c4c4544-0031-3510-8052-b1c04f303032';
/** In no cluster file: phones home as an unregistered host. */
const U3 = '4c4c4544-0031-3510-8052-b1c04f303033';
const rnd = () => randomBytes(9).toString('base64url');
const SECRETS = {
  vcPassword: `vc-Pw-${rnd()}`,
  vcWrongPassword: `vc-Wrong-${rnd()}`,
  esxPassword: `esx-Pw-${rnd()}`,
  adminPassword: `admin-Pw-${rnd()}`,
  wrongLoginPassword: `login-Wrong-${rnd()}`,
};
const OUTSIDE = `OUTSIDE-THE-BOOT-TREE-${rnd()}`;

let dir: string;
let sim: Vcsim;
let sx: HardenedServer;
let base: string;
/** Every API/console response body of the run, for the secrets grep. */
const bodies: string[] = [];

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP/1.1 request over TCP (the path is sent byte for byte, no client normalisation). */
function rawHttp(port: number, requestLine: string | Buffer, headers: string[] = []): Promise<Res> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no HTTP answer to ${String(requestLine)}`));
    }, 10_000);
    s.on('connect', () => {
      s.write(
        Buffer.concat([
          Buffer.isBuffer(requestLine) ? requestLine : Buffer.from(requestLine, 'latin1'),
          Buffer.from(`\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`),
        ]),
      );
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const h: Record<string, string | string[]> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).toLowerCase();
        const v = l.slice(i + 1).trim();
        h[k] = h[k] === undefined ? v : ([] as string[]).concat(h[k], v);
      }
      resolve({ status: Number(lines[0]?.split(' ')[1] ?? 0), headers: h, body: rest.join('\r\n\r\n') });
    });
  });
}

/** A JSON/API call with cookies, recording the body. */
async function api(
  method: string,
  path: string,
  opts: { cookies?: Record<string, string>; csrf?: string; body?: unknown; form?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.cookies && Object.keys(opts.cookies).length)
    headers['cookie'] = Object.entries(opts.cookies)
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  } else if (opts.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = opts.form;
  }
  const r = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body ?? null,
    redirect: 'manual',
    signal: AbortSignal.timeout(20_000),
  });
  const text = await r.text();
  bodies.push(text);
  const h: Record<string, string | string[]> = {};
  r.headers.forEach((v, k) => {
    h[k] = v;
  });
  const setCookies = r.headers.getSetCookie();
  if (setCookies.length) h['set-cookie'] = setCookies;
  return { status: r.status, headers: h, body: text };
}

function cookiesFrom(res: Res, prev: Record<string, string> = {}): Record<string, string> {
  const out = { ...prev };
  for (const c of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
    const [kv = '', ...attrs] = c.split(';');
    const i = kv.indexOf('=');
    const k = kv.slice(0, i).trim();
    const v = kv.slice(i + 1).trim();
    if (v === '' || attrs.some((a) => /max-age=0|expires=thu, 01 jan 1970/i.test(a.trim()))) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** GET session (pre-login cookie + CSRF), then POST session. */
async function login(
  user: string,
  password: string,
  planted: Record<string, string> = {},
): Promise<{ res: Res; cookies: Record<string, string>; csrf: string }> {
  const pre = await api('GET', '/api/v1/session', { cookies: planted });
  const cookies = cookiesFrom(pre, planted);
  const res = await api('POST', '/api/v1/session', {
    cookies,
    csrf: (JSON.parse(pre.body) as SessionBody).csrfToken,
    body: { username: user, password },
  });
  return {
    res,
    cookies: cookiesFrom(res, cookies),
    csrf: res.status === 200 ? (JSON.parse(res.body) as SessionBody).csrfToken : '',
  };
}

/** Sends one TCP phone-home line; resolves with the reply line. */
function phoneHome(line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: sx.initiatorPort }, () => s.end(line));
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('phone-home timed out'));
    }, 10_000);
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => {
      clearTimeout(t);
      resolve(got.trim());
    });
    s.on('error', () => undefined);
  });
}

/** One TFTP RRQ; resolves with the first DATA payload or the ERROR code. */
function tftpGet(name: string | Buffer): Promise<{ data?: Buffer; error?: number }> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`no TFTP answer for ${String(name)}`));
    }, 5000);
    s.on('message', (msg, r) => {
      clearTimeout(t);
      const op = msg.readUInt16BE(0);
      if (op === Opcode.DATA)
        s.send(encodeAck(msg.readUInt16BE(2)), r.port, '127.0.0.1', () => {
          s.close();
          resolve({ data: msg.subarray(4) });
        });
      else {
        s.close();
        resolve(op === Opcode.ERROR ? { error: msg.readUInt16BE(2) } : {});
      }
    });
    s.bind(0, '127.0.0.1', () => {
      const pkt = Buffer.isBuffer(name)
        ? Buffer.concat([Buffer.from([0, 1]), name, Buffer.from('\0octet\0')])
        : encodeRequest(Opcode.RRQ, name, 'octet');
      s.send(pkt, sx.tftpPort, '127.0.0.1');
    });
  });
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = (await api('GET', '/metrics')).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries(
      [...inner.matchAll(/(\w+)="([^"]*)"/g)].map((m): [string, string] => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

beforeAll(async () => {
  sim = await startVcsim([
    '-username',
    'svc@vsphere.local',
    '-password',
    SECRETS.vcPassword,
    '-host-uuid',
    `esx1.lab.example=${U1}`,
    '-host-uuid',
    `esx2.lab.example=${U2}`,
  ]);
  dir = mkdtempSync(join(tmpdir(), 'sx-harden-sec-'));
  process.env['SXH_VC_PW'] = SECRETS.vcPassword;
  process.env['SXH_VC_BAD_PW'] = SECRETS.vcWrongPassword;
  process.env['SXH_ESX_PW'] = SECRETS.esxPassword;
  mkdirSync(join(dir, 'tftp', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'tftp', 'ok.txt'), 'inside the boot tree\n');
  writeFileSync(join(dir, 'secret.txt'), OUTSIDE);
  mkdirSync(join(dir, 'outside-dir'));
  writeFileSync(join(dir, 'outside-dir', 'secret.txt'), OUTSIDE);
  symlinkSync(join(dir, 'secret.txt'), join(dir, 'tftp', 'escape'));
  symlinkSync('../../secret.txt', join(dir, 'tftp', 'sub', 'rel-escape'));
  symlinkSync(join(dir, 'outside-dir'), join(dir, 'tftp', 'escdir'));
  mkdirSync(join(dir, 'clusters'), { recursive: true });
  writeCluster(dir, 'prod', 'vc1', 'esx', [
    ['esx1.lab.example', U1],
    ['esx2.lab.example', U2],
  ]);
  sx = await startHardenedServer(
    dir,
    {
      vcenters: [
        {
          name: 'vc1',
          url: sim.sdkUrl,
          username: 'svc@vsphere.local',
          'password-env': 'SXH_VC_PW',
          thumbprint: sim.thumbprint,
          'timeout-ms': 10_000,
        },
        {
          name: 'vc-bad',
          url: sim.sdkUrl,
          username: 'svc@vsphere.local',
          'password-env': 'SXH_VC_BAD_PW',
          thumbprint: sim.thumbprint,
          'timeout-ms': 10_000,
        },
      ],
      credentials: [{ name: 'esx', username: 'root', 'password-env': 'SXH_ESX_PW' }],
    },
    [['admin', SECRETS.adminPassword, 'admin']],
  );
  base = `http://127.0.0.1:${sx.httpPort}`;
}, 240_000);

afterAll(async () => {
  await sx?.close();
  await sim?.stop();
  for (const k of ['SXH_VC_PW', 'SXH_VC_BAD_PW', 'SXH_ESX_PW']) delete process.env[k];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('path traversal', () => {
  /** Names that must be refused as unsafe (TFTP error 2). */
  const strict: Array<string | Buffer> = [
    '../secret.txt',
    '../../../../../../etc/passwd',
    '/etc/passwd',
    `${'x'.length ? '' : ''}/${join('x')}/../../secret.txt`,
    'sub/../../secret.txt',
    '..\\secret.txt',
    'sub\\..\\..\\secret.txt',
    'C:\\secret.txt',
    './ok.txt',
    'sub//ok.txt',
    '%2e%2e%2fsecret.txt',
    '..%2fsecret.txt',
    '%2e%2e/secret.txt',
    '..%5csecret.txt',
    '%c0%afetc%c0%afpasswd',
    Buffer.concat([Buffer.from('ok.txt'), Buffer.from([0]), Buffer.from('../secret.txt')]),
    'escape',
    'sub/rel-escape',
    'escdir/secret.txt',
  ];
  /** Names that are harmless literals once decoded (not found is fine), but must never reach the outside file. */
  const lenient: Array<string | Buffer> = [
    '%252e%252e%252fsecret.txt',
    '%c0%ae%c0%ae/secret.txt',
    Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2e, 0x74, 0x78, 0x74]), // overlong "../"
    Buffer.from([0x2e, 0x2e, 0xc0, 0xaf, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2e, 0x74, 0x78, 0x74]), // ".." + overlong "/"
    '....//secret.txt',
    '..;/secret.txt',
  ];

  it('TFTP serves the boot tree and refuses every traversal (error 2), never sending the outside file', async () => {
    expect((await tftpGet('ok.txt')).data?.toString()).toBe('inside the boot tree\n');
    for (const name of strict) {
      const r = await tftpGet(name);
      expect(r.data?.toString(), `TFTP ${JSON.stringify(String(name))}`).toBeUndefined();
      expect(r.error, `TFTP ${JSON.stringify(String(name))}`).toBe(2);
    }
    for (const name of lenient) {
      const r = await tftpGet(name);
      expect(r.data?.toString() ?? '', `TFTP ${JSON.stringify(String(name))}`).not.toContain(OUTSIDE);
      expect([1, 2], `TFTP ${JSON.stringify(String(name))}`).toContain(r.error);
    }
  });

  it('HTTP /boot/ serves the boot tree and refuses every traversal (400/403), never sending the outside file', async () => {
    const ok = await rawHttp(sx.httpPort, 'GET /boot/ok.txt HTTP/1.1');
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('inside the boot tree\n');
    const strictPaths = [
      '/boot/../secret.txt',
      '/boot/../../../../etc/passwd',
      '/boot//etc/passwd',
      '/boot/%2fetc%2fpasswd',
      '/boot/sub/../../secret.txt',
      '/boot/%2e%2e/secret.txt',
      '/boot/%2e%2e%2fsecret.txt',
      '/boot/..%2fsecret.txt',
      '/boot/..%5csecret.txt',
      '/boot/..\\secret.txt',
      '/boot/ok.txt%00../secret.txt',
      '/boot/%00',
      '/boot/escape',
      '/boot/sub/rel-escape',
      '/boot/escdir/secret.txt',
      '/boot/./ok.txt',
      '/boot/%c0%ae%c0%ae/secret.txt',
      '/boot/%c0%af',
      '/boot/..%c0%afsecret.txt',
    ];
    for (const p of strictPaths) {
      const r = await rawHttp(sx.httpPort, `GET ${p} HTTP/1.1`);
      expect(r.body, `HTTP ${p}`).not.toContain(OUTSIDE);
      expect([400, 403], `HTTP ${p} → ${r.status}`).toContain(r.status);
    }
    const lenientPaths = ['/boot/%252e%252e%252fsecret.txt', '/boot/....//secret.txt', '/boot/..;/secret.txt'];
    for (const p of lenientPaths) {
      const r = await rawHttp(sx.httpPort, `GET ${p} HTTP/1.1`);
      expect(r.body, `HTTP ${p}`).not.toContain(OUTSIDE);
      expect([400, 403, 404], `HTTP ${p} → ${r.status}`).toContain(r.status);
    }
    // raw bytes: overlong UTF-8 and a raw NUL in the request target
    for (const raw of [
      Buffer.from('GET /boot/\xc0\xae\xc0\xae/secret.txt HTTP/1.1', 'latin1'),
      Buffer.from('GET /boot/ok.txt\0../secret.txt HTTP/1.1', 'latin1'),
    ]) {
      const r = await rawHttp(sx.httpPort, raw);
      expect(r.body).not.toContain(OUTSIDE);
      expect(r.status === 0 || (r.status >= 400 && r.status < 500), `raw ${raw.toString('latin1')} → ${r.status}`).toBe(
        true,
      );
    }
  });
});

/** State-changing routes of the running app, from fastify's route table (printRoutes tree). */
function stateChangingRoutes(tree: string): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = (at - 1) / 4; // "├── " / "└── ": the branch glyph precedes "── "
    const rest = line.slice(at + 3);
    const m = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(rest)!;
    stack.length = depth;
    stack.push(m[1]!);
    const path = stack.join('');
    for (const method of (m[2] ?? '').split(', ').filter(Boolean)) {
      if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) out.push({ method, path });
    }
  }
  return out;
}

describe('console and API: authentication and CSRF on every state-changing route', () => {
  /** Routes that are meant to work without a session; each has its own credential. */
  const PUBLIC = new Set([
    'POST /api/v1/phone-home',
    'POST /api/v1/session',
    'POST /api/v1/setup',
    'POST /setup',
    'POST /login',
  ]);

  it('refuses every state-changing route without a session, and with a session but without/with a wrong CSRF token; nothing changes', async () => {
    const routes = stateChangingRoutes(sx.http.app()!.printRoutes({ commonPrefix: false }));
    expect(routes.length, 'route enumeration found too few routes').toBeGreaterThanOrEqual(15);
    const fill = (p: string) =>
      p.replace(/:uuid/g, U1).replace(/:name/g, 'prod').replace(/:id/g, '1').replace(/\*$/, 'x');
    const { cookies, csrf } = await login('admin', SECRETS.adminPassword);
    expect(csrf).not.toBe('');
    const xmlBefore = readFileSync(join(dir, 'clusters', 'prod.xml'), 'utf8');
    const db = sqliteOf(sx.server.store);
    const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    const before = {
      audit: count('audit_log'),
      jobs: count('jobs'),
      users: count('users'),
      settings: count('settings'),
    };
    const checked: string[] = [];
    // A body each route's schema accepts, so the request reaches the CSRF check (fastify validates
    // bodies before preHandler hooks; an invalid body would be refused with 400 before CSRF).
    const validBody: Record<string, unknown> = {
      'POST /api/v1/users': { username: 'mallory', password: 'mallory-password-123', role: 'admin' },
      'PATCH /api/v1/users/:id': { role: 'viewer' },
      'PUT /api/v1/users/:id/password': { password: 'mallory-password-123' },
      'PUT /api/v1/clusters/:name/xml': { xml: xmlBefore.replace('esx2.lab.example', 'mallory.lab.example') },
      'POST /api/v1/clusters/:name/validate': { xml: xmlBefore },
      'POST /api/v1/unregistered/:uuid/join': { cluster: 'prod', fqdn: 'mallory.lab.example' },
      'POST /api/v1/unregistered/join': { cluster: 'prod', hosts: [{ uuid: U2, fqdn: 'mallory.lab.example' }] },
      'PUT /api/v1/boot-assignments/:uuid': { image: null },
      'POST /api/v1/images/import': { source: '/etc' },
    };
    for (const r of routes) {
      const key = `${r.method} ${r.path}`;
      const url = fill(r.path);
      if (PUBLIC.has(key)) {
        if (key === 'POST /api/v1/phone-home') continue;
        // Login and setup need the pre-login CSRF token.
        const payload: Record<string, string> = {
          username: 'admin',
          password: SECRETS.adminPassword,
          ...(url.endsWith('setup') ? { token: 'x'.repeat(43) } : {}),
        };
        const noCsrf = url.startsWith('/api/')
          ? await api(r.method, url, { body: payload })
          : await api(r.method, url, { form: new URLSearchParams(payload).toString() });
        expect(noCsrf.status, `${key} without CSRF`).toBe(403);
        expect(
          ([] as string[]).concat(noCsrf.headers['set-cookie'] ?? []).some((c) => /^sx_session=[^;]+/.test(c)),
          `${key} started a session without CSRF`,
        ).toBe(false);
        checked.push(key);
        continue;
      }
      const body = validBody[key];
      const opts = body === undefined ? {} : { body };
      const anon = await api(r.method, url, opts);
      if (url.startsWith('/api/')) expect(anon.status, `${key} without a session`).toBe(401);
      else expect([401, 303], `${key} without a session → ${anon.status}`).toContain(anon.status);
      const noCsrf = await api(r.method, url, { cookies, ...opts });
      expect(noCsrf.status, `${key} with a session but no CSRF token: ${noCsrf.body.slice(0, 200)}`).toBe(403);
      const badCsrf = await api(r.method, url, {
        cookies,
        csrf: csrf.slice(0, -2) + (csrf.endsWith('AA') ? 'BB' : 'AA'),
        ...opts,
      });
      expect(badCsrf.status, `${key} with a wrong CSRF token`).toBe(403);
      if (!url.startsWith('/api/')) {
        const form = await api(r.method, url, {
          cookies,
          form: 'cluster=prod&hosts=' + U2 + '&xml=x&image=x&_csrf=wrong',
        });
        expect(form.status, `${key} as a form with a wrong _csrf`).toBe(403);
      }
      checked.push(key);
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'DELETE /api/v1/session',
        'POST /api/v1/users',
        'PUT /api/v1/clusters/:name/xml',
        'POST /api/v1/images/import',
        'POST /logout',
      ]),
    );
    // Nothing changed: no audit entry, job, user or setting; the cluster file is byte-identical.
    expect({
      audit: count('audit_log'),
      jobs: count('jobs'),
      users: count('users'),
      settings: count('settings'),
    }).toEqual(before);
    expect(readFileSync(join(dir, 'clusters', 'prod.xml'), 'utf8')).toBe(xmlBefore);
  });

  it('session fixation: a session id planted before login never becomes the logged-in session', async () => {
    const plantedSession = randomBytes(32).toString('base64url');
    const plantedPrelogin = randomBytes(32).toString('base64url');
    const { res, cookies } = await login('admin', SECRETS.adminPassword, {
      sx_session: plantedSession,
      sx_prelogin: plantedPrelogin,
    });
    expect(res.status).toBe(200);
    expect(cookies['sx_session']).toBeDefined();
    expect(cookies['sx_session']).not.toBe(plantedSession);
    expect(cookies['sx_session']).not.toBe(plantedPrelogin);
    expect((await api('GET', '/api/v1/hosts', { cookies })).status).toBe(200);
    const plantedOnly: Array<Record<string, string>> = [
      { sx_session: plantedSession },
      { sx_session: plantedPrelogin },
      { sx_prelogin: plantedPrelogin },
    ];
    for (const planted of plantedOnly) {
      expect((await api('GET', '/api/v1/hosts', { cookies: planted })).status, JSON.stringify(planted)).toBe(401);
    }
    // After logout the old session id is dead too.
    const csrf = (JSON.parse(res.body) as SessionBody).csrfToken;
    expect((await api('DELETE', '/api/v1/session', { cookies, csrf })).status).toBeLessThan(300);
    expect((await api('GET', '/api/v1/hosts', { cookies: { sx_session: cookies['sx_session']! } })).status).toBe(401);
  });
});

describe('phone-home spoofing', () => {
  let okJob = '';
  /** Real per-boot tokens of the run (for the secrets grep). */
  const phoneHomeTokens: Record<string, string> = {};
  it("refuses a wrong token, another host's token and a replayed token, and counts each in /metrics", async () => {
    const tokens = new BootTokens(sx.server.store.tokens, 3_600_000);
    const t1 = await tokens.issue(U1);
    const t2 = await tokens.issue(U2);
    Object.assign(phoneHomeTokens, { phoneHomeToken1: t1, phoneHomeToken2: t2 });
    const refused = (reason: string) =>
      metric('statelesx_phone_homes_total', { transport: 'tcp', result: 'refused', reason });
    const before = {
      unknown: await refused('token-unknown'),
      other: await refused('token-other-host'),
      replay: await refused('token-replayed'),
      missing: await refused('token-missing'),
    };
    expect(await phoneHome(`esx1.lab.example:${U1} token=${rnd()}\n`)).toBe('ERR token-unknown');
    expect(await phoneHome(`esx1.lab.example:${U1} token=${t2}\n`)).toBe('ERR token-other-host');
    expect(await phoneHome(`esx1.lab.example:${U1}\n`)).toBe('ERR token-missing');
    const ok = await phoneHome(`esx1.lab.example:${U1} token=${t1}\n`);
    expect(ok).toMatch(/^OK \S+$/);
    okJob = ok.slice(3);
    expect(await phoneHome(`esx1.lab.example:${U1} token=${t1}\n`)).toBe('ERR token-replayed');
    // the HTTP phone-home refuses and counts the same way
    const http = await api('POST', '/api/v1/phone-home', { body: { uuid: U1, token: t1 } });
    expect(http.status).toBe(403);
    expect(
      await metric('statelesx_phone_homes_total', { transport: 'http', result: 'refused', reason: 'token-replayed' }),
    ).toBeGreaterThanOrEqual(1);
    expect({
      unknown: await refused('token-unknown'),
      other: await refused('token-other-host'),
      replay: await refused('token-replayed'),
      missing: await refused('token-missing'),
    }).toEqual({
      unknown: before.unknown + 1,
      other: before.other + 1,
      replay: before.replay + 1,
      missing: before.missing + 1,
    });
    // Only the one valid phone-home queued a job.
    const jobs = sqliteOf(sx.server.store).prepare('SELECT id FROM jobs').all() as Array<{ id: string }>;
    expect(jobs.map((j) => j.id)).toEqual([okJob]);
  });

  it('secrets never appear in logs or API output over a run with login, phone-home, boot, a vCenter job and vCenter tests', async () => {
    expect(okJob).not.toBe('');
    const wrong = await login('admin', SECRETS.wrongLoginPassword);
    expect(wrong.res.status).toBe(401);
    const { cookies, csrf } = await login('admin', SECRETS.adminPassword);
    // the job queued by the phone-home runs against the simulator (vCenter login, AddHost with the ESXi password)
    const job = await waitFor(
      `job ${okJob} to end`,
      async () => {
        const j = JSON.parse((await api('GET', `/api/v1/jobs/${okJob}`, { cookies })).body) as { state: string };
        return ['succeeded', 'failed', 'blocked', 'cancelled'].includes(j.state) && j;
      },
      60_000,
      100,
    );
    expect(['succeeded', 'failed', 'blocked']).toContain(job.state);
    const good = await api('POST', '/api/v1/vcenters/vc1/test', { cookies, csrf, body: {} });
    const bad = await api('POST', '/api/v1/vcenters/vc-bad/test', { cookies, csrf, body: {} });
    expect(good.status).toBeLessThan(500);
    expect(bad.body).toMatch(/InvalidLogin|login|refused/i);
    for (const p of [
      '/api/v1/vcenters',
      '/api/v1/jobs',
      `/api/v1/jobs/${okJob}`,
      `/api/v1/jobs/${okJob}/log`,
      '/api/v1/hosts',
      `/api/v1/hosts/${U1}`,
      '/api/v1/clusters',
      '/api/v1/clusters/prod',
      '/api/v1/clusters/prod/xml',
      '/api/v1/audit',
      '/api/v1/users',
      '/api/v1/session',
      '/api/docs/json',
      '/metrics',
    ]) {
      const r = await api('GET', p, { cookies });
      expect(r.status, p).toBeLessThan(500);
    }
    expect((await tftpGet('ok.txt')).data).toBeDefined();
    expect((await rawHttp(sx.httpPort, 'GET /boot/ok.txt HTTP/1.1')).status).toBe(200);
    // GET phone-home (the iPXE form) carries the token in the query string: one accepted
    // (unregistered host, valid token), one replayed (t1, already used over TCP), one as iPXE script.
    const t3 = await new BootTokens(sx.server.store.tokens, 3_600_000).issue(U3);
    phoneHomeTokens['phoneHomeToken3'] = t3;
    const viaGet = await api('GET', `/api/v1/phone-home?uuid=${U3}&hostname=esx9&token=${t3}`);
    expect({ status: viaGet.status, body: viaGet.body.trim() }).toEqual({ status: 200, body: 'UNREGISTERED' });
    expect((await sx.server.store.hosts.get(U3))?.evidence['token']).toBe('valid');
    const replayGet = await api(
      'GET',
      `/api/v1/phone-home?uuid=${U1}&token=${phoneHomeTokens['phoneHomeToken1']!}&format=ipxe`,
    );
    expect(replayGet.body).toContain('ERR token-replayed');
    // The one-time setup link (/setup?token=…), with a real, outstanding setup token.
    const setupToken = await issueSetupToken(sx.server.store.settings);
    const setupPage = await rawHttp(sx.httpPort, `GET /setup?token=${setupToken}&lang=en HTTP/1.1`);
    expect(setupPage.status).toBe(200);
    await consumeSetupToken(sx.server.store.settings);
    await new Promise((r) => setTimeout(r, 200));
    const logs = sx.logText();
    // the capture is real: it holds the run's phone-home, job and vCenter lines
    expect(logs).toContain(okJob);
    expect(logs).toMatch(/"subsystem":"initiator"/);
    expect(logs).toMatch(/vc1|vcenter/i);
    // the request lines were logged, with the path and the other parameters kept
    expect(logs).toContain(`/api/v1/phone-home?uuid=${U3}&hostname=esx9&token=`);
    expect(logs).toContain('/setup?token=');
    expect(logs).toContain('&lang=en');
    expect(Object.keys(phoneHomeTokens)).toHaveLength(3);
    const secretValues = { ...SECRETS, sessionCookie: cookies['sx_session']!, csrf, ...phoneHomeTokens, setupToken };
    for (const [what, value] of Object.entries(secretValues)) {
      expect(logs.includes(value), `${what} appears in the logs`).toBe(false);
      expect(
        bodies.filter((b) => b.includes(value) && !(what === 'csrf')).length,
        `${what} appears in an API response`,
      ).toBe(0);
    }
  }, 120_000);
});
