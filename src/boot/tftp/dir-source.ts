/**
 * A {@link BootFileSource} over one directory: the smallest resolver that follows the path rules
 * (`checkBootPath` then `resolveInside`). Used by the standalone runner (src/app/tftp-standalone.ts), tests and benchmarks;
 * the server proper gets the full resolver (static root, images, rendered files) from boot/files.
 */
import { stat } from 'node:fs/promises';
import type { BootFileSource, BootFile } from '../files/types.js';
import { checkBootPath, resolveInside } from '../files/path.js';

/**
 * @param root directory served (symlinks inside it may point anywhere inside it, never outside)
 * @returns a source whose `resolve` throws PathRejectedError for unsafe names and returns null for
 *   missing files and non-regular files (directories, devices)
 */
export function directorySource(root: string): BootFileSource {
  return {
    async resolve(name: string): Promise<BootFile | null> {
      const segments = checkBootPath(name);
      const real = await resolveInside(root, segments, name);
      if (real === null) return null;
      const st = await stat(real);
      if (!st.isFile()) return null;
      return { kind: 'disk', path: real, size: st.size, mtimeMs: st.mtimeMs };
    },
  };
}
