/**
 * The pass-through half of the vSphere adapter: {@link VcenterApi} methods that map their
 * arguments (src/engine/vsphere-map.ts) and make one vSphere call (src/vsphere/ops.ts), awaiting
 * the task where the method returns one; plus the per-method call counters. Reads, the identity
 * cache and the create-once memo are added by {@link VsphereVcenter} (src/engine/vsphere-vcenter.ts).
 */
import type { VmkService } from '../clusters/types.js';
import type { VsphereClient } from '../vsphere/client.js';
import type { MoRef } from '../vsphere/types.js';
import { isMutating } from '../vsphere/methods.js';
import type { PortgroupSpecArgs, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import type { CallCounts, HostConnectArgs } from './vcenter.js';
import { toPortgroupSpec, toVnicSpec, toVswitchSpec } from './vsphere-map.js';

/** One-call vSphere methods over one {@link VsphereClient} (see the module docstring). */
export class VspherePassThrough {
  /**
   * @param client a connected client (owned: {@link close} closes it)
   * @param taskTimeoutMs deadline for awaiting a task (ms)
   */
  constructor(
    readonly client: VsphereClient,
    protected readonly taskTimeoutMs: number,
  ) {}

  protected task(t: MoRef, method: string): Promise<unknown> {
    return this.client.waitForTask(t, { method, timeoutMs: this.taskTimeoutMs });
  }

  async findByInventoryPath(path: string): Promise<string | undefined> {
    return (await this.client.ops.FindByInventoryPath(path))?.value;
  }

  async addHost(clusterRef: string, spec: HostConnectArgs, asConnected: boolean): Promise<string> {
    const t = await this.client.ops.AddHost_Task(
      { type: 'ClusterComputeResource', value: clusterRef },
      {
        hostName: spec.hostName,
        userName: spec.userName,
        password: spec.password,
        force: false,
        ...(spec.sslThumbprint ? { sslThumbprint: spec.sslThumbprint } : {}),
      },
      asConnected,
    );
    return ((await this.task(t, 'AddHost_Task')) as MoRef).value;
  }

  async reconnectHost(hostRef: string, spec: HostConnectArgs | undefined): Promise<void> {
    const t = await this.client.ops.ReconnectHost_Task(
      { type: 'HostSystem', value: hostRef },
      spec && {
        hostName: spec.hostName,
        userName: spec.userName,
        password: spec.password,
        force: false,
        ...(spec.sslThumbprint ? { sslThumbprint: spec.sslThumbprint } : {}),
      },
      { syncState: true },
    );
    await this.task(t, 'ReconnectHost_Task');
  }

  async disconnectHost(hostRef: string): Promise<void> {
    await this.task(
      await this.client.ops.DisconnectHost_Task({ type: 'HostSystem', value: hostRef }),
      'DisconnectHost_Task',
    );
  }

  async enterMaintenanceMode(hostRef: string, timeoutS: number, evacuatePoweredOffVms?: boolean): Promise<void> {
    await this.task(
      await this.client.ops.EnterMaintenanceMode_Task(
        { type: 'HostSystem', value: hostRef },
        timeoutS,
        evacuatePoweredOffVms,
      ),
      'EnterMaintenanceMode_Task',
    );
  }

  async exitMaintenanceMode(hostRef: string, timeoutS: number): Promise<void> {
    await this.task(
      await this.client.ops.ExitMaintenanceMode_Task({ type: 'HostSystem', value: hostRef }, timeoutS),
      'ExitMaintenanceMode_Task',
    );
  }

  async addVirtualSwitch(ns: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void> {
    await this.client.ops.AddVirtualSwitch({ type: 'HostNetworkSystem', value: ns }, vswitchName, toVswitchSpec(spec));
  }

  async updateVirtualSwitch(ns: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void> {
    await this.client.ops.UpdateVirtualSwitch(
      { type: 'HostNetworkSystem', value: ns },
      vswitchName,
      toVswitchSpec(spec),
    );
  }

  async addPortGroup(ns: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await this.client.ops.AddPortGroup({ type: 'HostNetworkSystem', value: ns }, toPortgroupSpec(portgrp));
  }

  async updatePortGroup(ns: string, pgName: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await this.client.ops.UpdatePortGroup({ type: 'HostNetworkSystem', value: ns }, pgName, toPortgroupSpec(portgrp));
  }

  async addVirtualNic(ns: string, portgroup: string, nic: VnicSpecArgs): Promise<string> {
    return this.client.ops.AddVirtualNic({ type: 'HostNetworkSystem', value: ns }, portgroup, toVnicSpec(nic));
  }

  async updateVirtualNic(ns: string, device: string, nic: VnicSpecArgs): Promise<void> {
    await this.client.ops.UpdateVirtualNic({ type: 'HostNetworkSystem', value: ns }, device, toVnicSpec(nic));
  }

  async removeVirtualNic(ns: string, device: string): Promise<void> {
    await this.client.ops.RemoveVirtualNic({ type: 'HostNetworkSystem', value: ns }, device);
  }

  async removePortGroup(ns: string, pgName: string): Promise<void> {
    await this.client.ops.RemovePortGroup({ type: 'HostNetworkSystem', value: ns }, pgName);
  }

  async removeVirtualSwitch(ns: string, vswitchName: string): Promise<void> {
    await this.client.ops.RemoveVirtualSwitch({ type: 'HostNetworkSystem', value: ns }, vswitchName);
  }

  async selectVnicForNicType(vnm: string, nicType: VmkService, device: string): Promise<void> {
    await this.client.ops.SelectVnicForNicType({ type: 'HostVirtualNicManager', value: vnm }, nicType, device);
  }

  async deselectVnicForNicType(vnm: string, nicType: VmkService, device: string): Promise<void> {
    await this.client.ops.DeselectVnicForNicType({ type: 'HostVirtualNicManager', value: vnm }, nicType, device);
  }

  async updateDateTimeConfig(dts: string, ntpServers: string[]): Promise<void> {
    await this.client.ops.UpdateDateTimeConfig(
      { type: 'HostDateTimeSystem', value: dts },
      { ntpConfig: { server: ntpServers } },
    );
  }

  async updateServicePolicy(ss: string, id: string, policy: string): Promise<void> {
    await this.client.ops.UpdateServicePolicy({ type: 'HostServiceSystem', value: ss }, id, policy as 'on');
  }

  async startService(ss: string, id: string): Promise<void> {
    await this.client.ops.StartService({ type: 'HostServiceSystem', value: ss }, id);
  }

  async updateDnsConfig(
    ns: string,
    dns: { dhcp: boolean; hostName: string; domainName: string; servers: string[]; searchDomains: string[] },
  ): Promise<void> {
    await this.client.ops.UpdateDnsConfig({ type: 'HostNetworkSystem', value: ns }, {
      _type: 'HostDnsConfig',
      dhcp: dns.dhcp,
      hostName: dns.hostName,
      domainName: dns.domainName,
      address: dns.servers,
      searchDomain: dns.searchDomains,
    } as Parameters<VsphereClient['ops']['UpdateDnsConfig']>[1]);
  }

  async updateOptions(
    om: string,
    changed: { key: string; value: string | number | boolean; type: 'string' | 'int' | 'long' | 'boolean' }[],
  ): Promise<void> {
    await this.client.ops.UpdateOptions(
      { type: 'OptionManager', value: om },
      changed.map((o) => ({ key: o.key, value: { xsdType: `xsd:${o.type}`, value: o.value } })),
    );
  }

  /** The client's per-method counters (Login and reads included), split into reads and mutating calls (vsphere/methods.ts). */
  calls(): CallCounts {
    const byMethod = this.client.callCounts();
    let total = 0;
    let mutating = 0;
    for (const [m, n] of Object.entries(byMethod)) {
      total += n;
      if (isMutating(m)) mutating += n;
    }
    return { total, mutating, byMethod };
  }

  /** Logs every pooled session out and closes the sockets; idempotent. */
  async close(): Promise<void> {
    await this.client.close();
  }
}
