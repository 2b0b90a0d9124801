/**
 * `statelesx image import`: turns an ESXi installer ISO, a directory copied from one, or a Linux
 * image directory into `<images-dir>/<name>/` with an `image.json`.
 *
 * - ISOs are read with libarchive's `bsdtar` (Debian `libarchive-tools`); we never parse ISO9660.
 * - ESXi ISOs carry upper-case 8.3 names (`B.B00`, `EFI/BOOT/BOOTX64.EFI`) while boot.cfg
 *   references lower-case paths with a leading `/`: every path is stored lower-case and boot.cfg is
 *   rewritten with the stored names, without leading `/` and with `prefix=` removed (it is rendered
 *   per host at boot time).
 * - A Linux image directory holds an `image.json` with `kind: "linux"` and a `linux` object
 *   (`kernel`, `initrd`, `cmdline`); names are kept as they are.
 * - Atomic: everything happens in a hidden `.import-<pid>-*` directory inside the images directory
 *   and is renamed into place at the end; an interrupted import leaves no visible image, and
 *   leftovers of dead processes are removed at the start of the next import.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile, lstat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { z } from 'zod';
import { copyFiles, hashTree, normalizedMap, walk, type ImportProgress } from './files.js';
import {
  BootCfgError,
  esxiVersionOf,
  parseBootCfg,
  serializeBootCfg,
  stripLeadingSlash,
  type BootCfg,
} from './bootcfg.js';
import { checkImageName, IMAGE_NAME_RE, ImageError, MANIFEST, manifestSchema, type ImageManifest } from './image.js';

export type { ImportProgress } from './files.js';
export { verifyImage } from './files.js';

export interface ImportOptions {
  /** ISO file or directory. */
  source: string;
  /** Images directory (config `images-dir`); created when missing. */
  imagesDir: string;
  /** Image name; default `esxi-<version>-<build>` from boot.cfg, else the source's base name. */
  name?: string;
  /** Called for progress; an exception thrown here aborts the import (and cleans up). */
  onProgress?: (p: ImportProgress) => void;
  /** The `bsdtar` binary (default `bsdtar` on PATH). */
  bsdtar?: string;
  /** Import time (tests). */
  now?: Date;
}

/** Prefix of in-progress import directories inside the images directory. */
export const TEMP_PREFIX = '.import-';

/**
 * Imports an image atomically.
 * @returns the written manifest
 * @throws ImageError saying what is wrong: unreadable source, not an ISO, no boot.cfg (not ESXi),
 *   a boot.cfg error with its line, missing modules (all listed), a name clash or an invalid name
 */
export async function importImage(opts: ImportOptions): Promise<ImageManifest> {
  const { source, imagesDir } = opts;
  if (opts.name !== undefined) checkImageName(opts.name);
  let st;
  try {
    st = await stat(source);
  } catch (e) {
    throw new ImageError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  await mkdir(imagesDir, { recursive: true });
  await cleanStaleImports(imagesDir);
  if (opts.name !== undefined) await refuseExisting(imagesDir, opts.name);

  const tmp = await mkdtemp(join(imagesDir, `${TEMP_PREFIX}${process.pid}-`));
  try {
    const img = join(tmp, 'image');
    await mkdir(img);
    let partial: Omit<ImageManifest, 'files' | 'name'> & { defaultName: string };
    if (st.isFile()) {
      partial = await stageIso(source, tmp, img, opts);
    } else if (st.isDirectory()) {
      partial = await stageDirectory(source, img, opts);
    } else {
      throw new ImageError(`${source}: neither a file (ISO) nor a directory`);
    }
    const name = opts.name ?? partial.defaultName;
    checkImageName(name);
    await refuseExisting(imagesDir, name);
    const files = await hashTree(img, opts.onProgress);
    const { defaultName: _d, ...rest } = partial;
    const manifest = manifestSchema.parse({ ...rest, name, files });
    await writeFile(join(img, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    try {
      await rename(img, join(imagesDir, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST')
        throw new ImageError(`image "${name}" already exists in ${imagesDir}`);
      throw e;
    }
    return manifest;
  } catch (e) {
    throw diskFullError(e, imagesDir) ?? e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * An ImageError naming the images directory for a write that failed because the file system is
 * full or over quota (ENOSPC / EDQUOT, bsdtar's "No space left on device"), else undefined.
 */
function diskFullError(e: unknown, imagesDir: string): ImageError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const full =
    code === 'ENOSPC' || code === 'EDQUOT' || (e instanceof ImageError && /no space left on device/i.test(e.message));
  if (!full) return undefined;
  return new ImageError(
    `no space left in the images directory ${imagesDir} (${code ?? 'ENOSPC'}): the import was removed, nothing was kept; free space or pass another --images-dir`,
    { cause: e },
  );
}

async function refuseExisting(imagesDir: string, name: string): Promise<void> {
  try {
    await lstat(join(imagesDir, name));
  } catch {
    return;
  }
  throw new ImageError(`image "${name}" already exists in ${imagesDir}: remove it first or choose another --name`);
}

/** An in-progress `statelesx image sync` directory, `.sync-<name>-<pid>` (./sync.ts); group 1 is the pid. */
const SYNC_DIR = /^\.sync-.+-(\d+)$/;

/**
 * Removes `.import-<pid>-*` and `.sync-<name>-<pid>` directories whose process is gone, and
 * `.remove-*` leftovers.
 * @returns the names removed
 */
export async function cleanStaleImports(imagesDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(imagesDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    let stale = false;
    if (e.startsWith('.remove-')) stale = true;
    const m = new RegExp(`^${TEMP_PREFIX.replace('.', '\\.')}(\\d+)-`).exec(e) ?? SYNC_DIR.exec(e);
    if (m) stale = Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
    if (stale) {
      await rm(join(imagesDir, e), { recursive: true, force: true });
      removed.push(e);
    }
  }
  return removed;
}

/** True when `pid` runs; a zombie (killed, not yet reaped: /proc/<pid>/stat state Z or X) counts as gone. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

type Staged = Omit<ImageManifest, 'files' | 'name'> & { defaultName: string };

/** The error bsdtar appends to a verbose "x <name>" line when that entry fails. */
const BSDTAR_ENTRY_FAILURE = /: (?:Write failed|Read failed|Can't|Cannot|Failed|Error|Truncated)/;

/** Runs bsdtar; resolves with stdout, rejects with ImageError carrying stderr. Calls `onLine` per stderr line. */
function runBsdtar(bin: string, args: string[], what: string, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolveP, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let pending = '';
    let cbError: Error | undefined;
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => {
      pending += d.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        // bsdtar -v appends an entry's error to its "x <name>" line ("x S.V00: Write failed: No
        // space left on device"): keep those as errors, not progress.
        if (onLine && l.startsWith('x ') && !BSDTAR_ENTRY_FAILURE.test(l)) {
          try {
            onLine(l.slice(2));
          } catch (e) {
            cbError ??= e as Error; // thrown by our own onLine callback
            p.kill('SIGTERM');
          }
        } else err += l + '\n';
      }
    });
    p.on('error', (e) =>
      reject(new ImageError(`cannot run ${bin} (install Debian package libarchive-tools): ${e.message}`)),
    );
    p.on('close', (code) => {
      if (cbError) return reject(cbError);
      if (code === 0) resolveP(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new ImageError(
            `${what}: ${(err + pending).trim().split('\n').slice(-3).join('; ') || `bsdtar exited with ${code}`}`,
          ),
        );
    });
  });
}

async function stageIso(iso: string, tmp: string, img: string, opts: ImportOptions): Promise<Staged> {
  const bin = opts.bsdtar ?? 'bsdtar';
  const listing = await runBsdtar(bin, ['-tf', iso], `${iso} is not a readable ISO image`);
  const rawEntries = listing.split('\n').filter((l) => l !== '').length;
  const entries = listing
    .split('\n')
    .map((l) => l.replace(/^\.\//, '').replace(/\/$/, ''))
    .filter((l) => l !== '' && l !== '.');
  if (!entries.some((e) => e.toLowerCase() === 'boot.cfg')) {
    throw new ImageError(`${iso}: no boot.cfg at the top of the ISO: not an ESXi installer ISO`);
  }
  const raw = join(tmp, 'raw');
  await mkdir(raw);
  let done = 0;
  await runBsdtar(bin, ['-xvf', iso, '-C', raw], `${iso}: extraction failed`, (file) => {
    done += 1;
    opts.onProgress?.({ phase: 'extract', file, done, total: rawEntries, bytes: 0, bytesTotal: 0 });
  });
  // ISO9660 without Rock Ridge extracts read-only (0400/0500): make the staging tree ours.
  const files = await walk(raw, async (dir) => chmod(dir, 0o755));
  const map = normalizedMap(raw, files, iso);
  for (const [rel, abs] of map) {
    await mkdir(dirname(join(img, rel)), { recursive: true });
    await rename(abs, join(img, rel));
    await chmod(join(img, rel), 0o644);
  }
  return finishEsxi(img, new Set(map.keys()), iso, opts, basename(iso).replace(/\.iso$/i, ''));
}

async function stageDirectory(src: string, img: string, opts: ImportOptions): Promise<Staged> {
  const files = await walk(src);
  const descriptor = files.find((f) => f === MANIFEST);
  const hasBootCfg = files.some((f) => f.toLowerCase() === 'boot.cfg');
  if (descriptor !== undefined) {
    const d = await readLinuxDescriptor(join(src, MANIFEST));
    if (d.kind === 'linux') {
      const names = new Set(files.filter((f) => f !== MANIFEST));
      const missing = [d.linux.kernel, ...d.linux.initrd].filter((f) => !names.has(f));
      if (missing.length)
        throw new ImageError(`${join(src, MANIFEST)}: linux files missing from ${src}: ${missing.join(', ')}`);
      await copyFiles(
        src,
        img,
        [...names].map((f) => [f, f] as [string, string]),
        opts.onProgress,
      );
      return {
        schema: 1,
        kind: 'linux',
        linux: d.linux,
        source: src,
        importedAt: (opts.now ?? new Date()).toISOString(),
        defaultName: d.name ?? sanitizeName(basename(src)),
      };
    }
  }
  if (!hasBootCfg) {
    throw new ImageError(`${src}: no boot.cfg (ESXi) and no image.json with kind "linux": nothing to import`);
  }
  const map = normalizedMap(
    src,
    files.filter((f) => f !== MANIFEST),
    src,
  );
  await copyFiles(
    src,
    img,
    [...map].map(([rel, abs]) => [relative(src, abs).split(sep).join('/'), rel] as [string, string]),
    opts.onProgress,
  );
  return finishEsxi(img, new Set(map.keys()), src, opts, basename(src));
}

const linuxDescriptor = z.object({
  name: z.string().regex(IMAGE_NAME_RE).optional(),
  kind: z.enum(['linux', 'esxi']),
  linux: z.object({
    kernel: z.string().min(1),
    initrd: z.array(z.string().min(1)).default([]),
    cmdline: z.string().default(''),
  }),
});

async function readLinuxDescriptor(file: string): Promise<z.infer<typeof linuxDescriptor>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ImageError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = linuxDescriptor.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ImageError(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return r.data;
}

/** Reads boot.cfg, checks the kernel and every module exists, rewrites boot.cfg with stored names. */
async function finishEsxi(
  img: string,
  names: Set<string>,
  source: string,
  opts: ImportOptions,
  fallbackName: string,
): Promise<Staged> {
  if (!names.has('boot.cfg')) throw new ImageError(`${source}: no boot.cfg: not an ESXi image`);
  let cfg: BootCfg;
  try {
    cfg = parseBootCfg(await readFile(join(img, 'boot.cfg'), 'utf8'), `${source}: boot.cfg`);
  } catch (e) {
    if (e instanceof BootCfgError) throw new ImageError(e.message);
    throw e;
  }
  const resolveRef = (ref: string): string | null => {
    const p = stripLeadingSlash(ref).toLowerCase();
    if (names.has(p)) return p;
    const b = basename(p);
    return names.has(b) ? b : null;
  };
  const kernel = resolveRef(cfg.kernel);
  const missing: string[] = [];
  if (!kernel) missing.push(`kernel ${cfg.kernel}`);
  const modules = cfg.modules.map((m) => {
    const r = resolveRef(m);
    if (!r) missing.push(m);
    return r ?? m;
  });
  if (missing.length) {
    throw new ImageError(
      `${source}: boot.cfg references ${missing.length} file(s) missing from the image: ${missing.join(', ')}`,
    );
  }
  if (cfg.modules.length === 0) throw new ImageError(`${source}: boot.cfg: "modules=" lists no modules`);
  const original = { ...cfg };
  cfg.kernel = kernel!;
  cfg.modules = modules;
  delete cfg.prefix;
  cfg.order = cfg.order.filter((k) => k !== 'prefix');
  await writeFile(join(img, 'boot.cfg'), serializeBootCfg(cfg));
  const { version, build } = esxiVersionOf(original);
  return {
    schema: 1,
    kind: 'esxi',
    esxi: {
      version,
      build,
      title: cfg.title ?? null,
      bootCfg: 'boot.cfg',
      biosLoader: names.has('mboot.c32') ? 'mboot.c32' : null,
      efiLoader: names.has('efi/boot/bootx64.efi') ? 'efi/boot/bootx64.efi' : null,
    },
    source,
    importedAt: (opts.now ?? new Date()).toISOString(),
    defaultName: version && build ? `esxi-${version}-${build}` : sanitizeName(fallbackName),
  };
}

function sanitizeName(s: string): string {
  const n = s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return n === '' ? 'image' : n;
}
