/**
 * Starts VMware's vCenter simulator (test/peers/vcsim, govmomi's `simulator` with the
 * host-onboarding extensions and strict request parsing) for one test file, on 127.0.0.1 and a
 * random port, with TLS. Stop it in afterAll with `await sim.stop()` (idempotent, safe when
 * start failed half-way).
 *
 *   const sim = await startVcsim(['-host-thumbprint', 'esx-01=AA:...']);
 *   // sim.sdkUrl = https://127.0.0.1:PORT/sdk, sim.thumbprint = SHA-1 of its certificate
 *   const { thumbprint, sha256 } = await sim.reboot('esx-01.lab.local'); // stateless reboot
 *   // sim.esxSdkUrl = https://127.0.0.1:PORT2/sdk: the hosts' own SDK, host chosen by TLS SNI
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A running simulator. */
export interface Vcsim {
  /** As printed by the start script, with credentials: `https://user:pass@127.0.0.1:PORT/sdk`. */
  url: string;
  /** The SDK endpoint without credentials: `https://127.0.0.1:PORT/sdk`. */
  sdkUrl: string;
  /** `https://127.0.0.1:PORT` (test hooks live under `/vcsim-test/`). */
  baseUrl: string;
  username: string;
  password: string;
  /** SHA-1 thumbprint of the simulator's certificate, colon hex upper case. */
  thumbprint: string;
  pid: number;
  /**
   * The ESXi hosts' own SDK, `https://127.0.0.1:PORT/sdk` (the `esx-url` line). Connect with TLS
   * `servername` = the host's FQDN: it presents that host's certificate (booted hosts only).
   */
  esxSdkUrl: string;
  /**
   * POST /vcsim-test/reboot?name=FQDN: the host gets a new certificate and a blank root password;
   * in the inventory it turns notResponding with its configuration back to the image's defaults.
   * Resolves to the new certificate's thumbprints (colon hex upper case). With `pem` (a certificate
   * and its private key, PEM) the host presents that certificate instead of a generated one.
   */
  reboot(name: string, pem?: string): Promise<HostThumbprints>;
  /** POST /vcsim-test/boot?name=FQDN: the first boot of a host not yet in the inventory (else as reboot). */
  boot(name: string, pem?: string): Promise<HostThumbprints>;
  /**
   * POST /vcsim-test/vm-power?host=FQDN&name=NAME&power=…: registers VM `name` on host `host` (or,
   * when a VM of that name exists, sets its power state). Resolves to its MoRef value (`vm-NN`).
   */
  vmPower(host: string, name: string, power: 'poweredOn' | 'poweredOff'): Promise<string>;
  /** SIGTERM, then SIGKILL after 2 s if it is still there. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * SIGKILL at once (a crash: calls in flight get no answer) and resolves once the process is gone.
   * With `-state DIR`, a simulator started again with the same DIR and ports has the same inventory.
   */
  kill(): Promise<void>;
}

/** Thumbprints of a booted host's certificate, as `/vcsim-test/boot` and `/reboot` answer them. */
export interface HostThumbprints {
  /** SHA-1, `AA:BB:...` (20 bytes): what SSLVerifyFault reports. */
  thumbprint: string;
  /** SHA-256, `AA:BB:...` (32 bytes); HostConnectSpec.sslThumbprint accepts either. */
  sha256: string;
}

/**
 * POSTs a boot/reboot hook (with `pem`, a certificate + key PEM body, as application/x-pem-file)
 * and checks the JSON answer's shape. Throws on HTTP errors.
 */
export async function bootHook(
  baseUrl: string,
  hook: 'boot' | 'reboot',
  name: string,
  pem?: string,
): Promise<HostThumbprints> {
  const url = `${baseUrl}/vcsim-test/${hook}?name=${encodeURIComponent(name)}`;
  const headers = pem === undefined ? {} : { 'content-type': 'application/x-pem-file' };
  const body = await new Promise<string>((res, rej) => {
    const req = request(url, { method: 'POST', rejectUnauthorized: false, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('error', rej);
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (r.statusCode === 200) res(text);
        else rej(new Error(`vcsim ${hook} ${name}: HTTP ${String(r.statusCode)} ${text}`));
      });
    });
    req.on('error', rej);
    req.end(pem);
  });
  const j = JSON.parse(body) as Partial<HostThumbprints>;
  if (typeof j.thumbprint !== 'string' || typeof j.sha256 !== 'string') {
    throw new Error(`vcsim ${hook} ${name}: unexpected answer ${body}`);
  }
  return { thumbprint: j.thumbprint, sha256: j.sha256 };
}

/** POSTs a /vcsim-test/ hook without a body; resolves to the answer's text, rejects on HTTP errors. */
function postHook(url: string): Promise<string> {
  return new Promise<string>((res, rej) => {
    const req = request(url, { method: 'POST', rejectUnauthorized: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('error', rej);
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (r.statusCode === 200) res(text);
        else rej(new Error(`vcsim ${url}: HTTP ${String(r.statusCode)} ${text}`));
      });
    });
    req.on('error', rej);
    req.end();
  });
}

const here = dirname(fileURLToPath(import.meta.url));
/** The simulator's start script, `test/peers/vcsim/start` (built from the repository's own Go source). */
export const VCSIM_START = resolve(here, '../peers/vcsim/start');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds (cached) and starts the simulator with `-l 127.0.0.1:0 -tls` plus `args`
 * (e.g. `-username`, `-password`, `-host-uuid NAME=UUID`, `-method-delay AddHost_Task:3000`;
 * a later `-l 127.0.0.1:PORT` wins, which is how a restart keeps its port).
 * Throws with the script's stderr when it fails to start.
 */
export async function startVcsim(args: string[] = []): Promise<Vcsim> {
  if (!existsSync(VCSIM_START)) {
    throw new Error(`vCenter simulator start script not found at ${VCSIM_START}; run scripts/install-test-deps`);
  }
  const out = await new Promise<string>((res, rej) => {
    execFile(
      VCSIM_START,
      ['-l', '127.0.0.1:0', '-tls', ...args],
      { timeout: 180_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err)
          rej(
            new Error(
              `vcsim start failed (${err.message}): ${stderr}\nrun scripts/install-test-deps if Go or govmomi is missing`,
            ),
          );
        else res(stdout);
      },
    );
  });
  const field = (name: string): string => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(out);
    if (!m?.[1]) throw new Error(`vcsim start printed no "${name}" line: ${out}`);
    return m[1];
  };
  const url = field('url');
  const pid = Number(field('pid'));
  const thumbprint = field('thumbprint');
  const esxSdkUrl = field('esx-url');
  const u = new URL(url);
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  const sdkUrl = u.toString();
  let stopped = false;
  const baseUrl = `${u.protocol}//${u.host}`;
  return {
    url,
    sdkUrl,
    baseUrl,
    username,
    password,
    thumbprint,
    pid,
    esxSdkUrl,
    reboot: (name, pem) => bootHook(baseUrl, 'reboot', name, pem),
    boot: (name, pem) => bootHook(baseUrl, 'boot', name, pem),
    async vmPower(host, name, power) {
      const q = new URLSearchParams({ host, name, power });
      const text = await postHook(`${baseUrl}/vcsim-test/vm-power?${q.toString()}`);
      return (JSON.parse(text) as { vm: string }).vm;
    },
    async stop() {
      if (stopped || !Number.isInteger(pid) || pid <= 0) return;
      stopped = true;
      if (!alive(pid)) return;
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 40 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    },
    async kill() {
      if (stopped || !Number.isInteger(pid) || pid <= 0) return;
      stopped = true;
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    },
  };
}

/** Options of {@link vcenterConfigFor}; each has the engine tests' default. */
export interface VcenterConfigOptions {
  /** The vCenter's name, as cluster files name it (default `vc1`). */
  name?: string;
  /** The environment variable holding the vCenter password (default `SX_VC_PW`). */
  passwordEnv?: string;
  /** The ESXi credential's name, as cluster files name it (default `esx`); its user is root. */
  credential?: string;
  /** The environment variable holding the ESXi root password (default `SX_ESX_PW`). */
  esxPasswordEnv?: string;
  /**
   * More keys of the `vcenters` entry, over the defaults: e.g. `'timeout-ms'` (default 10000, the
   * SOAP request timeout in ms), `'max-sessions'`, or a wrong `thumbprint` / `url` to test a refusal.
   */
  vcenter?: Record<string, unknown>;
}

/**
 * The `vcenters` and `credentials` config keys (input of `configSchema.parse`, as config.yaml
 * spells them) for one running simulator: its SDK URL and user, pinned to its certificate's
 * thumbprint, passwords read from the environment (`env[passwordEnv]` must hold `sim.password`),
 * and one ESXi root credential. Spread it into the rest of the config:
 *
 *   const cfg = configSchema.parse({ ...vcenterConfigFor(sim), engine: { 'max-attempts': 2 } });
 */
export function vcenterConfigFor(
  sim: Pick<Vcsim, 'sdkUrl' | 'username' | 'thumbprint'>,
  opts: VcenterConfigOptions = {},
): {
  vcenters: Array<Record<string, unknown>>;
  credentials: Array<{ name: string; username: string; 'password-env': string }>;
} {
  return {
    vcenters: [
      {
        name: opts.name ?? 'vc1',
        url: sim.sdkUrl,
        username: sim.username,
        'password-env': opts.passwordEnv ?? 'SX_VC_PW',
        thumbprint: sim.thumbprint,
        'timeout-ms': 10_000,
        ...opts.vcenter,
      },
    ],
    credentials: [
      { name: opts.credential ?? 'esx', username: 'root', 'password-env': opts.esxPasswordEnv ?? 'SX_ESX_PW' },
    ],
  };
}
