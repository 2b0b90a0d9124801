import { describe, it, expect } from 'vitest';
import type { DesiredCluster } from '../../src/clusters/types.js';
import { HA_ON, networkedCluster, vmotionNetworking } from '../helpers/desired-cluster.js';
import { planCluster, planHost, poolAddress, PlanError, type Step } from '../../src/engine/plan.js';
import type { HostBoot, HostHold } from '../../src/engine/lifecycle.js';
import { defaultHostState, type ClusterState, type HostState } from '../../src/engine/state.js';

function desired(): DesiredCluster {
  return networkedCluster({
    name: 'prod',
    datacenter: 'DC1',
    credentials: 'esx-root',
    file: '/tmp/prod.xml',
    ha: HA_ON,
    drs: { enabled: true, automationLevel: 'fullyAutomated', migrationThreshold: 2 },
    dpm: { enabled: true, automationLevel: 'manual', threshold: 4 },
    ...vmotionNetworking({ security: { allowPromiscuous: false }, vsanPoolEnd: '10.30.0.11' }),
    ntpServers: ['ntp1.example.org', 'ntp2.example.org'],
    dns: { servers: ['10.0.0.53'], searchDomains: ['example.org'] },
    hosts: [
      { fqdn: 'esx1.example.org', uuid: '11111111-2222-3333-4444-555555555555', addresses: { vmk1: '10.20.0.11' } },
      { fqdn: 'esx2.example.org', uuid: '11111111-2222-3333-4444-666666666666', addresses: { vmk1: '10.20.0.12' } },
    ],
  });
}

/** A minimal interpreter of the planned steps over plain state, to check plan → apply → plan converges. */
function applyToState(cluster: ClusterState, hosts: Record<string, HostState | undefined>, steps: Step[]): void {
  for (const s of steps) {
    const h = s.hostUuid ? hosts[s.hostUuid] : undefined;
    switch (s.name) {
      case 'CreateDatacenter':
        cluster.datacenterRef = 'datacenter-1';
        cluster.hostFolderRef = 'group-h1';
        break;
      case 'CreateClusterEx':
        cluster.clusterRef = 'domain-c1';
        cluster.config = JSON.parse(JSON.stringify(s.args.spec)) as typeof cluster.config;
        if (!cluster.config!.dasConfig.admissionControlPolicy)
          cluster.config!.dasConfig.admissionControlPolicy = { type: 'other' };
        break;
      case 'ReconfigureComputeResource_Task':
        Object.assign(cluster.config!.dasConfig, s.args.spec.dasConfig);
        Object.assign(cluster.config!.drsConfig, s.args.spec.drsConfig);
        Object.assign(cluster.config!.dpmConfig, s.args.spec.dpmConfig);
        break;
      case 'AddHost_Task':
        hosts[s.hostUuid!] = { ...defaultHostState(s.args.hostName, s.hostUuid!), parentRef: cluster.clusterRef };
        break;
      case 'AddVirtualSwitch':
      case 'UpdateVirtualSwitch': {
        const v = { name: s.args.vswitchName, ...s.args.spec };
        h!.vswitches = [...h!.vswitches.filter((x) => x.name !== v.name), v];
        break;
      }
      case 'AddPortGroup':
      case 'UpdatePortGroup': {
        const p = s.args.portgrp;
        h!.portgroups = [
          ...h!.portgroups.filter((x) => x.name !== p.name),
          { name: p.name, vswitch: p.vswitchName, vlanId: p.vlanId, teaming: p.teaming, security: p.security },
        ];
        break;
      }
      case 'AddVirtualNic':
        h!.vmknics.push({ device: `vmk${h!.vmknics.length}`, portgroup: s.args.portgroup, ...s.args.nic });
        break;
      case 'UpdateVirtualNic':
        Object.assign(
          h!.vmknics.find((n) => n.device === s.args.device)!,
          s.args.nic,
        );
        break;
      case 'SelectVnicForNicType': {
        const dev = h!.vmknics.find((n) => n.portgroup === s.args.portgroup)!.device;
        h!.services[s.args.nicType] = [...(h!.services[s.args.nicType] ?? []), dev];
        break;
      }
      case 'DeselectVnicForNicType':
        h!.services[s.args.nicType] = (h!.services[s.args.nicType] ?? []).filter((d) => d !== s.args.device);
        break;
      case 'UpdateDateTimeConfig':
        h!.ntpServers = s.args.ntpServers;
        break;
      case 'UpdateServicePolicy':
        h!.ntpd!.policy = s.args.policy;
        break;
      case 'StartService':
        h!.ntpd!.running = true;
        break;
      case 'UpdateDnsConfig':
        h!.dns = { ...h!.dns, dhcp: false, servers: s.args.servers, searchDomains: s.args.searchDomains };
        break;
      case 'UpdateOptions':
        for (const o of s.args.changedValue) h!.advanced[o.key] = o.value;
        break;
      case 'EnterMaintenanceMode_Task':
        h!.inMaintenanceMode = true;
        break;
      case 'ExitMaintenanceMode_Task':
        h!.inMaintenanceMode = false;
        break;
    }
  }
}

/** The desired cluster applied to an empty state: the state, and its first host's desired and current state. */
function convergedFirstHost() {
  const d = desired();
  const cluster: ClusterState = {};
  const hosts: Record<string, HostState | undefined> = {};
  applyToState(cluster, hosts, planCluster(d, { cluster, hosts }));
  const h = d.hosts[0]!;
  return { d, cluster, hosts, h, st: hosts[h.uuid]! };
}

describe('engine plan', () => {
  it('plans a new datacenter, cluster and two hosts in the documented order, then converges to zero steps', () => {
    const d = desired();
    const cluster: ClusterState = {};
    const hosts: Record<string, HostState | undefined> = {};
    const steps = planCluster(d, { cluster, hosts });
    expect(steps.slice(0, 3).map((s) => s.name)).toEqual(['CreateDatacenter', 'CreateClusterEx', 'AddHost_Task']);
    const host1 = steps.filter((s) => s.hostUuid === d.hosts[0]!.uuid).map((s) => s.name);
    expect(host1).toEqual([
      'AddHost_Task',
      'AddVirtualSwitch',
      'AddPortGroup',
      'AddPortGroup',
      'AddVirtualNic',
      'AddVirtualNic',
      'SelectVnicForNicType',
      'SelectVnicForNicType',
      'UpdateDateTimeConfig',
      'UpdateServicePolicy',
      'StartService',
      'UpdateDnsConfig',
      'UpdateOptions',
    ]);
    const add = steps.find((s) => s.name === 'AddHost_Task')!;
    expect(add.args).toEqual({
      hostName: 'esx1.example.org',
      credentials: 'esx-root',
      sslThumbprint: undefined,
      asConnected: true,
    });
    const create = steps.find((s) => s.name === 'CreateClusterEx')!;
    expect(create.args).toMatchObject({
      name: 'prod',
      spec: {
        dasConfig: {
          enabled: true,
          admissionControlPolicy: { type: 'ClusterFailoverLevelAdmissionControlPolicy', failoverLevel: 1 },
        },
        drsConfig: { vmotionRate: 2 },
        dpmConfig: { hostPowerActionRate: 4 },
      },
    });
    // pool allocation: by member order
    const vnics = steps
      .filter((s) => s.name === 'AddVirtualNic' && s.args.portgroup === 'vSAN')
      .map((s) => (s.args as { nic: { ipAddress: string } }).nic.ipAddress);
    expect(vnics).toEqual(['10.30.0.10', '10.30.0.11']);

    applyToState(cluster, hosts, steps);
    expect(planCluster(d, { cluster, hosts })).toEqual([]);
  });

  it('identical state gives zero steps for a host; one changed VLAN gives exactly one UpdatePortGroup', () => {
    const d = desired();
    const cluster: ClusterState = {};
    const hosts: Record<string, HostState | undefined> = {};
    applyToState(cluster, hosts, planCluster(d, { cluster, hosts }));
    const h = d.hosts[1]!;
    expect(planHost(d, h, { cluster, host: hosts[h.uuid] })).toEqual([]);
    hosts[h.uuid]!.portgroups.find((p) => p.name === 'vMotion')!.vlanId = 99;
    const steps = planHost(d, h, { cluster, host: hosts[h.uuid] });
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({
      name: 'UpdatePortGroup',
      before: { vlanId: 99 },
      after: { vlanId: 20 },
      args: { pgName: 'vMotion', portgrp: { vlanId: 20 } },
    });
  });

  it('reconciles HA/DRS/DPM with modify=true carrying only what differs', () => {
    const d = desired();
    const cluster: ClusterState = {};
    const hosts: Record<string, HostState | undefined> = {};
    applyToState(cluster, hosts, planCluster(d, { cluster, hosts }));
    cluster.config!.drsConfig.vmotionRate = 5;
    cluster.config!.dasConfig.isolationResponse = 'none';
    const steps = planCluster(d, { cluster, hosts });
    expect(steps).toEqual([
      {
        name: 'ReconfigureComputeResource_Task',
        target: 'cluster:prod',
        args: { modify: true, spec: { dasConfig: { isolationResponse: 'powerOff' }, drsConfig: { vmotionRate: 2 } } },
        before: { dasConfig: { isolationResponse: 'none' }, drsConfig: { vmotionRate: 5 } },
        after: { dasConfig: { isolationResponse: 'powerOff' }, drsConfig: { vmotionRate: 2 } },
      },
    ]);
  });

  it('enters maintenance mode only for a host with VMs and a disruptive change', () => {
    const { d, cluster, h, st } = convergedFirstHost();
    st.vmCount = 3;
    st.ntpServers = [];
    expect(planHost(d, h, { cluster, host: st }).map((s) => s.name)).toEqual(['UpdateDateTimeConfig']);
    st.vswitches[1]!.mtu = 1500;
    expect(planHost(d, h, { cluster, host: st }).map((s) => s.name)).toEqual([
      'EnterMaintenanceMode_Task',
      'UpdateVirtualSwitch',
      'UpdateDateTimeConfig',
      'ExitMaintenanceMode_Task',
    ]);
    st.vmCount = 0;
    expect(planHost(d, h, { cluster, host: st }).map((s) => s.name)).toEqual([
      'UpdateVirtualSwitch',
      'UpdateDateTimeConfig',
    ]);
  });

  it("takes a host out of maintenance mode when the engine's record says it put it there, never otherwise", () => {
    const { d, cluster, hosts, h, st } = convergedFirstHost();
    st.vmCount = 3;
    st.inMaintenanceMode = true;
    // in sync, in maintenance mode by the operator: nothing
    expect(planHost(d, h, { cluster, host: st })).toEqual([]);
    expect(planHost(d, h, { cluster, host: st }, { engineMaintenance: new Set(['someone-else']) })).toEqual([]);
    // the engine entered it (a job died before its exit step): exit, even with nothing else to do
    const ours = new Set([h.uuid]);
    expect(planHost(d, h, { cluster, host: st }, { engineMaintenance: ours }).map((s) => s.name)).toEqual([
      'ExitMaintenanceMode_Task',
    ]);
    // ... after the remaining changes, without entering again
    st.vswitches[1]!.mtu = 1500;
    expect(planHost(d, h, { cluster, host: st }, { engineMaintenance: ours }).map((s) => s.name)).toEqual([
      'UpdateVirtualSwitch',
      'ExitMaintenanceMode_Task',
    ]);
    expect(
      planCluster(d, { cluster, hosts }, { engineMaintenance: ours })
        .filter((s) => s.hostUuid === h.uuid)
        .map((s) => s.name),
    ).toEqual(['UpdateVirtualSwitch', 'ExitMaintenanceMode_Task']);
    // a record for a host that is not in maintenance mode plans nothing
    st.inMaintenanceMode = false;
    st.vswitches[1]!.mtu = 9000;
    expect(planHost(d, h, { cluster, host: st }, { engineMaintenance: ours })).toEqual([]);
  });

  it('moves a service: deselects it from the managed NIC that should not carry it', () => {
    const { d, cluster, h, st } = convergedFirstHost();
    const vsanDev = st.vmknics.find((n) => n.portgroup === 'vSAN')!.device;
    st.services.vmotion = [...(st.services.vmotion ?? []), vsanDev];
    const steps = planHost(d, h, { cluster, host: st });
    expect(steps.map((s) => [s.name, s.args])).toEqual([
      ['DeselectVnicForNicType', { nicType: 'vmotion', portgroup: 'vSAN', device: vsanDev }],
    ]);
  });

  it('refuses with a clear PlanError: exhausted pool, missing static address, host in another cluster', () => {
    expect(() => poolAddress(desired().pools, 'vsan', 2)).toThrow(
      /vsan \(10.30.0.10–10.30.0.11\) has no address for member #3/,
    );
    const d = desired();
    delete d.hosts[0]!.addresses['vmk1'];
    expect(() => planCluster(d, { cluster: {}, hosts: {} })).toThrow(/esx1.example.org has no address for vmk1/);
    const d2 = desired();
    const st = { ...defaultHostState('esx1.example.org', d2.hosts[0]!.uuid), parentRef: 'domain-c99' };
    expect(() =>
      planHost(d2, d2.hosts[0]!, { cluster: { datacenterRef: 'd', clusterRef: 'domain-c1' }, host: st }),
    ).toThrow(PlanError);
  });
});

describe('engine plan: the stateless lifecycle (issue 21)', () => {
  const cluster = { datacenterRef: 'd', hostFolderRef: 'f', clusterRef: 'domain-c1' };
  const SHA1 = 'AA:'.repeat(19) + 'AA';
  const SHA256 = 'BB:'.repeat(31) + 'BB';
  const down = (d: DesiredCluster, i: number, state = 'notResponding'): HostState => ({
    ...defaultHostState(d.hosts[i]!.fqdn, d.hosts[i]!.uuid),
    parentRef: 'domain-c1',
    refs: { host: `host-${i}` },
    connectionState: state,
  });

  it('a disconnected member that has not booted since is held "waiting for boot", never a PlanError', () => {
    const d = desired();
    for (const boot of [undefined, { phonedHomeAt: 10, convergedAt: 20 }, { phonedHomeAt: 10, pxeBootAt: 30 }]) {
      const holds: HostHold[] = [];
      const steps = planHost(
        d,
        d.hosts[0]!,
        { cluster, host: down(d, 0, 'disconnected') },
        { boot: () => boot, holds },
      );
      expect(steps.filter((s) => s.hostUuid)).toEqual([]);
      expect(holds).toMatchObject([{ uuid: d.hosts[0]!.uuid, reason: 'waiting-for-boot' }]);
      expect(holds[0]!.detail).toContain('is disconnected in vCenter');
    }
    // without boot knowledge (CLI plan) too
    expect(planHost(d, d.hosts[0]!, { cluster, host: down(d, 0) }).filter((s) => s.hostUuid)).toEqual([]);
  });

  it('a rebooted member that phoned home on this boot is reconnected with its thumbprint, then fully reconverged', () => {
    const d = desired();
    const boot: HostBoot = {
      phonedHomeAt: 50,
      pxeBootAt: 40,
      convergedAt: 10,
      thumbprint: SHA256,
      thumbprintSha1: SHA1,
    };
    const host = { ...down(d, 0), inMaintenanceMode: true };
    const steps = planHost(d, d.hosts[0]!, { cluster, host }, { boot: () => boot, holds: [] }).filter(
      (s) => s.hostUuid,
    );
    expect(steps[0]).toMatchObject({
      name: 'ReconnectHost_Task',
      args: { hostName: d.hosts[0]!.fqdn, credentials: d.credentials, phoneHomeThumbprint: SHA1 },
    });
    const names = steps.map((s) => s.name);
    // planned against the image defaults: the whole host-level configuration comes back
    for (const n of ['AddVirtualSwitch', 'AddPortGroup', 'AddVirtualNic', 'UpdateDateTimeConfig', 'UpdateDnsConfig'])
      expect(names).toContain(n);
    expect(names.at(-1)).toBe('ExitMaintenanceMode_Task');
  });

  it('a member only seen by PXE on its current boot is not added yet ("waiting for phone-home")', () => {
    const d = desired();
    const holds: HostHold[] = [];
    const steps = planCluster(d, { cluster, hosts: {} }, { boot: () => ({ pxeBootAt: 5 }), holds });
    expect(steps.filter((s) => s.name === 'AddHost_Task')).toEqual([]);
    expect(holds.map((h) => h.reason)).toEqual(d.hosts.map(() => 'waiting-for-phone-home'));
    const ok = planCluster(
      d,
      { cluster, hosts: {} },
      { boot: () => ({ pxeBootAt: 5, phonedHomeAt: 6, thumbprint: SHA256 }) },
    );
    expect(ok.filter((s) => s.name === 'AddHost_Task').map((s) => s.args)).toMatchObject(
      d.hosts.map(() => ({ phoneHomeThumbprint: SHA256 })),
    );
  });

  it('a member with no boot recorded at all is not added either ("waiting for phone-home"), nor after an old phone-home', () => {
    const d = desired();
    for (const boot of [undefined, { phonedHomeAt: 5, pxeBootAt: 6 }] as (HostBoot | undefined)[]) {
      const holds: HostHold[] = [];
      const steps = planCluster(d, { cluster, hosts: {} }, { boot: () => boot, holds });
      expect(steps.filter((s) => s.hostUuid)).toEqual([]);
      expect(holds.map((h) => h.reason)).toEqual(d.hosts.map(() => 'waiting-for-phone-home'));
      expect(holds[0]!.detail).toMatch(boot ? /seen by PXE/ : /has not phoned home yet \(no boot recorded\)/);
    }
    // without boot knowledge (a pure plan) every member counts as phoned home
    expect(planCluster(d, { cluster, hosts: {} }).filter((s) => s.name === 'AddHost_Task')).toHaveLength(
      d.hosts.length,
    );
  });

  it('one down member never blocks the cluster: the others and the cluster settings are planned', () => {
    const d = desired();
    const hosts: Record<string, HostState | undefined> = {};
    d.hosts.forEach(
      (h, i) =>
        (hosts[h.uuid] = { ...defaultHostState(h.fqdn, h.uuid), parentRef: 'domain-c1', refs: { host: `host-${i}` } }),
    );
    hosts[d.hosts[1]!.uuid] = down(d, 1);
    const holds: HostHold[] = [];
    const steps = planCluster(d, { cluster: { ...cluster }, hosts }, { boot: () => undefined, holds });
    expect(holds.map((h) => h.fqdn)).toEqual([d.hosts[1]!.fqdn]);
    expect(steps.some((s) => s.hostUuid === d.hosts[0]!.uuid)).toBe(true);
    expect(steps.some((s) => s.hostUuid === d.hosts[1]!.uuid)).toBe(false);
  });

  it('a connected member whose phone-home reports another thumbprint than vCenter accepted is held (spoof)', () => {
    const d = desired();
    const host = {
      ...defaultHostState(d.hosts[0]!.fqdn, d.hosts[0]!.uuid),
      parentRef: 'domain-c1',
      refs: { host: 'h' },
    };
    const holds: HostHold[] = [];
    const boot: HostBoot = { phonedHomeAt: 9, thumbprint: SHA256, joinedThumbprint: 'CC:'.repeat(19) + 'CC' };
    expect(planHost(d, d.hosts[0]!, { cluster, host }, { boot: () => boot, holds }).filter((s) => s.hostUuid)).toEqual(
      [],
    );
    expect(holds).toMatchObject([{ reason: 'thumbprint-mismatch' }]);
    // the thumbprint vCenter accepted: reconverges normally
    const same: HostBoot = { ...boot, joinedThumbprint: SHA256 };
    expect(planHost(d, d.hosts[0]!, { cluster, host }, { boot: () => same, holds: [] }).length).toBeGreaterThan(0);
  });
});
