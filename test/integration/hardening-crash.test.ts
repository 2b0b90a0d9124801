/**
 * Crash and fault tests (real processes, kill -9, private mount namespaces):
 * - kill -9 of the DHCP service in the middle of a lease storm: the SQLite file passes
 *   `PRAGMA integrity_check`, every lease the server ACKed is in it, bound to that MAC, and after a
 *   restart each of those clients is offered its address again;
 * - kill -9 during an image import, then a server start over the same images directory: no image
 *   (and nothing under /boot/) shows the half import;
 * - kill -9 of the real `statelesx serve` (built CLI) in the middle of an image import started
 *   through POST /api/v1/images/import: after a restart no half image is listed or on disk, the
 *   staging directory (seen before the kill) is gone, and the store passes `PRAGMA integrity_check`;
 * - the data directory is a file, or on a read-only file system, at start: exit code 1 with a
 *   message naming the directory, nothing written;
 * - disk full data directory (a 512 KiB tmpfs with 0/16/96 KiB free) at `statelesx serve` start:
 *   exit ≠ 0, a message naming the directory and ENOSPC, no partial database or lock file;
 * - disk full (a 2 MiB tmpfs) during an image import (ISO and directory): a clear error naming the
 *   images directory and ENOSPC, nothing left in it.
 * Already covered elsewhere (not repeated here): kill -9 mid cluster job with resume —
 * test/integration/engine-resume.test.ts; kill -9 of `image import` itself and stale temp cleanup —
 * test/integration/images-import.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { MessageType, Opt, decodePacket, ipBytes, ipToInt } from '../../src/boot/dhcp/packet.js';
import { clientPacket } from '../helpers/dhcp-harness.js';
import { startHardenedServer } from '../helpers/hardening-server.js';
import { createUsers, killServe, login, serveDirs, spawnServe, stopServe } from '../helpers/serve.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-harden-crash-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function need(bin: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
    throw new Error(`${bin} is missing: run scripts/install-test-deps (Debian package ${pkg})`);
}

/** Starts the DHCP child; resolves with its process and server port. */
async function startDhcpChild(dataDir: string, clientPort: number): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/helpers/hardening-dhcp-child.ts'), JSON.stringify({ dataDir, clientPort })],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`DHCP child not ready in 20 s: ${err}`));
    }, 20_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res(Number(m[1]));
      }
    });
    proc.once('exit', (c) => {
      clearTimeout(t);
      rej(new Error(`DHCP child exited ${c}: ${err}`));
    });
  });
  return { proc, port };
}

function killed(proc: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      r();
      return;
    }
    proc.once('exit', () => r());
    proc.kill('SIGKILL');
  });
}

const macOf = (i: number) =>
  `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

function packet(i: number, type: number, extra: Array<[number, Buffer]> = []): Buffer {
  return clientPacket(type, macOf(i), extra, { xid: 0x7000_0000 + i });
}

describe('kill -9 during DHCP lease writes', () => {
  it('leaves an intact lease file holding every ACKed lease; after restart clients get their address again', async () => {
    const dataDir = join(dir, 'dhcp-data');
    const sock: Socket = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => sock.bind({ address: '0.0.0.0', port: 0 }, () => r()));
    const clientPort = sock.address().port;
    let child = await startDhcpChild(dataDir, clientPort);
    const acked = new Map<string, string>();
    let port = child.port;
    let killAt = 300;
    let done: () => void = () => undefined;
    const killedP = new Promise<void>((r) => (done = r));
    sock.on('message', (msg) => {
      let p;
      try {
        p = decodePacket(msg);
      } catch {
        return;
      }
      if (p.op !== 2) return;
      const i = p.xid - 0x7000_0000;
      const type = p.options.get(Opt.MESSAGE_TYPE)?.[0];
      if (type === MessageType.OFFER) {
        sock.send(
          packet(i, MessageType.REQUEST, [
            [Opt.SERVER_ID, ipBytes('127.0.0.1')],
            [Opt.REQUESTED_ADDRESS, ipBytes(p.yiaddr)],
          ]),
          port,
          '127.0.0.1',
        );
      } else if (type === MessageType.ACK) {
        acked.set(macOf(i), p.yiaddr);
        if (acked.size === killAt) {
          // kill while DISCOVERs and REQUESTs are still in flight
          child.proc.kill('SIGKILL');
          done();
        }
      }
    });
    // a storm of new clients, 20 in flight per tick, until the kill
    let i = 0;
    let stop = false;
    void killedP.then(() => {
      stop = true;
    });
    const deadline = Date.now() + 30_000;
    while (!stop && Date.now() < deadline) {
      for (let k = 0; k < 20; k++) sock.send(packet(++i, MessageType.DISCOVER), port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(stop, `only ${acked.size} ACKs before the deadline`).toBe(true);
    await killed(child.proc);
    expect(child.proc.signalCode).toBe('SIGKILL');
    const ackedNow = new Map(acked);
    killAt = -1;

    // the file after the crash, opened read-only by a fresh connection (it replays the WAL)
    const db = new Database(join(dataDir, 'statelesx.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db.prepare('SELECT address, mac, state FROM dhcp_leases').all() as Array<{
        address: string;
        mac: string;
        state: string;
      }>;
      const byAddr = new Map(rows.map((r) => [r.address, r]));
      for (const [mac, ip] of ackedNow)
        expect(byAddr.get(ip), `ACKed lease ${ip} for ${mac}`).toMatchObject({ mac, state: 'bound' });
      const boundMacs = rows.filter((r) => r.state === 'bound').map((r) => r.mac);
      expect(new Set(boundMacs).size, 'a MAC holds two bound leases').toBe(boundMacs.length);
      for (const r of rows) {
        const n = ipToInt(r.address);
        expect(n >= ipToInt('127.0.1.0') && n <= ipToInt('127.0.200.255'), r.address).toBe(true);
      }
    } finally {
      db.close();
    }

    // restart on the same file: the ACKed clients are offered their own address again
    child = await startDhcpChild(dataDir, clientPort);
    port = child.port;
    const sample = [...ackedNow].filter((_, k) => k % 15 === 0);
    const offers = new Map<string, string>();
    sock.removeAllListeners('message');
    sock.on('message', (msg) => {
      let p;
      try {
        p = decodePacket(msg);
      } catch {
        return;
      }
      if (p.op === 2 && p.options.get(Opt.MESSAGE_TYPE)?.[0] === MessageType.OFFER)
        offers.set(macOf(p.xid - 0x7000_0000), p.yiaddr);
    });
    const indexOf = (mac: string) => parseInt(mac.split(':').slice(3).join(''), 16);
    for (let round = 0; round < 5 && offers.size < sample.length; round++) {
      for (const [mac] of sample)
        if (!offers.has(mac)) sock.send(packet(indexOf(mac), MessageType.DISCOVER), port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 300));
    }
    await killed(child.proc);
    sock.close();
    expect(Object.fromEntries(offers)).toEqual(Object.fromEntries(sample));
  }, 90_000);
});

describe('kill -9 during an image import, then a server start', () => {
  it('shows no image and serves nothing of the half import', async () => {
    const base = join(dir, 'imp');
    const src = join(base, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'boot.cfg'), 'kernel=/b.b00\nmodules=/m0.v00\n');
    for (let k = 0; k < 1500; k++) writeFileSync(join(src, k === 0 ? 'b.b00' : `m${k - 1}.v00`), `f${k}`);
    const imagesDir = join(base, 'images');
    // stderr is not read: once the pipe fills, the CLI blocks mid-import and is killed there (as in images-import.test.ts)
    const child = spawn(TSX, ['src/cli/main.ts', 'image', 'import', src, '--name', 'half', '--images-dir', imagesDir], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('import never reached the copy phase')), 60_000);
      const onData = (d: Buffer) => {
        if (/^copy /m.test(d.toString())) {
          clearTimeout(t);
          child.stderr.off('data', onData);
          res();
        }
      };
      child.stderr.on('data', onData);
    });
    child.stderr.pause();
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('close', r));
    // The staging directory the kill left behind (its name, before the server start removes it).
    const staging = readdirSync(imagesDir).find((n) => n.startsWith('.import-'));
    expect(staging, 'the kill left no staging dir: it came too late').toBeDefined();
    expect(existsSync(join(imagesDir, staging!, 'image', 'boot.cfg'))).toBe(true);

    const sx = await startHardenedServer(base, { 'images-dir': imagesDir }, [['admin', 'admin-password-123', 'admin']]);
    try {
      const b = `http://127.0.0.1:${sx.httpPort}`;
      const pre = await fetch(`${b}/api/v1/session`);
      const cookie = pre.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const login = await fetch(`${b}/api/v1/session`, {
        method: 'POST',
        headers: {
          cookie,
          'content-type': 'application/json',
          'x-csrf-token': ((await pre.json()) as { csrfToken: string }).csrfToken,
        },
        body: JSON.stringify({ username: 'admin', password: 'admin-password-123' }),
      });
      expect(login.status).toBe(200);
      const session = login.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const list = await fetch(`${b}/api/v1/images`, { headers: { cookie: session } });
      expect(list.status).toBe(200);
      const body = (await list.json()) as { images?: Array<{ name: string }> } | Array<{ name: string }>;
      const names = (Array.isArray(body) ? body : (body.images ?? [])).map((x) => x.name);
      expect(names).toEqual([]);
      // The server start removed the dead importer's staging directory; nothing else is there.
      expect(existsSync(join(imagesDir, staging!))).toBe(false);
      expect(readdirSync(imagesDir)).toEqual([]);
      for (const p of [
        `/boot/${staging}/image/boot.cfg`,
        '/boot/half/boot.cfg',
        `/boot/images/${staging}/image/b.b00`,
      ]) {
        const r = await fetch(`${b}${p}`);
        expect([403, 404], `${p} → ${r.status}`).toContain(r.status);
      }
    } finally {
      await sx.close();
    }
  }, 120_000);
});

describe('kill -9 of `statelesx serve` during an image import started through the REST API', () => {
  it('after a restart: no half image listed or on disk, the staging directory removed, the store intact', async () => {
    const root = join(dir, 'serve-kill');
    const d = serveDirs(root);
    // A directory import slow enough to be caught mid-copy: 1200 files of 64 KiB (75 MiB).
    const src = join(root, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'boot.cfg'), 'kernel=/b.b00\nmodules=/m0.v00 --- /m1.v00\n');
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    for (let k = 0; k < 1200; k++) writeFileSync(join(src, k === 0 ? 'b.b00' : `m${k - 1}.v00`), chunk);
    await createUsers(d.data, [['admin', 'admin-password-123', 'admin']]);

    let sx = await spawnServe(root);
    let staging: string | undefined;
    try {
      const api = await login(sx.base, 'admin', 'admin-password-123');
      const started = await api.call('POST', '/api/v1/images/import', { source: src, name: 'half' });
      expect(started.status, await started.clone().text()).toBe(202);
      const { id } = (await started.json()) as { id: string };
      // Kill once the copy is under way: the staging directory exists and holds some copied files.
      const deadline = Date.now() + 60_000;
      for (;;) {
        staging = readdirSync(d.images).find((n) => n.startsWith('.import-'));
        // The import makes the staging directory first and its image/ subdirectory just after.
        const into = staging ? join(d.images, staging, 'image') : undefined;
        const copied = into && existsSync(into) ? readdirSync(into).length : 0;
        if (copied >= 20) break;
        const st = (await (await api.call('GET', `/api/v1/images/imports/${id}`)).json()) as {
          state: string;
          error: string | null;
        };
        expect(st.state, `import ended before the kill: ${st.error ?? ''}`).toBe('running');
        expect(Date.now(), 'the import never reached the copy phase').toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 10));
      }
      await killServe(sx);
    } finally {
      await killServe(sx);
    }
    expect(sx.proc.signalCode).toBe('SIGKILL');
    expect(staging, 'no staging directory before the kill').toBeDefined();
    expect(existsSync(join(d.images, staging!)), 'the staging directory vanished with the kill itself').toBe(true);
    expect(existsSync(join(d.images, 'half'))).toBe(false);

    sx = await spawnServe(root);
    try {
      const api = await login(sx.base, 'admin', 'admin-password-123');
      const list = await api.call('GET', '/api/v1/images');
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual([]);
      expect(existsSync(join(d.images, staging!)), `${staging} still in ${d.images} after the restart`).toBe(false);
      expect(readdirSync(d.images)).toEqual([]);
      for (const p of ['/boot/half/boot.cfg', `/boot/${staging!}/image/boot.cfg`, '/boot/half/b.b00']) {
        const r = await fetch(`${sx.bootBase}${p}`);
        expect([403, 404], `${p} → ${r.status}`).toContain(r.status);
      }
      // The same import through the restarted server completes: the kill left nothing in its way.
      const again = await api.call('POST', '/api/v1/images/import', { source: src, name: 'half' });
      expect(again.status).toBe(202);
      const { id } = (await again.json()) as { id: string };
      const st = await waitFor(
        `import ${id} to end`,
        async () => {
          const s = (await (await api.call('GET', `/api/v1/images/imports/${id}`)).json()) as {
            state: string;
            error: string | null;
          };
          return s.state !== 'running' && s;
        },
        90_000,
        200,
      );
      expect(st).toMatchObject({ state: 'succeeded', error: null });
      expect(readdirSync(d.images)).toEqual(['half']);
    } finally {
      await stopServe(sx);
    }
    const db = new Database(join(d.data, 'statelesx.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  }, 180_000);
});

/** Runs a shell script in a private mount namespace (mounts vanish with it). */
function inMountNs(
  script: string,
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('unwritable data directory at start', () => {
  beforeAll(() => {
    need('unshare', 'util-linux');
    if (process.getuid?.() !== 0)
      throw new Error('these tests need root (private mount namespaces): run as root after scripts/install-test-deps');
  });
  const serve = (dataDir: string) =>
    `${TSX} src/cli/main.ts serve --data-dir ${dataDir} --listen-address 127.0.0.1 --http-port 0 --boot-http-port 0 --tftp-port 0 --initiator-port 0 --images-dir ${join(dir, 'ro-images')} --clusters-dir ${join(dir, 'ro-clusters')} --tftp-root ${join(dir, 'ro-tftp')} --log-level warn`;

  it('a file where the data directory should be: exit 1, the message names the directory', () => {
    const f = join(dir, 'data-is-a-file');
    writeFileSync(f, 'not a directory');
    const r = spawnSync('sh', ['-c', `timeout 60 ${serve(f)}`], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(/not writable|ENOTDIR|EEXIST/);
  });

  it('a read-only file system (tmpfs mounted ro in a private mount namespace): exit 1, clear message, nothing written', () => {
    const d = join(dir, 'ro-data');
    mkdirSync(d, { recursive: true });
    const r = inMountNs(
      `mount -t tmpfs -o ro,size=1m sx-ro ${d} && timeout 60 ${serve(d)}; echo "EXIT=$?"; echo "FILES=$(ls -A ${d} | tr '\\n' ' ')"`,
    );
    expect(r.stdout, r.stderr).toMatch(/EXIT=1\b/);
    expect(r.stderr).toContain(d);
    expect(r.stderr).toMatch(/not writable.*(EROFS|EACCES)|read-only/i);
    expect(r.stdout).toMatch(/FILES=\s*$/m);
  });

  it('an existing store on a read-only bind mount: exit 1, clear message, the database file unchanged', async () => {
    const d = join(dir, 'ro-existing');
    const sx = await startHardenedServer(join(dir, 'ro-existing-base'), { 'data-dir': d }, [
      ['admin', 'admin-password-123', 'admin'],
    ]);
    await sx.close();
    const before = execFileSync('sha256sum', [join(d, 'statelesx.db')], { encoding: 'utf8' }).split(' ')[0];
    const r = inMountNs(
      `mount --bind ${d} ${d} && mount -o remount,bind,ro ${d} && timeout 60 ${serve(d)}; echo "EXIT=$?"`,
    );
    expect(r.stdout, r.stderr).toMatch(/EXIT=1\b/);
    expect(r.stderr).toContain(d);
    expect(execFileSync('sha256sum', [join(d, 'statelesx.db')], { encoding: 'utf8' }).split(' ')[0]).toBe(before);
  }, 90_000);
});

describe('disk full data directory at start (the real statelesx serve)', () => {
  beforeAll(() => {
    need('unshare', 'util-linux');
    if (process.getuid?.() !== 0)
      throw new Error('these tests need root (private mount namespaces): run as root after scripts/install-test-deps');
  });

  // 0 KiB free fails at the lock file; a few KiB at creating the database; more, mid-migration.
  it.each([0, 16, 96])(
    'a 512 KiB tmpfs with %i KiB free: exit ≠ 0, the message names the directory and ENOSPC, no partial database left',
    (freeKiB) => {
      const d = join(dir, `full-data-${freeKiB}`);
      mkdirSync(d, { recursive: true });
      const cli =
        `node ${join(ROOT, 'dist/cli/main.js')} serve --data-dir ${d} --listen-address 127.0.0.1 --http-port 0 --boot-http-port 0 --tftp-port 0 --initiator-port 0 ` +
        `--images-dir ${join(dir, 'full-images-x')} --tftp-root ${join(dir, 'full-tftp-x')} --clusters-dir ${join(dir, 'full-clusters-x')} --dhcp-mode off --log-level fatal`;
      const r = inMountNs(
        `mount -t tmpfs -o size=512k sx-full-data ${d} && dd if=/dev/zero of=${d}/fill bs=1k count=${512 - freeKiB} 2>/dev/null; ` +
          `echo "AVAIL=$(df --output=avail -k ${d} | tail -1 | tr -d ' ')"; timeout 60 ${cli}; echo "EXIT=$?"; echo "FILES=$(ls -A ${d} | tr '\\n' ' ')"`,
      );
      expect(r.stdout, r.stderr).toMatch(new RegExp(`AVAIL=${freeKiB}\\b`));
      expect(r.stdout, r.stderr).toMatch(/EXIT=[1-9]/);
      expect(r.stdout, r.stderr).not.toMatch(/EXIT=124/);
      expect(r.stderr).toContain(d);
      expect(r.stderr).toMatch(/no space left.*ENOSPC|ENOSPC.*no space left/i);
      // Nothing but the filler: no statelesx.db (nor -wal/-shm), no statelesx.lock.
      expect(r.stdout, r.stderr).toMatch(/FILES=fill\s*$/m);
    },
    90_000,
  );
});

describe('disk full during an image import', () => {
  beforeAll(() => {
    need('unshare', 'util-linux');
    need('xorriso', 'xorriso');
    need('bsdtar', 'libarchive-tools');
  });

  it('fails with an error naming ENOSPC and leaves nothing in the images directory', () => {
    const src = join(dir, 'big');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'boot.cfg'), 'kernel=/b.b00\nmodules=/k.b00 --- /s.v00\n');
    writeFileSync(join(src, 'b.b00'), Buffer.alloc(512 * 1024, 1));
    writeFileSync(join(src, 'k.b00'), Buffer.alloc(1024 * 1024, 2));
    writeFileSync(join(src, 's.v00'), Buffer.alloc(3 * 1024 * 1024, 3));
    const iso = join(dir, 'big.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '--norock', '-iso-level', '1', '-V', 'ESXI-BIG', '-o', iso, src], {
      stdio: 'ignore',
    });
    expect(statSync(iso).size).toBeGreaterThan(4 * 1024 * 1024);
    const imagesDir = join(dir, 'full-images');
    mkdirSync(imagesDir, { recursive: true });
    for (const source of [iso, src]) {
      const r = inMountNs(
        `mount -t tmpfs -o size=2m sx-full ${imagesDir} && timeout 60 ${TSX} src/cli/main.ts image import ${source} --name big --images-dir ${imagesDir}; echo "EXIT=$?"; echo "FILES=$(ls -A ${imagesDir} | tr '\\n' ' ')"; echo "USED=$(df --output=used -k ${imagesDir} | tail -1)"`,
      );
      expect(r.stdout, `${source}: ${r.stderr}`).toMatch(/EXIT=[1-9]/);
      expect(r.stderr, source).toMatch(/no space left in the images directory .*ENOSPC.*nothing was kept/);
      expect(r.stderr, source).toContain(imagesDir);
      expect(r.stdout, `${source}: ${r.stderr}`).toMatch(/FILES=\s*$/m);
    }
    expect(existsSync(join(imagesDir, 'big'))).toBe(false);
  }, 120_000);
});
