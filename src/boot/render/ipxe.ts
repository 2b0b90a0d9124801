/**
 * iPXE scripts (https://ipxe.org/scripting), served over HTTP under `/boot/`.
 *
 * - `boot.ipxe`: the entry script iPXE gets from DHCP (user class 77 = `iPXE`); it chains to the
 *   per-host script by `${uuid}` (SMBIOS byte order), falling back to the MAC.
 * - `hosts/<uuid>.ipxe` / `hosts/mac-<aa-bb-..>.ipxe`: the per-host script.
 *   Linux: `kernel … initrd=<name>` (under UEFI iPXE boots the kernel through the EFI stub, which
 *   finds the initrd only by that name; harmless under BIOS) + `initrd` + `boot`.
 *   ESXi: UEFI chains the image's `mboot.efi` with `-c <boot.cfg URL>`; BIOS chains `pxelinux.0`
 *   (VMware's mboot.c32 is a COM32 module that needs pxelinux).
 */
import type { BootDecision } from '../../hosts/policy.js';
import type { ImageManifest } from '../../images/image.js';
import { httpBootBase, joinCmdline, statelesxKernelArgs, type RenderContext } from './context.js';

/** The entry script: chain to the per-host script by UUID, then by MAC. */
export function renderIpxeEntry(ctx: Pick<RenderContext, 'serverAddress' | 'httpPort'>): string {
  const base = httpBootBase(ctx);
  return [
    '#!ipxe',
    'echo statelesx: uuid ${uuid} mac ${net0/mac} platform ${platform}',
    `chain ${base}hosts/\${uuid}.ipxe || chain ${base}hosts/mac-\${net0/mac:hexhyp}.ipxe || goto failed`,
    'exit',
    ':failed',
    'echo statelesx: no boot script for this host, booting from local disk',
    'exit',
    '',
  ].join('\n');
}

/** The per-host script for a decision. Image URLs are always HTTP (iPXE fetches them itself). */
export function renderIpxeHost(d: BootDecision, ctx: RenderContext): string {
  const hctx: RenderContext = { ...ctx, transport: 'http' };
  const lines = ['#!ipxe', `# statelesx: ${d.host.uuid ?? d.host.mac ?? 'unidentified host'}`];
  if (d.action === 'local') {
    lines.push(`echo statelesx: local boot (${d.reason})`, 'exit', '');
    return lines.join('\n');
  }
  if (d.action === 'boot') {
    lines.push(...bootLines(d.image, hctx, 'boot'), '');
    return lines.join('\n');
  }
  lines.push('menu statelesx: choose an image');
  for (const img of d.images) lines.push(`item ${itemOf(img.name)} ${img.name} (${img.kind})`);
  lines.push('item local Boot from local disk');
  lines.push(
    `choose --timeout 10000 --default ${d.defaultImage ? itemOf(d.defaultImage) : 'local'} target && goto \${target} || goto local`,
  );
  const menuCtx = { ...hctx, token: undefined, kickstartUrl: undefined, kernelOptions: undefined };
  for (const img of d.images) lines.push(`:${itemOf(img.name)}`, ...bootLines(img, menuCtx, itemOf(img.name)));
  lines.push(':local', 'exit', '');
  return lines.join('\n');
}

function itemOf(name: string): string {
  return 'img-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
}

function bootLines(img: ImageManifest, ctx: RenderContext, tag: string): string[] {
  const base = `${httpBootBase(ctx)}${img.name}/`;
  if (img.kind === 'linux') {
    const l = img.linux!;
    const initrdNames = l.initrd.map((f) => `initrd=${f.split('/').pop()}`);
    return [
      `kernel ${base}${l.kernel} ${joinCmdline(...initrdNames, l.cmdline, ctx.kernelOptions, ...statelesxKernelArgs(ctx, img.name))}`,
      ...l.initrd.map((f) => `initrd ${base}${f}`),
      'boot',
    ];
  }
  const efi = img.esxi?.efiLoader ?? 'efi/boot/bootx64.efi';
  return [
    `iseq \${platform} efi && goto ${tag}-efi || goto ${tag}-bios`,
    `:${tag}-efi`,
    `chain ${base}${efi} -c ${base}${img.esxi?.bootCfg ?? 'boot.cfg'}`,
    `:${tag}-bios`,
    `chain ${httpBootBase(ctx)}pxelinux.0`,
  ];
}
