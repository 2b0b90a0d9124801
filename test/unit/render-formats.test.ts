import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Eta } from 'eta';
import { renderPxelinuxConfig } from '../../src/boot/render/pxelinux.js';
import { installerOpts, renderHostBootCfg } from '../../src/boot/render/bootcfg.js';
import { renderIpxeEntry, renderIpxeHost } from '../../src/boot/render/ipxe.js';
import {
  renderKickstart,
  initiatorFirstboot,
  DEFAULT_KICKSTART_TEMPLATE,
  KickstartTemplateError,
} from '../../src/boot/render/kickstart.js';
import type { RenderContext } from '../../src/boot/render/context.js';
import type { BootDecision, ResolvedHost } from '../../src/hosts/policy.js';
import type { ImageManifest } from '../../src/images/image.js';
import { parseBootCfg } from '../../src/images/bootcfg.js';
import { parsePhoneHomeLine } from '../../src/phonehome/parse.js';

const esxi: ImageManifest = {
  schema: 1,
  name: 'esxi-8.0.2-22380479',
  kind: 'esxi',
  source: 'x.iso',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  esxi: {
    version: '8.0.2',
    build: '22380479',
    title: 'Loading ESXi installer',
    bootCfg: 'boot.cfg',
    biosLoader: 'mboot.c32',
    efiLoader: 'efi/boot/bootx64.efi',
  },
};
const linux: ImageManifest = {
  schema: 1,
  name: 'rescue',
  kind: 'linux',
  source: 'dir',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0,115200' },
};
const host: ResolvedHost = {
  uuid: '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b',
  mac: '52:54:00:12:34:56',
  known: true,
  matchedBy: 'uuid',
};
const boot = (image: ImageManifest): BootDecision => ({
  host,
  firmware: 'bios',
  problems: [],
  action: 'boot',
  image,
  reason: 'host-pin',
  cluster: null,
  stateful: false,
});
const tftp: RenderContext = {
  serverAddress: '10.99.0.1',
  httpPort: 8080,
  initiatorPort: 1974,
  transport: 'tftp',
  token: 'TOKEN123',
};

describe('pxelinux renderer', () => {
  it('ESXi: mboot.c32 from the image with -c <image>/boot.cfg', () => {
    expect(renderPxelinuxConfig(boot(esxi), tftp)).toBe(`# statelesx: ${host.uuid} boots esxi-8.0.2-22380479 (host-pin)
DEFAULT boot
PROMPT 0
TIMEOUT 0
LABEL boot
  MENU LABEL esxi-8.0.2-22380479 (host-pin)
  KERNEL esxi-8.0.2-22380479/mboot.c32
  APPEND -c esxi-8.0.2-22380479/boot.cfg
  IPAPPEND 2
`);
  });

  it('Linux: KERNEL/INITRD/APPEND with token, initiator address and image name', () => {
    const text = renderPxelinuxConfig(boot(linux), tftp);
    expect(text).toContain('  KERNEL rescue/vmlinuz\n  INITRD rescue/initrd.gz\n');
    expect(text).toContain(
      '  APPEND console=ttyS0,115200 statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=rescue\n',
    );
  });

  it('menu: one label per image, default image first choice, local boot, no token', () => {
    const d: BootDecision = {
      host: { ...host, known: false },
      firmware: 'bios',
      problems: [],
      action: 'menu',
      images: [esxi, linux],
      defaultImage: 'rescue',
    };
    const text = renderPxelinuxConfig(d, tftp);
    expect(text).toMatch(/^UI menu.c32$/m);
    expect(text).toMatch(/^DEFAULT img-rescue$/m);
    expect(text).toContain('LABEL img-esxi-8.0.2-22380479\n');
    expect(text).toContain('LABEL local\n  MENU LABEL Boot from local disk\n  LOCALBOOT 0\n');
    expect(text).not.toContain('TOKEN123');
  });

  it('local boot', () => {
    const d: BootDecision = {
      host,
      firmware: 'bios',
      problems: [],
      action: 'local',
      reason: 'boot.unknown-hosts is "local"',
    };
    expect(renderPxelinuxConfig(d, tftp)).toMatch(/DEFAULT local\n[\s\S]*LOCALBOOT 0\n$/);
  });
});

describe('per-host boot.cfg renderer', () => {
  const stored = parseBootCfg(
    readFileSync(new URL('../fixtures/images/esxi8-boot.cfg', import.meta.url), 'utf8')
      .replace(/=\//g, '=')
      .replace(/ --- \//g, ' --- ')
      .replace('prefix=\n', ''),
  );

  it('TFTP: prefix=<image>, statelesx args appended to kernelopt, the initiator bundle appended to modules', () => {
    const text = renderHostBootCfg(esxi, stored, tftp);
    const c = parseBootCfg(text);
    expect(c.prefix).toBe('esxi-8.0.2-22380479');
    expect(c.kernel).toBe('b.b00');
    expect(stored.modules.length).toBeGreaterThan(5);
    expect(c.modules).toEqual([...stored.modules, 'sxinit.tgz']);
    expect(text).toMatch(/^modules=.* --- imgpayld\.tgz --- sxinit\.tgz$/m);
    // Stateless: the ISO's installer options (runweasel cdromBoot) are dropped, so ESXi boots live in RAM.
    expect(stored.kernelopt).toBe('runweasel cdromBoot');
    expect(c.kernelopt).toBe(
      'statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=esxi-8.0.2-22380479',
    );
    expect(text.split('\n').slice(0, 5)).toEqual([
      'bootstate=0',
      'title=Loading ESXi installer',
      'timeout=5',
      'prefix=esxi-8.0.2-22380479',
      'kernel=b.b00',
    ]);
  });

  it('HTTP: prefix is the /boot/<image>/ URL; kickstart URL for stateful installs', () => {
    const c = parseBootCfg(
      renderHostBootCfg(esxi, stored, {
        ...tftp,
        transport: 'http',
        kickstartUrl: 'http://10.99.0.1:8080/boot/hosts/u/ks.cfg',
      }),
    );
    expect(c.prefix).toBe('http://10.99.0.1:8080/boot/esxi-8.0.2-22380479/');
    // Install: the installer runs (runweasel), cdromBoot goes (it did not boot from CD).
    expect(c.kernelopt).toMatch(
      /^runweasel ks=http:\/\/10.99.0.1:8080\/boot\/hosts\/u\/ks.cfg statelesx.token=TOKEN123 /,
    );
    // The installer boot gets no bundle: the installed host phones home from %firstboot.
    expect(c.modules).toEqual(stored.modules);
  });

  it('installer options: stateless drops runweasel/cdromBoot, an install keeps (or adds) runweasel only', () => {
    expect(installerOpts('runweasel cdromBoot allowLegacyCPU=true', false)).toBe('allowLegacyCPU=true');
    expect(installerOpts('cdromBoot allowLegacyCPU=true', true)).toBe('runweasel allowLegacyCPU=true');
    expect(installerOpts(undefined, false)).toBe('');
  });

  it('the bundle can be turned off (boot.initiator-module: false) and is never listed twice', () => {
    expect(parseBootCfg(renderHostBootCfg(esxi, stored, tftp, { initiatorModule: false })).modules).toEqual(
      stored.modules,
    );
    const listed = { ...stored, modules: [...stored.modules, '/SXINIT.TGZ'] };
    expect(parseBootCfg(renderHostBootCfg(esxi, listed, tftp)).modules).toEqual(listed.modules);
  });

  it('does not mutate the stored boot.cfg and refuses linux images', () => {
    const before = JSON.stringify(stored);
    renderHostBootCfg(esxi, stored, tftp);
    expect(JSON.stringify(stored)).toBe(before);
    expect(() => renderHostBootCfg(linux, stored, tftp)).toThrow(/linux image: it has no boot.cfg/);
  });
});

describe('iPXE renderer', () => {
  it('entry script chains to the per-host script by ${uuid}, then MAC', () => {
    const t = renderIpxeEntry(tftp);
    expect(t.startsWith('#!ipxe\n')).toBe(true);
    expect(t).toContain(
      'chain http://10.99.0.1:8080/boot/hosts/${uuid}.ipxe || chain http://10.99.0.1:8080/boot/hosts/mac-${net0/mac:hexhyp}.ipxe || goto failed',
    );
  });

  it('Linux per-host script: absolute URLs and initrd=<name> on the kernel line (UEFI EFI stub)', () => {
    expect(renderIpxeHost(boot(linux), tftp)).toBe(`#!ipxe
# statelesx: ${host.uuid}
kernel http://10.99.0.1:8080/boot/rescue/vmlinuz initrd=initrd.gz console=ttyS0,115200 statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=rescue
initrd http://10.99.0.1:8080/boot/rescue/initrd.gz
boot
`);
  });

  it('ESXi per-host script: mboot.efi -c boot.cfg on EFI, pxelinux on BIOS', () => {
    const t = renderIpxeHost(boot(esxi), tftp);
    expect(t).toContain(
      'chain http://10.99.0.1:8080/boot/esxi-8.0.2-22380479/efi/boot/bootx64.efi -c http://10.99.0.1:8080/boot/esxi-8.0.2-22380479/boot.cfg',
    );
    expect(t).toContain('chain http://10.99.0.1:8080/boot/pxelinux.0');
  });

  it('menu script offers every image and local boot', () => {
    const d: BootDecision = {
      host,
      firmware: 'ipxe',
      problems: [],
      action: 'menu',
      images: [esxi, linux],
      defaultImage: null,
    };
    const t = renderIpxeHost(d, tftp);
    expect(t).toContain('item img-rescue rescue (linux)');
    expect(t).toContain('choose --timeout 10000 --default local target');
    expect(t).not.toContain('TOKEN123');
  });
});

describe('kernel options of a cluster and a member', () => {
  // As source.ts hands them over: the decision's kernelOptions (cluster's first, then the member's).
  const opts: RenderContext = { ...tftp, kernelOptions: 'noIOMMU vmkLinuxDriverLog=1' };
  const stored = parseBootCfg(
    readFileSync(new URL('../fixtures/images/esxi8-boot.cfg', import.meta.url), 'utf8')
      .replace(/=\//g, '=')
      .replace(/ --- \//g, ' --- ')
      .replace('prefix=\n', ''),
  );

  it('boot.cfg: after the image options, before the statelesx arguments, on the one kernelopt= line', () => {
    const text = renderHostBootCfg(esxi, { ...stored, kernelopt: 'autoPartition=FALSE runweasel' }, opts);
    expect(text.match(/^kernelopt=.*$/gm)).toEqual([
      'kernelopt=autoPartition=FALSE noIOMMU vmkLinuxDriverLog=1 statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=esxi-8.0.2-22380479',
    ]);
    const install = renderHostBootCfg(esxi, stored, {
      ...opts,
      kickstartUrl: 'http://10.99.0.1:8080/boot/hosts/x/ks.cfg',
    });
    expect(parseBootCfg(install).kernelopt).toBe(
      'runweasel noIOMMU vmkLinuxDriverLog=1 ks=http://10.99.0.1:8080/boot/hosts/x/ks.cfg statelesx.token=TOKEN123 statelesx.server=10.99.0.1:1974 statelesx.image=esxi-8.0.2-22380479',
    );
  });

  it('pxelinux and iPXE: on the Linux kernel command line after the image cmdline', () => {
    expect(renderPxelinuxConfig(boot(linux), opts)).toContain(
      '  APPEND console=ttyS0,115200 noIOMMU vmkLinuxDriverLog=1 statelesx.token=TOKEN123',
    );
    expect(renderIpxeHost(boot(linux), opts)).toContain(
      'kernel http://10.99.0.1:8080/boot/rescue/vmlinuz initrd=initrd.gz console=ttyS0,115200 noIOMMU vmkLinuxDriverLog=1 statelesx.token=TOKEN123',
    );
  });

  it('never in a menu (entries are for no host in particular)', () => {
    const menu: BootDecision = {
      host,
      firmware: 'bios',
      problems: [],
      action: 'menu',
      images: [linux],
      defaultImage: null,
    };
    expect(renderPxelinuxConfig(menu, opts)).not.toContain('noIOMMU');
    expect(renderIpxeHost(menu, opts)).not.toContain('noIOMMU');
  });
});

describe('kickstart renderer', () => {
  const initiator = readFileSync(new URL('../../scripts/initiator.py', import.meta.url), 'utf8');
  const data = {
    uuid: host.uuid!,
    mac: host.mac,
    cluster: 'prod',
    image: esxi.name,
    server: '10.99.0.1:1974',
    token: 'T0K',
    initiator,
    rootpw: '$6$saltsalt$hash',
    firstdisk: 'local',
    overwritevmfs: false,
  };
  it('renders the built-in template and per-cluster templates without HTML escaping', () => {
    const ks = renderKickstart(DEFAULT_KICKSTART_TEMPLATE, data);
    expect(ks).toContain('vmaccepteula\nrootpw --iscrypted $6$saltsalt$hash\ninstall --firstdisk=local\n');
    expect(
      renderKickstart(DEFAULT_KICKSTART_TEMPLATE, { ...data, firstdisk: 'local,usb', overwritevmfs: true }),
    ).toContain('\ninstall --firstdisk=local,usb --overwritevmfs\n');
    expect(renderKickstart('network --hostname={{cluster}}-"a&b"', data)).toBe('network --hostname=prod-"a&b"');
    expect(renderKickstart("rootpw --iscrypted {{{cluster}}}<&>'", data)).toBe("rootpw --iscrypted prod<&>'");
  });

  it('the built-in template renders byte for byte what the Eta one did (with and without a cluster)', () => {
    // The built-in template in Eta (as it was, plus issue 17's rootpw and install disks), rendered by Eta.
    const before = `# statelesx kickstart for <%= it.uuid %> (cluster <%= it.cluster ?? '-' %>, image <%= it.image %>)
vmaccepteula
rootpw --iscrypted <%= it.rootpw %>
install --firstdisk=<%= it.firstdisk %><%= it.overwritevmfs ? ' --overwritevmfs' : '' %>
network --bootproto=dhcp
reboot

<%= it.firstboot %>`;
    const eta = new Eta({ autoEscape: false, autoTrim: false, cache: false, useWith: false });
    for (const d of [data, { ...data, cluster: null, mac: null, token: null, overwritevmfs: true }]) {
      const expected = eta.renderString(before, { ...d, firstboot: initiatorFirstboot(d) });
      expect(renderKickstart(DEFAULT_KICKSTART_TEMPLATE, d)).toBe(expected);
    }
    expect(renderKickstart(DEFAULT_KICKSTART_TEMPLATE, { ...data, cluster: null })).toMatch(
      /^# statelesx kickstart for \S+ \(cluster -, image /,
    );
  });

  it('%firstboot installs initiator.py byte for byte and runs it with server, token and boot MAC', () => {
    const ks = renderKickstart(DEFAULT_KICKSTART_TEMPLATE, data);
    const fb = ks.slice(ks.indexOf('%firstboot --interpreter=busybox\n'));
    expect(fb.length).toBeLessThan(ks.length);
    const doc = /^cat > (\S+) <<'(\w+)'\n([\s\S]*?)^\2$/m.exec(fb);
    expect(doc?.[1]).toBe('/tmp/statelesx-initiator.py');
    expect(doc?.[3]).toBe(initiator);
    expect(fb).toContain(
      "echo 'statelesx.server=10.99.0.1:1974 statelesx.token=T0K BOOTIF=01-52-54-00-12-34-56' > /tmp/statelesx-cmdline\n",
    );
    expect(fb).toContain(
      'STATELESX_CMDLINE=/tmp/statelesx-cmdline python /tmp/statelesx-initiator.py </dev/null >> /var/log/statelesx-initiator.log 2>&1 || true\n',
    );
    // The 2008-era line this template used to send is gone: the listener answers it ERR bad-uuid.
    expect(ks).not.toMatch(/uuid=|\bnc\b/);
    const oldLine = parsePhoneHomeLine(Buffer.from(`uuid=${host.uuid} token=T0K\n`));
    expect(oldLine).toMatchObject({ ok: false, reason: 'bad-uuid' });
    // Without a token or MAC the command line carries the server alone.
    const bare = renderKickstart('{{firstboot}}', { ...data, token: null, mac: null });
    expect(bare).toContain("echo 'statelesx.server=10.99.0.1:1974' > /tmp/statelesx-cmdline\n");
  });

  it('names the template on errors', () => {
    expect(() => renderKickstart('{{nope}}', data, 'templates/prod.ks.cfg')).toThrow(KickstartTemplateError);
    expect(() => renderKickstart('vmaccepteula\n {{nope}}', data, 'templates/prod.ks.cfg')).toThrow(
      /^templates\/prod.ks.cfg:2:2: unknown field "nope": kickstart templates may use /,
    );
    expect(() => renderKickstart('a\n\n{{uuid ', data, 'templates/prod.ks.cfg')).toThrow(
      /^templates\/prod.ks.cfg:3:1: unclosed tag$/,
    );
  });

  it('refuses at render time what reaches past the fields (prototype chain, partials), without running it', () => {
    for (const t of [
      '{{uuid.constructor.constructor}}',
      '{{#uuid.constructor.constructor}}return process{{/uuid.constructor.constructor}}',
      '{{constructor}}',
      '{{#toString}}x{{/toString}}',
      '{{> firstboot}}',
      '<%= it.firstboot %>',
    ])
      expect(() => renderKickstart(t, data, 't.cfg'), t).toThrow(KickstartTemplateError);
    // A field inside its own section, and an inverted section, are fine.
    expect(renderKickstart('{{#mac}}--device={{.}}{{/mac}}{{^token}}none{{/token}}', data)).toBe(
      `--device=${data.mac}`,
    );
  });
});

describe('initiator.advertise-address: hosts phone home to another server', () => {
  // Server A renders the boot files, server B (10.99.0.3) takes the phone-homes (issue 18).
  const toB: RenderContext = { ...tftp, initiatorAddress: '10.99.0.3' };

  it('statelesx.server= names that address with the initiator port; boot URLs still name A', () => {
    expect(renderPxelinuxConfig(boot(linux), toB)).toContain(
      'statelesx.token=TOKEN123 statelesx.server=10.99.0.3:1974 statelesx.image=rescue',
    );
    const ipxe = renderIpxeHost(boot(linux), { ...toB, transport: 'http' });
    expect(ipxe).toContain('kernel http://10.99.0.1:8080/boot/rescue/vmlinuz');
    expect(ipxe).toContain('statelesx.server=10.99.0.3:1974');
    expect(ipxe).not.toContain('statelesx.server=10.99.0.1');
  });
});
