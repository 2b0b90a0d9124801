/**
 * Path safety for every boot request, TFTP and HTTP alike (one rule set, one place).
 *
 * Refused (PathRejectedError → TFTP error 2 "access violation", HTTP 403):
 *  - empty names, NUL or other control characters, backslashes (some ROMs send DOS paths),
 *  - absolute paths (a leading `/`; iPXE and curl strip it, and rendered boot.cfg never uses it;
 *    TFTP looks a name with one leading `/` up without it first, for GRUB: tftp/request-file.ts),
 *  - any `.` or `..` segment, empty segments (`a//b`), names over 255 bytes a segment or 1024 in all,
 *  - after resolution, a real path (symlinks followed) outside the root it was looked up in —
 *    for `tftp-root` and images ({@link resolveInside}). The loader directories (config
 *    `loader-dirs`) are system paths the admin chose: their symlinks are followed wherever the
 *    distribution points them ({@link resolveTrusted}; Debian's `/usr/lib/ipxe/ipxe.efi` is a
 *    symlink to `/boot/ipxe.efi`). The name itself is checked the same way for both.
 */
import { realpath } from 'node:fs/promises';
import { sep, resolve } from 'node:path';

export class PathRejectedError extends Error {
  override name = 'PathRejectedError';
  constructor(
    readonly requested: string,
    readonly reason: string,
  ) {
    super(`path refused: ${reason}`);
  }
}

/**
 * Checks a client-supplied path and returns its segments.
 * @throws PathRejectedError with the reason
 */
export function checkBootPath(name: string): string[] {
  if (name.length === 0) throw new PathRejectedError(name, 'empty file name');
  if (Buffer.byteLength(name) > 1024) throw new PathRejectedError(name, 'file name longer than 1024 bytes');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name))
    throw new PathRejectedError(name, 'control character (NUL, newline ...) in file name');
  if (name.includes('\\')) throw new PathRejectedError(name, 'backslash in file name');
  if (name.startsWith('/')) throw new PathRejectedError(name, 'absolute path');
  const parts = name.split('/');
  for (const p of parts) {
    if (p === '') throw new PathRejectedError(name, 'empty path segment');
    if (p === '.' || p === '..') throw new PathRejectedError(name, `"${p}" segment`);
    if (Buffer.byteLength(p) > 255) throw new PathRejectedError(name, 'path segment longer than 255 bytes');
  }
  return parts;
}

/**
 * Resolves `segments` under `root` and follows symlinks.
 * @returns the real absolute path, or null when it does not exist
 * @throws PathRejectedError when the real path leaves the (real) root
 */
export async function resolveInside(root: string, segments: string[], requested: string): Promise<string | null> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return null;
  }
  const candidate = resolve(realRoot, ...segments);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return null;
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw new PathRejectedError(requested, 'symlink leaves the root');
  }
  return real;
}

/**
 * Resolves `segments` under a trusted loader directory (config `loader-dirs`) and follows its
 * symlinks wherever they lead, the way the distribution lays them out (Debian:
 * `/usr/lib/ipxe/ipxe.efi` → `/boot/ipxe.efi`). `segments` must come from {@link checkBootPath}
 * (no `..`, no absolute path), so only a symlink inside that directory — put there by its
 * package or its admin, never by a client — leads out of it.
 * @returns the real absolute path, or null when it (or the directory) does not exist
 */
export async function resolveTrusted(root: string, segments: string[]): Promise<string | null> {
  try {
    return await realpath(resolve(root, ...segments));
  } catch {
    return null;
  }
}
