/**
 * {@link VcenterApi} over src/vsphere: soap.ts (endpoint, session), ops.ts (one function per SOAP
 * method) and tasks.ts (waitForTask). Reads are RetrievePropertiesEx calls, one per object:
 * readCluster = FindByInventoryPath(datacenter) + one RetrievePropertiesEx (datacenter hostFolder)
 * + FindByInventoryPath(cluster) + one RetrievePropertiesEx (configurationEx); readHost = one
 * RetrievePropertiesEx of the HostSystem (name, uuid, parent, runtime, vm, configManager,
 * config.network, config.virtualNicManagerInfo, config.dateTimeInfo, config.service) + one
 * QueryOptions per named advanced key. Nothing is read twice within one read.
 *
 * Mapping to the engine's {@link HostState}/{@link ClusterState} lives here; the engine never sees
 * vSphere wire types.
 *
 * Note for src/vsphere: this adapter builds its own small {@link Caller} (RetrieveServiceContent +
 * Login on one SoapSession, re-login on NotAuthenticated) because no client/session-pool module
 * existed when it was written; swap in the vSphere client's Caller when it lands.
 */
import type { VcenterConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { Logger } from '../log.js';
import type { SecurityPolicy, TeamingPolicy, VmkService } from '../clusters/types.js';
import * as ops from '../vsphere/ops.js';
import { SoapEndpoint, SoapSession, type CallOptions } from '../vsphere/soap.js';
import { waitForTask } from '../vsphere/tasks.js';
import type {
  ClusterConfigInfoEx, ClusterConfigSpecEx, HostNetworkInfo, HostNetworkPolicy, HostService, HostVirtualSwitchSpec,
  MoRef, ServiceContent, VirtualNicManagerNetConfig,
} from '../vsphere/types.js';
import type { ClusterSpec, PortgroupSpecArgs, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import type { ClusterState, DasState, HostState } from './state.js';
import type { CallCounts, HostConnectArgs, VcenterApi, VcenterConnector } from './vcenter.js';

/** Methods that read or manage sessions/collectors; everything else counts as mutating. */
const READ_METHODS = new Set([
  'RetrieveServiceContent', 'Login', 'Logout', 'RetrievePropertiesEx', 'ContinueRetrievePropertiesEx', 'RetrieveProperties',
  'CreateFilter', 'DestroyPropertyFilter', 'WaitForUpdatesEx', 'WaitForUpdates', 'CancelWaitForUpdates', 'CreatePropertyCollector',
  'DestroyPropertyCollector', 'FindByUuid', 'FindByInventoryPath', 'FindByIp', 'FindByDnsName', 'QueryOptions', 'QueryNetConfig',
]);

/** A logged-in Caller on one session (see the module note). */
class SessionCaller implements ops.Caller {
  serviceContent!: ServiceContent;
  private readonly session: SoapSession;

  constructor(readonly endpoint: SoapEndpoint, private readonly username: string, private readonly password: string) {
    this.session = new SoapSession(endpoint, async () => {
      await ops.Login(this, this.username, this.password);
    });
  }

  async login(): Promise<void> {
    this.serviceContent = await ops.RetrieveServiceContent(this);
    const v = (this.serviceContent.about as { apiVersion?: string } | undefined)?.apiVersion;
    if (v) this.endpoint.apiVersion = v;
    await ops.Login(this, this.username, this.password);
  }

  invoke(method: string, thisRef: MoRef, params?: Record<string, unknown>, opts?: CallOptions) {
    return this.session.invoke(method, thisRef, params, opts);
  }

  withSession<T>(fn: (c: ops.Caller) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

const mo = (type: string, value: string): MoRef => ({ type, value });

function toTeaming(p: HostNetworkPolicy | undefined): TeamingPolicy | undefined {
  const t = p?.nicTeaming;
  if (!t) return undefined;
  const out: TeamingPolicy = {};
  if (t.policy !== undefined) out.loadBalancing = t.policy as TeamingPolicy['loadBalancing'];
  if (t.failureCriteria?.checkBeacon !== undefined) out.beaconProbing = t.failureCriteria.checkBeacon;
  if (t.notifySwitches !== undefined) out.notifySwitches = t.notifySwitches;
  if (t.rollingOrder !== undefined) out.rollingOrder = t.rollingOrder;
  if (t.nicOrder) {
    out.activeNics = t.nicOrder.activeNic ?? [];
    out.standbyNics = t.nicOrder.standbyNic ?? [];
  }
  return out;
}

function toSecurity(p: HostNetworkPolicy | undefined): SecurityPolicy | undefined {
  const s = p?.security;
  if (!s) return undefined;
  const out: SecurityPolicy = {};
  if (s.allowPromiscuous !== undefined) out.allowPromiscuous = s.allowPromiscuous;
  if (s.macChanges !== undefined) out.macChanges = s.macChanges;
  if (s.forgedTransmits !== undefined) out.forgedTransmits = s.forgedTransmits;
  return out;
}

/** HostNetworkPolicy from the engine's teaming/security (unset members left out = inherit). */
function toPolicy(teaming: TeamingPolicy | undefined, security: SecurityPolicy | undefined): HostNetworkPolicy {
  const p: HostNetworkPolicy = {};
  if (security && Object.values(security).some((v) => v !== undefined)) p.security = { ...security };
  if (teaming && Object.values(teaming).some((v) => v !== undefined)) {
    p.nicTeaming = {};
    if (teaming.loadBalancing !== undefined) p.nicTeaming.policy = teaming.loadBalancing;
    if (teaming.notifySwitches !== undefined) p.nicTeaming.notifySwitches = teaming.notifySwitches;
    if (teaming.rollingOrder !== undefined) p.nicTeaming.rollingOrder = teaming.rollingOrder;
    if (teaming.beaconProbing !== undefined) p.nicTeaming.failureCriteria = { checkBeacon: teaming.beaconProbing };
    if (teaming.activeNics || teaming.standbyNics) {
      p.nicTeaming.nicOrder = {};
      if (teaming.activeNics?.length) p.nicTeaming.nicOrder.activeNic = teaming.activeNics;
      if (teaming.standbyNics?.length) p.nicTeaming.nicOrder.standbyNic = teaming.standbyNics;
    }
  }
  return p;
}

function toVswitchSpec(s: VSwitchSpecArgs): HostVirtualSwitchSpec {
  return {
    numPorts: s.numPorts,
    ...(s.uplinks.length ? { bridge: { _type: 'HostVirtualSwitchBondBridge' as const, nicDevice: s.uplinks } } : {}),
    policy: toPolicy(s.teaming, s.security),
    mtu: s.mtu,
  };
}

function toClusterSpec(s: ClusterSpec): ClusterConfigSpecEx {
  const out: ClusterConfigSpecEx = {};
  const d = s.dasConfig;
  if (d) {
    out.dasConfig = {};
    if (d.enabled !== undefined) out.dasConfig.enabled = d.enabled;
    if (d.vmMonitoring !== undefined) out.dasConfig.vmMonitoring = d.vmMonitoring;
    if (d.hostMonitoring !== undefined) out.dasConfig.hostMonitoring = d.hostMonitoring;
    const p = d.admissionControlPolicy;
    if (p?.type === 'ClusterFailoverLevelAdmissionControlPolicy') out.dasConfig.admissionControlPolicy = { _type: p.type, failoverLevel: p.failoverLevel };
    if (p?.type === 'ClusterFailoverResourcesAdmissionControlPolicy') {
      out.dasConfig.admissionControlPolicy = { _type: p.type, cpuFailoverResourcesPercent: p.cpuFailoverResourcesPercent, memoryFailoverResourcesPercent: p.memoryFailoverResourcesPercent };
    }
    if (d.admissionControlEnabled !== undefined) out.dasConfig.admissionControlEnabled = d.admissionControlEnabled;
    if (d.restartPriority !== undefined || d.isolationResponse !== undefined) {
      out.dasConfig.defaultVmSettings = {
        ...(d.restartPriority !== undefined ? { restartPriority: d.restartPriority } : {}),
        ...(d.isolationResponse !== undefined ? { isolationResponse: d.isolationResponse } : {}),
      };
    }
  }
  if (s.drsConfig) out.drsConfig = { ...s.drsConfig };
  if (s.dpmConfig) out.dpmConfig = { ...s.dpmConfig };
  return out;
}

function fromClusterConfig(c: ClusterConfigInfoEx): NonNullable<ClusterState['config']> {
  const das = c.dasConfig ?? {};
  const p = das.admissionControlPolicy;
  let policy: DasState['admissionControlPolicy'];
  if (p?._type === 'ClusterFailoverLevelAdmissionControlPolicy') policy = { type: p._type, failoverLevel: p.failoverLevel };
  else if (p?._type === 'ClusterFailoverResourcesAdmissionControlPolicy') {
    policy = { type: p._type, cpuFailoverResourcesPercent: p.cpuFailoverResourcesPercent, memoryFailoverResourcesPercent: p.memoryFailoverResourcesPercent };
  } else policy = { type: 'other', ...(p?._type ? { xsiType: p._type } : {}) };
  const drs = c.drsConfig ?? {};
  const dpm = c.dpmConfigInfo ?? {};
  return {
    dasConfig: {
      enabled: das.enabled ?? false,
      hostMonitoring: (das.hostMonitoring ?? 'enabled') as DasState['hostMonitoring'],
      vmMonitoring: (das.vmMonitoring ?? 'vmMonitoringDisabled') as DasState['vmMonitoring'],
      admissionControlEnabled: das.admissionControlEnabled ?? false,
      admissionControlPolicy: policy,
      restartPriority: das.defaultVmSettings?.restartPriority ?? 'medium',
      isolationResponse: das.defaultVmSettings?.isolationResponse ?? 'none',
    },
    drsConfig: { enabled: drs.enabled ?? false, defaultVmBehavior: (drs.defaultVmBehavior ?? 'fullyAutomated') as 'fullyAutomated', vmotionRate: drs.vmotionRate ?? 3 },
    dpmConfig: { enabled: dpm.enabled ?? false, defaultDpmBehavior: (dpm.defaultDpmBehavior ?? 'automated') as 'automated', hostPowerActionRate: dpm.hostPowerActionRate ?? 3 },
  };
}

const SERVICE_TYPES: VmkService[] = ['management', 'vmotion', 'vsan', 'faultToleranceLogging', 'vSphereProvisioning', 'vSphereReplication'];

/** A {@link VcenterApi} over one SoapEndpoint and Caller. */
export class VsphereVcenter implements VcenterApi {
  constructor(private readonly c: ops.Caller, private readonly endpoint: SoapEndpoint, private readonly taskTimeoutMs: number) {}

  private async task(t: Promise<MoRef>, method: string): Promise<unknown> {
    return waitForTask(this.c, await t, { method, timeoutMs: this.taskTimeoutMs });
  }

  private async props(obj: MoRef, pathSet: string[]): Promise<Record<string, unknown>> {
    const r = await ops.retrieveAll(this.c, [{ propSet: [{ type: obj.type, pathSet }], objectSet: [{ obj }] }]);
    return r[0]?.props ?? {};
  }

  async readCluster(datacenterPath: string, clusterName: string): Promise<ClusterState> {
    const dc = await ops.FindByInventoryPath(this.c, datacenterPath);
    if (!dc || dc.type !== 'Datacenter') return {};
    const dcp = await this.props(dc, ['hostFolder']);
    const hostFolder = dcp['hostFolder'] as MoRef | undefined;
    const cl = await ops.FindByInventoryPath(this.c, `${datacenterPath}/host/${clusterName}`);
    const base: ClusterState = { datacenterRef: dc.value, hostFolderRef: hostFolder?.value };
    if (!cl || cl.type !== 'ClusterComputeResource') return base;
    const cp = await this.props(cl, ['configurationEx']);
    return { ...base, clusterRef: cl.value, config: fromClusterConfig((cp['configurationEx'] ?? {}) as ClusterConfigInfoEx) };
  }

  async findHostByUuid(datacenterRef: string | undefined, uuid: string): Promise<string | undefined> {
    const r = await ops.FindByUuid(this.c, uuid, datacenterRef ? mo('Datacenter', datacenterRef) : undefined);
    return r?.value;
  }

  async readHost(hostRef: string, advancedKeys: string[]): Promise<HostState> {
    const p = await this.props(mo('HostSystem', hostRef), [
      'name', 'hardware.systemInfo.uuid', 'parent', 'runtime.connectionState', 'runtime.inMaintenanceMode', 'vm', 'configManager',
      'config.network', 'config.virtualNicManagerInfo', 'config.dateTimeInfo', 'config.service',
    ]);
    const cm = (p['configManager'] ?? {}) as Record<string, MoRef | undefined>;
    const net = (p['config.network'] ?? { vswitch: [], portgroup: [], vnic: [], pnic: [] }) as HostNetworkInfo;
    const services: HostState['services'] = {};
    const vnm = (p['config.virtualNicManagerInfo'] ?? {}) as { netConfig?: VirtualNicManagerNetConfig[] };
    for (const nc of vnm.netConfig ?? []) {
      if (!SERVICE_TYPES.includes(nc.nicType as VmkService)) continue;
      services[nc.nicType as VmkService] = (nc.selectedVnic ?? []).map((k) => k.replace(/^.*VirtualNic-/, ''));
    }
    const dt = (p['config.dateTimeInfo'] ?? {}) as { ntpConfig?: { server?: string[] } };
    const svc = ((p['config.service'] ?? {}) as { service?: HostService[] }).service ?? [];
    const ntpd = svc.find((s) => s.key === 'ntpd');
    const advanced: HostState['advanced'] = {};
    const om = cm['advancedOption'];
    if (om) {
      for (const key of advancedKeys) {
        try {
          const r = await ops.QueryOptions(this.c, om, key);
          const hit = r.find((o) => o.key === key);
          if (hit) advanced[key] = hit.value as string | number | boolean;
        } catch {
          // InvalidName: not set on this host
        }
      }
    }
    const dns = net.dnsConfig;
    const vmList = p['vm'];
    return {
      refs: {
        host: hostRef, networkSystem: cm['networkSystem']?.value, dateTimeSystem: cm['dateTimeSystem']?.value, serviceSystem: cm['serviceSystem']?.value,
        virtualNicManager: cm['virtualNicManager']?.value, advancedOption: om?.value,
      },
      name: String(p['name'] ?? ''),
      uuid: String(p['hardware.systemInfo.uuid'] ?? ''),
      parentRef: (p['parent'] as MoRef | undefined)?.value,
      connectionState: String(p['runtime.connectionState'] ?? 'connected'),
      inMaintenanceMode: p['runtime.inMaintenanceMode'] === true,
      vmCount: Array.isArray(vmList) ? vmList.length : 0,
      vswitches: (net.vswitch ?? []).map((v) => ({
        name: v.name, uplinks: v.spec.bridge?.nicDevice ?? [], mtu: v.mtu ?? v.spec.mtu ?? 1500, numPorts: v.spec.numPorts,
        teaming: toTeaming(v.spec.policy) ?? {}, security: toSecurity(v.spec.policy) ?? {},
      })),
      portgroups: (net.portgroup ?? []).map((g) => ({
        name: g.spec.name, vswitch: g.spec.vswitchName, vlanId: g.spec.vlanId, teaming: toTeaming(g.spec.policy), security: toSecurity(g.spec.policy),
      })),
      vmknics: (net.vnic ?? []).map((n) => ({
        device: n.device, portgroup: n.portgroup, dhcp: n.spec.ip?.dhcp ?? false, ipAddress: n.spec.ip?.ipAddress, subnetMask: n.spec.ip?.subnetMask, mtu: n.spec.mtu ?? 1500,
      })),
      services,
      ntpServers: dt.ntpConfig?.server ?? [],
      ntpd: ntpd ? { policy: ntpd.policy, running: ntpd.running } : undefined,
      dns: { dhcp: dns?.dhcp ?? false, hostName: dns?.hostName ?? '', domainName: dns?.domainName ?? '', servers: dns?.address ?? [], searchDomains: dns?.searchDomain ?? [] },
      advanced,
    };
  }

  async createDatacenter(parentPath: string, name: string): Promise<string> {
    const folder = parentPath ? await ops.FindByInventoryPath(this.c, parentPath) : this.c.serviceContent.rootFolder;
    if (!folder) throw new Error(`folder ${parentPath} for datacenter ${name} does not exist`);
    return (await ops.CreateDatacenter(this.c, folder, name)).value;
  }

  async createClusterEx(hostFolderRef: string, name: string, spec: ClusterSpec): Promise<string> {
    return (await ops.CreateClusterEx(this.c, mo('Folder', hostFolderRef), name, toClusterSpec(spec))).value;
  }

  async reconfigureComputeResource(clusterRef: string, spec: ClusterSpec, modify: boolean): Promise<void> {
    await this.task(ops.ReconfigureComputeResource_Task(this.c, mo('ClusterComputeResource', clusterRef), toClusterSpec(spec), modify), 'ReconfigureComputeResource_Task');
  }

  async addHost(clusterRef: string, spec: HostConnectArgs, asConnected: boolean): Promise<string> {
    const r = await this.task(ops.AddHost_Task(this.c, mo('ClusterComputeResource', clusterRef), {
      hostName: spec.hostName, userName: spec.userName, password: spec.password, force: false,
      ...(spec.sslThumbprint ? { sslThumbprint: spec.sslThumbprint } : {}),
    }, asConnected), 'AddHost_Task');
    return (r as MoRef).value;
  }

  async enterMaintenanceMode(hostRef: string, timeoutS: number): Promise<void> {
    await this.task(ops.EnterMaintenanceMode_Task(this.c, mo('HostSystem', hostRef), timeoutS), 'EnterMaintenanceMode_Task');
  }

  async exitMaintenanceMode(hostRef: string, timeoutS: number): Promise<void> {
    await this.task(ops.ExitMaintenanceMode_Task(this.c, mo('HostSystem', hostRef), timeoutS), 'ExitMaintenanceMode_Task');
  }

  async addVirtualSwitch(ns: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void> {
    await ops.AddVirtualSwitch(this.c, mo('HostNetworkSystem', ns), vswitchName, toVswitchSpec(spec));
  }

  async updateVirtualSwitch(ns: string, vswitchName: string, spec: VSwitchSpecArgs): Promise<void> {
    await ops.UpdateVirtualSwitch(this.c, mo('HostNetworkSystem', ns), vswitchName, toVswitchSpec(spec));
  }

  private pg(p: PortgroupSpecArgs) {
    return { name: p.name, vlanId: p.vlanId, vswitchName: p.vswitchName, policy: toPolicy(p.teaming, p.security) };
  }

  async addPortGroup(ns: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await ops.AddPortGroup(this.c, mo('HostNetworkSystem', ns), this.pg(portgrp));
  }

  async updatePortGroup(ns: string, pgName: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await ops.UpdatePortGroup(this.c, mo('HostNetworkSystem', ns), pgName, this.pg(portgrp));
  }

  private vnic(n: VnicSpecArgs) {
    return { ip: n.dhcp ? { dhcp: true } : { dhcp: false, ipAddress: n.ipAddress, subnetMask: n.subnetMask }, mtu: n.mtu };
  }

  async addVirtualNic(ns: string, portgroup: string, nic: VnicSpecArgs): Promise<string> {
    return ops.AddVirtualNic(this.c, mo('HostNetworkSystem', ns), portgroup, this.vnic(nic));
  }

  async updateVirtualNic(ns: string, device: string, nic: VnicSpecArgs): Promise<void> {
    await ops.UpdateVirtualNic(this.c, mo('HostNetworkSystem', ns), device, this.vnic(nic));
  }

  async selectVnicForNicType(vnm: string, nicType: VmkService, device: string): Promise<void> {
    await ops.SelectVnicForNicType(this.c, mo('HostVirtualNicManager', vnm), nicType, device);
  }

  async deselectVnicForNicType(vnm: string, nicType: VmkService, device: string): Promise<void> {
    await ops.DeselectVnicForNicType(this.c, mo('HostVirtualNicManager', vnm), nicType, device);
  }

  async updateDateTimeConfig(dts: string, ntpServers: string[]): Promise<void> {
    await ops.UpdateDateTimeConfig(this.c, mo('HostDateTimeSystem', dts), { ntpConfig: { server: ntpServers } });
  }

  async updateServicePolicy(ss: string, id: string, policy: string): Promise<void> {
    await ops.UpdateServicePolicy(this.c, mo('HostServiceSystem', ss), id, policy as 'on');
  }

  async startService(ss: string, id: string): Promise<void> {
    await ops.StartService(this.c, mo('HostServiceSystem', ss), id);
  }

  async updateDnsConfig(ns: string, dns: { dhcp: boolean; hostName: string; domainName: string; servers: string[]; searchDomains: string[] }): Promise<void> {
    await ops.UpdateDnsConfig(this.c, mo('HostNetworkSystem', ns), {
      _type: 'HostDnsConfig', dhcp: dns.dhcp, hostName: dns.hostName, domainName: dns.domainName, address: dns.servers, searchDomain: dns.searchDomains,
    } as Parameters<typeof ops.UpdateDnsConfig>[2]);
  }

  async updateOptions(om: string, changed: { key: string; value: string | number | boolean; type: 'string' | 'int' | 'long' | 'boolean' }[]): Promise<void> {
    await ops.UpdateOptions(this.c, mo('OptionManager', om), changed.map((o) => ({ key: o.key, value: { xsdType: `xsd:${o.type}`, value: o.value } })));
  }

  calls(): CallCounts {
    const byMethod = Object.fromEntries(this.endpoint.calls);
    let total = 0;
    let mutating = 0;
    for (const [m, n] of this.endpoint.calls) {
      total += n;
      if (!READ_METHODS.has(m)) mutating += n;
    }
    return { total, mutating, byMethod };
  }

  async close(): Promise<void> {
    try {
      await ops.Logout(this.c);
    } catch {
      // already gone
    }
    this.endpoint.close();
  }
}

/**
 * Connects to a configured vCenter (URL, username, password source, thumbprint pin or CA file).
 * @throws Error for an unknown name or unreadable secret; InvalidLogin, VsphereNetworkError, … from Login.
 */
export async function connectVcenter(vc: VcenterConfig, log: Logger, env: NodeJS.ProcessEnv = process.env, maxConcurrent?: number): Promise<VsphereVcenter> {
  const password = readSecret(vc, `vcenters[${vc.name}]`, env);
  const endpoint = new SoapEndpoint({
    url: vc.url, timeoutMs: vc['timeout-ms'], maxConcurrent: maxConcurrent ?? vc['max-sessions'] * 4, logger: log,
    ...(vc.thumbprint ? { thumbprint: vc.thumbprint } : {}),
  });
  const caller = new SessionCaller(endpoint, vc.username, password);
  try {
    await caller.login();
  } catch (e) {
    endpoint.close();
    throw e;
  }
  return new VsphereVcenter(caller, endpoint, Math.max(vc['timeout-ms'] * 10, 60_000));
}

/** A {@link VcenterConnector} over the `vcenters:` list. */
export function vcenterConnector(vcenters: VcenterConfig[], log: Logger, env: NodeJS.ProcessEnv = process.env): VcenterConnector {
  return async (name) => {
    const vc = vcenters.find((v) => v.name === name);
    if (!vc) throw new Error(`vCenter "${name}" is not configured (vcenters: in statelesx.yaml)`);
    return connectVcenter(vc, log, env);
  };
}
