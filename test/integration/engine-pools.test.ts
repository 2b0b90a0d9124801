/**
 * Stable pool addresses (engine/pools over store `pool_allocations`): a member keeps its pool
 * address when members are inserted before it or removed; a removed member's address is released;
 * an address held by one member is never handed to another. Against the vCenter simulator: after
 * such an edit of the member list, a re-apply makes no UpdateVirtualNic call for the hosts that stayed.
 */
import { desiredCluster } from '../helpers/desired-cluster.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore, type Store } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { planWithPools } from '../../src/engine/pools.js';
import type { CurrentState } from '../../src/engine/state.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster, MemberHost } from '../../src/clusters/types.js';

const uuid = (n: number) => `4c4c4544-0050-3510-8052-b3c04f4e32${String(n).padStart(2, '0')}`;
const member = (n: number): MemberHost => ({ fqdn: `esx${n}.pool.example`, uuid: uuid(n), addresses: {} });

function cluster(hosts: MemberHost[]): DesiredCluster {
  return desiredCluster({
    name: 'pooled',
    drs: { enabled: false, automationLevel: 'fullyAutomated', migrationThreshold: 3 },
    dpm: { enabled: false, automationLevel: 'manual', threshold: 3 },
    vswitches: [{ name: 'vSwitch1', uplinks: ['vmnic2'], mtu: 9000, numPorts: 128, teaming: {}, security: {} }],
    portgroups: [{ name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 }],
    vmknics: [
      {
        device: 'vmk1',
        portgroup: 'vMotion',
        addressing: { mode: 'pool', pool: 'vmotion' },
        mtu: 9000,
        services: ['vmotion'],
      },
    ],
    pools: [{ name: 'vmotion', start: '10.20.0.10', end: '10.20.0.14', netmask: '255.255.255.0' }],
    hosts,
  });
}

/** The addresses a plan of `c` gets for the members it asks for (`ask`, in that order). */
function addresses(store: Store, c: DesiredCluster, ask: MemberHost[], state?: CurrentState) {
  return planWithPools(store.jobs.pools, c, state, (f) =>
    Object.fromEntries(ask.map((h) => [h.fqdn, f(h, c.vmknics[0]!, c.pools[0]!)])),
  );
}

describe('pool allocations in the store', () => {
  it('survive inserting a member at the front and removing one in the middle; released addresses are reused, held ones never', async () => {
    const store = await openStore(':memory:');
    const addr = (c: DesiredCluster, ask = c.hosts, state?: CurrentState) => addresses(store, c, ask, state);
    const [a, b, c, d, e] = [1, 2, 3, 4, 5].map(member) as [MemberHost, MemberHost, MemberHost, MemberHost, MemberHost];
    expect(await addr(cluster([a, b, c]))).toEqual({
      'esx1.pool.example': '10.20.0.10',
      'esx2.pool.example': '10.20.0.11',
      'esx3.pool.example': '10.20.0.12',
    });
    // insert d at the front: the others keep theirs, d gets the first free address
    expect(await addr(cluster([d, a, b, c]))).toEqual({
      'esx4.pool.example': '10.20.0.13',
      'esx1.pool.example': '10.20.0.10',
      'esx2.pool.example': '10.20.0.11',
      'esx3.pool.example': '10.20.0.12',
    });
    // remove b (middle): released; the others keep theirs; e, new, gets b's old address (first free)
    expect(await addr(cluster([d, a, c]))).toEqual({
      'esx4.pool.example': '10.20.0.13',
      'esx1.pool.example': '10.20.0.10',
      'esx3.pool.example': '10.20.0.12',
    });
    expect((await store.jobs.pools.list('pooled')).map((x) => x.address)).toEqual([
      '10.20.0.10',
      '10.20.0.12',
      '10.20.0.13',
    ]);
    expect((await addr(cluster([d, a, c, e])))['esx5.pool.example']).toBe('10.20.0.11');
    // a current address held by another member is not adopted (e "has" a's address on the host)
    const held = {
      cluster: {},
      hosts: {
        [b.uuid]: {
          vmknics: [{ device: 'vmk1', portgroup: 'vMotion', dhcp: false, ipAddress: '10.20.0.10', mtu: 9000 }],
        },
      },
    } as never;
    expect(await addr(cluster([d, a, c, e, b]), [b], held)).toEqual({ 'esx2.pool.example': '10.20.0.14' });
    // the pool is now full: a sixth member gets none (the planner turns that into a PlanError)
    const g = member(6);
    expect(await addr(cluster([d, a, c, e, b, g]), [g])).toEqual({ 'esx6.pool.example': undefined });
    store.close();
  });

  it('a host addressed before allocations were recorded keeps its current address when it is in the pool', async () => {
    const store = await openStore(':memory:');
    const [a, b] = [member(1), member(2)];
    const c = cluster([b, a]);
    const state = {
      cluster: {},
      hosts: {
        [a.uuid]: {
          vmknics: [{ device: 'vmk1', portgroup: 'vMotion', dhcp: false, ipAddress: '10.20.0.10', mtu: 9000 }],
        },
      },
    } as never;
    expect(await addresses(store, c, [a, b], state)).toEqual({
      'esx2.pool.example': '10.20.0.11',
      'esx1.pool.example': '10.20.0.10',
    });
    store.close();
  });
});

describe('stable pool addresses against vcsim', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim([1, 2, 3, 4].flatMap((n) => ['-host-uuid', `esx${n}.pool.example=${uuid(n)}`]));
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('after inserting a member at the front and removing one in the middle, a re-apply makes no UpdateVirtualNic call for the hosts that stayed', async () => {
    const store = await openStore(':memory:');
    const env = { SX_VC_PW: 'x', SX_ESX_PW: 'y' };
    const cfg = configSchema.parse({
      ...vcenterConfigFor(sim),
      engine: { 'max-attempts': 2 },
    });
    let list = [cluster([member(1), member(2), member(3)])];
    const r = new JobRunner({
      jobs: store.jobs,
      config: cfg,
      log: silentLogger,
      retryBaseMs: 200,
      env,
      connect: vcenterConnector(cfg.vcenters, silentLogger, env),
      clusters: {
        get: (n) => clusterLookups(fixedClusterFiles(list)).engine.get(n),
        findByHost: (u) => clusterLookups(fixedClusterFiles(list)).engine.findByHost(u),
      },
    });
    await r.start();
    const first = await r.wait((await r.enqueueApplyCluster('pooled', { source: 'test' })).id);
    expect(first.error).toBeNull();
    const before = Object.fromEntries((await store.jobs.pools.list('pooled')).map((a) => [a.hostUuid, a.address]));
    expect(before).toEqual({ [uuid(1)]: '10.20.0.10', [uuid(2)]: '10.20.0.11', [uuid(3)]: '10.20.0.12' });

    list = [cluster([member(4), member(1), member(3)])];
    const calls0 = (await r.calls('vc1'))!;
    const again = await r.wait((await r.enqueueApplyCluster('pooled', { source: 'test' })).id);
    const calls1 = (await r.calls('vc1'))!;
    expect(again.error).toBeNull();
    const steps = (await store.jobs.steps(again.id)).filter((s) => s.state === 'done');
    // only the new member is touched: AddHost_Task and its configuration; nothing for esx1/esx3
    expect(steps.filter((s) => s.hostUuid !== uuid(4)).map((s) => `${s.name} ${s.target}`)).toEqual([]);
    expect((calls1.byMethod['UpdateVirtualNic'] ?? 0) - (calls0.byMethod['UpdateVirtualNic'] ?? 0)).toBe(0);
    const add = steps.find((s) => s.name === 'AddVirtualNic' && s.hostUuid === uuid(4));
    expect(add?.args).toMatchObject({ nic: { ipAddress: '10.20.0.11' } }); // esx2's released address, the first free one
    expect(Object.fromEntries((await store.jobs.pools.list('pooled')).map((a) => [a.hostUuid, a.address]))).toEqual({
      [uuid(4)]: '10.20.0.11',
      [uuid(1)]: '10.20.0.10',
      [uuid(3)]: '10.20.0.12',
    });
    // read back: esx1 and esx3 still have their addresses on the simulator
    const vc = await r.vcenter('vc1');
    const state = await vc.readState('DC0', 'pooled', [uuid(1), uuid(3), uuid(4)], []);
    expect(
      [uuid(1), uuid(3), uuid(4)].map((u) => state.hosts[u]?.vmknics.find((n) => n.portgroup === 'vMotion')?.ipAddress),
    ).toEqual(['10.20.0.10', '10.20.0.12', '10.20.0.11']);
    await r.close();
    store.close();
  }, 120_000);
});
