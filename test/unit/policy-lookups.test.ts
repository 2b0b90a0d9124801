/**
 * withStoreLookups (src/hosts/policy-lookups.ts): the pure, synchronous boot policy run on an
 * asynchronous store makes exactly the reads it asks for, in its own order, and gets their answers.
 */
import { describe, expect, it } from 'vitest';
import { withStoreLookups, type PolicyStore } from '../../src/hosts/policy-lookups.js';
import { bootsFromInstalledDisk, decideBoot, type ClusterLookup } from '../../src/hosts/policy.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import type { HostRecord } from '../../src/store/hosts.js';
import type { ImageManifest } from '../../src/images/image.js';

const U = '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b';
const MAC = '52:54:00:12:34:56';

const host = (uuid: string, p: Partial<HostRecord> = {}): HostRecord => ({
  uuid,
  hostname: null,
  macs: [MAC],
  serial: null,
  vendor: null,
  model: null,
  state: 'registered',
  cluster: null,
  imagePin: null,
  firstSeen: 1,
  lastSeen: 1,
  lastAddress: null,
  evidence: {},
  ...p,
});

const image = { name: 'v1', kind: 'esxi', files: [] } as unknown as ImageManifest;

/** A store answering from `rows` after a macrotask (as a remote database would), logging each read. */
function storeOf(rows: HostRecord[], installed: Record<string, number> = {}): PolicyStore & { reads: string[] } {
  const reads: string[] = [];
  const later = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 1));
  return {
    reads,
    hosts: {
      get: (uuid) => (reads.push(`get ${uuid}`), later(rows.find((h) => h.uuid === uuid))),
      findByMac: (mac) => (reads.push(`mac ${mac}`), later(rows.filter((h) => h.macs.includes(mac)))),
    },
    installedAt: (uuid) => (reads.push(`installed ${uuid}`), later(installed[uuid])),
  };
}

const noClusters: ClusterLookup = () => undefined;
const inputs = { clusters: noClusters, images: new Map([['v1', image]]), unknownHosts: 'local' as const };

describe('withStoreLookups', () => {
  it('a known host by UUID: one read, no MAC scan; the same decision as on synchronous lookups', async () => {
    const rows = [host(U, { imagePin: 'v1' })];
    const store = storeOf(rows);
    const d = await withStoreLookups(store, (l) =>
      decideBoot({ uuid: U, uuidOrder: 'smbios', mac: MAC }, { ...inputs, ...l }),
    );
    expect(store.reads).toEqual([`get ${U}`]);
    const sync = {
      get: (u: string) => rows.find((h) => h.uuid === u),
      findByMac: (m: string) => rows.filter((h) => h.macs.includes(m)),
    };
    expect(d).toEqual(decideBoot({ uuid: U, uuidOrder: 'smbios', mac: MAC }, { ...inputs, hosts: sync }));
    expect(d).toMatchObject({ action: 'boot', reason: 'host-pin' });
  });

  it('reads in the policy order: both byte orders, then the MAC; each key once', async () => {
    const store = storeOf([host(U, { imagePin: 'v1' })]);
    const stranger = '3d9c1a77-5e2f-4b60-8c1d-2e3f4a5b6c7d';
    const d = await withStoreLookups(store, (l) => decideBoot({ uuid: stranger, mac: MAC }, { ...inputs, ...l }));
    expect(store.reads).toEqual([`get ${stranger}`, `get ${swapUuidByteOrder(stranger)}`, `mac ${MAC}`]);
    expect(d.host).toMatchObject({ uuid: U, matchedBy: 'mac' });
  });

  it('boot-once: reads the install only for a stateful member', async () => {
    const clusters: ClusterLookup = (u) => (u === U ? { cluster: 'lab', stateful: true } : undefined);
    const store = storeOf([], { [U]: 1_700_000_000_000 });
    const q = { uuid: U, uuidOrder: 'smbios' as const, mac: MAC };
    expect(await withStoreLookups(store, (l) => bootsFromInstalledDisk(q, { ...l, clusters }))).toBe(true);
    expect(store.reads).toEqual([`get ${U}`, `installed ${U}`]);
    const stateless = storeOf([], { [U]: 5 });
    expect(await withStoreLookups(stateless, (l) => bootsFromInstalledDisk(q, { ...l, clusters: noClusters }))).toBe(
      false,
    );
    expect(stateless.reads).not.toContain(`installed ${U}`);
  });

  it("passes the store's and the policy's own errors through; stops a run that never ends", async () => {
    const broken: PolicyStore = {
      hosts: { get: () => Promise.reject(new Error('connection refused')), findByMac: () => Promise.resolve([]) },
    };
    await expect(withStoreLookups(broken, (l) => l.hosts.get(U))).rejects.toThrow('connection refused');
    await expect(
      withStoreLookups(storeOf([]), () => {
        throw new RangeError('policy bug');
      }),
    ).rejects.toThrow(RangeError);
    let n = 0;
    await expect(withStoreLookups(storeOf([]), (l) => l.hosts.get(`u${n++}`))).rejects.toThrow(
      /more than 16 store reads/,
    );
  });
});
