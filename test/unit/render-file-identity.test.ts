/**
 * Who a boot-file name without identity (`<image>/boot.cfg`) is rendered for, when the client
 * address was used by another host shortly before: mboot.efi's `01-<mac>/boot.cfg` tells who
 * asks, and in full DHCP mode our lease tells who holds the address now.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { DefaultBootFileSource, IDENTITY_TTL_MS } from '../../src/boot/files/source.js';
import type { BootFile, BootRequestContext } from '../../src/boot/files/types.js';
import { ImageLibrary } from '../../src/images/image.js';
import { importImage } from '../../src/images/import.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { silentLogger } from '../../src/log.js';

const A = '8f0e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b';
const MAC_A = '52:54:00:0a:0a:0a';
const MAC_B = '52:54:00:0b:0b:0b';
const TOKEN = /statelesx\.token=\S{22}/;

let dir: string;
let store: Store;
let src: DefaultBootFileSource;
let now = Date.UTC(2026, 0, 1);
const ctx = (addr: string): BootRequestContext => ({ protocol: 'tftp', clientAddress: addr, requestId: 't' });
const text = (f: BootFile | null): string => {
  if (f?.kind !== 'rendered') throw new Error('expected a rendered file');
  return f.data.toString('utf8');
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-ident-'));
  for (const d of ['tftp', 'pxelinux.cfg', 'e/efi/boot']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, 'e/BOOT.CFG'),
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel\nmodules=/k.b00\nbuild=8.0.2-0.0.22380479\nupdated=0\n',
  );
  for (const f of ['B.B00', 'K.B00', 'MBOOT.C32']) writeFileSync(join(dir, 'e', f), `synthetic ${f}`);
  writeFileSync(join(dir, 'e/efi/boot/bootx64.efi'), 'efi');
  const imagesDir = join(dir, 'images');
  await importImage({ source: join(dir, 'e'), imagesDir, name: 'esx1' });
  store = await openStore(':memory:');
  src = new DefaultBootFileSource({
    tftpRoot: join(dir, 'tftp'),
    loaderDirs: [],
    pxelinuxCfgDir: join(dir, 'pxelinux.cfg'),
    images: new ImageLibrary(imagesDir),
    hosts: store.hosts,
    leases: store.leases,
    tokens: new BootTokens(store.tokens, 3600_000),
    clusters: () => undefined,
    unknownHosts: 'menu',
    serverAddress: '10.99.0.1',
    httpPort: 8080,
    initiatorPort: 1974,
    log: silentLogger,
    now: () => now,
  });
  // Host A (pinned to esx1, MAC known from DHCP) boots from its address first.
  await store.hosts.setImagePin(A, 'esx1');
  await store.hosts.upsertSighting({ uuid: A, at: now, mac: MAC_A });
});

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A identifies itself from `addr` (pxelinux.cfg/<wire uuid>), then gets its boot.cfg by address. */
async function aBootsFrom(addr: string): Promise<void> {
  expect(text(await src.resolve(`pxelinux.cfg/${swapUuidByteOrder(A)}`, ctx(addr)))).toContain('-c esx1/boot.cfg');
  expect(text(await src.resolve('esx1/boot.cfg', ctx(addr)))).toMatch(TOKEN);
}

describe('boot.cfg by client address after the address changed hands', () => {
  it('mboot.efi of another host (nil UUID) on the same address: its 01-<mac>/boot.cfg miss decides, not the previous host', async () => {
    const addr = '10.99.0.10';
    await aBootsFrom(addr);
    now += 60_000;
    // B: nil UUID (so no UUID name), MAC unknown: 01-<mac>/boot.cfg is not found, then boot.cfg next to mboot.efi.
    expect(await src.resolve('esx1/efi/boot/01-52-54-00-0b-0b-0b/boot.cfg', ctx(addr))).toBeNull();
    const cfg = text(await src.resolve('esx1/efi/boot/boot.cfg', ctx(addr)));
    expect(cfg).toContain('prefix=esx1\n');
    expect(cfg).not.toMatch(TOKEN); // A's token would let B phone home as A
    const [ev, miss] = await store.hosts.bootEvents({ mac: MAC_B });
    expect(ev).toMatchObject({
      file: 'esx1/efi/boot/boot.cfg',
      hostUuid: null,
      image: 'esx1',
      detail: { reason: 'requested-image', known: false },
    });
    expect(miss).toMatchObject({
      file: 'esx1/efi/boot/01-52-54-00-0b-0b-0b/boot.cfg',
      hostUuid: null,
      image: null,
      detail: { action: 'not-found' },
    });
    // A itself, asking by its own MAC, still gets its own file.
    expect(text(await src.resolve('esx1/efi/boot/01-52-54-00-0a-0a-0a/boot.cfg', ctx(addr)))).toMatch(TOKEN);
  });

  it('full DHCP mode: the lease of the address names its holder; a sighting of the previous holder is not trusted', async () => {
    const addr = '10.99.0.11';
    await aBootsFrom(addr);
    now += 60_000;
    // Our DHCP now leases the address to B (its DHCP boot event was lost, say): A's sighting is stale.
    await store.leases.upsert({
      address: addr,
      mac: MAC_B,
      clientId: null,
      hostname: null,
      state: 'bound',
      expiresAt: now + 3600_000,
      updatedAt: now,
    });
    const cfg = text(await src.resolve('esx1/boot.cfg', ctx(addr)));
    expect(cfg).not.toMatch(TOKEN);
    expect((await store.hosts.bootEvents({ limit: 1 }))[0]).toMatchObject({
      file: 'esx1/boot.cfg',
      hostUuid: null,
      mac: MAC_B,
      address: addr,
    });
    // The lease held by A's own MAC: A's sighting stands.
    await store.leases.upsert({
      address: addr,
      mac: MAC_A,
      clientId: null,
      hostname: null,
      state: 'bound',
      expiresAt: now + 3600_000,
      updatedAt: now,
    });
    await aBootsFrom(addr);
    expect((await store.hosts.bootEvents({ uuid: A, limit: 1 }))[0]).toMatchObject({
      file: 'esx1/boot.cfg',
      address: addr,
      image: 'esx1',
    });
    // An expired lease of another MAC: A is no longer trusted, and nobody else is (unknown host).
    await store.leases.upsert({
      address: addr,
      mac: MAC_B,
      clientId: null,
      hostname: null,
      state: 'bound',
      expiresAt: now - 1,
      updatedAt: now,
    });
    expect(text(await src.resolve('esx1/boot.cfg', ctx(addr)))).not.toMatch(TOKEN);
    expect((await store.hosts.bootEvents({ limit: 1 }))[0]).toMatchObject({
      file: 'esx1/boot.cfg',
      hostUuid: null,
      mac: null,
      address: addr,
    });
  });

  it('a sighting older than the TTL is not used', async () => {
    const addr = '10.99.0.12';
    await aBootsFrom(addr);
    now += IDENTITY_TTL_MS + 1;
    expect(text(await src.resolve('esx1/boot.cfg', ctx(addr)))).not.toMatch(TOKEN);
  });
});
