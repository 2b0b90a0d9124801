/** Where a loader finds an image's files: TFTP-relative paths or absolute HTTP URLs. */
import { httpBootBase, type RenderContext } from './context.js';

/**
 * Reference to file `path` of image `image` as the loader should request it:
 * `<image>/<path>` over TFTP, `http://<addr>:<port>/boot/<image>/<path>` over HTTP.
 */
export function imageFileRef(ctx: RenderContext, image: string, path: string): string {
  const rel = `${image}/${path}`;
  return ctx.transport === 'http' ? httpBootBase(ctx) + rel : rel;
}

/** The `prefix=` for an image's boot.cfg: `<image>` over TFTP, `http://…/boot/<image>/` over HTTP. */
export function imagePrefix(ctx: RenderContext, image: string): string {
  return ctx.transport === 'http' ? `${httpBootBase(ctx)}${image}/` : image;
}
