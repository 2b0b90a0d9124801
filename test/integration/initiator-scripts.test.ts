/**
 * The host-side initiators run for real against the listener on 127.0.0.1:
 * - scripts/initiator.sh under `busybox sh` (busybox nc), with a fake /proc/cmdline file and a
 *   fake /sys tree (the synthetic test image's init does the same with the real ones);
 * - scripts/initiator.py under python3, with `esxcli` and `vsish` replaced by small stub scripts
 *   on PATH. The `esxcli hardware platform get` outputs the stub prints are recorded real
 *   outputs published online: an ESXi 7 host in a VM (Product Name VMware7,1) and an ESXi 5.0
 *   Cisco UCS B200 blade (unpadded bytes such as `0x4`, `0x0`). The vsish stub prints a plain
 *   boot command line (the way kickstart %pre scripts read `vsish -e get /system/bootCmdLine`).
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { startFixture, type Fixture } from '../helpers/initiator-fixture.js';

const exec = promisify(execFile);
const SH = resolve('scripts/initiator.sh');
const PY = resolve('scripts/initiator.py');

interface RunResult {
  code: number;
  stderr: string;
}
async function run(cmd: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  try {
    const r = await exec(cmd, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stderr?: string; message: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is missing: run scripts/install-test-deps`, { cause: e });
    return { code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? err.message };
  }
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

let dir: string;
let fx: Fixture | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-initiator-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** A fake sysfs root with SMBIOS attributes and one NIC. */
function fakeSysfs(name: string, uuid: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'sys/class/dmi/id'), { recursive: true });
  mkdirSync(join(root, 'sys/class/net/lo'), { recursive: true });
  mkdirSync(join(root, 'sys/class/net/eth0'), { recursive: true });
  writeFileSync(join(root, 'sys/class/dmi/id/product_uuid'), `${uuid}\n`);
  writeFileSync(join(root, 'sys/class/dmi/id/product_serial'), 'SX 0001=A%\n');
  writeFileSync(join(root, 'sys/class/dmi/id/sys_vendor'), 'QEMU\n');
  writeFileSync(join(root, 'sys/class/dmi/id/product_name'), 'Standard PC (i440FX + PIIX, 1996)\n');
  writeFileSync(join(root, 'sys/class/net/lo/address'), '00:00:00:00:00:00\n');
  writeFileSync(join(root, 'sys/class/net/eth0/address'), '52:54:00:ab:cd:ef\n');
  return root;
}

describe('scripts/initiator.sh (busybox sh + nc)', () => {
  const U = '8a0f7b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b';

  it('phones home with the token and BOOTIF from the kernel command line → OK', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'lab', fqdn: 'sx-test-01.lab' });
    const token = await fx.tokens.issue(U);
    const root = fakeSysfs('sh-ok', U.toUpperCase());
    const cmdline = join(dir, 'cmdline-ok');
    writeFileSync(
      cmdline,
      `console=ttyS0 BOOTIF=01-52-54-00-12-34-56 statelesx.server=127.0.0.1:${fx.port} statelesx.token=${token} quiet\n`,
    );
    const r = await run('busybox', ['sh', SH], {
      STATELESX_CMDLINE: cmdline,
      STATELESX_SYSFS: root,
      STATELESX_HOSTNAME: 'sx-test-01',
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stderr).toContain('configure job job-1');
    expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
    expect(await fx.store.hosts.get(U)).toMatchObject({
      hostname: 'sx-test-01',
      macs: ['52:54:00:12:34:56'],
      serial: 'SX 0001=A%',
      vendor: 'QEMU',
      model: 'Standard PC (i440FX + PIIX, 1996)',
      state: 'configuring',
    });
    expect((await fx.store.hosts.get(U))!.evidence).toMatchObject({
      initiatorVersion: 'initiator.sh/1.0',
      verifiedBy: 'token',
      phoneHome: { form: 'extension' },
    });
  });

  it('an unknown host without token is listed as unregistered (MAC from the first NIC) and exits 0', async () => {
    fx = await startFixture();
    const root = fakeSysfs('sh-unreg', U);
    const cmdline = join(dir, 'cmdline-unreg');
    writeFileSync(cmdline, `console=ttyS0 statelesx.server=127.0.0.1:${fx.port}\n`);
    const r = await run('busybox', ['sh', SH], {
      STATELESX_CMDLINE: cmdline,
      STATELESX_SYSFS: root,
      STATELESX_HOSTNAME: 'sx-test-02',
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stderr).toContain('unregistered');
    expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'unregistered', hostname: 'sx-test-02' });
    expect((await fx.store.hosts.get(U))!.evidence['claimedMacs']).toEqual(['52:54:00:ab:cd:ef']);
  });

  it('sends the FQDN: `hostname` plus the domain DHCP wrote to resolv.conf; drops a name that is not RFC 1123', async () => {
    fx = await startFixture();
    const root = fakeSysfs('sh-fqdn', U);
    const bin = join(dir, 'sh-fqdn-bin');
    mkdirSync(bin, { recursive: true });
    const hostnameStub = (name: string) => {
      writeFileSync(join(bin, 'hostname'), `#!/bin/sh\necho '${name}'\n`);
      chmodSync(join(bin, 'hostname'), 0o755);
    };
    const resolvConf = join(dir, 'sh-fqdn-resolv.conf');
    writeFileSync(resolvConf, 'nameserver 10.0.0.53\nsearch Lab.Example corp.example\n');
    const cmdline = join(dir, 'cmdline-fqdn');
    writeFileSync(cmdline, `statelesx.server=127.0.0.1:${fx.port}\n`);
    const env = { PATH: `${bin}:${process.env['PATH']}`, STATELESX_CMDLINE: cmdline, STATELESX_SYSFS: root };
    hostnameStub('ESX-07');
    const r = await run('busybox', ['sh', SH], { ...env, STATELESX_RESOLV_CONF: resolvConf });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'unregistered', hostname: 'esx-07.lab.example' });
    expect(await fx.store.hostBoots.get(U)).toMatchObject({ hostname: 'esx-07.lab.example' });
    // `domain` wins over `search`
    writeFileSync(resolvConf, 'search corp.example\ndomain rack2.example\n');
    await run('busybox', ['sh', SH], { ...env, STATELESX_RESOLV_CONF: resolvConf });
    expect(await fx.store.hosts.get(U)).toMatchObject({ hostname: 'esx-07.rack2.example' });
    // not RFC 1123: left out (the message is accepted without it; the host keeps its name)
    await fx.close();
    fx = await startFixture();
    writeFileSync(cmdline, `statelesx.server=127.0.0.1:${fx.port}\n`);
    hostnameStub('esx_07;rm');
    const bad = await run('busybox', ['sh', SH], { ...env, STATELESX_RESOLV_CONF: resolvConf });
    expect(bad, bad.stderr).toMatchObject({ code: 0 });
    expect(bad.stderr).toContain('is not an RFC 1123 name');
    expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'unregistered', hostname: null });
  });

  it('exits 3 when refused (known host, no token) and 1 after its retries when nobody listens', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'lab', fqdn: 'sx-test-01.lab' });
    const root = fakeSysfs('sh-refused', U);
    const r = await run('busybox', ['sh', SH], {
      STATELESX_SERVER: `127.0.0.1:${fx.port}`,
      STATELESX_CMDLINE: '/nonexistent',
      STATELESX_SYSFS: root,
      STATELESX_HOSTNAME: 'h',
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('token-missing');
    const down = await run('busybox', ['sh', SH], {
      STATELESX_SERVER: `127.0.0.1:${await closedPort()}`,
      STATELESX_CMDLINE: '/nonexistent',
      STATELESX_SYSFS: root,
      STATELESX_RETRIES: '2',
      STATELESX_BACKOFF_MAX: '1',
    });
    expect(down.code, down.stderr).toBe(1);
    expect(down.stderr).toContain('giving up after 2 attempts');
  });
});

describe('scripts/initiator.py (ESXi Python 3, esxcli/vsish stubbed)', () => {
  // Recorded `esxcli hardware platform get` output, ESXi 7 host running as a VM.
  const ESXI7 = [
    'Platform Information',
    '   UUID: 0x27 0xa8 0x30 0x42 0xa3 0xf9 0x54 0xcf 0xe2 0xa3 0x10 0x1d 0xfd 0xb8 0x21 0xd0',
    '   Product Name: VMware7,1',
    '   Vendor Name: VMware, Inc.',
    '   Serial Number: VMware-42 30 a8 27 f9 a3 cf 54-e2 a3 10 1d fd b8 21 d0',
    '   Enclosure Serial Number: None',
    '   BIOS Asset Tag: No Asset Tag',
    '   IPMI Supported: false',
  ].join('\n');
  // Recorded output, ESXi 5.0 on a Cisco UCS B200 blade: bytes are printed without padding.
  const UCS = [
    'Platform Information',
    '   UUID: 0x74 0xd3 0x36 0x4 0x3c 0xe7 0x11 0xdf 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x11',
    '   Product Name: N20-B6625-1',
    '   Vendor Name: Cisco Systems Inc',
    '   Serial Number: FCH1432V1HY',
    '   IPMI Supported: true',
  ].join('\n');

  /** `esxcli system hostname get` as ESXi 7/8 print it. */
  const hostnameGet = (host: string, domain: string, fqdn = `${host}.${domain}`): string =>
    [`   Domain Name: ${domain}`, `   Fully Qualified Domain Name: ${fqdn}`, `   Host Name: ${host}`].join('\n');

  function stubs(name: string, platformOutput: string, bootCmdLine: string, hostnameOutput?: string): string {
    const bin = join(dir, name);
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(dir, `${name}.platform`), platformOutput + '\n');
    writeFileSync(join(dir, `${name}.cmdline`), bootCmdLine + '\n');
    writeFileSync(join(dir, `${name}.hostname`), (hostnameOutput ?? '') + '\n');
    writeFileSync(
      join(bin, 'esxcli'),
      `#!/bin/sh\n[ "$*" = "hardware platform get" ] && exec cat '${join(dir, `${name}.platform`)}'\n` +
        (hostnameOutput === undefined
          ? ''
          : `[ "$*" = "system hostname get" ] && exec cat '${join(dir, `${name}.hostname`)}'\n`) +
        'exit 1\n',
    );
    writeFileSync(
      join(bin, 'vsish'),
      `#!/bin/sh\n[ "$*" = "-e get /system/bootCmdLine" ] && exec cat '${join(dir, `${name}.cmdline`)}'\nexit 1\n`,
    );
    chmodSync(join(bin, 'esxcli'), 0o755);
    chmodSync(join(bin, 'vsish'), 0o755);
    return bin;
  }

  it('sends the hardware UUID, serial, vendor, model, boot MAC and token → OK', async () => {
    fx = await startFixture();
    const U = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
    fx.declared.set(U, { cluster: 'lab', fqdn: 'comp-01a.lab' });
    const token = await fx.tokens.issue(U);
    const bin = stubs(
      'py-ok',
      ESXI7,
      `BOOTIF=01-00-50-56-b0-1c-2d statelesx.server=127.0.0.1:${fx.port} statelesx.token=${token}`,
    );
    const r = await run('python3', [PY], {
      PATH: `${bin}:${process.env['PATH']}`,
      STATELESX_HOSTNAME: 'comp-01a.lab.example',
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
    expect(await fx.store.hosts.get(U)).toMatchObject({
      // issue 19: the fully qualified name as given (it was cut to the short name `comp-01a`)
      hostname: 'comp-01a.lab.example',
      serial: 'VMware-42 30 a8 27 f9 a3 cf 54-e2 a3 10 1d fd b8 21 d0',
      vendor: 'VMware, Inc.',
      model: 'VMware7,1',
      macs: ['00:50:56:b0:1c:2d'],
    });
    expect((await fx.store.hosts.get(U))!.evidence['initiatorVersion']).toBe('initiator.py/1.0');
  });

  it("sends the SHA-256 and SHA-1 thumbprints of the host's certificate; recorded for this boot", async () => {
    fx = await startFixture();
    const U = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
    fx.declared.set(U, { cluster: 'lab', fqdn: 'comp-01a.lab' });
    const token = await fx.tokens.issue(U);
    const bin = stubs('py-cert', ESXI7, `statelesx.server=127.0.0.1:${fx.port} statelesx.token=${token}`);
    await exec('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'rui.key'),
      '-out',
      join(dir, 'rui.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=comp-01a.lab',
    ]);
    const der = new X509Certificate(readFileSync(join(dir, 'rui.crt'))).raw;
    const hex = (alg: string) => createHash(alg).update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
    const r = await run('python3', [PY, '--retries', '1'], {
      PATH: `${bin}:${process.env['PATH']}`,
      STATELESX_CERT: join(dir, 'rui.crt'),
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(await fx.store.hostBoots.get(U)).toMatchObject({
      verifiedBy: 'token',
      thumbprint: hex('sha256'),
      thumbprintSha1: hex('sha1'),
    });
  });

  it('sends the FQDN from `esxcli system hostname get`; it is recorded for the unregistered host and this boot', async () => {
    fx = await startFixture();
    const bin = stubs(
      'py-fqdn',
      UCS,
      `statelesx.server=127.0.0.1:${fx.port}`,
      hostnameGet('P1-B200-64', 'Rack4.Example.com'),
    );
    const r = await run('python3', [PY, '--retries', '1'], { PATH: `${bin}:${process.env['PATH']}` });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    const U = '74d33604-3ce7-11df-0000-000000000011';
    expect(await fx.store.hosts.get(U)).toMatchObject({
      state: 'unregistered',
      hostname: 'p1-b200-64.rack4.example.com',
    });
    expect(await fx.store.hostBoots.get(U)).toMatchObject({ hostname: 'p1-b200-64.rack4.example.com' });
  });

  it('without an FQDN line joins Host Name and Domain Name; a name that is not RFC 1123 is left out, not refused', async () => {
    fx = await startFixture();
    const U = '74d33604-3ce7-11df-0000-000000000011';
    const joined = stubs(
      'py-fqdn-joined',
      UCS,
      `statelesx.server=127.0.0.1:${fx.port}`,
      ['   Domain Name: lab.example', '   Host Name: esx-11'].join('\n'),
    );
    expect((await run('python3', [PY, '--retries', '1'], { PATH: `${joined}:${process.env['PATH']}` })).code).toBe(0);
    expect(await fx.store.hosts.get(U)).toMatchObject({ hostname: 'esx-11.lab.example' });
    await fx.close();
    fx = await startFixture();
    const bad = stubs(
      'py-fqdn-bad',
      UCS,
      `statelesx.server=127.0.0.1:${fx.port}`,
      hostnameGet('esx_11', 'lab.example'),
    );
    const r = await run('python3', [PY, '--retries', '1'], { PATH: `${bad}:${process.env['PATH']}` });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stderr).toContain("host name 'esx_11.lab.example' is not an RFC 1123 name");
    expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'unregistered', hostname: null });
  });

  it('reads unpadded UUID bytes (0x4, 0x0) and is listed as unregistered without a token', async () => {
    fx = await startFixture();
    const bin = stubs('py-ucs', UCS, `statelesx.server=127.0.0.1:${fx.port}`);
    const r = await run('python3', [PY, '--retries', '1'], {
      PATH: `${bin}:${process.env['PATH']}`,
      STATELESX_HOSTNAME: 'p1-b200-64',
    });
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(await fx.store.hosts.get('74d33604-3ce7-11df-0000-000000000011')).toMatchObject({
      state: 'unregistered',
      hostname: 'p1-b200-64',
      serial: 'FCH1432V1HY',
      vendor: 'Cisco Systems Inc',
      model: 'N20-B6625-1',
    });
  });

  it('retries with a growing backoff (ERR busy, then a connection closed without answer) and succeeds once the server answers', async () => {
    fx = await startFixture();
    const U = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
    fx.declared.set(U, { cluster: 'lab', fqdn: 'comp-01a.lab' });
    const token = await fx.tokens.issue(U);
    // A front on its own port: the 1st connection gets `ERR busy` (the listener's limit answer),
    // the 2nd is closed after the message without an answer, the 3rd is passed to the real listener.
    const upstream = fx.port;
    const attempts: number[] = [];
    const sockets: Socket[] = [];
    const front = createServer({ allowHalfOpen: true }, (sock) => {
      attempts.push(performance.now());
      sockets.push(sock);
      sock.on('error', () => undefined);
      const n = attempts.length;
      if (n === 1) {
        sock.resume(); // read the message (and its end) so the socket closes
        sock.end('ERR busy\n');
      } else if (n === 2) {
        sock.once('data', () => sock.destroy());
      } else {
        const up = connect({ host: '127.0.0.1', port: upstream });
        up.on('error', () => sock.destroy());
        sock.pipe(up);
        up.pipe(sock);
      }
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const port = (front.address() as { port: number }).port;
      const bin = stubs('py-retry', ESXI7, `statelesx.server=127.0.0.1:${port} statelesx.token=${token}`);
      const r = await run('python3', [PY, '--retries', '4', '--timeout', '5'], {
        PATH: `${bin}:${process.env['PATH']}`,
        STATELESX_HOSTNAME: 'comp-01a',
      });
      expect(r, r.stderr).toMatchObject({ code: 0 });
      expect(r.stderr).toContain("attempt 1: server answered 'ERR busy'; retrying");
      expect(r.stderr).toContain('configure job job-1');
      expect(attempts).toHaveLength(3);
      // backoff: 1 s after the first attempt, then 2 s (doubling, capped by --backoff-max)
      const gaps = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
      expect(gaps[0]).toBeGreaterThanOrEqual(900);
      expect(gaps[0]).toBeLessThan(1800);
      expect(gaps[1]).toBeGreaterThanOrEqual(1800);
      expect(gaps[1]! / gaps[0]!).toBeGreaterThan(1.5);
      expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
      expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'configuring', hostname: 'comp-01a' });
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => front.close(r));
    }
  }, 20_000);

  it('exits 3 on a refusal and 2 without a server', async () => {
    fx = await startFixture();
    const U = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
    fx.declared.set(U, { cluster: 'lab', fqdn: 'comp-01a.lab' });
    const bin = stubs(
      'py-refused',
      ESXI7,
      `statelesx.server=127.0.0.1:${fx.port} statelesx.token=AAAAAAAAAAAAAAAAAAAAAA`,
    );
    const r = await run('python3', [PY], { PATH: `${bin}:${process.env['PATH']}`, STATELESX_HOSTNAME: 'x' });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('token-unknown');
    const none = stubs('py-none', ESXI7, 'vmkopts=debugLogToSerial:1');
    expect((await run('python3', [PY], { PATH: `${none}:${process.env['PATH']}` })).code).toBe(2);
  });
});
