/**
 * GRUB 2 configuration files (GRUB manual, "Shell-like scripting"; GRUB 2.06 as Debian ships it),
 * for UEFI clients whose loader is GRUB's network image: arm64 (option 93 arch 11) boots
 * Debian's signed `grubnetaa64.efi.signed`, whose built-in config sources `$prefix/grub.cfg`
 * with `prefix=/grub` on the TFTP server it was loaded from.
 *
 * - `grub/grub.cfg`: the entry config; it reads the SMBIOS system UUID (`smbios --type 1
 *   --get-uuid 8`, SMBIOS order as dmidecode prints it) and runs the per-host config by UUID,
 *   then by MAC (`net_default_mac`, `aa:bb:…`); a command that fails (not found) lets the next run.
 * - `grub/hosts/<uuid>.cfg` / `grub/hosts/mac-<aa:bb:…>.cfg`: the per-host config.
 *   Linux: `linux` + `initrd` + `boot`, files over TFTP (`/<image>/<path>` on GRUB's root, the
 *   TFTP server it came from). ESXi on arm64: `chainloader` the image's EFI loader with
 *   `-c <boot.cfg>`, as iPXE chains mboot.efi. Menu: `menuentry` per image and local boot;
 *   local: `exit` (back to the firmware, which tries its next boot option).
 * Every kernel-line word that is not plainly safe is single-quoted (GRUB's quoting rules).
 */
import type { BootDecision } from '../../hosts/policy.js';
import type { ImageManifest } from '../../images/image.js';
import { joinCmdline, statelesxKernelArgs, type RenderContext } from './context.js';
import { imageFileRef } from './files.js';

/** Directory of GRUB files under the TFTP root: the `prefix` of Debian's network GRUB images. */
export const GRUB_DIR = 'grub';

/** The entry config (`grub/grub.cfg`): the per-host config by SMBIOS UUID, then by MAC. */
export function renderGrubEntry(): string {
  const hosts = `$prefix/hosts`;
  return [
    '# statelesx: GRUB entry config; the per-host config by SMBIOS UUID, then by MAC',
    'smbios --type 1 --get-uuid 8 --set sx_uuid',
    'echo "statelesx: uuid ${sx_uuid} mac ${net_default_mac}"',
    `configfile ${hosts}/\${sx_uuid}.cfg`,
    `configfile ${hosts}/mac-\${net_default_mac}.cfg`,
    'echo "statelesx: no boot config for this host, booting from local disk"',
    'exit',
    '',
  ].join('\n');
}

/** The per-host config for a decision. Image files are always TFTP paths (GRUB 2.06's `http` takes no port). */
export function renderGrubHost(d: BootDecision, ctx: RenderContext): string {
  const tctx: RenderContext = { ...ctx, transport: 'tftp' };
  const lines = [`# statelesx: ${d.host.uuid ?? d.host.mac ?? 'unidentified host'}`];
  if (d.action === 'local') {
    lines.push(`echo ${quote(`statelesx: local boot (${d.reason})`)}`, 'exit', '');
    return lines.join('\n');
  }
  if (d.action === 'boot') {
    lines.push(...bootLines(d.image, tctx), '');
    return lines.join('\n');
  }
  const menuCtx = { ...tctx, token: undefined, kickstartUrl: undefined, kernelOptions: undefined };
  lines.push('set timeout=10', `set default=${d.defaultImage ? idOf(d.defaultImage) : 'local'}`);
  for (const img of d.images) {
    lines.push(`menuentry ${quote(`${img.name} (${img.kind})`)} --id ${idOf(img.name)} {`);
    lines.push(...bootLines(img, menuCtx).map((l) => `  ${l}`), '}');
  }
  lines.push("menuentry 'Boot from local disk' --id local {", '  exit', '}', '');
  return lines.join('\n');
}

function idOf(name: string): string {
  return 'img-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** `/<image>/<path>`: GRUB names a file on its root device by an absolute path. */
function fileOf(ctx: RenderContext, image: string, path: string): string {
  return quote('/' + imageFileRef(ctx, image, path));
}

function bootLines(img: ImageManifest, ctx: RenderContext): string[] {
  if (img.kind === 'linux') {
    const l = img.linux!;
    const cmdline = joinCmdline(l.cmdline, ctx.kernelOptions, ...statelesxKernelArgs(ctx, img.name));
    return [
      `echo ${quote(`statelesx: loading ${img.name}`)}`,
      ['linux', fileOf(ctx, img.name, l.kernel), ...cmdline.split(' ').filter(Boolean).map(quote)].join(' '),
      ...(l.initrd.length ? [['initrd', ...l.initrd.map((f) => fileOf(ctx, img.name, f))].join(' ')] : []),
      'boot',
    ];
  }
  const efi = img.esxi?.efiLoader ?? 'efi/boot/bootaa64.efi';
  return [
    `chainloader ${fileOf(ctx, img.name, efi)} -c ${fileOf(ctx, img.name, img.esxi?.bootCfg ?? 'boot.cfg')}`,
    'boot',
  ];
}

/** A GRUB script word: as is when plainly safe, else single-quoted (`'` itself as `'\''`). */
function quote(word: string): string {
  return /^[A-Za-z0-9_.,:=/+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
