/**
 * The files of an image directory: listing (plain files only), copying with progress, hashing into
 * the manifest's entries, and verifying against it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ImageError, MANIFEST, type ImageFileEntry, type ImageManifest } from './image.js';

/** Progress of one import, reported per file (and per MiB while copying large files). */
export interface ImportProgress {
  phase: 'extract' | 'copy' | 'hash';
  /** Path inside the image (or inside the ISO while extracting). */
  file: string;
  /** Files finished in this phase (extract/copy/hash), out of `total`. */
  done: number;
  total: number;
  /** Bytes finished in this phase so far, out of `bytesTotal` (0 when unknown). */
  bytes: number;
  bytesTotal: number;
}

/** Maps lower-cased relative paths to absolute source paths; refuses case collisions. */
export function normalizedMap(root: string, files: string[], what: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const f of files) {
    const lower = f.toLowerCase();
    const prev = map.get(lower);
    if (prev !== undefined) throw new ImageError(`${what}: "${f}" and "${relative(root, prev)}" differ only in case`);
    map.set(lower, join(root, f));
  }
  return map;
}

/**
 * Lists regular files under `root` as `/`-separated relative paths, sorted.
 * @param onDir called for every directory (root included) before it is read
 * @throws ImageError for symlinks, devices, FIFOs (an image holds plain files only)
 */
export async function walk(root: string, onDir?: (dir: string) => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    await onDir?.(dir);
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, d.name);
      if (d.isDirectory()) await visit(abs);
      else if (d.isFile()) out.push(relative(root, abs).split(sep).join('/'));
      else
        throw new ImageError(`${abs}: not a regular file or directory (symlinks, devices and FIFOs are not imported)`);
    }
  };
  await visit(root);
  return out.sort();
}

/** Copies [from (relative to src), to (relative to img)] pairs with streaming and progress. */
export async function copyFiles(
  src: string,
  img: string,
  pairs: Array<[string, string]>,
  onProgress?: (p: ImportProgress) => void,
): Promise<void> {
  const sizes = await Promise.all(pairs.map(async ([from]) => (await stat(join(src, from))).size));
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  let bytes = 0;
  let done = 0;
  for (const [from, to] of pairs) {
    await mkdir(dirname(join(img, to)), { recursive: true });
    let sinceReport = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        sinceReport += chunk.length;
        if (sinceReport >= 1 << 20) {
          sinceReport = 0;
          try {
            onProgress?.({ phase: 'copy', file: to, done, total: pairs.length, bytes, bytesTotal });
          } catch (e) {
            return cb(e as Error);
          }
        }
        cb(null, chunk);
      },
    });
    await pipeline(createReadStream(join(src, from)), meter, createWriteStream(join(img, to), { mode: 0o644 }));
    done += 1;
    onProgress?.({ phase: 'copy', file: to, done, total: pairs.length, bytes, bytesTotal });
  }
}

/** SHA-256 and size of every file in the staged image, in path order. */
export async function hashTree(img: string, onProgress?: (p: ImportProgress) => void): Promise<ImageFileEntry[]> {
  const files = (await walk(img)).filter((f) => f !== MANIFEST);
  const out: ImageFileEntry[] = [];
  let bytes = 0;
  for (const [i, f] of files.entries()) {
    const h = createHash('sha256');
    let size = 0;
    for await (const c of createReadStream(join(img, f)) as AsyncIterable<Buffer>) {
      h.update(c);
      size += c.length;
    }
    bytes += size;
    out.push({ path: f, size, sha256: h.digest('hex') });
    onProgress?.({ phase: 'hash', file: f, done: i + 1, total: files.length, bytes, bytesTotal: 0 });
  }
  return out;
}

/**
 * Re-hashes an image directory and compares with its manifest.
 * @returns the paths whose size or SHA-256 differ, or that are missing
 */
export async function verifyImage(dir: string, manifest: ImageManifest): Promise<string[]> {
  const bad: string[] = [];
  for (const f of manifest.files) {
    try {
      const h = createHash('sha256');
      let size = 0;
      for await (const c of createReadStream(join(dir, f.path)) as AsyncIterable<Buffer>) {
        h.update(c);
        size += c.length;
      }
      if (size !== f.size || h.digest('hex') !== f.sha256) bad.push(f.path);
    } catch {
      bad.push(f.path);
    }
  }
  return bad;
}
