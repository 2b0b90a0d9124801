/**
 * Wire ↔ engine mapping for the vSphere adapter (src/engine/vsphere-vcenter.ts): vSphere types
 * (HostNetworkPolicy, ClusterConfigInfoEx, the client's host read) to the engine's
 * {@link HostState}/{@link ClusterState} and back to specs (HostVirtualSwitchSpec,
 * ClusterConfigSpecEx). Pure functions; the engine never sees vSphere wire types.
 */
import { VMK_SERVICES, type SecurityPolicy, type TeamingPolicy } from '../clusters/types.js';
import type { HostState as WireHost } from '../vsphere/read.js';
import type {
  ClusterConfigInfoEx,
  ClusterConfigSpecEx,
  HostNetworkPolicy,
  HostVirtualSwitchSpec,
} from '../vsphere/types.js';
import type { ClusterSpec, PortgroupSpecArgs, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import type { ClusterState, DasState, HostState } from './state.js';

/** HostNetworkPolicy.nicTeaming as the engine's teaming (undefined when unset). */
export function toTeaming(p: HostNetworkPolicy | undefined): TeamingPolicy | undefined {
  const t = p?.nicTeaming;
  if (!t) return undefined;
  const out: TeamingPolicy = {};
  if (t.policy !== undefined) out.loadBalancing = t.policy as NonNullable<TeamingPolicy['loadBalancing']>;
  if (t.failureCriteria?.checkBeacon !== undefined) out.beaconProbing = t.failureCriteria.checkBeacon;
  if (t.notifySwitches !== undefined) out.notifySwitches = t.notifySwitches;
  if (t.rollingOrder !== undefined) out.rollingOrder = t.rollingOrder;
  if (t.nicOrder) {
    out.activeNics = t.nicOrder.activeNic ?? [];
    out.standbyNics = t.nicOrder.standbyNic ?? [];
  }
  return out;
}

/** HostNetworkPolicy.security as the engine's security policy (undefined when unset). */
export function toSecurity(p: HostNetworkPolicy | undefined): SecurityPolicy | undefined {
  const s = p?.security;
  if (!s) return undefined;
  const out: SecurityPolicy = {};
  if (s.allowPromiscuous !== undefined) out.allowPromiscuous = s.allowPromiscuous;
  if (s.macChanges !== undefined) out.macChanges = s.macChanges;
  if (s.forgedTransmits !== undefined) out.forgedTransmits = s.forgedTransmits;
  return out;
}

/** HostNetworkPolicy from the engine's teaming/security (unset members left out = inherit). */
export function toPolicy(teaming: TeamingPolicy | undefined, security: SecurityPolicy | undefined): HostNetworkPolicy {
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

/** HostVirtualSwitchSpec from a planned vSwitch (uplinks as a HostVirtualSwitchBondBridge). */
export function toVswitchSpec(s: VSwitchSpecArgs): HostVirtualSwitchSpec {
  return {
    numPorts: s.numPorts,
    ...(s.uplinks.length ? { bridge: { _type: 'HostVirtualSwitchBondBridge' as const, nicDevice: s.uplinks } } : {}),
    policy: toPolicy(s.teaming, s.security),
    mtu: s.mtu,
  };
}

/** ClusterConfigSpecEx (dasConfig, drsConfig, dpmConfig) from a planned cluster spec. */
export function toClusterSpec(s: ClusterSpec): ClusterConfigSpecEx {
  const out: ClusterConfigSpecEx = {};
  const d = s.dasConfig;
  if (d) {
    out.dasConfig = {};
    if (d.enabled !== undefined) out.dasConfig.enabled = d.enabled;
    if (d.vmMonitoring !== undefined) out.dasConfig.vmMonitoring = d.vmMonitoring;
    if (d.hostMonitoring !== undefined) out.dasConfig.hostMonitoring = d.hostMonitoring;
    const p = d.admissionControlPolicy;
    if (p?.type === 'ClusterFailoverLevelAdmissionControlPolicy')
      out.dasConfig.admissionControlPolicy = { _type: p.type, failoverLevel: p.failoverLevel };
    if (p?.type === 'ClusterFailoverResourcesAdmissionControlPolicy') {
      out.dasConfig.admissionControlPolicy = {
        _type: p.type,
        cpuFailoverResourcesPercent: p.cpuFailoverResourcesPercent,
        memoryFailoverResourcesPercent: p.memoryFailoverResourcesPercent,
      };
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

/** The engine's cluster config from ClusterComputeResource.configurationEx (vSphere defaults filled in). */
export function fromClusterConfig(c: ClusterConfigInfoEx): NonNullable<ClusterState['config']> {
  const das = c.dasConfig ?? {};
  const p = das.admissionControlPolicy;
  let policy: DasState['admissionControlPolicy'];
  if (p?._type === 'ClusterFailoverLevelAdmissionControlPolicy')
    policy = { type: p._type, failoverLevel: p.failoverLevel };
  else if (p?._type === 'ClusterFailoverResourcesAdmissionControlPolicy') {
    policy = {
      type: p._type,
      cpuFailoverResourcesPercent: p.cpuFailoverResourcesPercent,
      memoryFailoverResourcesPercent: p.memoryFailoverResourcesPercent,
    };
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
    drsConfig: {
      enabled: drs.enabled ?? false,
      defaultVmBehavior: (drs.defaultVmBehavior ?? 'fullyAutomated') as 'fullyAutomated',
      vmotionRate: drs.vmotionRate ?? 3,
    },
    dpmConfig: {
      enabled: dpm.enabled ?? false,
      defaultDpmBehavior: (dpm.defaultDpmBehavior ?? 'automated') as 'automated',
      hostPowerActionRate: dpm.hostPowerActionRate ?? 3,
    },
  };
}

function arr<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : v === undefined || v === null ? [] : [v as T];
}

/** OptionManager.setting (OptionValue[]) as key → value, reduced to `keys`. */
export function settingOf(props: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const want = new Set(keys);
  const out: Record<string, unknown> = {};
  for (const ov of arr<{ key: string; value: unknown }>(props['setting'])) if (want.has(ov.key)) out[ov.key] = ov.value;
  return out;
}

/**
 * The engine's HostState from the client's host read (src/vsphere/read.ts) and the advanced
 * settings read for it (key → value; only `keys` are kept).
 */
export function toHostState(h: WireHost, advanced: Record<string, unknown> | undefined, keys: string[]): HostState {
  const cm = h.configManager;
  const services: HostState['services'] = {};
  for (const t of VMK_SERVICES) {
    const sel = h.vnicServices[t];
    if (sel) services[t] = sel;
  }
  const ntpd = h.services.find((s) => s.key === 'ntpd');
  const dns = h.network.dnsConfig;
  const adv: HostState['advanced'] = {};
  for (const k of keys) {
    const v = advanced?.[k];
    if (v !== undefined && v !== null) adv[k] = v as string | number | boolean;
  }
  return {
    refs: {
      host: h.ref.value,
      networkSystem: cm.networkSystem?.value,
      dateTimeSystem: cm.dateTimeSystem?.value,
      serviceSystem: cm.serviceSystem?.value,
      virtualNicManager: cm.virtualNicManager?.value,
      advancedOption: cm.advancedOption?.value,
    },
    name: h.name,
    uuid: h.uuid,
    parentRef: h.parent?.value,
    connectionState: h.connectionState || 'connected',
    inMaintenanceMode: h.inMaintenanceMode,
    vmCount: h.vmCount,
    vswitches: h.network.vswitch.map((v) => ({
      name: v.name,
      uplinks: arr<string>(v.spec.bridge?.nicDevice),
      mtu: v.mtu ?? v.spec.mtu ?? 1500,
      numPorts: v.spec.numPorts,
      teaming: toTeaming(v.spec.policy) ?? {},
      security: toSecurity(v.spec.policy) ?? {},
    })),
    portgroups: h.network.portgroup.map((g) => ({
      name: g.spec.name,
      vswitch: g.spec.vswitchName,
      vlanId: g.spec.vlanId,
      teaming: toTeaming(g.spec.policy),
      security: toSecurity(g.spec.policy),
    })),
    vmknics: h.network.vnic.map((n) => ({
      device: n.device,
      portgroup: n.portgroup,
      dhcp: n.spec.ip?.dhcp ?? false,
      ipAddress: n.spec.ip?.ipAddress,
      subnetMask: n.spec.ip?.subnetMask,
      mtu: n.spec.mtu ?? 1500,
      ...(n.spec.ipRouteSpec?.ipRouteConfig?.defaultGateway
        ? { gateway: n.spec.ipRouteSpec.ipRouteConfig.defaultGateway }
        : {}),
    })),
    services,
    ntpServers: h.ntpServers,
    ntpd: ntpd ? { policy: ntpd.policy, running: ntpd.running } : undefined,
    dns: {
      dhcp: dns?.dhcp ?? false,
      hostName: dns?.hostName ?? '',
      domainName: dns?.domainName ?? '',
      servers: dns?.address ?? [],
      searchDomains: dns?.searchDomain ?? [],
    },
    advanced: adv,
  };
}

/** HostPortGroupSpec from a planned port group. */
export function toPortgroupSpec(p: PortgroupSpecArgs) {
  return { name: p.name, vlanId: p.vlanId, vswitchName: p.vswitchName, policy: toPolicy(p.teaming, p.security) };
}

/**
 * HostVirtualNicSpec (ip, mtu) from a planned vmknic, with ipRouteSpec (HostVirtualNicIpRouteSpec,
 * vSphere API 6.5: `ipRouteConfig.defaultGateway`) when the plan manages its gateway.
 */
export function toVnicSpec(n: VnicSpecArgs) {
  return {
    ip: n.dhcp ? { dhcp: true } : { dhcp: false, ipAddress: n.ipAddress, subnetMask: n.subnetMask },
    mtu: n.mtu,
    ...(n.gateway
      ? { ipRouteSpec: { ipRouteConfig: { _type: 'HostIpRouteConfig' as const, defaultGateway: n.gateway } } }
      : {}),
  };
}
