import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ImageLibrary, ImageError, readManifest, checkImageName } from '../../src/images/image.js';

let dir: string;
const manifest = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: 'linux',
  linux: { kernel: 'vmlinuz', initrd: [], cmdline: '' },
  source: 'x',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  ...extra,
});
function put(name: string, m: unknown): void {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'image.json'), typeof m === 'string' ? m : JSON.stringify(m));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-lib-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('image library', () => {
  it('lists valid images by name, skips hidden imports, reports broken manifests with file and field', async () => {
    put('b-img', manifest('b-img'));
    put('a-img', manifest('a-img'));
    put('.import-123-x', manifest('.import-123-x'));
    put('bad-json', '{nope');
    put('bad-field', manifest('bad-field', { files: [{ path: 'x', size: -1, sha256: '0'.repeat(64) }] }));
    put('renamed', manifest('other'));
    const { images, broken } = await new ImageLibrary(dir).list();
    expect(images.map((i) => i.name)).toEqual(['a-img', 'b-img']);
    expect(broken.map((b) => b.name)).toEqual(['bad-field', 'bad-json', 'renamed']);
    expect(broken[0]!.error).toBe(
      `${join(dir, 'bad-field', 'image.json')}: files.0.size: Too small: expected number to be >=0`,
    );
    expect(broken[1]!.error).toMatch(/bad-json\/image\.json: not valid JSON/);
    expect(broken[2]!.error).toMatch(/name "other" does not match its directory "renamed"/);
  });

  it('an esxi manifest needs its esxi object', async () => {
    put('e', manifest('e', { kind: 'esxi' }));
    await expect(readManifest(join(dir, 'e'))).rejects.toThrow(/image\.json: \(top level\): kind "esxi" needs "esxi"/);
  });

  it('get: null for unknown or malformed names; a missing images dir lists nothing', async () => {
    const lib = new ImageLibrary(dir);
    expect(await lib.get('nope')).toBeNull();
    expect(await lib.get('../etc')).toBeNull();
    expect(await new ImageLibrary(join(dir, 'missing')).list()).toEqual({ images: [], broken: [] });
  });

  it('remove: refused while pinned (names the pins), refused for unknown, then gone without leftovers', async () => {
    put('v1', manifest('v1'));
    const lib = new ImageLibrary(dir);
    await expect(
      lib.remove('v1', () => ['host 8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b', 'cluster prod (default image)']),
    ).rejects.toThrow(
      'image "v1" is pinned by host 8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b, cluster prod (default image): re-pin or unpin them first',
    );
    expect(existsSync(join(dir, 'v1', 'image.json'))).toBe(true);
    await expect(lib.remove('v2', () => [])).rejects.toThrow(/no image "v2"/);
    await lib.remove('v1', () => []);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('image names are safe path segments', () => {
    for (const ok of ['esxi-8.0.2-22380479', 'v1', 'A_b.c']) expect(() => checkImageName(ok)).not.toThrow();
    for (const bad of ['', '.hidden', '-x', 'a/b', 'a b', 'x'.repeat(65), '..'])
      expect(() => checkImageName(bad)).toThrow(ImageError);
  });
});
