/**
 * Per-host ESXi `boot.cfg` (read by VMware's mboot.c32 / mboot.efi): the image's stored boot.cfg
 * with `prefix=` pointing at the image (TFTP-relative or an `http://…/boot/<image>/` URL) and the
 * cluster's and member's `kernelOptions`, then the statelesx arguments, appended to `kernelopt` (token, initiator address, image, kickstart URL),
 * and the initiator bundle ({@link INITIATOR_MODULE}) appended to `modules=`.
 *
 * The installer ISO's `kernelopt=runweasel cdromBoot` starts the ESXi installer (weasel): a
 * stateless boot drops both, so the same modules boot a live ESXi in RAM; a stateful install keeps
 * `runweasel` (adding it when missing) and drops `cdromBoot` (the installer did not boot from CD),
 * with `ks=` pointing at the host's kickstart.
 * Served as `<image>/boot.cfg` (BIOS mboot.c32 `-c`) and `01-<mac>/boot.cfg` (UEFI mboot.efi).
 */
import type { ImageManifest } from '../../images/image.js';
import { serializeBootCfg, type BootCfg } from '../../images/bootcfg.js';
import { joinCmdline, statelesxKernelArgs, type RenderContext } from './context.js';
import { imagePrefix } from './files.js';
import { INITIATOR_MODULE } from './initiator-bundle.js';

/** Options of {@link renderHostBootCfg}. */
export interface HostBootCfgOptions {
  /**
   * Append the initiator bundle to `modules=` (config `boot.initiator-module`, default true). It is
   * never appended to a stateful install's boot.cfg (`ctx.kickstartUrl` set): that boot runs the
   * ESXi installer, and the installed host phones home from the kickstart's `%firstboot`.
   */
  initiatorModule?: boolean;
}

/**
 * @param image an `esxi` image
 * @param stored the image's parsed boot.cfg as imported (module paths relative to the image)
 * @returns boot.cfg text
 * @throws Error when `image` is not an ESXi image
 */
export function renderHostBootCfg(
  image: ImageManifest,
  stored: BootCfg,
  ctx: RenderContext,
  opts: HostBootCfgOptions = {},
): string {
  if (image.kind !== 'esxi') throw new Error(`image "${image.name}" is a ${image.kind} image: it has no boot.cfg`);
  const cfg: BootCfg = {
    ...stored,
    modules: [...stored.modules],
    other: [...stored.other],
    order: [...stored.order],
    prefix: imagePrefix(ctx, image.name),
    kernelopt: joinCmdline(
      installerOpts(stored.kernelopt, !!ctx.kickstartUrl),
      ctx.kernelOptions,
      ...statelesxKernelArgs(ctx, image.name),
    ),
  };
  // Relative to `prefix=` like the image's own modules: served as `<image>/sxinit.tgz`. Last, so
  // its files lie over the image's. A boot.cfg that already lists it does not get it twice.
  const listed = cfg.modules.some((m) => m.replace(/^\/+/, '').toLowerCase() === INITIATOR_MODULE);
  if ((opts.initiatorModule ?? true) && !ctx.kickstartUrl && !listed) cfg.modules.push(INITIATOR_MODULE);
  if (!cfg.order.includes('prefix')) {
    const at = cfg.order.indexOf('kernel');
    cfg.order.splice(at < 0 ? cfg.order.length : at, 0, 'prefix');
  }
  return serializeBootCfg(cfg);
}

/** Installer boot options of the ISO's kernelopt: see the module comment. */
const INSTALLER_OPTS = new Set(['runweasel', 'cdromboot']);

/**
 * @param kernelopt the image's stored `kernelopt` (space-separated VMkernel options)
 * @param install true for a stateful (kickstart) install
 * @returns kernelopt without `runweasel`/`cdromBoot` (stateless), or with `runweasel` first and
 *          without `cdromBoot` (install); every other option kept in order
 */
export function installerOpts(kernelopt: string | undefined, install: boolean): string {
  const rest = (kernelopt ?? '').split(/\s+/).filter((o) => o !== '' && !INSTALLER_OPTS.has(o.toLowerCase()));
  return (install ? ['runweasel', ...rest] : rest).join(' ');
}
