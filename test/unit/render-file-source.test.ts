import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { DefaultBootFileSource } from '../../src/boot/files/source.js';
import { PathRejectedError } from '../../src/boot/files/path.js';
import type { BootFile, BootRequestContext } from '../../src/boot/files/types.js';
import { ImageLibrary } from '../../src/images/image.js';
import { importImage } from '../../src/images/import.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import type { ClusterMembership } from '../../src/hosts/policy.js';
import { silentLogger } from '../../src/log.js';

const U = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const MAC = '52:54:00:12:34:56';
/** An unknown host's SMBIOS UUID; asymmetric, so its wire spelling differs (a symmetric one hides byte-order bugs). */
const OTHER = '3d9c1a77-5e2f-4b60-8c1d-2e3f4a5b6c7d';
const OTHER_WIRE = swapUuidByteOrder(OTHER); // 771a9c3d-2f5e-604b-8c1d-2e3f4a5b6c7d

let dir: string;
let store: Store;
let src: DefaultBootFileSource;
const clusters = new Map<string, ClusterMembership>();
/** Cluster-file `mac=` → member UUID (ClusterLookup.byMac). */
const clusterMacs = new Map<string, string>();
const ctx = (addr = '10.99.0.50'): BootRequestContext => ({ protocol: 'tftp', clientAddress: addr, requestId: 't1' });
const text = (f: BootFile | null): string => {
  if (!f) throw new Error('expected a file');
  return f.kind === 'rendered' ? f.data.toString('utf8') : readFileSync(f.path, 'utf8');
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-src-'));
  const tftp = join(dir, 'tftp');
  const loaders = join(dir, 'loaders');
  const hand = join(dir, 'pxelinux.cfg');
  for (const d of [tftp, join(tftp, 'efi64'), loaders, hand, join(dir, 'e/efi/boot'), join(dir, 'l')])
    mkdirSync(d, { recursive: true });
  writeFileSync(join(tftp, 'pxelinux.0'), 'static-root pxelinux');
  writeFileSync(join(loaders, 'pxelinux.0'), 'loader-dir pxelinux');
  writeFileSync(join(loaders, 'ldlinux.c32'), 'loader-dir ldlinux');
  writeFileSync(join(hand, '01-02-00-00-00-00-07'), 'DEFAULT handwritten\n');
  writeFileSync(join(dir, 'outside.txt'), 'secret');
  symlinkSync(join(dir, 'outside.txt'), join(tftp, 'escape'));
  // Debian's layout: /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi (a trusted loader dir's symlink leaves it)
  mkdirSync(join(dir, 'boot'));
  writeFileSync(join(dir, 'boot', 'ipxe.efi'), 'distribution ipxe.efi');
  symlinkSync(join(dir, 'boot', 'ipxe.efi'), join(loaders, 'ipxe.efi'));
  symlinkSync('../boot', join(loaders, 'bootdir'));
  // the same kind of symlink in the static root stays refused
  symlinkSync(join(dir, 'boot', 'ipxe.efi'), join(tftp, 'snponly.efi'));
  // a synthetic ESXi image (upper-case names, as on the ISO) and a linux image
  writeFileSync(
    join(dir, 'e/BOOT.CFG'),
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/jumpstrt.gz --- /k.b00\nbuild=8.0.2-0.0.22380479\nupdated=0\n',
  );
  for (const f of ['B.B00', 'JUMPSTRT.GZ', 'K.B00', 'MBOOT.C32']) writeFileSync(join(dir, 'e', f), `synthetic ${f}`);
  writeFileSync(join(dir, 'e/efi/boot/bootx64.efi'), 'efi');
  writeFileSync(join(dir, 'l/vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'l/initrd.gz'), 'initrd');
  writeFileSync(
    join(dir, 'l/image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
  );
  const imagesDir = join(dir, 'images');
  await importImage({ source: join(dir, 'e'), imagesDir, name: 'esx1' });
  await importImage({ source: join(dir, 'l'), imagesDir, name: 'lin1' });
  await importImage({ source: join(dir, 'l'), imagesDir, name: 'lin2' });
  mkdirSync(join(imagesDir, '.import-1-abc'));
  writeFileSync(join(imagesDir, '.import-1-abc', 'half'), 'x');
  store = await openStore(':memory:');
  src = new DefaultBootFileSource({
    tftpRoot: tftp,
    loaderDirs: [loaders],
    pxelinuxCfgDir: hand,
    images: new ImageLibrary(imagesDir),
    hosts: store.hosts,
    tokens: new BootTokens(store.tokens, 3600_000),
    clusters: Object.assign((u: string) => clusters.get(u), { byMac: (m: string) => clusterMacs.get(m) }),
    unknownHosts: 'menu',
    serverAddress: '10.99.0.1',
    httpPort: 8080,
    initiatorPort: 1974,
    kickstartInstall: () => ({ rootpw: '$6$unit$hash', firstdisk: 'local', overwritevmfs: false }),
    log: silentLogger,
  });
});

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('boot file source', () => {
  it('static root wins over loader dirs; loader dirs serve the rest', async () => {
    expect(text(await src.resolve('pxelinux.0', ctx()))).toBe('static-root pxelinux');
    expect(text(await src.resolve('ldlinux.c32', ctx()))).toBe('loader-dir ldlinux');
    expect(await src.resolve('nope.c32', ctx())).toBeNull();
  });

  it("follows a loader dir's symlinks out of it (Debian's ipxe.efi); tftp-root's stay refused", async () => {
    const efi = await src.resolve('ipxe.efi', ctx());
    expect(text(efi)).toBe('distribution ipxe.efi');
    expect(efi).toMatchObject({ kind: 'disk', path: join(dir, 'boot', 'ipxe.efi') });
    expect(text(await src.resolve('bootdir/ipxe.efi', ctx()))).toBe('distribution ipxe.efi');
    expect(await src.resolve('bootdir', ctx())).toBeNull(); // a directory is no file
    await expect(src.resolve('snponly.efi', ctx())).rejects.toThrow(/symlink leaves the root/);
    await expect(src.resolve('escape', ctx())).rejects.toBeInstanceOf(PathRejectedError);
    // an image keeps its confinement too
    symlinkSync(join(dir, 'boot', 'ipxe.efi'), join(dir, 'images', 'lin1', 'leak.efi'));
    await expect(src.resolve('lin1/leak.efi', ctx())).rejects.toThrow(/symlink leaves the root/);
    // the name is checked as strictly as anywhere: no way up out of the loader dir by name
    await expect(src.resolve('bootdir/../outside.txt', ctx())).rejects.toBeInstanceOf(PathRejectedError);
  });

  it('renders pxelinux.cfg/<uuid> for a pinned host in both byte orders, with a token', async () => {
    await store.hosts.setImagePin(U, 'lin1');
    for (const name of [
      `pxelinux.cfg/${swapUuidByteOrder(U)}`,
      `pxelinux.cfg/${U}`,
      `efi64/pxelinux.cfg/${swapUuidByteOrder(U)}`,
    ]) {
      const t = text(await src.resolve(name, ctx()));
      expect(t).toContain('KERNEL lin1/vmlinuz');
      expect(t).toMatch(/statelesx\.token=[A-Za-z0-9_-]{22} statelesx\.server=10\.99\.0\.1:1974 statelesx\.image=lin1/);
    }
    const ev = await store.hosts.bootEvents({ uuid: U });
    expect(ev[0]).toMatchObject({
      hostUuid: U,
      protocol: 'tftp',
      file: `efi64/pxelinux.cfg/${swapUuidByteOrder(U)}`,
      image: 'lin1',
      firmware: 'uefi',
      address: '10.99.0.50',
    });
    expect(ev).toHaveLength(3);
  });

  it('re-pinning changes the next answer; the old version stays servable', async () => {
    await store.hosts.setImagePin(U, 'lin2');
    expect(text(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(U)}`, ctx()))).toContain('KERNEL lin2/vmlinuz');
    expect(text(await src.resolve('lin1/vmlinuz', ctx()))).toBe('kernel');
  });

  it('renders pxelinux.cfg/01-<mac> by MAC; a hand-written config for a MAC wins', async () => {
    await store.hosts.upsertSighting({ uuid: U, at: Date.now(), mac: MAC });
    expect(text(await src.resolve('pxelinux.cfg/01-52-54-00-12-34-56', ctx()))).toContain('KERNEL lin2/vmlinuz');
    expect(text(await src.resolve('pxelinux.cfg/01-02-00-00-00-00-07', ctx()))).toBe('DEFAULT handwritten\n');
    expect(await src.resolve('pxelinux.cfg/0A63', ctx())).toBeNull(); // hex-IP probe: not found
  });

  it("an unknown host: pxelinux.cfg/<uuid> and 01-<mac> are not found, default gives the menu, never another host's config", async () => {
    // pxelinux's own search order: <uuid> (wire order), 01-<mac>, hex IP prefixes, default.
    const addr = '10.99.0.77';
    expect(await src.resolve(`pxelinux.cfg/${OTHER_WIRE}`, ctx(addr))).toBeNull();
    expect(await src.resolve(`efi64/pxelinux.cfg/${OTHER_WIRE}`, ctx(addr))).toBeNull();
    expect(await src.resolve('pxelinux.cfg/01-02-00-00-00-00-99', ctx(addr))).toBeNull();
    const t = text(await src.resolve('pxelinux.cfg/default', ctx(addr)));
    expect(t).toMatch(/^UI menu.c32$/m);
    expect(t).not.toContain('statelesx.token');
    // The boot history still shows who asked, under the SMBIOS form of the UUID.
    expect(await store.hosts.bootEvents({ uuid: OTHER_WIRE })).toEqual([]);
    expect((await store.hosts.bootEvents({ uuid: OTHER }))[0]).toMatchObject({
      file: `efi64/pxelinux.cfg/${OTHER_WIRE}`,
      image: null,
      address: addr,
      firmware: 'uefi',
      detail: { action: 'not-found', known: false },
    });
    // A DHCP sighting alone does not make a host known: still not found.
    await store.hosts.upsertSighting({ uuid: OTHER, at: Date.now(), mac: '02:00:00:00:00:99' });
    expect(await src.resolve(`pxelinux.cfg/${OTHER_WIRE}`, ctx(addr))).toBeNull();
  });

  it('an unknown host ends at a static pxelinux.cfg/default in tftp-root when the admin put one there', async () => {
    mkdirSync(join(dir, 'tftp/efi64/pxelinux.cfg'), { recursive: true });
    writeFileSync(join(dir, 'tftp/efi64/pxelinux.cfg/default'), 'DEFAULT site-menu\n');
    try {
      expect(await src.resolve('efi64/pxelinux.cfg/01-02-00-00-00-00-98', ctx('10.99.0.79'))).toBeNull();
      expect(text(await src.resolve('efi64/pxelinux.cfg/default', ctx('10.99.0.79')))).toBe('DEFAULT site-menu\n');
    } finally {
      rmSync(join(dir, 'tftp/efi64/pxelinux.cfg'), { recursive: true, force: true });
    }
  });

  it('a hand-written pxelinux.cfg/01-<mac> wins for a host unknown by UUID (README: hand-written configs win)', async () => {
    const stranger = '5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e';
    expect(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(stranger)}`, ctx('10.99.0.78'))).toBeNull();
    expect(text(await src.resolve('pxelinux.cfg/01-02-00-00-00-00-07', ctx('10.99.0.78')))).toBe(
      'DEFAULT handwritten\n',
    );
  });

  it('a host declared in a cluster file is rendered at pxelinux.cfg/<uuid> (wire order), before any 01-<mac>', async () => {
    const member = '6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f';
    clusters.set(member, { cluster: 'lab', defaultImage: 'lin2' });
    try {
      expect(text(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(member)}`, ctx('10.99.0.79')))).toContain(
        'KERNEL lin2/vmlinuz',
      );
      expect((await store.hosts.bootEvents({ uuid: member }))[0]).toMatchObject({
        image: 'lin2',
        detail: { action: 'boot', known: true },
      });
    } finally {
      clusters.delete(member);
    }
  });

  it('renders <image>/boot.cfg for the host identified from the same address, with prefix and token', async () => {
    await store.hosts.setImagePin(U, 'esx1');
    const addr = '10.99.0.51';
    expect(text(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(U)}`, ctx(addr)))).toContain(
      'APPEND -c esx1/boot.cfg',
    );
    const cfg = text(await src.resolve('esx1/boot.cfg', ctx(addr)));
    expect(cfg).toContain('prefix=esx1\nkernel=b.b00\n');
    expect(cfg).toContain('modules=jumpstrt.gz --- k.b00 --- sxinit.tgz\n');
    expect(cfg).toMatch(/kernelopt=statelesx\.token=\S{22} statelesx\.server=10\.99\.0\.1:1974 statelesx\.image=esx1/);
    expect((await store.hosts.bootEvents({ uuid: U }))[0]).toMatchObject({
      file: 'esx1/boot.cfg',
      image: 'esx1',
      address: addr,
    });
    // From an address nobody identified: rendered for an unknown host (no token), never for U.
    const anon = text(await src.resolve('esx1/boot.cfg', ctx('10.99.0.99')));
    expect(anon).toContain('prefix=esx1\n');
    expect(anon).not.toContain('statelesx.token');
    // Over HTTP the prefix is a URL; UEFI mboot.efi's 01-<mac>/boot.cfg is rendered by MAC.
    const http = text(await src.resolve('esx1/boot.cfg', { ...ctx(addr), protocol: 'http' }));
    expect(http).toContain('prefix=http://10.99.0.1:8080/boot/esx1/\n');
    expect(text(await src.resolve('01-52-54-00-12-34-56/boot.cfg', ctx()))).toContain('prefix=esx1\n');
    // mboot.efi loaded from the image (efi/boot/bootx64.efi) asks next to itself first.
    expect(text(await src.resolve('esx1/efi/boot/01-52-54-00-12-34-56/boot.cfg', ctx()))).toContain('prefix=esx1\n');
    expect(text(await src.resolve('esx1/efi/boot/boot.cfg', ctx(addr)))).toMatch(/statelesx\.image=esx1/);
  });

  it('serves the initiator bundle as <image>/sxinit.tgz of ESXi images only, TFTP and HTTP alike, no boot event', async () => {
    const t = await src.resolve('esx1/sxinit.tgz', ctx('10.99.0.60'));
    const h = await src.resolve('esx1/sxinit.tgz', { ...ctx('10.99.0.61'), protocol: 'http' });
    if (t?.kind !== 'rendered' || h?.kind !== 'rendered') throw new Error('expected the rendered bundle');
    expect([t.data[0], t.data[1]]).toEqual([0x1f, 0x8b]); // gzip magic (RFC 1952)
    expect(h.data.equals(t.data)).toBe(true);
    expect(t.contentType).toBe('application/gzip');
    expect(t.mtimeMs).toBe(Date.UTC(2024, 0, 1));
    expect((await store.hosts.bootEvents({ limit: 100_000 })).filter((e) => e.file?.endsWith('sxinit.tgz'))).toEqual(
      [],
    );
    expect(await src.resolve('lin1/sxinit.tgz', ctx())).toBeNull();
    expect(await src.resolve('nosuchimage/sxinit.tgz', ctx())).toBeNull();
    expect(await src.resolve('esx1/efi/sxinit.tgz', ctx())).toBeNull();
    const off = new DefaultBootFileSource({
      tftpRoot: join(dir, 'tftp'),
      loaderDirs: [],
      pxelinuxCfgDir: join(dir, 'pxelinux.cfg'),
      images: new ImageLibrary(join(dir, 'images')),
      hosts: store.hosts,
      tokens: new BootTokens(store.tokens, 3600_000),
      clusters: () => undefined,
      initiatorModule: false,
      unknownHosts: 'menu',
      serverAddress: '10.99.0.1',
      httpPort: 8080,
      initiatorPort: 1974,
      log: silentLogger,
    });
    expect(await off.resolve('esx1/sxinit.tgz', ctx())).toBeNull();
    expect(text(await off.resolve('esx1/boot.cfg', ctx('10.99.0.62')))).toContain('modules=jumpstrt.gz --- k.b00\n');
  });

  it('serves image files lower-cased as boot.cfg references them; hidden imports never', async () => {
    expect(text(await src.resolve('esx1/k.b00', ctx()))).toBe('synthetic K.B00');
    expect(text(await src.resolve('esx1/mboot.c32', ctx()))).toBe('synthetic MBOOT.C32');
    expect(await src.resolve('.import-1-abc/half', ctx())).toBeNull();
    expect(await src.resolve('nosuchimage/k.b00', ctx())).toBeNull();
    // syslinux.efi in tftp/efi64/ asks relative to its directory
    expect(text(await src.resolve('efi64/lin1/vmlinuz', ctx()))).toBe('kernel');
    expect(await src.resolve('notadir/lin1/vmlinuz', ctx())).toBeNull();
  });

  it('iPXE: boot.ipxe, hosts/<uuid>.ipxe (SMBIOS order), hosts/mac-<mac>.ipxe', async () => {
    await store.hosts.setImagePin(U, 'lin1');
    expect(text(await src.resolve('boot.ipxe', ctx()))).toContain('hosts/${uuid}.ipxe');
    const h = text(await src.resolve(`hosts/${U}.ipxe`, { ...ctx(), protocol: 'http' }));
    expect(h).toContain(
      'kernel http://10.99.0.1:8080/boot/lin1/vmlinuz initrd=initrd.gz console=ttyS0 statelesx.token=',
    );
    expect(text(await src.resolve('hosts/mac-52-54-00-12-34-56.ipxe', ctx()))).toContain('boot/lin1/vmlinuz');
    expect(text(await src.resolve(`hosts/${OTHER}.ipxe`, ctx()))).toContain('menu statelesx: choose an image');
  });

  it('GRUB (arm64): grub/grub.cfg, grub/hosts/<uuid>.cfg (SMBIOS order), grub/hosts/mac-<aa:bb:…>.cfg', async () => {
    await store.hosts.setImagePin(U, 'lin1');
    expect(text(await src.resolve('grub/grub.cfg', ctx()))).toContain('configfile $prefix/hosts/${sx_uuid}.cfg');
    const h = text(await src.resolve(`grub/hosts/${U}.cfg`, ctx()));
    expect(h).toContain('linux /lin1/vmlinuz console=ttyS0 statelesx.token=');
    expect(h).toContain('initrd /lin1/initrd.gz\nboot\n');
    expect(text(await src.resolve('grub/hosts/mac-52:54:00:12:34:56.cfg', ctx()))).toContain('linux /lin1/vmlinuz');
    expect(text(await src.resolve(`grub/hosts/${OTHER}.cfg`, ctx()))).toContain('menuentry');
    // names that name nobody are not found: the entry config's next `configfile` runs
    expect(await src.resolve('grub/hosts/00000000-0000-0000-0000-000000000000.cfg', ctx())).toBeNull();
    expect(await src.resolve('grub/hosts/mac-.cfg', ctx())).toBeNull();
    expect(await src.resolve(`grub/hosts/${U}.ipxe`, ctx())).toBeNull();
    expect(await src.resolve('grub/arm64-efi/grub.cfg', ctx())).toBeNull();
    const events = (await store.hosts.bootEvents({ uuid: U, limit: 20 })).filter(
      (e) => e.file === `grub/hosts/${U}.cfg`,
    );
    expect(events[0]).toMatchObject({ image: 'lin1', firmware: 'uefi', protocol: 'tftp' });
  });

  it('nil UUIDs (all 0 / all F) are absent: not found, so the client falls back to its MAC-based name', async () => {
    await store.hosts.setImagePin(U, 'lin1');
    await store.hosts.upsertSighting({ uuid: U, at: Date.now(), mac: MAC });
    for (const nil of [
      '00000000-0000-0000-0000-000000000000',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
    ]) {
      // iPXE: `chain hosts/${uuid}.ipxe || chain hosts/mac-….ipxe` needs the first to fail.
      expect(await src.resolve(`hosts/${nil}.ipxe`, { ...ctx('10.99.0.60'), protocol: 'http' }), nil).toBeNull();
      // pxelinux: a not-found pxelinux.cfg/<uuid> makes it ask pxelinux.cfg/01-<mac> next.
      expect(await src.resolve(`pxelinux.cfg/${nil}`, ctx('10.99.0.60')), nil).toBeNull();
      expect(await src.resolve(`efi64/pxelinux.cfg/${nil}`, ctx('10.99.0.60')), nil).toBeNull();
    }
    expect(text(await src.resolve('hosts/mac-52-54-00-12-34-56.ipxe', ctx('10.99.0.60')))).toContain(
      'boot/lin1/vmlinuz',
    );
    expect(text(await src.resolve('pxelinux.cfg/01-52-54-00-12-34-56', ctx('10.99.0.60')))).toContain(
      'KERNEL lin1/vmlinuz',
    );
  });

  it('a cluster member the store has never seen is found by its declared mac= (pxelinux 01-<mac>, iPXE mac-, mboot.efi 01-<mac>/boot.cfg)', async () => {
    const member = '7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a';
    const mac = '52:54:00:aa:bb:cc';
    clusters.set(member, { cluster: 'lab', defaultImage: 'lin2' });
    clusterMacs.set(mac, member);
    try {
      expect(await store.hosts.get(member)).toBeUndefined();
      expect(text(await src.resolve('pxelinux.cfg/01-52-54-00-aa-bb-cc', ctx('10.99.0.80')))).toContain(
        'KERNEL lin2/vmlinuz',
      );
      expect(
        text(await src.resolve('hosts/mac-52-54-00-aa-bb-cc.ipxe', { ...ctx('10.99.0.80'), protocol: 'http' })),
      ).toContain('boot/lin2/vmlinuz');
      expect((await store.hosts.bootEvents({ mac }))[0]).toMatchObject({
        hostUuid: member,
        image: 'lin2',
        detail: { action: 'boot', reason: 'cluster-default', known: true },
      });
      clusters.set(member, { cluster: 'lab', defaultImage: 'esx1' });
      const cfg = text(await src.resolve('01-52-54-00-aa-bb-cc/boot.cfg', ctx('10.99.0.80')));
      expect(cfg).toMatch(/statelesx\.token=\S{22} statelesx\.server=10\.99\.0\.1:1974 statelesx\.image=esx1/);
    } finally {
      clusters.delete(member);
      clusterMacs.delete(mac);
    }
  });

  it('stateful members get a kickstart URL and hosts/<uuid>/ks.cfg', async () => {
    await store.hosts.setImagePin(U, null);
    clusters.set(U, { cluster: 'prod', defaultImage: 'esx1', stateful: true });
    const cfg = text(await src.resolve('01-52-54-00-12-34-56/boot.cfg', ctx()));
    expect(cfg).toContain(`ks=http://10.99.0.1:8080/boot/hosts/${U}/ks.cfg`);
    const ks = text(await src.resolve(`hosts/${U}/ks.cfg`, ctx()));
    expect(ks).toContain(`# statelesx kickstart for ${U} (cluster prod, image esx1)`);
    expect(ks).toContain('\nrootpw --iscrypted $6$unit$hash\ninstall --firstdisk=local\n');
    // Not stateful: no kickstart (nobody else is to be installed, nor gets the rootpw hash).
    clusters.set(U, { cluster: 'prod', defaultImage: 'esx1' });
    expect(await src.resolve(`hosts/${U}/ks.cfg`, ctx())).toBeNull();
    clusters.clear();
    expect(await src.resolve(`hosts/${U}/ks.cfg`, ctx())).toBeNull();
  });

  it("a member's kernel options (cluster's, then its own) reach boot.cfg kernelopt= and the iPXE/pxelinux kernel line", async () => {
    await store.hosts.setImagePin(U, null);
    clusters.set(U, { cluster: 'prod', defaultImage: 'esx1', kernelOptions: { cluster: 'noIOMMU', member: 'vga=1' } });
    try {
      const cfg = text(await src.resolve('01-52-54-00-12-34-56/boot.cfg', ctx()));
      expect(cfg).toMatch(/^kernelopt=noIOMMU vga=1 statelesx\.token=\S{22} statelesx\.server=/m);
      clusters.set(U, {
        cluster: 'prod',
        defaultImage: 'lin1',
        kernelOptions: { cluster: 'noIOMMU', member: 'vga=1' },
      });
      const ipxe = text(await src.resolve(`hosts/${U}.ipxe`, { ...ctx(), protocol: 'http' }));
      expect(ipxe).toContain('initrd=initrd.gz console=ttyS0 noIOMMU vga=1 statelesx.token=');
      const pxe = text(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(U)}`, ctx('10.99.0.52')));
      expect(pxe).toContain('  APPEND console=ttyS0 noIOMMU vga=1 statelesx.token=');
    } finally {
      clusters.clear();
    }
  });

  it('refuses unsafe paths (PathRejectedError) including symlinks leaving the root', async () => {
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a\\b', 'esx1/../lin1/vmlinuz', 'x\0y', 'escape']) {
      await expect(src.resolve(bad, ctx())).rejects.toBeInstanceOf(PathRejectedError);
    }
  });
});
