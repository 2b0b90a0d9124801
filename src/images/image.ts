/**
 * Image versions on disk: `<images-dir>/<name>/` holds one image's files plus `image.json`
 * (the {@link ImageManifest}). Directories whose name starts with `.` are imports in progress
 * (see import.ts) and are never listed or served.
 *
 * Owns: the manifest shape, name rules, listing/reading/removing images. Imports nothing from
 * the boot protocols or the store; pin checks are passed in by the caller.
 */
import { readFile, readdir, rm, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** File name of the manifest inside an image directory. */
export const MANIFEST = 'image.json';

/** Image names: 1–64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit (safe in URLs and TFTP paths). */
export const IMAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const fileEntry = z.object({
  /** Path inside the image directory, `/`-separated, as boot.cfg references it (lower case for ESXi). */
  path: z.string().min(1),
  /** Bytes. */
  size: z.number().int().min(0),
  /** Hex SHA-256 of the contents. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** ESXi-specific facts, read from the image's boot.cfg. */
const esxiInfo = z.object({
  /** e.g. `8.0.2`; null when boot.cfg has no parseable `build=`. */
  version: z.string().nullable(),
  /** VMware build number, e.g. `22380479`. */
  build: z.string().nullable(),
  title: z.string().nullable(),
  /** The image's boot.cfg (always `boot.cfg` at the image root after import). */
  bootCfg: z.string().default('boot.cfg'),
  /** BIOS loader from the image (`mboot.c32`), when present. */
  biosLoader: z.string().nullable().default(null),
  /** UEFI loader from the image (`efi/boot/bootx64.efi`, VMware's mboot.efi), when present. */
  efiLoader: z.string().nullable().default(null),
});

/** Linux images: what a pxelinux `KERNEL/INITRD/APPEND` or iPXE `kernel/initrd` needs. */
const linuxInfo = z.object({
  /** Kernel file inside the image (bzImage). */
  kernel: z.string().min(1),
  /** Initrd files inside the image, loaded in order. */
  initrd: z.array(z.string().min(1)).default([]),
  /** Kernel command line (without per-host additions such as the boot token). */
  cmdline: z.string().default(''),
});

export const manifestSchema = z
  .object({
    schema: z.literal(1).default(1),
    name: z.string().regex(IMAGE_NAME_RE),
    kind: z.enum(['esxi', 'linux']),
    esxi: esxiInfo.optional(),
    linux: linuxInfo.optional(),
    /** What it was imported from (ISO or directory path as given). */
    source: z.string(),
    /** ISO 8601 UTC time of the import. */
    importedAt: z.string(),
    files: z.array(fileEntry),
  })
  .refine((m) => (m.kind === 'esxi' ? !!m.esxi : !!m.linux), {
    message: 'kind "esxi" needs "esxi", kind "linux" needs "linux"',
  });

/** The contents of `image.json`. */
export type ImageManifest = z.infer<typeof manifestSchema>;
export type ImageFileEntry = z.infer<typeof fileEntry>;

/** An image problem (unknown name, bad manifest, refused removal …); the message says what and where. */
export class ImageError extends Error {
  override name = 'ImageError';
}

/** @throws ImageError when `name` does not follow {@link IMAGE_NAME_RE} */
export function checkImageName(name: string): void {
  if (!IMAGE_NAME_RE.test(name)) {
    throw new ImageError(
      `invalid image name "${name}": use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}

/**
 * Reads and validates `<dir>/image.json`.
 * @throws ImageError naming the file and the field that is wrong
 */
export async function readManifest(dir: string): Promise<ImageManifest> {
  const file = join(dir, MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ImageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ImageError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ImageError(`${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return r.data;
}

/** Decides whether an image may be removed: returns (or resolves to) who pins it (empty = free). */
export type PinCheck = (image: string) => string[] | Promise<string[]>;

/**
 * The images directory: list, read and remove image versions.
 */
export class ImageLibrary {
  /** @param dir the images directory (config `images-dir`) */
  constructor(readonly dir: string) {}

  /** Directory of image `name` (not checked for existence). @throws ImageError for a bad name */
  pathOf(name: string): string {
    checkImageName(name);
    return join(this.dir, name);
  }

  /**
   * Every valid image, sorted by name. Directories starting with `.` (imports in progress) are
   * skipped; directories with a broken manifest are returned in `broken` with the reason.
   */
  async list(): Promise<{ images: ImageManifest[]; broken: Array<{ name: string; error: string }> }> {
    let names: string[];
    try {
      names = (await readdir(this.dir, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { images: [], broken: [] };
      throw e;
    }
    names.sort();
    const images: ImageManifest[] = [];
    const broken: Array<{ name: string; error: string }> = [];
    for (const n of names) {
      try {
        const m = await readManifest(join(this.dir, n));
        if (m.name !== n)
          throw new ImageError(`${join(this.dir, n, MANIFEST)}: name "${m.name}" does not match its directory "${n}"`);
        images.push(m);
      } catch (e) {
        broken.push({ name: n, error: (e as Error).message });
      }
    }
    return { images, broken };
  }

  /** The manifest of image `name`, or null when there is no such image. @throws ImageError for a broken manifest */
  async get(name: string): Promise<ImageManifest | null> {
    if (!IMAGE_NAME_RE.test(name)) return null;
    try {
      await stat(join(this.dir, name, MANIFEST));
    } catch {
      return null;
    }
    return readManifest(join(this.dir, name));
  }

  /**
   * Removes image `name`: renamed to a hidden directory first (so it disappears at once), then deleted.
   * @param pins returns who pins the image (hosts, clusters); a non-empty answer refuses removal
   * @throws ImageError when unknown or pinned (the message lists the pins)
   */
  async remove(name: string, pins: PinCheck): Promise<void> {
    checkImageName(name);
    if (!(await this.get(name))) throw new ImageError(`no image "${name}" in ${this.dir}`);
    const who = await pins(name);
    if (who.length > 0) {
      throw new ImageError(`image "${name}" is pinned by ${who.join(', ')}: re-pin or unpin them first`);
    }
    const hidden = join(this.dir, `.remove-${name}-${process.pid}-${Date.now()}`);
    await rename(join(this.dir, name), hidden);
    await rm(hidden, { recursive: true, force: true });
  }
}
