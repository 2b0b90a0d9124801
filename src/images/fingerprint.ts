/**
 * An image's fingerprint: hex SHA-256 over its file list — each file's path, size (bytes) and
 * SHA-256, sorted by path, one `path\tsize\tsha256\n` line each. Two image directories with the
 * same fingerprint serve the same bytes, whatever the rest of `image.json` says (import time,
 * source path). The image catalog (src/store/image-catalog.ts) keeps it per image name.
 */
import { createHash } from 'node:crypto';
import type { ImageManifest } from './image.js';

/** The fingerprint of `m` (64 hex digits). */
export function imageFingerprint(m: Pick<ImageManifest, 'files'>): string {
  const lines = [...m.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`)
    .join('');
  return createHash('sha256').update(lines, 'utf8').digest('hex');
}

/** Total bytes of `m`'s files. */
export function imageBytes(m: Pick<ImageManifest, 'files'>): number {
  return m.files.reduce((n, f) => n + f.size, 0);
}
