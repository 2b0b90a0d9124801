/**
 * Run inside the end-to-end test's server namespace (`ip netns exec pxe-srv-N node --import tsx ...`),
 * where the vCenter simulator and statelesx listen on that namespace's loopback and boot LAN.
 *
 *   netns-tool readback <vcsim.env> <datacenter> <cluster>
 *       → JSON: the cluster's HA/DRS/DPM config and every host's UUID, vSwitches, portgroups,
 *         VMkernel NICs and services, NTP, read over SOAP with statelesx's own vSphere client.
 *   netns-tool api <base-url> <user> <password-env> <METHOD> <path> [json-body]
 *       → JSON: {status, body} of one authenticated REST call (login + CSRF handled here).
 *   netns-tool boot <vcsim.env> boot|reboot <fqdn> <pem-file>
 *       → JSON: the simulator's answer ({thumbprint, sha256}) to its boot/reboot hook, the host
 *         presenting the certificate + key in <pem-file> from now on.
 *   netns-tool esx-login <vcsim.env> <fqdn> <password-env>
 *       → JSON: {status, fault, sha256}: vim25 Login as root on the host's own SDK (the simulator's
 *         esx-url, TLS SNI = fqdn) with that password; fault is null on success; sha256 is the
 *         certificate the host presented.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { VsphereClient } from '../../src/vsphere/client.js';
import { envelope } from '../../src/vsphere/xml.js';
import { bootHook } from '../helpers/vcsim.js';

/** The key=value lines netns-server.sh wrote for this run. */
function vcsimEnv(envFile: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(envFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

async function readback(envFile: string, datacenter: string, cluster: string): Promise<unknown> {
  const env = vcsimEnv(envFile);
  const vc = await VsphereClient.connect(
    {
      name: 'vcsim',
      url: env['sdk']!,
      username: env['username']!,
      thumbprint: env['thumbprint']!,
      'max-sessions': 1,
      'timeout-ms': 30_000,
    },
    env['password']!,
  );
  try {
    const c = await vc.read.readCluster(datacenter, cluster);
    return {
      cluster: c.cluster ? cluster : null,
      config: c.config ?? null,
      hosts: c.hosts.map((h) => ({
        name: h.name,
        uuid: h.uuid,
        connectionState: h.connectionState,
        inMaintenanceMode: h.inMaintenanceMode,
        network: h.network,
        vnicServices: h.vnicServices,
        ntpServers: h.ntpServers,
      })),
    };
  } finally {
    await vc.close();
  }
}

/** A tiny cookie jar over fetch: enough for the session + prelogin cookies. */
class Client {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}
  async call(method: string, path: string, body?: unknown, csrf?: string): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (csrf) headers['x-csrf-token'] = csrf;
    const r = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      this.cookies.set(kv!.slice(0, i), kv!.slice(i + 1));
    }
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body: parsed };
  }
}

async function api(
  base: string,
  user: string,
  passwordEnv: string,
  method: string,
  path: string,
  json?: string,
): Promise<unknown> {
  const c = new Client(base);
  const pre = (await c.call('GET', '/api/v1/session')).body as { csrfToken: string };
  const login = await c.call(
    'POST',
    '/api/v1/session',
    { username: user, password: process.env[passwordEnv] },
    pre.csrfToken,
  );
  if (login.status !== 200) return { status: login.status, body: login.body, step: 'login' };
  const csrf = (login.body as { csrfToken: string }).csrfToken;
  return c.call(method, path, json === undefined ? undefined : JSON.parse(json), csrf);
}

async function boot(envFile: string, hook: string, fqdn: string, pemFile: string): Promise<unknown> {
  if (hook !== 'boot' && hook !== 'reboot') throw new Error(`boot: want boot or reboot, got ${hook}`);
  return bootHook(vcsimEnv(envFile)['sdk']!.replace(/\/sdk$/, ''), hook, fqdn, readFileSync(pemFile, 'utf8'));
}

async function esxLogin(envFile: string, fqdn: string, passwordEnv: string): Promise<unknown> {
  const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const body = envelope(
    '<Login xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this><userName>root</userName>' +
      `<password>${esc(process.env[passwordEnv] ?? '')}</password></Login>`,
  );
  return new Promise((resolve, reject) => {
    const req = request(
      vcsimEnv(envFile)['esx']!,
      {
        method: 'POST',
        servername: fqdn,
        rejectUnauthorized: false, // self-signed; the test compares the thumbprint instead
        agent: false,
        headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: 'urn:vim25/6.5' },
      },
      (res) => {
        const der = (res.socket as TLSSocket).getPeerCertificate().raw;
        const sha256 = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            fault: /<faultstring>/.test(text) ? (/xsi:type="(\w+)"/.exec(text)?.[1] ?? text.slice(0, 300)) : null,
            sha256,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const [cmd, ...args] = process.argv.slice(2);
const out =
  cmd === 'readback'
    ? await readback(args[0]!, args[1]!, args[2]!)
    : cmd === 'api'
      ? await api(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5])
      : cmd === 'boot'
        ? await boot(args[0]!, args[1]!, args[2]!, args[3]!)
        : cmd === 'esx-login'
          ? await esxLogin(args[0]!, args[1]!, args[2]!)
          : (() => {
              throw new Error(`usage: netns-tool readback|api|boot|esx-login ...`);
            })();
process.stdout.write(JSON.stringify(out) + '\n');
