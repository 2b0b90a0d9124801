/**
 * `statelesx image sync`: copies the images of another statelesx server into this server's images
 * directory, so a new server can join a site (issue 18, "Images on every server").
 *
 * Image names are versions: an image present here with the same files (path, size, SHA-256: the
 * same ./fingerprint.ts, as the shared image catalog compares them) is `present`; present with other files, a `conflict` (never overwritten); absent, it is downloaded
 * into a hidden `<images-dir>/.sync-<name>-<pid>/` (hidden directories are never listed or served,
 * ./image.ts), each file checked against the source's manifest for size and SHA-256 while it
 * streams, `image.json` written last, then renamed into place in one `rename(2)`. On any error the
 * hidden directory is removed: nothing half-written is ever visible, and the running server may go
 * on serving meanwhile (a sync only adds directories). Leftovers of a killed sync are removed by
 * the next import or sync (./import.ts `cleanStaleImports`).
 *
 * Where the images come from is an {@link ImageSyncSource} (the CLI's is the source server's REST
 * API, src/cli/image-sync.ts). Imports libraries and this folder only.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkImageName, MANIFEST, manifestSchema, readManifest, type ImageManifest } from './image.js';
import { cleanStaleImports } from './import.js';
import { imageBytes, imageFingerprint } from './fingerprint.js';

/** Prefix of in-progress sync directories inside the images directory (`.sync-<name>-<pid>`). */
export const SYNC_PREFIX = '.sync-';

/** Where a sync reads images from (another server's API). Errors thrown are reported as they are. */
export interface ImageSyncSource {
  /** The source for messages (its URL). */
  readonly label: string;
  /** The names of the source's images. */
  names(): Promise<string[]>;
  /** The manifest (`image.json` contents, not yet validated) of image `name`. */
  manifest(name: string): Promise<unknown>;
  /** The bytes of file `path` of image `name`, as the source stores them. */
  file(name: string, path: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
}

/** What happened to one image: `synced` (copied now), `present` (same files here), `conflict`, `failed`. */
export type SyncResult = 'synced' | 'present' | 'conflict' | 'failed';

/** One image's outcome. */
export interface ImageSyncOutcome {
  image: string;
  /** Files and bytes of the source's manifest (0 when it could not be read). */
  files: number;
  bytes: number;
  result: SyncResult;
  /** Why, for `conflict` and `failed`: which file and what was wrong. */
  error?: string;
}

/** Progress of one image's download, reported per chunk. */
export interface SyncProgress {
  image: string;
  /** The file being received. */
  file: string;
  filesDone: number;
  files: number;
  /** Bytes received so far of the image, out of `bytes`. */
  bytesDone: number;
  bytes: number;
}

/** Options of {@link syncImages}. */
export interface SyncOptions {
  /** This server's images directory (config `images-dir`); created when missing. */
  imagesDir: string;
  source: ImageSyncSource;
  /** Only these images (default: every image of the source). A name the source lacks is `failed`. */
  images?: string[];
  /**
   * The boot tree's path rule (src/boot/files/path.ts `checkBootPath`), applied to every manifest
   * path before anything is written: a path the boot tree would refuse (`..`, absolute, control
   * characters …) fails the image. Throws to refuse.
   */
  checkPath: (path: string) => unknown;
  onProgress?: (p: SyncProgress) => void;
  /** Aborting stops the download in flight; its hidden directory is removed, then the abort error is thrown. */
  signal?: AbortSignal;
}

/** A file or manifest that does not match what the source promised; the message names it. */
export class SyncError extends Error {
  override name = 'SyncError';
}

/**
 * Syncs the source's images (or `opts.images`) into `opts.imagesDir`, one image at a time.
 * @returns one outcome per image, in the order of the source's list (then unknown requested names)
 * @throws what `source.names()` throws (unreachable source, refused token), and the abort error
 *   when `opts.signal` aborts; a problem with one image is that image's `failed` outcome instead
 */
export async function syncImages(opts: SyncOptions): Promise<ImageSyncOutcome[]> {
  const available = await opts.source.names();
  let wanted = available;
  const missing: string[] = [];
  if (opts.images) {
    const want = new Set(opts.images);
    wanted = available.filter((n) => want.has(n));
    missing.push(...[...want].filter((n) => !available.includes(n)));
  }
  await mkdir(opts.imagesDir, { recursive: true });
  await cleanStaleImports(opts.imagesDir);
  const out: ImageSyncOutcome[] = [];
  for (const name of wanted) {
    opts.signal?.throwIfAborted();
    out.push(await syncOne(name, opts));
  }
  for (const name of missing)
    out.push({
      image: name,
      files: 0,
      bytes: 0,
      result: 'failed',
      error: `no image "${name}" on ${opts.source.label}`,
    });
  return out;
}

/** One image: compare, download into the hidden directory, verify, rename. */
async function syncOne(name: string, opts: SyncOptions): Promise<ImageSyncOutcome> {
  const failed = (e: unknown, m?: ImageManifest): ImageSyncOutcome => ({
    image: name,
    files: m?.files.length ?? 0,
    bytes: m ? imageBytes(m) : 0,
    result: 'failed',
    error: (e as Error).message,
  });
  let m: ImageManifest;
  try {
    checkImageName(name);
    m = checkedManifest(name, await opts.source.manifest(name), opts);
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return failed(e);
  }
  const counts = { image: name, files: m.files.length, bytes: imageBytes(m) };
  const target = join(opts.imagesDir, name);
  if (await exists(target)) {
    let local: ImageManifest;
    try {
      local = await readManifest(target);
    } catch (e) {
      return {
        ...counts,
        result: 'conflict',
        error: `${target} exists but is not a readable image (${(e as Error).message}); not overwritten`,
      };
    }
    if (imageFingerprint(local) === imageFingerprint(m)) return { ...counts, result: 'present' };
    return {
      ...counts,
      result: 'conflict',
      error: `${target} holds other files than ${name} on ${opts.source.label} (image names are versions: import the other one under another name); not overwritten`,
    };
  }
  const stage = join(opts.imagesDir, `${SYNC_PREFIX}${name}-${process.pid}`);
  try {
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { mode: 0o755 });
    await download(name, m, stage, opts);
    await writeFile(join(stage, MANIFEST), JSON.stringify(m, null, 2) + '\n', { mode: 0o644 });
    try {
      await rename(stage, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST')
        throw new SyncError(`${target} appeared while ${name} was being copied; not overwritten`);
      throw e;
    }
    return { ...counts, result: 'synced' };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return failed(e, m);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * The source's manifest, validated: the image.json schema, its name, and every path safe to write
 * (the boot tree's rule, inside the image, not `image.json`, no duplicates).
 * @throws SyncError naming the image and what is wrong
 */
function checkedManifest(name: string, raw: unknown, opts: SyncOptions): ImageManifest {
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SyncError(
      `the manifest of ${name} on ${opts.source.label} is not valid: ${i.path.join('.') || '(top level)'}: ${i.message}`,
    );
  }
  const m = r.data;
  if (m.name !== name) throw new SyncError(`${opts.source.label} answered the manifest of "${m.name}" for "${name}"`);
  const seen = new Set<string>();
  for (const f of m.files) {
    try {
      opts.checkPath(f.path);
    } catch (e) {
      throw new SyncError(
        `the manifest of ${name} lists an unsafe path ${JSON.stringify(f.path)}: ${(e as Error).message}`,
      );
    }
    if (f.path === MANIFEST || seen.has(f.path))
      throw new SyncError(`the manifest of ${name} lists ${JSON.stringify(f.path)} twice (or as its own image.json)`);
    seen.add(f.path);
  }
  return m;
}

/** Downloads every file of `m` into `stage`, checking size and SHA-256 while the bytes arrive. */
async function download(name: string, m: ImageManifest, stage: string, opts: SyncOptions): Promise<void> {
  const root = resolve(stage);
  const total = imageBytes(m);
  let bytesDone = 0;
  for (const [i, f] of m.files.entries()) {
    const dest = resolve(root, ...f.path.split('/'));
    if (!dest.startsWith(root + sep)) throw new SyncError(`${name}/${f.path}: leaves the image directory`);
    await mkdir(dirname(dest), { recursive: true });
    const hash = createHash('sha256');
    let got = 0;
    const report = () =>
      opts.onProgress?.({ image: name, file: f.path, filesDone: i, files: m.files.length, bytesDone, bytes: total });
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        got += chunk.length;
        bytesDone += chunk.length;
        if (got > f.size)
          return cb(
            new SyncError(`${name}/${f.path}: the source sent more than the ${f.size} bytes its manifest lists`),
          );
        hash.update(chunk);
        report();
        cb(null, chunk);
      },
    });
    report();
    try {
      const body = await opts.source.file(name, f.path, opts.signal);
      await pipeline(body, meter, createWriteStream(dest, { flags: 'wx', mode: 0o644 }), {
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (e instanceof SyncError || opts.signal?.aborted) throw e;
      throw new SyncError(`${name}/${f.path}: ${(e as Error).message}`, { cause: e });
    }
    if (got !== f.size)
      throw new SyncError(`${name}/${f.path}: received ${got} bytes, the manifest lists ${f.size}; nothing was kept`);
    const sha = hash.digest('hex');
    if (sha !== f.sha256)
      throw new SyncError(
        `${name}/${f.path}: SHA-256 mismatch: the manifest lists ${f.sha256}, the bytes received hash to ${sha} (the file on ${opts.source.label} is damaged or was changed after import); nothing was kept`,
      );
  }
  opts.onProgress?.({
    image: name,
    file: '',
    filesDone: m.files.length,
    files: m.files.length,
    bytesDone,
    bytes: total,
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
