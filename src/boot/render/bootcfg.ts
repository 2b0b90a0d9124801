/**
 * Per-host ESXi `boot.cfg` (read by VMware's mboot.c32 / mboot.efi): the image's stored boot.cfg
 * with `prefix=` pointing at the image (TFTP-relative or an `http://…/boot/<image>/` URL) and the
 * statelesx arguments appended to `kernelopt` (token, initiator address, image, kickstart URL).
 * Served as `<image>/boot.cfg` (BIOS mboot.c32 `-c`) and `01-<mac>/boot.cfg` (UEFI mboot.efi).
 */
import type { ImageManifest } from '../../images/image.js';
import { serializeBootCfg, type BootCfg } from '../../images/bootcfg.js';
import { joinCmdline, statelesxKernelArgs, type RenderContext } from './context.js';
import { imagePrefix } from './files.js';

/**
 * @param image an `esxi` image
 * @param stored the image's parsed boot.cfg as imported (module paths relative to the image)
 * @returns boot.cfg text
 * @throws Error when `image` is not an ESXi image
 */
export function renderHostBootCfg(image: ImageManifest, stored: BootCfg, ctx: RenderContext): string {
  if (image.kind !== 'esxi') throw new Error(`image "${image.name}" is a ${image.kind} image: it has no boot.cfg`);
  const cfg: BootCfg = {
    ...stored,
    modules: [...stored.modules],
    other: [...stored.other],
    order: [...stored.order],
    prefix: imagePrefix(ctx, image.name),
    kernelopt: joinCmdline(stored.kernelopt, ...statelesxKernelArgs(ctx, image.name)),
  };
  if (!cfg.order.includes('prefix')) {
    const at = cfg.order.indexOf('kernel');
    cfg.order.splice(at < 0 ? cfg.order.length : at, 0, 'prefix');
  }
  return serializeBootCfg(cfg);
}
