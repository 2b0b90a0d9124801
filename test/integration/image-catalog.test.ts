/**
 * Images on every server (issue 18, item 5): the image catalog on both stores, and two servers'
 * catalog services sharing one real PostgreSQL — one publishes its images, the other, lacking
 * one that a host is pinned to, is not ready until the image is copied over; a different image
 * under the same name is a conflict, never an update.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCatalogRepo, type CatalogEntry } from '../../src/store/image-catalog.js';
import { ImageLibrary } from '../../src/images/image.js';
import { importImage } from '../../src/images/import.js';
import { imageFingerprint } from '../../src/images/fingerprint.js';
import { createImageCatalogService } from '../../src/app/image-catalog.js';
import { silentLogger } from '../../src/log.js';
import { metricsRegistry } from '../../src/metrics.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-catalog-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = (name: string, sha: string): CatalogEntry => ({
  name,
  kind: 'linux',
  manifest: '{}',
  manifestSha256: sha,
  totalBytes: 10,
  publishedAt: 1,
  publishedBy: 'a',
});

/** A synthetic linux image `name` in `imagesDir` whose kernel is `kernel`. */
async function makeImage(imagesDir: string, name: string, kernel: string): Promise<void> {
  const src = join(dir, `src-${name}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(src);
  writeFileSync(join(src, 'vmlinuz'), kernel);
  writeFileSync(join(src, 'image.json'), JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz' } }));
  await importImage({ source: src, imagesDir, name });
}

describe.each(STORE_DIALECTS)('ImageCatalogRepo on %s', (dialect) => {
  it('first publisher wins a name; the same files are "same", other files a "conflict"', async () => {
    const repo = new ImageCatalogRepo(await fresh(dialect));
    expect(await repo.publish(entry('esxi-8', 'a'.repeat(64)))).toBe('added');
    expect(await repo.publish(entry('esxi-8', 'a'.repeat(64)))).toBe('same');
    expect(await repo.publish(entry('esxi-8', 'b'.repeat(64)))).toBe('conflict');
    expect((await repo.get('esxi-8'))?.manifestSha256).toBe('a'.repeat(64));
    expect((await repo.list()).map((e) => e.name)).toEqual(['esxi-8']);
    expect(await repo.delete('esxi-8')).toBe(true);
    expect(await repo.delete('esxi-8')).toBe(false);
  });

  it('two publishers at once: exactly one adds', async () => {
    const sql = await fresh(dialect);
    const [x, y] = [new ImageCatalogRepo(sql), new ImageCatalogRepo(sql)];
    const r = await Promise.all([x.publish(entry('img', 'c'.repeat(64))), y.publish(entry('img', 'd'.repeat(64)))]);
    expect(r.sort()).toEqual(['added', 'conflict']);
  });
});

describe('two servers, one catalog (PostgreSQL)', () => {
  it('a pinned image missing on server B makes it not ready until it is copied; other files are a conflict', async () => {
    const sql = await fresh('postgres');
    const catalog = new ImageCatalogRepo(sql);
    const imagesA = join(dir, 'a-images');
    const imagesB = join(dir, 'b-images');
    mkdirSync(imagesB, { recursive: true });
    await makeImage(imagesA, 'lin-1', 'kernel one');
    await makeImage(imagesA, 'lin-2', 'kernel two');
    const pins = (image: string) => (image === 'lin-1' ? ['host 4c4c4544-0042-4810-8056-b4c04f564433'] : []);
    const a = createImageCatalogService(catalog, new ImageLibrary(imagesA), pins, silentLogger, 3_600_000);
    const b = createImageCatalogService(catalog, new ImageLibrary(imagesB), pins, silentLogger, 3_600_000);
    await a.start();
    await b.start();
    try {
      expect(a.state()?.published.sort()).toEqual(['lin-1', 'lin-2']);
      expect(a.readiness()).toBe('ok');
      expect(b.state()?.unavailable).toEqual([
        { image: 'lin-1', reason: 'missing', pinnedBy: ['host 4c4c4544-0042-4810-8056-b4c04f564433'] },
        { image: 'lin-2', reason: 'missing', pinnedBy: [] },
      ]);
      // Only the pinned one keeps B out of service.
      expect(b.readiness()).toBe('pinned image(s) not served here: lin-1 (not in images-dir)');
      expect(await metricsRegistry.metrics()).toMatch(
        /statelesx_images_unavailable\{image="lin-1",reason="missing",pinned="true"\} 1/,
      );

      // The administrator copies the image directory over (rsync, or statelesx image sync).
      cpSync(join(imagesA, 'lin-1'), join(imagesB, 'lin-1'), { recursive: true });
      await b.runOnce();
      expect(b.readiness()).toBe('ok');

      // Another image under a published name is a conflict: the catalog keeps the first.
      rmSync(join(imagesB, 'lin-1'), { recursive: true });
      await makeImage(imagesB, 'lin-1', 'a different kernel');
      await b.runOnce();
      expect(b.readiness()).toBe('pinned image(s) not served here: lin-1 (files differ from the catalog)');
      const first = await new ImageLibrary(imagesA).get('lin-1');
      expect((await catalog.get('lin-1'))?.manifestSha256).toBe(imageFingerprint(first!));
    } finally {
      await a.close();
      await b.close();
    }
  });
});
