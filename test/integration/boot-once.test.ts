/**
 * Boot-once for stateful installs through the real boot path (issue 17 item 3): `startServer` on
 * 127.0.0.1 with a stateful cluster member (Linux image, so its boot files carry `ks=` on the
 * kernel line) and a stateless one, read by real clients — curl over HTTP `/boot/`, atftp over
 * TFTP — and phoned home by the real busybox initiator (scripts/initiator.sh) the way the
 * kickstart's `%firstboot` runs it (its command-line file, `STATELESX_STAGE=installed`).
 *
 *  install due → iPXE script and pxelinux config boot the image with `ks=`; ks.cfg served;
 *  %firstboot phone-home (token from ks.cfg, stage=installed) → install recorded;
 *  → iPXE `exit`, pxelinux `LOCALBOOT 0`, ks.cfg 404, the boot events say `local-boot`;
 *  the stateless member sending stage=installed still boots its image;
 *  `statelesx host reinstall <uuid>` (CLI, local data-dir) → the next boot installs again.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { importImage } from '../../src/images/import.js';
import { freePort } from '../helpers/hardening-server.js';
import { configDirs } from '../helpers/serve.js';
import { CLI } from '../helpers/e2e-boot.js';

const exec = promisify(execFile);
const SH = resolve('scripts/initiator.sh');
const S1 = '4c4c4544-0031-3010-8031-b1c04f4d3401'; // stateful member
const L1 = '4c4c4544-0031-3010-8031-b1c04f4d3402'; // stateless member of the same cluster
const MAC = '52:54:00:00:34:01';
const IMAGE = 'lnx';

let dir: string;
let server: RunningServer;
let httpPort: number;
let tftpPort: number;
let initiatorPort: number;

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(cmd, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is missing: run scripts/install-test-deps`, { cause: e });
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      out: (err.stdout ?? '') + (err.stderr ?? err.message),
    };
  }
}

/** curl over HTTP `/boot/`: status and body. */
async function curl(path: string): Promise<{ status: number; text: string }> {
  const r = await run('curl', ['-sS', '-w', '\n%{http_code}', `http://127.0.0.1:${httpPort}/boot/${path}`]);
  expect(r.code, r.out).toBe(0);
  const cut = r.out.lastIndexOf('\n');
  return { status: Number(r.out.slice(cut + 1)), text: r.out.slice(0, cut) };
}

/** atftp over TFTP: the file's text, or null when the server answered an error. */
async function atftp(path: string): Promise<string | null> {
  const local = join(dir, 'got-' + path.replace(/\W/g, '_'));
  const r = await run('atftp', ['-g', '-r', path, '-l', local, '127.0.0.1', String(tftpPort)]);
  if (r.code !== 0) return null;
  const { readFileSync } = await import('node:fs');
  return readFileSync(local, 'utf8');
}

/** The kickstart's %firstboot, as the installed host runs it: its command-line file, then the initiator. */
async function firstboot(uuid: string, ks: string): Promise<{ code: number; out: string }> {
  const fb = ks.slice(ks.indexOf('%firstboot'));
  const line = /^echo '([^']*)' > \/tmp\/statelesx-cmdline$/m.exec(fb);
  expect(line, fb.slice(0, 400)).not.toBeNull();
  expect(fb).toMatch(/^STATELESX_STAGE=installed STATELESX_CMDLINE=/m);
  const root = join(dir, `sys-${uuid}`);
  mkdirSync(join(root, 'sys/class/dmi/id'), { recursive: true });
  writeFileSync(join(root, 'sys/class/dmi/id/product_uuid'), `${uuid.toUpperCase()}\n`);
  const cmdline = join(dir, `cmdline-${uuid}`);
  writeFileSync(cmdline, line![1] + '\n');
  return run('busybox', ['sh', SH], {
    STATELESX_STAGE: 'installed',
    STATELESX_CMDLINE: cmdline,
    STATELESX_SYSFS: root,
    STATELESX_HOSTNAME: 'esx1',
    STATELESX_CERT: '/nonexistent',
    STATELESX_RETRIES: '2',
  });
}

/** `detail.answer` of the newest boot event for `file`. */
async function answerOf(file: string): Promise<unknown> {
  return (await server.store.hosts.bootEvents({ uuid: S1, limit: 100 })).find((e) => e.file === file)?.detail?.[
    'answer'
  ];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-bootonce-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'vmlinuz'), 'kernel');
  writeFileSync(join(src, 'initrd.gz'), 'initrd');
  writeFileSync(
    join(src, 'image.json'),
    JSON.stringify({
      name: IMAGE,
      kind: 'linux',
      linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'quiet' },
    }),
  );
  const dirs = configDirs(dir);
  await importImage({ source: src, imagesDir: dirs['images-dir'] as string, name: IMAGE });
  mkdirSync(dirs['clusters-dir'] as string, { recursive: true });
  writeFileSync(
    join(dirs['clusters-dir'] as string, 'prod.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="prod">
  <datacenter>DC0</datacenter>
  <vcenter>vc1</vcenter>
  <credentials>esx</credentials>
  <defaultImage>${IMAGE}</defaultImage>
  <boot mode="stateful"/>
  <members>
    <host fqdn="esx1.example.com" uuid="${S1}" mac="${MAC}"/>
    <host fqdn="esx2.example.com" uuid="${L1}" bootMode="stateless"/>
  </members>
</cluster>
`,
  );
  process.env['SX_ONCE_VC_PW'] = 'vc-secret';
  process.env['SX_ONCE_ESX_PW'] = 'esx-secret';
  httpPort = await freePort();
  tftpPort = await freePort();
  initiatorPort = await freePort();
  const settings = {
    ...dirs,
    'listen-address': '127.0.0.1',
    // Never contacted: configure jobs fail fast on the discard port, which this test does not look at.
    vcenters: [
      { name: 'vc1', url: 'https://127.0.0.1:9/sdk', username: 'svc@vsphere.local', 'password-env': 'SX_ONCE_VC_PW' },
    ],
    credentials: [{ name: 'esx', username: 'root', 'password-env': 'SX_ONCE_ESX_PW' }],
    tftp: { port: tftpPort },
    http: { port: 0 },
    'boot-http': { port: httpPort },
    initiator: { port: initiatorPort },
  };
  // The CLI's config: the same data and cluster directories.
  writeFileSync(
    join(dir, 'statelesx.yaml'),
    `data-dir: ${dirs['data-dir'] as string}\nclusters-dir: ${dirs['clusters-dir'] as string}\nimages-dir: ${dirs['images-dir'] as string}\n`,
  );
  server = await startServer(configSchema.parse(settings), silentLogger);
}, 120_000);

afterAll(async () => {
  await server?.close();
  for (const k of ['SX_ONCE_VC_PW', 'SX_ONCE_ESX_PW']) delete process.env[k];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('boot-once through startServer, curl, atftp and initiator.sh', () => {
  const ipxe = `hosts/${S1}.ipxe`;
  const pxe = `pxelinux.cfg/01-${MAC.replace(/:/g, '-')}`;

  it('install due: iPXE and pxelinux boot the image with ks=, ks.cfg is served', async () => {
    const s = await curl(ipxe);
    expect(s.status).toBe(200);
    expect(s.text).toContain(`ks=http://127.0.0.1:${httpPort}/boot/hosts/${S1}/ks.cfg`);
    expect(s.text).toMatch(/^boot$/m);
    expect(await answerOf(ipxe)).toBe('install');
    const p = await atftp(pxe);
    expect(p).toMatch(/^ {2}KERNEL lnx\/vmlinuz$/m);
    expect(p).toContain(`ks=http://127.0.0.1:${httpPort}/boot/hosts/${S1}/ks.cfg`);
    expect((await curl(`hosts/${S1}/ks.cfg`)).status).toBe(200);
  });

  it("after %firstboot's phone-home (stage=installed): iPXE exit, pxelinux LOCALBOOT 0, no ks.cfg", async () => {
    const ks = await curl(`hosts/${S1}/ks.cfg`);
    const r = await firstboot(S1, ks.text);
    expect(r.code, r.out).toBe(0);
    expect(await server.store.hostInstalls.get(S1)).toMatchObject({ installedFrom: '127.0.0.1' });
    const s = await curl(ipxe);
    expect(s.text.split('\n').slice(2)).toEqual([
      expect.stringMatching(/^echo statelesx: local boot \(stateful install done /),
      'exit',
      '',
    ]);
    expect(await answerOf(ipxe)).toBe('local-boot');
    const p = await atftp(pxe);
    expect(p).toMatch(/^DEFAULT local$/m);
    expect(p).toMatch(/^ {2}LOCALBOOT 0$/m);
    expect(p).not.toMatch(/KERNEL/);
    expect(await answerOf(pxe)).toBe('local-boot');
    expect((await curl(`hosts/${S1}/ks.cfg`)).status).toBe(404);
  });

  it('a stateless member claiming stage=installed still boots its image', async () => {
    const s = await curl(`hosts/${L1}.ipxe`);
    const token = /statelesx\.token=(\S+)/.exec(s.text)![1]!;
    const ks = `%firstboot\necho 'statelesx.server=127.0.0.1:${initiatorPort} statelesx.token=${token}' > /tmp/statelesx-cmdline\nSTATELESX_STAGE=installed STATELESX_CMDLINE=x\n`;
    expect((await firstboot(L1, ks)).code).toBe(0);
    expect(await server.store.hostInstalls.get(L1)).toBeUndefined();
    expect((await curl(`hosts/${L1}.ipxe`)).text).toMatch(/^kernel http:\/\/.*\/lnx\/vmlinuz /m);
  });

  it('statelesx host reinstall <uuid> (CLI, local data-dir): the next boot installs again', async () => {
    const cfg = join(dir, 'statelesx.yaml');
    const bad = await run(process.execPath, [CLI, 'host', 'reinstall', L1, '--config', cfg]);
    expect(bad.code).toBe(3);
    expect(bad.out).toMatch(/stateless member of cluster prod/);
    const r = await run(process.execPath, [CLI, 'host', 'reinstall', S1, '--config', cfg]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`reinstall requested for ${S1} \\(cluster prod; installed `));
    const s = await curl(ipxe);
    expect(s.text).toContain(`ks=http://127.0.0.1:${httpPort}/boot/hosts/${S1}/ks.cfg`);
    expect(await answerOf(ipxe)).toBe('install');
    expect(await atftp(pxe)).toMatch(/^ {2}KERNEL lnx\/vmlinuz$/m);
    expect((await server.store.audit.list(5)).find((e) => e.action === 'host.reinstall')).toMatchObject({
      actor: 'system:cli',
    });
  });
});
