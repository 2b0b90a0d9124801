/**
 * VsphereClient ops and reads against VMware's vCenter simulator (strict mode on): datacenter +
 * cluster with HA/DRS/DPM read back, reconfigure with modify=true, AddHost_Task with a required
 * host thumbprint (SSLVerifyFault carrying it, retry succeeds), FindByUuid, maintenance mode,
 * vSwitch / port group / VMkernel NIC create + update + read back, VMkernel services, NTP, DNS,
 * advanced options, task waiting through WaitForUpdatesEx, Destroy_Task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VcenterConfig } from '../../src/config/schema.js';
import {
  AlreadyConnected,
  AlreadyExists,
  DuplicateName,
  HostConnectFault,
  InvalidArgument,
  NotFound,
  ResourceInUse,
  SSLVerifyFault,
  VsphereClient,
  type HostState,
  type MoRef,
} from '../../src/vsphere/index.js';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';

const UUID = '4c4c4544-0042-3010-8044-b4c04f4d4e31';
const HOST_TP = 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD';
const HOST = 'esx-01.lab.local';
let sim: Vcsim;
let vc: VsphereClient;

beforeAll(async () => {
  sim = await startVcsim(['-host-uuid', `${HOST}=${UUID}`, '-host-thumbprint', `${HOST}=${HOST_TP}`]);
  const cfg = {
    name: 'vc-inv',
    url: sim.sdkUrl,
    username: sim.username,
    thumbprint: sim.thumbprint,
    'max-sessions': 2,
    'timeout-ms': 30_000,
    'password-env': 'UNUSED',
  } as VcenterConfig;
  vc = await VsphereClient.connect(cfg, sim.password);
});
afterAll(async () => {
  await vc?.close();
  await sim?.stop();
});

describe('vSphere inventory ops against vcsim', () => {
  let cluster: MoRef;
  let host: MoRef;
  let h: HostState;

  it('creates a datacenter and a cluster with HA/DRS/DPM and reads them back in one traversal', async () => {
    const before = await vc.read.readCluster('Lab', 'prod');
    expect(before).toEqual({ datacenter: null, hostFolder: null, cluster: null, hosts: [] });
    await vc.ops.CreateDatacenter(vc.serviceContent.rootFolder, 'Lab');
    const dcOnly = await vc.read.readCluster('Lab', 'prod');
    expect(dcOnly.cluster).toBeNull();
    expect(dcOnly.hostFolder?.type).toBe('Folder');
    cluster = await vc.ops.CreateClusterEx(dcOnly.hostFolder!, 'prod', {
      dasConfig: {
        enabled: true,
        vmMonitoring: 'vmMonitoringOnly',
        hostMonitoring: 'enabled',
        admissionControlPolicy: { _type: 'ClusterFailoverLevelAdmissionControlPolicy', failoverLevel: 1 },
        admissionControlEnabled: true,
        defaultVmSettings: { restartPriority: 'high', isolationResponse: 'powerOff' },
      },
      drsConfig: {
        enabled: true,
        enableVmBehaviorOverrides: true,
        defaultVmBehavior: 'partiallyAutomated',
        vmotionRate: 2,
      },
      dpmConfig: { enabled: true, defaultDpmBehavior: 'manual', hostPowerActionRate: 4 },
    });
    const dup = await vc.ops.CreateClusterEx(dcOnly.hostFolder!, 'prod', {}).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(DuplicateName);
    expect((dup as DuplicateName).entityName).toBe('prod');

    vc.resetCallCounts();
    const st = await vc.read.readCluster('Lab', 'prod');
    expect(vc.totalCalls).toBe(3);
    expect(st.cluster).toEqual(cluster);
    expect(st.config?.dasConfig).toMatchObject({
      enabled: true,
      vmMonitoring: 'vmMonitoringOnly',
      hostMonitoring: 'enabled',
      admissionControlEnabled: true,
      admissionControlPolicy: { _type: 'ClusterFailoverLevelAdmissionControlPolicy', failoverLevel: 1 },
      defaultVmSettings: { restartPriority: 'high', isolationResponse: 'powerOff' },
    });
    expect(st.config?.drsConfig).toMatchObject({
      enabled: true,
      defaultVmBehavior: 'partiallyAutomated',
      vmotionRate: 2,
    });
    expect(st.config?.dpmConfigInfo).toMatchObject({
      enabled: true,
      defaultDpmBehavior: 'manual',
      hostPowerActionRate: 4,
    });
    expect(st.hosts).toEqual([]);
  });

  it('reconfigures with modify=true: percentage admission control and DRS rate, the rest kept', async () => {
    const task = await vc.ops.ReconfigureComputeResource_Task(cluster, {
      dasConfig: {
        admissionControlPolicy: {
          _type: 'ClusterFailoverResourcesAdmissionControlPolicy',
          cpuFailoverResourcesPercent: 25,
          memoryFailoverResourcesPercent: 30,
        },
      },
      drsConfig: { vmotionRate: 5 },
    });
    await vc.waitForTask(task, { method: 'ReconfigureComputeResource_Task', fastPath: false });
    const st = await vc.read.readCluster('Lab', 'prod');
    expect(st.config?.dasConfig?.admissionControlPolicy).toMatchObject({
      _type: 'ClusterFailoverResourcesAdmissionControlPolicy',
      cpuFailoverResourcesPercent: 25,
      memoryFailoverResourcesPercent: 30,
    });
    expect(st.config?.drsConfig).toMatchObject({
      enabled: true,
      defaultVmBehavior: 'partiallyAutomated',
      vmotionRate: 5,
    });
    expect(st.config?.dpmConfigInfo?.enabled).toBe(true);

    const bad = await vc.ops.ReconfigureComputeResource_Task(cluster, { drsConfig: { vmotionRate: 9 } });
    const err = await vc.waitForTask(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgument);
    expect((err as InvalidArgument).invalidProperty).toBe('spec.drsConfig.vmotionRate');
  });

  it('AddHost_Task: SSLVerifyFault carries the host thumbprint; the retry with it succeeds; FindByUuid finds it', async () => {
    expect(await vc.read.findHostByUuid(UUID)).toBeNull();
    const spec = { hostName: HOST, userName: 'root', password: 'esx-secret', force: false };
    const t1 = await vc.ops.AddHost_Task(cluster, spec);
    const err = await vc.waitForTask(t1, { method: 'AddHost_Task' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SSLVerifyFault);
    expect(err).toBeInstanceOf(HostConnectFault);
    expect((err as SSLVerifyFault).thumbprint).toBe(HOST_TP);
    expect((err as SSLVerifyFault).selfSigned).toBe(true);
    expect((err as Error).message).not.toContain('esx-secret');

    const t2 = await vc.ops.AddHost_Task(cluster, { ...spec, sslThumbprint: (err as SSLVerifyFault).thumbprint });
    host = (await vc.waitForTask(t2, { method: 'AddHost_Task', fastPath: false })) as MoRef;
    expect(host.type).toBe('HostSystem');
    expect(await vc.read.findHostByUuid(UUID)).toEqual(host);

    const t3 = await vc.ops.AddHost_Task(cluster, { ...spec, sslThumbprint: HOST_TP });
    await expect(vc.waitForTask(t3)).rejects.toBeInstanceOf(AlreadyConnected);

    const st = await vc.read.readCluster('Lab', 'prod');
    expect(st.hosts.map((x) => x.name)).toEqual([HOST]);
    h = st.hosts[0]!;
    expect(h).toMatchObject({
      ref: host,
      uuid: UUID,
      connectionState: 'connected',
      inMaintenanceMode: false,
      vmCount: 0,
      parent: cluster,
    });
    expect(Object.keys(h.configManager).sort()).toEqual([
      'advancedOption',
      'dateTimeSystem',
      'networkSystem',
      'serviceSystem',
      'virtualNicManager',
    ]);
    expect(h.network.vswitch.map((v) => v.name)).toContain('vSwitch0');
    expect(h.vnicServices.management).toEqual(['vmk0']);
  });

  it('enters and leaves maintenance mode', async () => {
    await vc.waitForTask(await vc.ops.EnterMaintenanceMode_Task(host, 0));
    expect((await vc.read.readHost(host)).inMaintenanceMode).toBe(true);
    await vc.waitForTask(await vc.ops.ExitMaintenanceMode_Task(host, 0));
    expect((await vc.read.readHost(host)).inMaintenanceMode).toBe(false);
  });

  it('creates and updates a vSwitch, a port group and a VMkernel NIC, and reads them back', async () => {
    const ns = h.configManager.networkSystem!;
    await vc.ops.AddVirtualSwitch(ns, 'vSwitch1', {
      numPorts: 256,
      bridge: { nicDevice: ['vmnic2', 'vmnic3'] },
      policy: {
        security: { allowPromiscuous: false, macChanges: false, forgedTransmits: false },
        nicTeaming: {
          policy: 'failover_explicit',
          notifySwitches: true,
          rollingOrder: false,
          failureCriteria: { checkBeacon: false },
          nicOrder: { activeNic: ['vmnic2'], standbyNic: ['vmnic3'] },
        },
      },
      mtu: 9000,
    });
    await expect(vc.ops.AddVirtualSwitch(ns, 'vSwitch1')).rejects.toBeInstanceOf(AlreadyExists);
    await expect(
      vc.ops.AddVirtualSwitch(ns, 'vSwitch9', { numPorts: 64, bridge: { nicDevice: ['vmnic0'] } }),
    ).rejects.toBeInstanceOf(ResourceInUse);
    await vc.ops.AddPortGroup(ns, {
      name: 'vMotion',
      vlanId: 100,
      vswitchName: 'vSwitch1',
      policy: { nicTeaming: { nicOrder: { activeNic: ['vmnic3'], standbyNic: ['vmnic2'] } } },
    });
    const bad = await vc.ops
      .AddPortGroup(ns, { name: 'X', vlanId: 4096, vswitchName: 'vSwitch1', policy: {} })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidArgument);
    expect((bad as InvalidArgument).invalidProperty).toBe('portgrp.vlanId');
    const vmk = await vc.ops.AddVirtualNic(ns, 'vMotion', {
      ip: { dhcp: false, ipAddress: '10.0.0.11', subnetMask: '255.255.255.0' },
      mtu: 9000,
    });
    expect(vmk).toBe('vmk1');

    let r = await vc.read.readHost(host);
    const vs1 = r.network.vswitch.find((v) => v.name === 'vSwitch1')!;
    expect(vs1).toMatchObject({ mtu: 9000, numPorts: 256, spec: { bridge: { nicDevice: ['vmnic2', 'vmnic3'] } } });
    expect(vs1.spec.policy?.nicTeaming).toMatchObject({
      policy: 'failover_explicit',
      nicOrder: { activeNic: ['vmnic2'], standbyNic: ['vmnic3'] },
    });
    expect(vs1.spec.policy?.security).toEqual({ allowPromiscuous: false, macChanges: false, forgedTransmits: false });
    expect(r.network.portgroup.find((p) => p.spec.name === 'vMotion')?.spec).toMatchObject({
      vlanId: 100,
      vswitchName: 'vSwitch1',
    });
    expect(r.network.vnic.find((n) => n.device === 'vmk1')).toMatchObject({
      portgroup: 'vMotion',
      spec: { ip: { dhcp: false, ipAddress: '10.0.0.11', subnetMask: '255.255.255.0' }, mtu: 9000 },
    });

    await vc.ops.UpdateVirtualSwitch(ns, 'vSwitch1', {
      numPorts: 512,
      bridge: { nicDevice: ['vmnic2', 'vmnic3'] },
      mtu: 1500,
    });
    await vc.ops.UpdatePortGroup(ns, 'vMotion', { name: 'vMotion', vlanId: 200, vswitchName: 'vSwitch1', policy: {} });
    await vc.ops.UpdateVirtualNic(ns, 'vmk1', {
      ip: { dhcp: false, ipAddress: '10.0.0.12', subnetMask: '255.255.0.0' },
      mtu: 1500,
    });
    r = await vc.read.readHost(host);
    expect(r.network.vswitch.find((v) => v.name === 'vSwitch1')).toMatchObject({ mtu: 1500, numPorts: 512 });
    expect(r.network.portgroup.find((p) => p.spec.name === 'vMotion')?.spec.vlanId).toBe(200);
    expect(r.network.vnic.find((n) => n.device === 'vmk1')?.spec).toMatchObject({
      ip: { ipAddress: '10.0.0.12', subnetMask: '255.255.0.0' },
      mtu: 1500,
    });

    await expect(vc.ops.RemovePortGroup(ns, 'vMotion')).rejects.toBeInstanceOf(ResourceInUse);
    await expect(vc.ops.UpdateVirtualNic(ns, 'vmk9', {})).rejects.toBeInstanceOf(NotFound);
  });

  it('selects VMkernel NIC services and reads them back (QueryNetConfig and config.virtualNicManagerInfo)', async () => {
    const vnm = h.configManager.virtualNicManager!;
    for (const t of ['vmotion', 'vsan', 'faultToleranceLogging']) await vc.ops.SelectVnicForNicType(vnm, t, 'vmk1');
    const q = await vc.ops.QueryNetConfig(vnm, 'vmotion');
    expect(q?.selectedVnic).toEqual(['vmotion.key-vim.host.VirtualNic-vmk1']);
    let r = await vc.read.readHost(host);
    expect(r.vnicServices.vmotion).toEqual(['vmk1']);
    expect(r.vnicServices.vsan).toEqual(['vmk1']);
    expect(r.vnicServices.faultToleranceLogging).toEqual(['vmk1']);
    expect(r.vnicServices.management).toEqual(['vmk0']);
    await vc.ops.DeselectVnicForNicType(vnm, 'vsan', 'vmk1');
    r = await vc.read.readHost(host);
    expect(r.vnicServices.vsan ?? []).toEqual([]);
    const err = await vc.ops.DeselectVnicForNicType(vnm, 'vsan', 'vmk1').catch((e: unknown) => e);
    expect((err as InvalidArgument).invalidProperty).toBe('device');
  });

  it('sets NTP servers and starts ntpd, sets DNS, and reads them back', async () => {
    await vc.ops.UpdateDateTimeConfig(h.configManager.dateTimeSystem!, {
      ntpConfig: { server: ['0.pool.ntp.org', '10.0.0.1'] },
    });
    await vc.ops.UpdateServicePolicy(h.configManager.serviceSystem!, 'ntpd', 'on');
    await vc.ops.StartService(h.configManager.serviceSystem!, 'ntpd');
    await vc.ops.UpdateDnsConfig(h.configManager.networkSystem!, {
      dhcp: false,
      hostName: 'esx-01',
      domainName: 'lab.local',
      address: ['10.0.0.2', '10.0.0.3'],
      searchDomain: ['lab.local', 'corp.local'],
    });
    const r = await vc.read.readHost(host);
    expect(r.ntpServers).toEqual(['0.pool.ntp.org', '10.0.0.1']);
    expect(r.timeZone).toBe('UTC');
    expect(r.services.find((s) => s.key === 'ntpd')).toMatchObject({ running: true, policy: 'on' });
    expect(r.network.dnsConfig).toMatchObject({
      dhcp: false,
      hostName: 'esx-01',
      domainName: 'lab.local',
      address: ['10.0.0.2', '10.0.0.3'],
      searchDomain: ['lab.local', 'corp.local'],
    });
    await expect(vc.ops.StartService(h.configManager.serviceSystem!, 'nosuchd')).rejects.toBeInstanceOf(NotFound);
  });

  it('updates advanced options with xsi-typed values and reads them back by key', async () => {
    const om = h.configManager.advancedOption!;
    await vc.ops.UpdateOptions(om, [
      { key: 'Net.TcpipHeapSize', value: { xsdType: 'xsd:int', value: 32 } },
      { key: 'UserVars.SuppressShellWarning', value: { xsdType: 'xsd:long', value: 1 } },
      { key: 'Config.HostAgent.plugins.solo.enableMob', value: { xsdType: 'xsd:boolean', value: false } },
      { key: 'Syslog.global.logHost', value: { xsdType: 'xsd:string', value: 'udp://10.0.0.5:514' } },
    ]);
    const all = await vc.read.readAdvancedOptions(
      [om],
      [
        'Net.TcpipHeapSize',
        'UserVars.SuppressShellWarning',
        'Config.HostAgent.plugins.solo.enableMob',
        'Syslog.global.logHost',
      ],
    );
    expect(all.get(om.value)).toEqual({
      'Net.TcpipHeapSize': 32,
      'UserVars.SuppressShellWarning': 1,
      'Config.HostAgent.plugins.solo.enableMob': false,
      'Syslog.global.logHost': 'udp://10.0.0.5:514',
    });
    const q = await vc.ops.QueryOptions(om, 'Syslog.global.logHost');
    expect(q).toEqual([{ key: 'Syslog.global.logHost', value: 'udp://10.0.0.5:514' }]);
  });

  it('removes what it created and destroys the host with Destroy_Task', async () => {
    const ns = h.configManager.networkSystem!;
    await vc.ops.RemoveVirtualNic(ns, 'vmk1');
    await vc.ops.RemovePortGroup(ns, 'vMotion');
    await vc.ops.RemoveVirtualSwitch(ns, 'vSwitch1');
    const r = await vc.read.readHost(host);
    expect(r.network.vswitch.map((v) => v.name)).not.toContain('vSwitch1');
    await vc.waitForTask(await vc.ops.EnterMaintenanceMode_Task(host, 0));
    await vc.waitForTask(await vc.ops.Destroy_Task(host));
    const st = await vc.read.readCluster('Lab', 'prod');
    expect(st.hosts).toEqual([]);
    expect(await vc.read.findHostByUuid(UUID)).toBeNull();
    // (govmomi 0.24's simulator implements Destroy_Task on hosts, VMs, folders and datacenters, not on clusters)
  });
});
