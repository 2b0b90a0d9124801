/**
 * Run inside the end-to-end test's server namespace (`ip netns exec pxe-srv-N node --import tsx ...`),
 * where the vCenter simulator and statelesx listen on that namespace's loopback and boot LAN.
 *
 *   netns-tool readback <vcsim.env> <datacenter> <cluster>
 *       → JSON: the cluster's HA/DRS/DPM config and every host's UUID, vSwitches, portgroups,
 *         VMkernel NICs and services, NTP, read over SOAP with statelesx's own vSphere client.
 *   netns-tool api <base-url> <user> <password-env> <METHOD> <path> [json-body]
 *       → JSON: {status, body} of one authenticated REST call (login + CSRF handled here).
 */
import { readFileSync } from 'node:fs';
import { VsphereClient } from '../../src/vsphere/client.js';

async function readback(envFile: string, datacenter: string, cluster: string): Promise<unknown> {
  const env = Object.fromEntries(
    readFileSync(envFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  process.env['E2E_READBACK_PASSWORD'] = env['password'];
  const vc = await VsphereClient.connect(
    {
      name: 'vcsim',
      url: env['sdk']!,
      username: env['username']!,
      thumbprint: env['thumbprint']!,
      'password-env': 'E2E_READBACK_PASSWORD',
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

const [cmd, ...args] = process.argv.slice(2);
const out =
  cmd === 'readback'
    ? await readback(args[0]!, args[1]!, args[2]!)
    : cmd === 'api'
      ? await api(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5])
      : (() => {
          throw new Error(`usage: netns-tool readback|api ...`);
        })();
process.stdout.write(JSON.stringify(out) + '\n');
