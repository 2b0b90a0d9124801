/**
 * pxelinux configuration files (syslinux 6 `pxelinux.0` / `syslinux.efi`; config syntax of
 * syslinux's doc/syslinux.txt): `pxelinux.cfg/<uuid>`, `pxelinux.cfg/01-<mac>` and
 * `pxelinux.cfg/default`.
 *
 * - ESXi: `KERNEL <image>/mboot.c32` + `APPEND -c <image>/boot.cfg` (VMware's own mboot.c32 from
 *   the image; boot.cfg is rendered per host with its `prefix=`).
 * - Linux: `KERNEL`/`INITRD`/`APPEND` with the image's command line plus the statelesx arguments.
 * - Menu: `UI menu.c32` with one entry per image and local boot; local: `LOCALBOOT 0`.
 * `IPAPPEND 2` makes pxelinux add `BOOTIF=01-<mac>` so the kernel knows its boot NIC.
 */
import type { BootDecision } from '../../hosts/policy.js';
import type { ImageManifest } from '../../images/image.js';
import { joinCmdline, statelesxKernelArgs, type RenderContext } from './context.js';
import { imageFileRef } from './files.js';

/** Renders the pxelinux config text for a decision (LF line ends). */
export function renderPxelinuxConfig(d: BootDecision, ctx: RenderContext): string {
  const head = [`# statelesx: ${describe(d)}`];
  if (d.action === 'boot') {
    return [
      ...head,
      'DEFAULT boot',
      'PROMPT 0',
      'TIMEOUT 0',
      ...bootLabel('boot', d.image, ctx, `${d.image.name} (${d.reason})`),
      '',
    ].join('\n');
  }
  if (d.action === 'local') {
    return [...head, 'DEFAULT local', 'PROMPT 0', 'TIMEOUT 0', ...localLabel(), ''].join('\n');
  }
  // Menu: entries carry no token (the host is unknown); boot.cfg is still rendered per host later.
  const lines = [...head, 'UI menu.c32', 'PROMPT 0', 'TIMEOUT 100', 'MENU TITLE statelesx: choose an image'];
  lines.push(`DEFAULT ${d.defaultImage ? labelOf(d.defaultImage) : 'local'}`);
  const menuCtx = { ...ctx, token: undefined, kickstartUrl: undefined, kernelOptions: undefined };
  for (const img of d.images) lines.push(...bootLabel(labelOf(img.name), img, menuCtx, img.name));
  lines.push(...localLabel(), '');
  return lines.join('\n');
}

function describe(d: BootDecision): string {
  const who = d.host.uuid ?? d.host.mac ?? 'unidentified host';
  if (d.action === 'boot') return `${who} boots ${d.image.name} (${d.reason})`;
  if (d.action === 'local') return `${who} boots from local disk (${d.reason})`;
  return `${who} is unknown: menu of ${d.images.length} image(s)`;
}

function labelOf(name: string): string {
  return 'img-' + name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function bootLabel(label: string, img: ImageManifest, ctx: RenderContext, title: string): string[] {
  const lines = [`LABEL ${label}`, `  MENU LABEL ${title}`];
  if (img.kind === 'esxi') {
    const loader = img.esxi?.biosLoader ?? 'mboot.c32';
    lines.push(`  KERNEL ${imageFileRef(ctx, img.name, loader)}`);
    lines.push(`  APPEND -c ${imageFileRef(ctx, img.name, img.esxi?.bootCfg ?? 'boot.cfg')}`);
  } else {
    const l = img.linux!;
    lines.push(`  KERNEL ${imageFileRef(ctx, img.name, l.kernel)}`);
    if (l.initrd.length) lines.push(`  INITRD ${l.initrd.map((f) => imageFileRef(ctx, img.name, f)).join(',')}`);
    lines.push(`  APPEND ${joinCmdline(l.cmdline, ctx.kernelOptions, ...statelesxKernelArgs(ctx, img.name))}`);
  }
  lines.push('  IPAPPEND 2');
  return lines;
}

function localLabel(): string[] {
  return ['LABEL local', '  MENU LABEL Boot from local disk', '  LOCALBOOT 0'];
}
