import { describe, it, expect } from 'vitest';
import { renderGrubEntry, renderGrubHost } from '../../src/boot/render/grub.js';
import type { RenderContext } from '../../src/boot/render/context.js';
import type { BootDecision, ResolvedHost } from '../../src/hosts/policy.js';
import type { ImageManifest } from '../../src/images/image.js';

const linux: ImageManifest = {
  schema: 1,
  name: 'rescue-arm64',
  kind: 'linux',
  source: 'dir',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyAMA0,115200 quiet' },
};
const esxi: ImageManifest = {
  schema: 1,
  name: 'esxi-arm',
  kind: 'esxi',
  source: 'x.iso',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  esxi: { version: '8.0.2', build: '1', title: 'ESXi', bootCfg: 'boot.cfg', biosLoader: 'mboot.c32', efiLoader: null },
};
const host: ResolvedHost = {
  uuid: '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b',
  mac: '52:54:00:12:34:56',
  known: true,
  matchedBy: 'uuid',
};
const boot = (image: ImageManifest): BootDecision => ({
  host,
  firmware: 'uefi',
  problems: [],
  action: 'boot',
  image,
  reason: 'host-pin',
  cluster: null,
  stateful: false,
});
const ctx: RenderContext = {
  serverAddress: '10.99.0.1',
  httpPort: 8080,
  initiatorPort: 1974,
  transport: 'http',
  token: 'TOKEN123',
};

describe('GRUB renderer (arm64 UEFI)', () => {
  it('entry config: the per-host config by SMBIOS UUID, then by MAC, then back to the firmware', () => {
    expect(renderGrubEntry().split('\n')).toEqual([
      '# statelesx: GRUB entry config; the per-host config by SMBIOS UUID, then by MAC',
      'smbios --type 1 --get-uuid 8 --set sx_uuid',
      'echo "statelesx: uuid ${sx_uuid} mac ${net_default_mac}"',
      'configfile $prefix/hosts/${sx_uuid}.cfg',
      'configfile $prefix/hosts/mac-${net_default_mac}.cfg',
      'echo "statelesx: no boot config for this host, booting from local disk"',
      'exit',
      '',
    ]);
  });

  it('Linux: linux/initrd/boot over TFTP (absolute paths on GRUB root) with token, server and image', () => {
    expect(renderGrubHost(boot(linux), ctx)).toBe(`# statelesx: ${host.uuid}
echo 'statelesx: loading rescue-arm64'
linux /rescue-arm64/vmlinuz console=ttyAMA0,115200 quiet statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=rescue-arm64
initrd /rescue-arm64/initrd.gz
boot
`);
  });

  it('quotes kernel words GRUB would otherwise expand or split ($, ;, quotes)', () => {
    const t = renderGrubHost(boot(linux), { ...ctx, kernelOptions: `a=$x b=1;reboot c=it's` });
    expect(t).toContain(`quiet 'a=$x' 'b=1;reboot' 'c=it'\\''s' statelesx.token=TOKEN123`);
  });

  it('ESXi: chainloads the image EFI loader with -c boot.cfg (bootaa64.efi when the image names none)', () => {
    expect(renderGrubHost(boot(esxi), ctx)).toContain(
      'chainloader /esxi-arm/efi/boot/bootaa64.efi -c /esxi-arm/boot.cfg\nboot',
    );
  });

  it('menu: an entry per image, the default image or local first, no token; local boot exits', () => {
    const d: BootDecision = {
      host,
      firmware: 'uefi',
      problems: [],
      action: 'menu',
      images: [linux],
      defaultImage: null,
    };
    const t = renderGrubHost(d, ctx);
    expect(t).toContain('set default=local');
    expect(t).toContain("menuentry 'rescue-arm64 (linux)' --id img-rescue-arm64 {\n  echo");
    expect(t).toContain("menuentry 'Boot from local disk' --id local {\n  exit\n}");
    expect(t).not.toContain('TOKEN123');
    expect(renderGrubHost({ ...d, defaultImage: 'rescue-arm64' }, ctx)).toContain('set default=img-rescue-arm64');
    const local: BootDecision = { host, firmware: 'uefi', problems: [], action: 'local', reason: 'boot-once' };
    expect(renderGrubHost(local, ctx)).toBe(
      `# statelesx: ${host.uuid}\necho 'statelesx: local boot (boot-once)'\nexit\n`,
    );
  });
});
