/**
 * `statelesx image sync --from URL` as an admin runs it on a new server: the built CLI as a child
 * process, reading a real `statelesx serve` child (the source) through its administration API with
 * API tokens made by `statelesx token create`, into an empty images directory. Two synthetic images
 * (Linux and ESXi, made with importImage): byte-identical files and image.json, `present` on a
 * second run, a conflict left alone, a damaged source file refused with the file named and nothing
 * left behind, tokens (viewer enough, none, wrong), the files route's path rules, a progress line on
 * a terminal, and an https source with `--ca`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, serveDirs, spawnServe, stopServe, type ServeProcess } from '../helpers/serve.js';
import { importImage } from '../../src/images/import.js';
import type { ImageManifest } from '../../src/images/image.js';
import { selfSignedCert } from '../helpers/tls.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

let root: string;
let server: ServeProcess;
let src: string;
let viewer: string;

/** Runs the built CLI in `root` (no ./statelesx.yaml) with `env` over this process's env without STATELESX_*. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STATELESX_')));
  const p = spawn(process.execPath, [CLI, ...args], {
    cwd: root,
    env: { ...base, HOME: root, XDG_CONFIG_HOME: join(root, 'xdg'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((res) => p.on('close', (status) => res({ status, stdout, stderr })));
}
/** ANSI escape (ECMA-48 CSI introducer's first byte), as a RegExp source. */
const ESC = '\\x1b';
const show = (r: Run) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** `image sync --from <server> --images-dir dest ...args` with `token` in $STATELESX_TOKEN (null: none at all). */
const sync = (dest: string, args: string[] = [], token: string | null = viewer) =>
  cli(
    ['image', 'sync', '--from', server.base, '--images-dir', dest, ...args],
    token === null ? {} : { STATELESX_TOKEN: token },
  );

/** Every entry of an images directory, hidden ones included. */
const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** GET with a raw request line (node:http does not normalise `..` the way fetch and curl do). */
function rawGet(path: string, token: string): Promise<{ status: number; body: string }> {
  const u = new URL(server.base);
  return new Promise((res, rej) => {
    const r = request(
      { host: u.hostname, port: u.port, path, method: 'GET', headers: { authorization: `Bearer ${token}` } },
      (resp) => {
        let body = '';
        resp.on('data', (b: Buffer) => (body += b.toString()));
        resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
      },
    );
    r.on('error', rej);
    r.end();
  });
}

const BOOT_CFG =
  'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel\n' +
  'modules=/jumpstrt.gz --- /useropts.gz --- /s.v00\nbuild=8.0.2-0.0.22380479\nupdated=0\n';

/** A Linux image directory (kernel of `kernelBytes` random bytes, an initrd, a nested file). */
function linuxTree(name: string, kernelBytes: number): string {
  const d = join(root, 'src-trees', name);
  mkdirSync(join(d, 'extra'), { recursive: true });
  writeFileSync(join(d, 'vmlinuz'), randomBytes(kernelBytes));
  writeFileSync(join(d, 'initrd.gz'), randomBytes(4096));
  writeFileSync(join(d, 'extra/notes.txt'), `image ${name}\n`);
  writeFileSync(
    join(d, 'image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
  );
  return d;
}

/** An ESXi installer tree (boot.cfg, kernel, modules, loaders). */
function esxiTree(name: string): string {
  const d = join(root, 'src-trees', name);
  mkdirSync(join(d, 'efi/boot'), { recursive: true });
  writeFileSync(join(d, 'boot.cfg'), BOOT_CFG);
  for (const f of ['b.b00', 'jumpstrt.gz', 'useropts.gz', 's.v00', 'mboot.c32'])
    writeFileSync(join(d, f), randomBytes(70_000));
  writeFileSync(join(d, 'efi/boot/bootx64.efi'), randomBytes(5000));
  return d;
}

/** Asserts `name` in `dest` has the same image.json (bytes) and the same bytes for every file as the source. */
function expectIdentical(dest: string, name: string): ImageManifest {
  const m = JSON.parse(readFileSync(join(src, name, 'image.json'), 'utf8')) as ImageManifest;
  expect(readFileSync(join(dest, name, 'image.json'), 'utf8')).toBe(
    readFileSync(join(src, name, 'image.json'), 'utf8'),
  );
  expect(m.files.length).toBeGreaterThan(2);
  for (const f of m.files)
    expect(readFileSync(join(dest, name, f.path)).equals(readFileSync(join(src, name, f.path))), f.path).toBe(true);
  return m;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
  root = mkdtempSync(join(tmpdir(), 'sx-img-sync-'));
  const d = serveDirs(join(root, 'a'));
  src = d.images;
  await importImage({ source: linuxTree('lin', 3 * 1024 * 1024 + 123), imagesDir: src, name: 'lin1' });
  await importImage({ source: esxiTree('esx'), imagesDir: src, name: 'esxi-8.0.2' });
  server = await spawnServe(join(root, 'a'));
  const made = await cli(['token', 'create', 'sync-viewer', '--role', 'viewer', '--data-dir', d.data]);
  expect(made.status, show(made)).toBe(0);
  viewer = made.stdout.trim();
  expect(viewer).toMatch(/^sxt_/);
}, 120_000);

afterAll(async () => {
  if (server) await stopServe(server);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('statelesx image sync against a real statelesx serve', () => {
  it('copies both images into an empty images directory with a viewer token: same bytes, same image.json; again: present', async () => {
    const dest = join(root, 'b-images');
    // what a sync killed mid-copy leaves behind: removed by the next one (its process is gone)
    const dead = spawnSync('true').pid;
    mkdirSync(join(dest, `.sync-lin1-${dead}`, 'extra'), { recursive: true });
    writeFileSync(join(dest, `.sync-lin1-${dead}`, 'vmlinuz'), 'partial');
    const r = await sync(dest);
    expect(r.status, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^IMAGE\s+FILES\s+BYTES\s+RESULT$/m);
    expect(r.stdout).toMatch(/^lin1\s+3\s+3\.0 MiB\s+synced$/m);
    expect(r.stdout).toMatch(/^esxi-8\.0\.2\s+7\s+\S+ KiB\s+synced$/m);
    expect(entries(dest)).toEqual(['esxi-8.0.2', 'lin1']);
    expectIdentical(dest, 'lin1');
    const esx = expectIdentical(dest, 'esxi-8.0.2');
    expect(esx.esxi?.build).toBe('22380479');
    expect(esx.esxi?.efiLoader).toBe('efi/boot/bootx64.efi');

    const again = await sync(dest, ['--json']);
    expect(again.status, show(again)).toBe(0);
    const out = JSON.parse(again.stdout) as {
      from: string;
      images: Array<{ image: string; result: string; files: number }>;
    };
    expect(out.from).toBe(server.base);
    expect(out.images.map((o) => [o.image, o.result, o.files])).toEqual([
      ['esxi-8.0.2', 'present', 7],
      ['lin1', 'present', 3],
    ]);
  }, 60_000);

  it('leaves an image of the same name with other files alone (conflict, exit 1); --image limits the sync', async () => {
    const dest = join(root, 'c-images');
    const mine = await importImage({ source: linuxTree('other', 1000), imagesDir: dest, name: 'lin1' });
    const before = readFileSync(join(dest, 'lin1', 'image.json'), 'utf8');
    const r = await sync(dest, ['--image', 'lin1', '--image', 'nope']);
    expect(r.status, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^lin1\s+3\s+3\.0 MiB\s+conflict$/m);
    expect(r.stdout).toMatch(/^nope\s+0\s+0 B\s+failed$/m);
    expect(r.stdout).not.toContain('esxi-8.0.2');
    expect(r.stderr).toContain(`conflict: lin1: ${join(dest, 'lin1')} holds other files than lin1 on ${server.base}`);
    expect(r.stderr).toContain(`failed: nope: no image "nope" on ${server.base}`);
    expect(readFileSync(join(dest, 'lin1', 'image.json'), 'utf8')).toBe(before);
    expect(mine.files.find((f) => f.path === 'vmlinuz')?.size).toBe(1000);
    expect(entries(dest)).toEqual(['lin1']);
  }, 60_000);

  it('refuses a source file that no longer matches its SHA-256, naming it, and leaves no directory behind', async () => {
    await importImage({ source: linuxTree('dmg', 2 * 1024 * 1024), imagesDir: src, name: 'lin3' });
    const file = join(src, 'lin3', 'vmlinuz');
    const bytes = readFileSync(file);
    bytes[1_500_000] = bytes[1_500_000]! ^ 0xff; // one byte damaged on the source's disk after import
    writeFileSync(file, bytes);
    const dest = join(root, 'd-images');
    const r = await sync(dest, ['--image', 'lin3']);
    expect(r.status, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^lin3\s+3\s+\S+ MiB\s+failed$/m);
    expect(r.stderr).toMatch(
      /failed: lin3: lin3\/vmlinuz: SHA-256 mismatch: the manifest lists [0-9a-f]{64}, the bytes received hash to [0-9a-f]{64}/,
    );
    expect(entries(dest)).toEqual([]);
    // the good ones still sync beside it, and the damaged one fails again without touching them
    const all = await sync(dest);
    expect(all.status, show(all)).toBe(1);
    expect(all.stdout).toMatch(/^lin3\s+.*failed$/m);
    expect(entries(dest)).toEqual(['esxi-8.0.2', 'lin1']);
    rmSync(join(src, 'lin3'), { recursive: true });
  }, 60_000);

  it('needs a token: none exits 2 (configuration), a wrong one exits 3 (401), and the files route refuses unauthenticated requests', async () => {
    const dest = join(root, 'e-images');
    const none = await sync(dest, [], null);
    expect(none.status, show(none)).toBe(2);
    expect(none.stderr).toContain(`no API token for ${server.base}`);
    const wrong = await sync(dest, [], 'sxt_wrong-token-value');
    expect(wrong.status, show(wrong)).toBe(3);
    expect(wrong.stderr).toMatch(/GET \/api\/v1\/images: HTTP 401 /);
    expect(wrong.stdout + wrong.stderr).not.toContain('sxt_wrong-token-value');
    expect(entries(dest)).toEqual([]);
    expect((await fetch(`${server.base}/api/v1/images/lin1/files/vmlinuz`)).status).toBe(401);
    expect((await fetch(`${server.base}/api/v1/images/lin1/manifest`)).status).toBe(401);
  }, 60_000);

  it('draws a progress line on a terminal (stderr) and still prints the table', () => {
    const dest = join(root, 'f-images');
    const q = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
    const args = [
      process.execPath,
      CLI,
      'image',
      'sync',
      '--from',
      server.base,
      '--images-dir',
      dest,
      '--image',
      'lin1',
    ];
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STATELESX_')));
    const r = spawnSync('script', ['-qec', args.map(q).join(' '), '/dev/null'], {
      cwd: root,
      env: { ...base, STATELESX_TOKEN: viewer },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stdout).toBe(0);
    // CR, ESC [K (erase the line: ECMA-48 EL), then the image, files and bytes so far
    expect(r.stdout).toMatch(new RegExp(`\\r${ESC}\\[Klin1 {2}\\d/3 files {2}[\\d.]+ (B|KiB|MiB)/3\\.0 MiB {2}\\S+`));
    expect(r.stdout).toMatch(/^lin1\s+3\s+3\.0 MiB\s+synced\s*$/m);
    expectIdentical(dest, 'lin1');
  }, 60_000);

  it('serves raw manifest files only: 404 outside the manifest, 403 for ".." and for a symlink out of the image', async () => {
    const auth = { authorization: `Bearer ${viewer}` };
    const ok = await fetch(`${server.base}/api/v1/images/lin1/files/extra/notes.txt`, { headers: auth });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/octet-stream');
    expect(await ok.text()).toBe('image lin\n');
    // the image's own boot.cfg, not the per-host one /boot/ renders (prefix=, the phone-home token)
    const cfg = await fetch(`${server.base}/api/v1/images/esxi-8.0.2/files/boot.cfg`, { headers: auth });
    expect(Buffer.from(await cfg.arrayBuffer()).equals(readFileSync(join(src, 'esxi-8.0.2', 'boot.cfg')))).toBe(true);
    const rendered = await (await fetch(`${server.bootBase}/boot/esxi-8.0.2/boot.cfg`)).text();
    expect(rendered).toMatch(/^prefix=http:/m);
    expect(readFileSync(join(src, 'esxi-8.0.2', 'boot.cfg'), 'utf8')).not.toMatch(/^prefix=/m);

    writeFileSync(join(src, 'lin1', 'secret.txt'), 'not in the manifest');
    for (const p of ['secret.txt', 'image.json', 'missing.bin']) {
      const r = await fetch(`${server.base}/api/v1/images/lin1/files/${p}`, { headers: auth });
      expect(r.status, p).toBe(404);
    }
    expect((await fetch(`${server.base}/api/v1/images/nosuch/files/vmlinuz`, { headers: auth })).status).toBe(404);
    for (const p of [
      '/api/v1/images/lin1/files/../esxi-8.0.2/b.b00',
      '/api/v1/images/lin1/files/extra/../vmlinuz',
      '/api/v1/images/lin1/files/%2e%2e/%2e%2e/data/statelesx.db',
      '/api/v1/images/lin1/files//etc/passwd',
    ]) {
      const r = await rawGet(p, viewer);
      expect(r.status, `${p}: ${r.body}`).toBe(403);
      expect(r.body).toContain('path refused');
    }
    // a manifest file replaced by a symlink that leads out of the image directory
    writeFileSync(join(root, 'outside.txt'), 'outside the images directory');
    unlinkSync(join(src, 'lin1', 'initrd.gz'));
    symlinkSync(join(root, 'outside.txt'), join(src, 'lin1', 'initrd.gz'));
    const sym = await rawGet('/api/v1/images/lin1/files/initrd.gz', viewer);
    expect(sym.status, sym.body).toBe(403);
    expect(sym.body).toContain('symlink leaves the root');
    expect(sym.body).not.toContain('outside the images directory');
  }, 60_000);
});

describe('statelesx image sync from an https server', () => {
  let tls: ServeProcess;
  let dir: string;
  let base: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-img-sync-tls-'));
    selfSignedCert(dir);
    writeFileSync(
      join(dir, 'server.yaml'),
      `http: { tls-cert: ${join(dir, 'cert.pem')}, tls-key: ${join(dir, 'key.pem')} }\n`,
    );
    const d = serveDirs(dir);
    await importImage({ source: linuxTree('tls', 200_000), imagesDir: d.images, name: 'lin-tls' });
    tls = await spawnServe(dir, ['--config', join(dir, 'server.yaml')]);
    base = tls.base.replace(/^http:/, 'https:');
    token = (await cli(['token', 'create', 'tls', '--role', 'viewer', '--data-dir', d.data])).stdout.trim();
  }, 60_000);

  afterAll(async () => {
    if (tls) await stopServe(tls);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the self-signed certificate without --ca (exit 6) and syncs with it', async () => {
    const dest = join(dir, 'dest');
    const args = ['image', 'sync', '--from', base, '--images-dir', dest];
    const no = await cli(args, { STATELESX_TOKEN: token });
    expect(no.status, show(no)).toBe(6);
    expect(no.stderr).toMatch(/cannot reach https:\/\/127\.0\.0\.1:\d+ .*pass --ca FILE/);
    const yes = await cli([...args, '--ca', join(dir, 'cert.pem')], { STATELESX_TOKEN: token });
    expect(yes.status, show(yes)).toBe(0);
    expect(yes.stdout).toMatch(/^lin-tls\s+3\s+\S+ KiB\s+synced$/m);
    expect(
      readFileSync(join(dest, 'lin-tls', 'vmlinuz')).equals(readFileSync(join(dir, 'images', 'lin-tls', 'vmlinuz'))),
    ).toBe(true);
  }, 60_000);
});
