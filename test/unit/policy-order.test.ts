import { describe, it, expect, beforeEach } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import {
  decideBoot,
  clusterImagePins,
  type ClusterLookup,
  type PolicyInputs,
  type BootDecision,
  type HostQuery,
} from '../../src/hosts/policy.js';
import { withStoreLookups } from '../../src/hosts/policy-lookups.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

/** The boot policy's view of `files`, through the adapter the server uses. */
const policyLookup = (files: DesiredCluster[]) => clusterLookups(fixedClusterFiles(files)).policy;
import type { ImageManifest } from '../../src/images/image.js';

const img = (name: string, kind: 'esxi' | 'linux' = 'esxi'): ImageManifest => ({
  schema: 1,
  name,
  kind,
  source: '/x',
  importedAt: '2026-01-01T00:00:00.000Z',
  files: [],
  ...(kind === 'esxi'
    ? {
        esxi: {
          version: '8.0.2',
          build: '1',
          title: null,
          bootCfg: 'boot.cfg',
          biosLoader: 'mboot.c32',
          efiLoader: null,
        },
      }
    : { linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: '' } }),
});

const U = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const U_WIRE = swapUuidByteOrder(U); // 2a4c0e8f-1d3b-5f4e-9a6b-7c8d9e0f1a2b
const MAC = '52:54:00:12:34:56';
/** An unknown host; asymmetric, so its two byte orders differ (11111111-2222-3333-… would not). */
const STRANGER = '3d9c1a77-5e2f-4b60-8c1d-2e3f4a5b6c7d';
const STRANGER_WIRE = swapUuidByteOrder(STRANGER); // 771a9c3d-2f5e-604b-8c1d-2e3f4a5b6c7d

function imageOf(d: BootDecision): string {
  return d.action === 'boot' ? `${d.image.name} (${d.reason})` : d.action;
}

describe('boot policy order: host pin → cluster member pin → cluster default → global default', () => {
  let store: Store;
  let clusters: Map<string, ReturnType<ClusterLookup>>;
  let inputs: Omit<PolicyInputs, 'hosts'>;
  /** The policy's decision on the store's hosts, read as the boot files do (src/hosts/policy-lookups.ts). */
  const decide = (q: HostQuery, i: Omit<PolicyInputs, 'hosts'>): Promise<BootDecision> =>
    withStoreLookups({ hosts: store.hosts }, (lookups) => decideBoot(q, { ...i, ...lookups }));
  beforeEach(async () => {
    store = await openStore(':memory:');
    clusters = new Map();
    inputs = {
      clusters: (u) => clusters.get(u),
      images: new Map(['v1', 'v2', 'v3', 'v4'].map((n) => [n, img(n)])),
      defaultImage: 'v4',
      unknownHosts: 'menu',
    };
  });

  it('walks the chain in written order', async () => {
    await store.hosts.setImagePin(U, 'v1');
    clusters.set(U, { cluster: 'c1', image: 'v2', defaultImage: 'v3' });
    expect(imageOf(await decide({ uuid: U, uuidOrder: 'smbios' }, inputs))).toBe('v1 (host-pin)');
    await store.hosts.setImagePin(U, null);
    expect(imageOf(await decide({ uuid: U, uuidOrder: 'smbios' }, inputs))).toBe('v2 (cluster-member-pin)');
    clusters.set(U, { cluster: 'c1', defaultImage: 'v3' });
    expect(imageOf(await decide({ uuid: U, uuidOrder: 'smbios' }, inputs))).toBe('v3 (cluster-default)');
    clusters.set(U, { cluster: 'c1' });
    const d = await decide({ uuid: U, uuidOrder: 'smbios' }, inputs);
    expect(imageOf(d)).toBe('v4 (global-default)');
    expect(d.action === 'boot' && d.cluster).toBe('c1');
  });

  it('re-pinning takes effect on the next decision (rollback)', async () => {
    await store.hosts.setImagePin(U, 'v2');
    expect(imageOf(await decide({ uuid: U }, inputs))).toBe('v2 (host-pin)');
    await store.hosts.setImagePin(U, 'v1');
    expect(imageOf(await decide({ uuid: U }, inputs))).toBe('v1 (host-pin)');
  });

  it('matches the UUID in both byte orders and reports the SMBIOS form', async () => {
    await store.hosts.setImagePin(U, 'v1');
    for (const q of [
      { uuid: U_WIRE, uuidOrder: 'wire' as const },
      { uuid: U_WIRE },
      { uuid: U.toUpperCase() },
      { uuid: U.replace(/-/g, '') },
    ]) {
      const d = await decide(q, inputs);
      expect(imageOf(d)).toBe('v1 (host-pin)');
      expect(d.host).toMatchObject({ uuid: U, matchedBy: 'uuid', known: true });
    }
    // A UUID stated to be SMBIOS-order is not swapped.
    expect((await decide({ uuid: U_WIRE, uuidOrder: 'smbios' }, inputs)).action).toBe('menu');
  });

  it('treats nil UUIDs as absent and falls back to the MAC', async () => {
    await store.hosts.upsertSighting({ uuid: U, at: 1, mac: MAC });
    await store.hosts.setImagePin(U, 'v2');
    for (const nil of ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF']) {
      const d = await decide({ uuid: nil, mac: '52-54-00-12-34-56' }, inputs);
      expect(imageOf(d)).toBe('v2 (host-pin)');
      expect(d.host).toMatchObject({ uuid: U, mac: MAC, matchedBy: 'mac' });
    }
  });

  it('unknown hosts get the menu, the default image or local boot per boot.unknown-hosts', async () => {
    const q = { uuid: STRANGER, mac: '02:00:00:00:00:01' };
    const menu = await decide(q, inputs);
    expect(menu.action).toBe('menu');
    expect(menu.action === 'menu' && [menu.images.map((i) => i.name), menu.defaultImage]).toEqual([
      ['v1', 'v2', 'v3', 'v4'],
      'v4',
    ]);
    expect(menu.host.known).toBe(false);
    expect(imageOf(await decide(q, { ...inputs, unknownHosts: 'default-image' }))).toBe('v4 (unknown-host-default)');
    expect((await decide(q, { ...inputs, unknownHosts: 'local' })).action).toBe('local');
    // A sighting alone (state unregistered, no pin, no cluster) does not make a host known.
    await store.hosts.upsertSighting({ uuid: q.uuid, at: 1 });
    expect((await decide(q, { ...inputs, unknownHosts: 'local' })).action).toBe('local');
    // A registered host gets the global default.
    await store.hosts.setState(q.uuid, 'registered');
    expect(imageOf(await decide(q, { ...inputs, unknownHosts: 'local' }))).toBe('v4 (global-default)');
  });

  it("never hands an unknown host another host's image", async () => {
    await store.hosts.setImagePin(U, 'v1');
    const other = await decide({ uuid: STRANGER, mac: '02:00:00:00:00:09' }, { ...inputs, unknownHosts: 'local' });
    expect(other.action).toBe('local');
    expect(other.host.uuid).toBe(STRANGER);
  });

  it("reports an unknown host's UUID in SMBIOS form, whichever byte order it was sent in", async () => {
    // pxelinux.cfg/<uuid> is wire order (SMBIOS also matched): an unknown one is swapped back.
    for (const [q, want] of [
      [{ uuid: STRANGER_WIRE, uuidOrder: 'wire-or-smbios' as const }, STRANGER],
      [{ uuid: STRANGER_WIRE, uuidOrder: 'wire' as const }, STRANGER],
      [{ uuid: STRANGER, uuidOrder: 'smbios' as const }, STRANGER],
      [{ uuid: STRANGER }, STRANGER], // `either`: SMBIOS first
    ] as const) {
      expect((await decide(q, inputs)).host, JSON.stringify(q)).toMatchObject({
        uuid: want,
        known: false,
        matchedBy: 'none',
      });
    }
    // Known hosts are matched in either spelling and reported in the form they are known by.
    await store.hosts.setImagePin(U, 'v1');
    expect((await decide({ uuid: U_WIRE, uuidOrder: 'wire-or-smbios' }, inputs)).host).toMatchObject({
      uuid: U,
      matchedBy: 'uuid',
    });
    expect((await decide({ uuid: U, uuidOrder: 'wire-or-smbios' }, inputs)).host).toMatchObject({
      uuid: U,
      matchedBy: 'uuid',
    });
  });

  it('a pin naming a missing image boots local disk and names the field', async () => {
    await store.hosts.setImagePin(U, 'gone');
    const d = await decide({ uuid: U }, inputs);
    expect(d.action).toBe('local');
    expect(d.problems).toEqual([`host ${U} image pin: image "gone" does not exist`]);
    await store.hosts.setImagePin(U, null);
    clusters.set(U, { cluster: 'c9', defaultImage: 'nope' });
    expect((await decide({ uuid: U }, inputs)).problems).toEqual([
      'cluster "c9" default image: image "nope" does not exist',
    ]);
  });

  it('is deterministic: same inputs, same decision', async () => {
    await store.hosts.upsertSighting({ uuid: U, at: 5, mac: MAC });
    await store.hosts.upsertSighting({ uuid: '0a0a0a0a-0000-0000-0000-000000000001', at: 5, mac: MAC });
    const a = await decide({ mac: MAC }, inputs);
    const b = await decide({ mac: MAC }, inputs);
    expect(a).toEqual(b);
    expect(a.host.uuid).toBe('0a0a0a0a-0000-0000-0000-000000000001'); // same lastSeen: lowest UUID wins
  });

  it('adapts cluster files: member pins, cluster default, pins for image removal', async () => {
    const files = [
      {
        name: 'prod',
        image: 'v3',
        hosts: [{ uuid: U, image: 'v2' }, { uuid: '11111111-1111-1111-1111-111111111111' }],
      },
      { name: 'lab', hosts: [{ uuid: U, image: 'v1' }] },
    ] as unknown as DesiredCluster[];
    const lookup = policyLookup(files);
    expect(lookup(U)).toEqual({ cluster: 'prod', image: 'v2', defaultImage: 'v3' });
    expect(
      imageOf(await decide({ uuid: '11111111-1111-1111-1111-111111111111' }, { ...inputs, clusters: lookup })),
    ).toBe('v3 (cluster-default)');
    expect(clusterImagePins(files, 'v2')).toEqual([`cluster prod member ${U}`]);
    expect(clusterImagePins(files, 'v3')).toEqual(['cluster prod (default image)']);
  });

  it("kernel options: the cluster's boot/@kernelOptions first, then the member's, whichever pin wins", async () => {
    const OTHER = '11111111-1111-1111-1111-111111111111';
    const files = [
      {
        name: 'prod',
        image: 'v3',
        boot: { mode: 'stateless', kernelOptions: ' noIOMMU  vga=0 ' },
        hosts: [{ uuid: U, image: 'v2', kernelOptions: 'vmkLinuxDriverLog=1 vga=1' }, { uuid: OTHER }],
      },
      { name: 'lab', hosts: [{ uuid: STRANGER, kernelOptions: 'debugLogToSerial=1' }] },
    ] as unknown as DesiredCluster[];
    const lookup = policyLookup(files);
    const opts = async (q: { uuid: string }) => {
      const d = await decide(q, { ...inputs, clusters: lookup });
      return d.action === 'boot' ? d.kernelOptions : `no boot: ${d.action}`;
    };
    expect(lookup(U)?.kernelOptions).toEqual({ cluster: 'noIOMMU  vga=0', member: 'vmkLinuxDriverLog=1 vga=1' });
    // Member pin: cluster options, then the member's (a later duplicate like vga= wins in the kernel).
    expect(await opts({ uuid: U })).toBe('noIOMMU vga=0 vmkLinuxDriverLog=1 vga=1');
    // A store pin still carries the member's options: they belong to the host, not to the image.
    await store.hosts.setImagePin(U, 'v1');
    expect(await opts({ uuid: U })).toBe('noIOMMU vga=0 vmkLinuxDriverLog=1 vga=1');
    expect(await opts({ uuid: OTHER })).toBe('noIOMMU vga=0');
    inputs.defaultImage = undefined;
    expect(await opts({ uuid: STRANGER })).toBe('no boot: menu');
    inputs.defaultImage = 'v4';
    expect(await opts({ uuid: STRANGER })).toBe('debugLogToSerial=1');
    // Not a member: no options.
    await store.hosts.setImagePin('22222222-3333-4444-5555-666666666666', 'v1');
    expect(await opts({ uuid: '22222222-3333-4444-5555-666666666666' })).toBeUndefined();
  });

  it('finds a cluster member by its declared mac= when the store has never seen the host', async () => {
    const files = [
      { name: 'prod', image: 'v3', hosts: [{ uuid: U, mac: MAC, image: 'v2' }, { uuid: STRANGER }] },
    ] as unknown as DesiredCluster[];
    const lookup = policyLookup(files);
    expect(lookup.byMac?.(MAC)).toBe(U);
    expect(await store.hosts.findByMac(MAC)).toEqual([]);
    for (const q of [
      { mac: '52-54-00-12-34-56' },
      { uuid: '00000000-0000-0000-0000-000000000000', mac: MAC.toUpperCase() },
    ]) {
      const d = await decide(q, { ...inputs, clusters: lookup });
      expect(imageOf(d), JSON.stringify(q)).toBe('v2 (cluster-member-pin)');
      expect(d.host).toMatchObject({
        uuid: U,
        mac: MAC,
        matchedBy: 'mac',
        known: true,
        membership: { cluster: 'prod' },
      });
    }
    // The store pin of that member still comes first (same order as by UUID).
    await store.hosts.setImagePin(U, 'v1');
    expect(imageOf(await decide({ mac: MAC }, { ...inputs, clusters: lookup }))).toBe('v1 (host-pin)');
    // The declared MAC wins over a sighting of another UUID with that MAC (sightings are claims).
    await store.hosts.upsertSighting({ uuid: STRANGER_WIRE, at: 9, mac: MAC });
    expect((await decide({ mac: MAC }, { ...inputs, clusters: lookup })).host.uuid).toBe(U);
    // Another MAC: not a member.
    expect((await decide({ mac: '02:00:00:00:00:42' }, { ...inputs, clusters: lookup })).host).toMatchObject({
      known: false,
      matchedBy: 'none',
    });
  });
});
