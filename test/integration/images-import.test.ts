/**
 * Image import against real peers: ISOs built with xorriso (ISO9660 without Rock Ridge, upper-case
 * 8.3 names as on VMware's installer ISOs) read by libarchive's bsdtar, directories, and the CLI.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { importImage, cleanStaleImports, verifyImage } from '../../src/images/import.js';
import { ImageLibrary, ImageError } from '../../src/images/image.js';
import { parseBootCfg } from '../../src/images/bootcfg.js';

function need(bin: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
    throw new Error(`${bin} is missing: run scripts/install-test-deps (Debian package ${pkg})`);
  }
}

const BOOT_CFG =
  'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel cdromBoot\n' +
  'modules=/jumpstrt.gz --- /useropts.gz --- /k.b00 --- /s.v00\nbuild=8.0.2-0.0.22380479\nupdated=0\n';

let dir: string;
function esxiTree(
  name: string,
  cfg = BOOT_CFG,
  files = ['b.b00', 'jumpstrt.gz', 'useropts.gz', 'k.b00', 's.v00', 'mboot.c32'],
): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'efi/boot'), { recursive: true });
  writeFileSync(join(d, 'boot.cfg'), cfg);
  for (const f of files) writeFileSync(join(d, f), `module ${f}\n`.repeat(50));
  writeFileSync(join(d, 'efi/boot/bootx64.efi'), 'mboot.efi');
  return d;
}
function iso(tree: string, out: string, label = 'ESXI-8.0U2-22380479-STANDARD'): string {
  execFileSync('xorriso', ['-as', 'mkisofs', '--norock', '-iso-level', '1', '-V', label, '-o', out, tree], {
    stdio: 'ignore',
  });
  return out;
}
const visible = (imagesDir: string) =>
  existsSync(imagesDir) ? readdirSync(imagesDir).filter((n) => !n.startsWith('.')) : [];
const TSX = join(process.cwd(), 'node_modules/.bin/tsx');
const cli = (args: string[]) =>
  spawnSync(TSX, ['src/cli/main.ts', ...args], { encoding: 'utf8', cwd: process.cwd(), timeout: 60_000 });

beforeAll(() => {
  need('xorriso', 'xorriso');
  need('bsdtar', 'libarchive-tools');
  dir = mkdtempSync(join(tmpdir(), 'sx-imp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('image import', () => {
  it('imports an ESXi-style ISO: 8.3 upper-case names lower-cased, boot.cfg normalised, manifest with sha-256', async () => {
    const isoFile = iso(esxiTree('t1'), join(dir, 'esxi.iso'));
    // the ISO really carries upper-case names
    expect(execFileSync('bsdtar', ['-tf', isoFile], { encoding: 'utf8' })).toMatch(/^JUMPSTRT\.GZ$/m);
    const imagesDir = join(dir, 'images1');
    const phases = new Set<string>();
    const m = await importImage({ source: isoFile, imagesDir, onProgress: (p) => phases.add(p.phase) });
    expect(m).toMatchObject({
      name: 'esxi-8.0.2-22380479',
      kind: 'esxi',
      esxi: { version: '8.0.2', build: '22380479', biosLoader: 'mboot.c32', efiLoader: 'efi/boot/bootx64.efi' },
    });
    expect(m.files.map((f) => f.path)).toEqual([
      'b.b00',
      'boot.cfg',
      'efi/boot/bootx64.efi',
      'jumpstrt.gz',
      'k.b00',
      'mboot.c32',
      's.v00',
      'useropts.gz',
    ]);
    expect([...phases]).toEqual(['extract', 'hash']);
    const imgDir = join(imagesDir, m.name);
    const cfg = parseBootCfg(readFileSync(join(imgDir, 'boot.cfg'), 'utf8'));
    expect(cfg.kernel).toBe('b.b00');
    expect(cfg.modules).toEqual(['jumpstrt.gz', 'useropts.gz', 'k.b00', 's.v00']);
    expect(cfg.prefix).toBeUndefined();
    expect(await verifyImage(imgDir, m)).toEqual([]);
    const sha = execFileSync('sha256sum', [join(imgDir, 'k.b00')], { encoding: 'utf8' }).split(' ')[0];
    expect(m.files.find((f) => f.path === 'k.b00')?.sha256).toBe(sha);
    expect((await new ImageLibrary(imagesDir).list()).images.map((i) => i.name)).toEqual(['esxi-8.0.2-22380479']);
    await expect(importImage({ source: isoFile, imagesDir })).rejects.toThrow(
      /image "esxi-8.0.2-22380479" already exists/,
    );
  });

  it('imports a directory (--name), with progress while copying', async () => {
    const imagesDir = join(dir, 'images2');
    const seen: string[] = [];
    const m = await importImage({
      source: esxiTree('t2'),
      imagesDir,
      name: 'esxi-lab',
      onProgress: (p) => seen.push(`${p.phase} ${p.done}/${p.total}`),
    });
    expect(m.name).toBe('esxi-lab');
    expect(seen).toContain('copy 8/8');
    expect(seen).toContain('hash 8/8');
  });

  it('refuses a non-ESXi ISO, a broken boot.cfg (with its line) and missing modules (all listed)', async () => {
    const imagesDir = join(dir, 'images3');
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'README.TXT'), 'hello');
    await expect(importImage({ source: iso(plain, join(dir, 'plain.iso'), 'DEBIAN'), imagesDir })).rejects.toThrow(
      /no boot\.cfg at the top of the ISO: not an ESXi installer ISO/,
    );
    const broken = iso(esxiTree('t3', BOOT_CFG.replace('timeout=5', 'timeout 5')), join(dir, 'broken.iso'));
    await expect(importImage({ source: broken, imagesDir })).rejects.toThrow(
      /boot\.cfg:3: expected key=value, got "timeout 5"/,
    );
    const missing = iso(esxiTree('t4', BOOT_CFG, ['b.b00', 'jumpstrt.gz', 'k.b00']), join(dir, 'missing.iso'));
    await expect(importImage({ source: missing, imagesDir })).rejects.toThrow(
      /boot\.cfg references 2 file\(s\) missing from the image: \/useropts\.gz, \/s\.v00/,
    );
    writeFileSync(join(dir, 'random.iso'), Buffer.alloc(70_000, 7));
    await expect(importImage({ source: join(dir, 'random.iso'), imagesDir })).rejects.toThrow(
      /random\.iso is not a readable ISO image/,
    );
    await expect(importImage({ source: esxiTree('t5'), imagesDir, name: '../evil' })).rejects.toThrow(ImageError);
    expect(visible(imagesDir)).toEqual([]);
    expect(readdirSync(imagesDir)).toEqual([]); // no temp dirs left either
  });

  it('is atomic: an import aborted mid-copy leaves nothing, visible or hidden', async () => {
    const imagesDir = join(dir, 'images4');
    let n = 0;
    await expect(
      importImage({
        source: esxiTree('t6'),
        imagesDir,
        name: 'half',
        onProgress: (p) => {
          if (p.phase === 'copy' && ++n === 3) throw new Error('disk on fire');
        },
      }),
    ).rejects.toThrow('disk on fire');
    expect(readdirSync(imagesDir)).toEqual([]);
  });

  it('a killed import (SIGKILL) shows no image; the next import removes the stale temp dir', async () => {
    const imagesDir = join(dir, 'images5');
    const src = join(dir, 'many');
    mkdirSync(src);
    writeFileSync(join(src, 'boot.cfg'), 'kernel=/b.b00\nmodules=/m0.v00\n');
    for (let i = 0; i < 1500; i++) writeFileSync(join(src, i === 0 ? 'b.b00' : `m${i - 1}.v00`), `f${i}`);
    // The first progress line says the copy has begun: stop the CLI there at once (SIGSTOP, so a
    // fast machine cannot finish the import before the kill), then SIGKILL it mid-import.
    const child = spawn(
      TSX,
      ['src/cli/main.ts', 'image', 'import', src, '--name', 'killed', '--images-dir', imagesDir],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        if (/^copy /m.test(d.toString())) {
          process.kill(-child.pid!, 'SIGSTOP');
          child.stderr.off('data', onData);
          resolve();
        }
      };
      child.stderr.on('data', onData);
    });
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('close', r));
    expect(visible(imagesDir)).toEqual([]);
    const temps = readdirSync(imagesDir).filter((n) => n.startsWith('.import-'));
    expect(temps).toHaveLength(1);
    // The stderr pipe closes in the kernel's exit path before the importer becomes a zombie
    // (exit_files runs before exit_notify): on a loaded machine 'close' can arrive while the
    // process still shows as running. Wait until the kernel says it is gone.
    await waitUntilExited(Number(/^\.import-(\d+)-/.exec(temps[0]!)![1]));
    expect(await cleanStaleImports(imagesDir)).toHaveLength(1);
    expect(readdirSync(imagesDir)).toEqual([]);
  });

  it('imports a linux image directory (image.json kind linux) and checks its files', async () => {
    const imagesDir = join(dir, 'images6');
    const l = join(dir, 'lin');
    mkdirSync(l);
    writeFileSync(join(l, 'vmlinuz'), 'k');
    writeFileSync(
      join(l, 'image.json'),
      JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'quiet' } }),
    );
    await expect(importImage({ source: l, imagesDir, name: 'lin' })).rejects.toThrow(
      /linux files missing from .*: initrd\.gz/,
    );
    writeFileSync(join(l, 'initrd.gz'), 'i');
    const m = await importImage({ source: l, imagesDir, name: 'lin' });
    expect(m).toMatchObject({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'quiet' } });
    expect(m.files.map((f) => f.path)).toEqual(['initrd.gz', 'vmlinuz']);
  });

  it('CLI: import, list, remove refused while a host is pinned, then removed', () => {
    const imagesDir = join(dir, 'images7');
    const dataDir = join(dir, 'data7');
    const isoFile = iso(esxiTree('t7'), join(dir, 'cli.iso'));
    const imp = cli(['image', 'import', isoFile, '--name', 'v1', '--images-dir', imagesDir]);
    expect(imp.stderr).toMatch(/^extract \d+\/\d+ B\.B00$/m);
    expect(imp.stdout).toMatch(/^imported v1\tesxi\tESXi 8\.0\.2 build 22380479\t8 files/m);
    expect(imp.status).toBe(0);
    expect(cli(['image', 'list', '--images-dir', imagesDir]).stdout).toMatch(/^v1\tesxi\t/);
    const bad = cli(['image', 'import', join(dir, 'plain.iso'), '--images-dir', imagesDir]);
    expect([bad.status, bad.stderr.trim()]).toEqual([
      1,
      expect.stringMatching(/import refused: .*not an ESXi installer ISO/),
    ]);
    // pin a host in the store the CLI reads
    mkdirSync(dataDir);
    const pin = spawnSync(
      TSX,
      [
        '-e',
        `import('./src/store/index.ts').then(async (m) => { const s = await m.openStore(${JSON.stringify(dataDir)}); await s.hosts.setImagePin('8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b', 'v1'); s.close(); })`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(pin.status).toBe(0);
    const refused = cli(['image', 'remove', 'v1', '--images-dir', imagesDir, '--data-dir', dataDir]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(
      'remove refused: image "v1" is pinned by host 8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b',
    );
    expect(visible(imagesDir)).toEqual(['v1']);
    const free = cli(['image', 'remove', 'v1', '--images-dir', imagesDir, '--data-dir', join(dir, 'data-empty')]);
    expect([free.status, free.stdout]).toEqual([0, 'removed v1\n']);
    expect(readdirSync(imagesDir)).toEqual([]);
  });
});

/** Resolves once `pid` no longer runs (gone, or a zombie); throws after 10 s. */
async function waitUntilExited(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    let state: string;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`importer ${pid} still runs 10 s after SIGKILL`);
}
