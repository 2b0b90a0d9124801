/**
 * syncImages (src/images/sync.ts) against sources the API cannot produce: a hostile manifest whose
 * paths leave the image (refused before anything is written, with the boot tree's own rule), a
 * source that sends more bytes than its manifest lists, and a copy interrupted mid-file (Ctrl-C):
 * the hidden directory is removed each time and no image appears.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { syncImages, type ImageSyncSource } from '../../src/images/sync.js';
import { checkBootPath } from '../../src/boot/files/path.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-sync-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A source with one Linux image `lin` whose manifest lists `files` and whose bytes come from `body`. */
function source(
  files: Array<{ path: string; size: number; sha256: string }>,
  body: (path: string, signal?: AbortSignal) => AsyncIterable<Uint8Array>,
): ImageSyncSource {
  return {
    label: 'test-source',
    names: () => Promise.resolve(['lin']),
    manifest: () =>
      Promise.resolve({
        schema: 1,
        name: 'lin',
        kind: 'linux',
        linux: { kernel: 'vmlinuz', initrd: [], cmdline: '' },
        source: '/src',
        importedAt: '2026-01-01T00:00:00.000Z',
        files,
      }),
    file: (_n, path, signal) => Promise.resolve(body(path, signal)),
  };
}

/** `b` as one chunk. */
const bytes = (b: Buffer): AsyncIterable<Uint8Array> => Readable.from([b]);

describe('syncImages', () => {
  it('refuses a manifest path that leaves the image before writing anything', async () => {
    const data = Buffer.from('x');
    let asked = 0;
    for (const path of ['../escape', 'a/../../escape', '/etc/cron.d/x', 'a//b', 'image.json']) {
      const out = await syncImages({
        imagesDir: join(dir, 'images'),
        source: source([{ path, size: 1, sha256: sha(data) }], () => {
          asked++;
          return bytes(data);
        }),
        checkPath: checkBootPath,
      });
      expect(out, path).toMatchObject([{ image: 'lin', result: 'failed' }]);
      expect(out[0]!.error, path).toMatch(/^the manifest of lin lists (an unsafe path|"image\.json" twice)/);
    }
    expect(asked).toBe(0);
    expect(readdirSync(dir)).toEqual(['images']);
    expect(readdirSync(join(dir, 'images'))).toEqual([]);
  });

  it('stops a source that sends more bytes than the manifest lists', async () => {
    const big = Buffer.alloc(5000, 1);
    const out = await syncImages({
      imagesDir: dir,
      source: source([{ path: 'vmlinuz', size: 100, sha256: sha(big.subarray(0, 100)) }], () => bytes(big)),
      checkPath: checkBootPath,
    });
    expect(out[0]).toMatchObject({ result: 'failed', files: 1, bytes: 100 });
    expect(out[0]!.error).toBe('lin/vmlinuz: the source sent more than the 100 bytes its manifest lists');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an abort mid-file removes the hidden directory and throws the abort', async () => {
    const abort = new AbortController();
    const first = Buffer.alloc(64 * 1024, 7);
    let waiting: (() => void) | undefined;
    const sawFirst = new Promise<void>((r) => (waiting = r));
    const run = syncImages({
      imagesDir: dir,
      source: source([{ path: 'vmlinuz', size: 1 << 20, sha256: '0'.repeat(64) }], async function* (_p, signal) {
        yield first;
        waiting?.();
        await new Promise((_r, rej) => signal?.addEventListener('abort', () => rej(signal.reason as Error)));
      }),
      checkPath: checkBootPath,
      signal: abort.signal,
    });
    await sawFirst;
    expect(readdirSync(dir)).toEqual([`.sync-lin-${process.pid}`]);
    abort.abort(new Error('interrupted'));
    await expect(run).rejects.toThrow(/aborted|interrupted/);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, 'lin'))).toBe(false);
  });
});
