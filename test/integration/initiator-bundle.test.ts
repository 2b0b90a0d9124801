/**
 * How the initiator gets onto an ESXi host, run for real on this machine:
 *
 * - stateless: the rendered boot.cfg lists `sxinit.tgz`; the file source serves it (TFTP and
 *   HTTP /boot/ alike); real GNU tar lists and extracts it; the rc.local.d hook inside runs under
 *   `busybox sh` (ESXi's shell) with `python` stubbed, then with `python` → python3 running the
 *   extracted initiator.py against the real listener (esxcli/vsish stubbed, vsish printing the
 *   kernelopt statelesx rendered) → a configure job for the host, verified by its token;
 * - stateful: the rendered ks.cfg's `%firstboot` section runs under `busybox sh`, writes
 *   initiator.py and sends a line the listener's parser accepts, with the ks.cfg's token.
 *
 * The host's absolute paths (/opt, /tmp, /var/log) are mapped into a temporary directory: the
 * `python` stub maps `/opt/…`, STATELESX_INITIATOR_LOG moves the hook's log, and the %firstboot
 * section's three file names (exported constants) are replaced before it runs.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import Fastify from 'fastify';
import { startFixture, exchange, type Fixture } from '../helpers/initiator-fixture.js';
import { DefaultBootFileSource } from '../../src/boot/files/source.js';
import type { BootFile, BootRequestContext } from '../../src/boot/files/types.js';
import { bootHttpPlugin } from '../../src/boot/http/plugin.js';
import { ImageLibrary } from '../../src/images/image.js';
import { importImage } from '../../src/images/import.js';
import { parseBootCfg } from '../../src/images/bootcfg.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import type { ClusterMembership } from '../../src/hosts/policy.js';
import { parsePhoneHomeLine } from '../../src/phonehome/parse.js';
import { FIRSTBOOT_CMDLINE, FIRSTBOOT_INITIATOR } from '../../src/boot/render/kickstart.js';
import { INITIATOR_LOG } from '../../src/boot/render/initiator-bundle.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';

const exec = promisify(execFile);
const PY = readFileSync(resolve('scripts/initiator.py'));
const U = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const MAC = '00:50:56:b0:1c:2d';
/** `esxcli hardware platform get` for U, printed the way ESXi prints it (SMBIOS order, unpadded bytes). */
const PLATFORM = [
  'Platform Information',
  `   UUID: ${U.replace(/-/g, '')
    .match(/../g)!
    .map((b) => '0x' + b.replace(/^0/, ''))
    .join(' ')}`,
  '   Product Name: VMware7,1',
  '   Vendor Name: VMware, Inc.',
  '   Serial Number: VMware-42 30 a8 27',
].join('\n');

let dir: string;
let imagesDir: string;
let fx: Fixture | undefined;
const clusters = new Map<string, ClusterMembership>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-bundle-'));
  const e = join(dir, 'e');
  mkdirSync(join(e, 'efi/boot'), { recursive: true });
  writeFileSync(
    join(e, 'BOOT.CFG'),
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- /k.b00\nbuild=8.0.2-0.0.22380479\nupdated=0\n',
  );
  for (const f of ['B.B00', 'JUMPSTRT.GZ', 'K.B00', 'MBOOT.C32']) writeFileSync(join(e, f), `synthetic ${f}`);
  writeFileSync(join(e, 'efi/boot/bootx64.efi'), 'efi');
  mkdirSync(join(dir, 'l'));
  writeFileSync(join(dir, 'l/vmlinuz'), 'kernel');
  writeFileSync(
    join(dir, 'l/image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: [], cmdline: '' } }),
  );
  imagesDir = join(dir, 'images');
  await importImage({ source: e, imagesDir, name: 'esx1' });
  await importImage({ source: join(dir, 'l'), imagesDir, name: 'lin1' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  clusters.clear();
  await fx?.close();
  fx = undefined;
});

/** The file source the server runs, on the fixture's store and tokens; phone-home port `port`. */
function source(f: Fixture, port: number): DefaultBootFileSource {
  return new DefaultBootFileSource({
    tftpRoot: join(dir, 'tftp'),
    loaderDirs: [],
    pxelinuxCfgDir: join(dir, 'pxelinux.cfg'),
    images: new ImageLibrary(imagesDir),
    hosts: f.store.hosts,
    tokens: f.tokens,
    clusters: (u) => clusters.get(u),
    unknownHosts: 'menu',
    serverAddress: '127.0.0.1',
    httpPort: 8080,
    initiatorPort: port,
    kickstartInstall: () => ({ rootpw: '$6$fixture$hash', firstdisk: 'local', overwritevmfs: false }),
    log: silentLogger,
  });
}
const tftp = (addr: string): BootRequestContext => ({ protocol: 'tftp', clientAddress: addr, requestId: 't' });
function bytes(f: BootFile | null): Buffer {
  if (!f) throw new Error('expected a file');
  return f.kind === 'rendered' ? f.data : readFileSync(f.path);
}

/** Writes executable stub scripts into a fresh directory; returns it (for PATH). */
function bin(name: string, scripts: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [file, body] of Object.entries(scripts)) {
    writeFileSync(join(d, file), `#!/bin/sh\n${body}\n`);
    chmodSync(join(d, file), 0o755);
  }
  return d;
}

/** `esxcli network ip interface list` of a host whose vmk0 sits on the boot NIC. */
const INTERFACES = [
  'vmk0',
  '   Name: vmk0',
  `   MAC Address: ${MAC}`,
  '   Enabled: true',
  '   Portset: vSwitch0',
  '   Portgroup: Management Network',
].join('\n');

/** `esxcli` and `vsish` as initiator.py calls them; vsish prints `bootCmdLine`. */
function esxiTools(name: string, bootCmdLine: string): Record<string, string> {
  writeFileSync(join(dir, `${name}.platform`), PLATFORM + '\n');
  writeFileSync(join(dir, `${name}.interfaces`), INTERFACES + '\n');
  writeFileSync(join(dir, `${name}.cmdline`), bootCmdLine + '\n');
  return {
    esxcli:
      `[ "$*" = "hardware platform get" ] && exec cat '${join(dir, `${name}.platform`)}'\n` +
      `[ "$*" = "network ip interface list" ] && exec cat '${join(dir, `${name}.interfaces`)}'\nexit 1`,
    vsish: `[ "$*" = "-e get /system/bootCmdLine" ] && exec cat '${join(dir, `${name}.cmdline`)}'\nexit 1`,
  };
}

async function sh(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec('busybox', ['sh', script], { env, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') throw new Error('busybox is missing: run scripts/install-test-deps', { cause: e });
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? err.message,
    };
  }
}

/** Unpacks a bundle with the real tar into a fresh directory (the host's `/`). */
async function unpack(name: string, bundle: Buffer): Promise<string> {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(dir, `${name}.tgz`), bundle);
  await exec('tar', ['-xzf', join(dir, `${name}.tgz`), '-C', root]);
  return root;
}

describe('stateless ESXi: the sxinit.tgz boot module', () => {
  it('is a gzip tar of initiator.py (0644) and the rc.local.d hook (0755), root-owned, served alike over TFTP and HTTP', async () => {
    fx = await startFixture();
    const src = source(fx, fx.port);
    const viaTftp = bytes(await src.resolve('esx1/sxinit.tgz', tftp('127.0.0.2')));
    const app = Fastify({ logger: false });
    await app.register(bootHttpPlugin, { source: src });
    const r = await app.inject({ url: '/boot/esx1/sxinit.tgz' });
    await app.close();
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/gzip');
    expect(r.rawPayload.equals(viaTftp)).toBe(true);
    // Built once per process: the same bytes (and so the same ETag) from a second source.
    expect(bytes(await source(fx, fx.port).resolve('esx1/sxinit.tgz', tftp('127.0.0.3'))).equals(viaTftp)).toBe(true);

    writeFileSync(join(dir, 'list.tgz'), viaTftp);
    const { stdout } = await exec('tar', ['-tzvf', join(dir, 'list.tgz')], { env: { ...process.env, TZ: 'UTC' } });
    const entries = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    expect(entries.map((e) => [e[0], e[1], e[5]])).toEqual([
      ['-rw-r--r--', 'root/root', 'opt/statelesx/initiator.py'],
      ['-rwxr-xr-x', 'root/root', 'etc/rc.local.d/99.statelesx-initiator.sh'],
    ]);
    expect(entries[0]![2]).toBe(String(PY.length));
    const root = await unpack('contents', viaTftp);
    expect(readFileSync(join(root, 'opt/statelesx/initiator.py')).equals(PY)).toBe(true);
    expect(await src.resolve('lin1/sxinit.tgz', tftp('127.0.0.2'))).toBeNull();
  });

  it('the hook starts `python /opt/statelesx/initiator.py` in the background, stdin /dev/null, output to the log', async () => {
    fx = await startFixture();
    const root = await unpack('hook', bytes(await source(fx, fx.port).resolve('esx1/sxinit.tgz', tftp('127.0.0.2'))));
    const rec = join(dir, 'hook.rec');
    const release = join(dir, 'hook.release');
    const log = join(dir, 'hook.log');
    // The stub records its arguments and stdin, then blocks until released: the hook must not wait for it.
    const path = bin('hook-bin', {
      python:
        `printf '%s\\n' "$@" > '${rec}.tmp'; cat >> '${rec}.tmp'; echo stdin-end >> '${rec}.tmp'; mv '${rec}.tmp' '${rec}'\n` +
        `i=0; while [ ! -e '${release}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\necho 'initiator output'; echo 'initiator error' >&2`,
    });
    const r = await sh(join(root, 'etc/rc.local.d/99.statelesx-initiator.sh'), {
      PATH: `${path}:/usr/bin:/bin`,
      STATELESX_INITIATOR_LOG: log,
    });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    await waitFor('the python stub to start', () => existsSync(rec), 10_000);
    expect(existsSync(log) ? readFileSync(log, 'utf8') : '').toBe(''); // still blocked: the hook returned first
    expect(readFileSync(rec, 'utf8')).toBe('/opt/statelesx/initiator.py\nstdin-end\n');
    writeFileSync(release, '');
    await waitFor('the log', () => existsSync(log) && readFileSync(log, 'utf8').includes('initiator error'), 10_000);
    expect(readFileSync(log, 'utf8')).toBe('initiator output\ninitiator error\n');
    // Without the override the log is ESXi's /var/log.
    expect(readFileSync(join(root, 'etc/rc.local.d/99.statelesx-initiator.sh'), 'utf8')).toContain(
      `\${STATELESX_INITIATOR_LOG:-${INITIATOR_LOG}}`,
    );
  });

  it('boot.cfg → sxinit.tgz → hook → initiator.py phones home with the boot.cfg token → configure job', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'lab', fqdn: 'esx-01.lab' });
    await fx.store.hosts.setImagePin(U, 'esx1');
    const src = source(fx, fx.port);
    const addr = '127.0.0.9';
    // pxelinux asks its config by UUID (wire order), then mboot.c32 asks the image's boot.cfg.
    expect(bytes(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(U)}`, tftp(addr))).toString()).toContain(
      'APPEND -c esx1/boot.cfg',
    );
    const cfg = parseBootCfg(bytes(await src.resolve('esx1/boot.cfg', tftp(addr))).toString());
    expect(cfg.modules).toEqual(['jumpstrt.gz', 'k.b00', 'sxinit.tgz']);
    expect(cfg.kernelopt).toMatch(/^statelesx\.token=\S{22} /);
    // mboot fetches each module as <prefix>/<module>.
    const root = await unpack('e2e', bytes(await src.resolve(`${cfg.prefix}/${cfg.modules[2]}`, tftp(addr))));
    // VMkernel's boot command line: kernelopt, plus BOOTIF from pxelinux IPAPPEND 2.
    const tools = esxiTools('e2e', `${cfg.kernelopt} BOOTIF=01-${MAC.replace(/:/g, '-')}`);
    const path = bin('e2e-bin', {
      ...tools,
      python: `case "$1" in /opt/*) f='${root}'"$1"; shift; exec python3 "$f" "$@";; esac\nexec python3 "$@"`,
    });
    const log = join(dir, 'e2e.log');
    const r = await sh(join(root, 'etc/rc.local.d/99.statelesx-initiator.sh'), {
      PATH: `${path}:${process.env['PATH']}`,
      STATELESX_INITIATOR_LOG: log,
      STATELESX_HOSTNAME: 'esx-01.lab',
    });
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      'the initiator to phone home',
      () => existsSync(log) && readFileSync(log, 'utf8').includes('phoned home'),
      30_000,
    );
    expect(readFileSync(log, 'utf8')).toContain('configure job job-1');
    expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
    expect(await fx.store.hosts.get(U)).toMatchObject({
      hostname: 'esx-01.lab', // the FQDN as sent (issue 19: initiators send the fully qualified name)
      macs: [MAC],
      model: 'VMware7,1',
      state: 'configuring',
    });
    expect((await fx.store.hosts.get(U))!.evidence).toMatchObject({
      initiatorVersion: 'initiator.py/1.0',
      verifiedBy: 'token',
    });
  });
});

describe('stateful ESXi: the kickstart %firstboot section', () => {
  it('writes initiator.py, which sends a line the listener parses and accepts with the ks.cfg token', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'lab', fqdn: 'esx-01.lab' });
    await fx.store.hosts.upsertSighting({ uuid: U, at: Date.now(), mac: MAC });
    clusters.set(U, { cluster: 'lab', defaultImage: 'esx1', stateful: true });
    // A capture server stands in for the listener so the exact line can be checked, then replayed.
    const lines: Buffer[] = [];
    const capture: Server = createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        lines.push(Buffer.concat(chunks));
        s.end('UNREGISTERED\n');
      });
    });
    await new Promise<void>((r) => capture.listen(0, '127.0.0.1', r));
    try {
      const src = source(fx, (capture.address() as { port: number }).port);
      const cfg = parseBootCfg(
        bytes(await src.resolve(`01-${MAC.replace(/:/g, '-')}/boot.cfg`, tftp('127.0.0.10'))).toString(),
      );
      expect(cfg.kernelopt).toContain(`ks=http://127.0.0.1:8080/boot/hosts/${U}/ks.cfg`);
      expect(cfg.modules).not.toContain('sxinit.tgz'); // the installer boot: no bundle
      const ks = bytes(await src.resolve(`hosts/${U}/ks.cfg`, { ...tftp('127.0.0.10'), protocol: 'http' })).toString();
      const host = join(dir, 'fb-host');
      mkdirSync(join(host, 'tmp'), { recursive: true });
      mkdirSync(join(host, 'var/log'), { recursive: true });
      const section = ks
        .slice(ks.indexOf('%firstboot --interpreter=busybox\n'))
        .split(FIRSTBOOT_INITIATOR)
        .join(join(host, FIRSTBOOT_INITIATOR))
        .split(FIRSTBOOT_CMDLINE)
        .join(join(host, FIRSTBOOT_CMDLINE))
        .split(INITIATOR_LOG)
        .join(join(host, INITIATOR_LOG));
      // The first line (%firstboot …) is the kickstart command, not shell: the installer strips it.
      writeFileSync(join(dir, 'firstboot.sh'), section.slice(section.indexOf('\n') + 1));
      // ks.cfg is asked by UUID: no boot MAC is known, so initiator.py reports vmk0's.
      expect(ks).toMatch(
        /^echo 'statelesx\.server=127\.0\.0\.1:\d+ statelesx\.token=[\w-]{22}' > \/tmp\/statelesx-cmdline$/m,
      );
      // First boot from disk: the disk's boot.cfg kernelopt has no statelesx arguments.
      const path = bin('fb-bin', { ...esxiTools('fb', 'autoPartition=FALSE'), python: 'exec python3 "$@"' });
      const r = await sh(join(dir, 'firstboot.sh'), {
        PATH: `${path}:${process.env['PATH']}`,
        STATELESX_HOSTNAME: 'esx-01',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(host, INITIATOR_LOG), 'utf8')).toContain('not in any cluster yet');
      expect(readFileSync(join(host, FIRSTBOOT_INITIATOR)).equals(PY)).toBe(true);
      expect(existsSync(join(host, FIRSTBOOT_CMDLINE))).toBe(false); // the token does not stay on disk
      expect(lines).toHaveLength(1);
      const parsed = parsePhoneHomeLine(lines[0]!);
      if (!parsed.ok) throw new Error(`listener would answer ERR ${parsed.reason}: ${parsed.detail}`);
      expect(parsed.message).toMatchObject({
        form: 'extension',
        hostname: 'esx-01',
        macs: [MAC],
        model: 'VMware7,1',
        version: 'initiator.py/1.0',
      });
      expect(parsed.message.uuid.smbios).toBe(U);
      expect(parsed.message.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
      // The same line to the real listener: accepted, token verified, job queued.
      expect(await exchange(fx.port, lines[0]!)).toBe('OK job-1\n');
      expect((await fx.store.hosts.get(U))!.evidence).toMatchObject({ verifiedBy: 'token' });
    } finally {
      await new Promise((r) => capture.close(r));
    }
  });
});
