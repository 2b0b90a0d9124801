/**
 * Hostile image inputs: boot.cfg parsing (mutated real boot.cfg, generated key=value text) and ISO
 * import of truncated and corrupted ISOs (a valid ESXi-style ISO made with xorriso, then cut and
 * damaged) and of ISOs carrying symlinks out of the tree (Rock Ridge).
 * Properties: boot.cfg either parses (and serialization is a fixpoint) or fails with a
 * BootCfgError naming a line inside the file; an import either yields a complete image whose
 * manifest verifies, or fails with an ImageError — and never leaves a half image, visible or hidden.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
  statSync,
  truncateSync,
  openSync,
  writeSync,
  closeSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { BootCfgError, parseBootCfg, serializeBootCfg } from '../../src/images/bootcfg.js';
import { importImage, verifyImage } from '../../src/images/import.js';
import { ImageError, readManifest } from '../../src/images/image.js';
import { boundedSync, LONG_RUN, mutated, runs, seedParams, within } from './harness.js';

const ESXI8 = readFileSync(join(import.meta.dirname, '../fixtures/images/esxi8-boot.cfg'), 'utf8');

describe('boot.cfg parser fuzz', () => {
  const line = fc.oneof(
    fc
      .tuple(
        fc.constantFrom(
          'kernel',
          'modules',
          'kernelopt',
          'prefix',
          'title',
          'build',
          'bootstate',
          'x',
          '',
          ' ',
          'a b',
          'k\u0000',
        ),
        fc.string({ maxLength: 200 }),
      )
      .map(([k, v]) => `${k}=${v}`),
    fc.string({ maxLength: 120 }),
    fc.constant('modules=/a --- --- /b'),
    fc.constant('modules= --- '),
    fc.constant(`modules=${Array.from({ length: 5000 }, (_, i) => `/m${i}.v00`).join(' --- ')}`),
  );
  const texts = fc.oneof(
    mutated([Buffer.from(ESXI8)], 256 * 1024).map((b) => b.toString('utf8')),
    fc.tuple(fc.array(line, { maxLength: 40 }), fc.constantFrom('\n', '\r\n')).map(([ls, eol]) => ls.join(eol)),
    fc.array(line, { maxLength: 20 }).map((ls) => `kernel=/b.b00\nmodules=/k.b00\n${ls.join('\n')}`),
  );

  it('parses or names the bad line; serialization is a fixpoint', () => {
    fc.assert(
      fc.property(texts, (text) => {
        let cfg;
        try {
          cfg = boundedSync(2000, 'parseBootCfg', () => parseBootCfg(text, 'fuzz/boot.cfg'));
        } catch (e) {
          expect(e).toBeInstanceOf(BootCfgError);
          const err = e as BootCfgError;
          expect(err.line).toBeGreaterThanOrEqual(0);
          expect(err.line).toBeLessThanOrEqual(text.split(/\r?\n/).length);
          expect(err.message).toContain('fuzz/boot.cfg');
          return;
        }
        const once = serializeBootCfg(cfg);
        expect(serializeBootCfg(parseBootCfg(once))).toBe(once);
        expect(cfg.kernel.length).toBeGreaterThan(0);
      }),
      { numRuns: runs(1500, 10), ...seedParams() },
    );
  });
});

function need(bin: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
    throw new Error(`${bin} is missing: run scripts/install-test-deps (Debian package ${pkg})`);
  }
}

describe('ISO import of truncated, corrupt and hostile ISOs', () => {
  let dir: string;
  let goodIso: string;
  let isoSize: number;
  const BOOT_CFG =
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel\n' +
    'modules=/jumpstrt.gz --- /k.b00 --- /s.v00\nbuild=8.0.2-0.0.22380479\nupdated=0\n';

  beforeAll(() => {
    need('xorriso', 'xorriso');
    need('bsdtar', 'libarchive-tools');
    dir = mkdtempSync(join(tmpdir(), 'sx-fuzz-iso-'));
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'efi/boot'), { recursive: true });
    writeFileSync(join(tree, 'boot.cfg'), BOOT_CFG);
    for (const f of ['b.b00', 'jumpstrt.gz', 'k.b00', 's.v00'])
      writeFileSync(join(tree, f), `module ${f}\n`.repeat(3000));
    writeFileSync(join(tree, 'efi/boot/bootx64.efi'), 'mboot.efi');
    goodIso = join(dir, 'good.iso');
    execFileSync(
      'xorriso',
      ['-as', 'mkisofs', '--norock', '-iso-level', '1', '-V', 'ESXI-8.0U2', '-o', goodIso, tree],
      { stdio: 'ignore' },
    );
    isoSize = statSync(goodIso).size;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  /** Imports `iso` into a fresh images dir and checks the all-or-nothing contract. */
  async function importChecked(iso: string): Promise<'imported' | 'refused'> {
    const imagesDir = join(dir, `images-${++n}`);
    try {
      const m = await within(60_000, 'importImage', () => importImage({ source: iso, imagesDir, name: 'fz' }));
      const entries = readdirSync(imagesDir);
      expect(entries).toEqual(['fz']);
      expect(await readManifest(join(imagesDir, 'fz'))).toEqual(m);
      expect(await verifyImage(join(imagesDir, 'fz'), m)).toEqual([]);
      return 'imported';
    } catch (e) {
      expect(e, String(e)).toBeInstanceOf(ImageError);
      expect((e as Error).message.length).toBeGreaterThan(10);
      // nothing half-written: no image, no staging directory
      expect(existsSync(imagesDir) ? readdirSync(imagesDir) : []).toEqual([]);
      return 'refused';
    } finally {
      rmSync(imagesDir, { recursive: true, force: true });
    }
  }

  it('the untouched ISO imports (control)', async () => {
    expect(await importChecked(goodIso)).toBe('imported');
  });

  it(
    'truncated and corrupted ISOs: a complete image or an ImageError, never a half image',
    async () => {
      const corruption = fc.record({
        cut: fc.option(fc.nat({ max: isoSize }), { nil: undefined }),
        sectorCut: fc.option(fc.nat({ max: Math.floor(isoSize / 2048) }), { nil: undefined }),
        bursts: fc.array(
          fc.record({ at: fc.nat({ max: isoSize - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 512 }) }),
          { maxLength: 6 },
        ),
        zeroSectors: fc.array(fc.nat({ max: Math.floor(isoSize / 2048) - 1 }), { maxLength: 4 }),
      });
      const outcomes = { imported: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(corruption, async (c) => {
          const f = join(dir, `bad-${n}.iso`);
          copyFileSync(goodIso, f);
          const fd = openSync(f, 'r+');
          try {
            for (const b of c.bursts) writeSync(fd, b.bytes, 0, Math.min(b.bytes.length, isoSize - b.at), b.at);
            for (const s of c.zeroSectors) writeSync(fd, Buffer.alloc(2048), 0, 2048, s * 2048);
          } finally {
            closeSync(fd);
          }
          if (c.sectorCut !== undefined) truncateSync(f, c.sectorCut * 2048);
          if (c.cut !== undefined) truncateSync(f, Math.min(c.cut, statSync(f).size));
          try {
            outcomes[await importChecked(f)]++;
          } finally {
            rmSync(f, { force: true });
          }
        }),
        { numRuns: runs(30, 20_000), ...seedParams() },
      );
      expect(outcomes.refused).toBeGreaterThan(0);
    },
    LONG_RUN ? 3_600_000 : 120_000,
  );

  it('an ISO with Rock Ridge symlinks out of the tree (module → /etc/passwd, dir → /) is refused', async () => {
    const tree = join(dir, 'evil');
    mkdirSync(tree);
    writeFileSync(join(tree, 'boot.cfg'), 'kernel=/b.b00\nmodules=/k.b00 --- /etc/passwd\n');
    writeFileSync(join(tree, 'b.b00'), 'kernel');
    symlinkSync('/etc/passwd', join(tree, 'k.b00'));
    symlinkSync('/', join(tree, 'etc'));
    const iso = join(dir, 'evil.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-R', '-V', 'EVIL', '-o', iso, tree], { stdio: 'ignore' });
    expect(await importChecked(iso)).toBe('refused');
  });
});
