/**
 * The planner: compares a {@link DesiredCluster} with the {@link CurrentState} read from vCenter and
 * returns the ordered steps that make them equal. Pure: it reads nothing and writes nothing
 * (architecture: `engine/plan` compares, `engine/jobs` writes). Identical state → zero steps.
 *
 * Step order for a host: CreateDatacenter → CreateClusterEx | ReconfigureComputeResource_Task →
 * AddHost_Task | ReconnectHost_Task → EnterMaintenanceMode_Task (only when the host runs VMs and a disruptive network
 * change follows) → [prune: RemoveVirtualNic → RemovePortGroup → RemoveVirtualSwitch] →
 * AddVirtualSwitch/UpdateVirtualSwitch → AddPortGroup/UpdatePortGroup → [prune: RemoveVirtualSwitch
 * of a vSwitch a declared port group was just moved off] →
 * AddVirtualNic/UpdateVirtualNic → SelectVnicForNicType/DeselectVnicForNicType →
 * UpdateDateTimeConfig → UpdateServicePolicy/StartService (ntpd) → UpdateDnsConfig → UpdateOptions →
 * ExitMaintenanceMode_Task (after an enter in the same plan, or when the engine's own record says it
 * put the host into maintenance mode: {@link PlanContext.engineMaintenance}).
 *
 * What is never touched: vSwitches, port groups and VMkernel NICs the file does not name (the
 * factory "VM Network" stays) — unless the file opts in with `<network prune="true">` (engine/prune:
 * each removal is its own step; never vmk0, a management NIC, its port group or vSwitch) —,
 * services of VMkernel NICs the file does not manage, advanced options the file does not name.
 *
 * VMkernel NICs are matched by port group (ESXi allows one per port group and AddVirtualNic picks
 * the device name), so a step for a NIC not yet created names it by port group in `args.portgroup`.
 */
import type { DesiredCluster, MemberHost, SecurityPolicy, TeamingPolicy, VmkService } from '../clusters/types.js';
import {
  defaultHostState,
  type ClusterState,
  type CurrentState,
  type DasState,
  type DpmState,
  type DrsState,
  type HostState,
} from './state.js';
import type { PoolAddressFn } from './pools.js';
import { diffObject, mk, planNetwork, planTimeDnsOptions, PlanError } from './plan-host.js';
import {
  phoneHomeThumbprint,
  phonedHomeThisBoot,
  rejoinDue,
  seenByPxeOnly,
  thumbprintMismatch,
  type HostBoot,
  type HostHold,
} from './lifecycle.js';

export { PlanError, poolAddress, vnicSpecFor } from './plan-host.js';

/** Partial ClusterConfigSpecEx (modify=true semantics: unset members keep their value). */
export interface ClusterSpec {
  dasConfig?: Partial<DasState>;
  drsConfig?: Partial<DrsState>;
  dpmConfig?: Partial<DpmState>;
}

/** HostVirtualSwitchSpec as the engine sends it. */
export interface VSwitchSpecArgs {
  numPorts: number;
  uplinks: string[];
  mtu: number;
  teaming: TeamingPolicy;
  security: SecurityPolicy;
}

/** HostPortGroupSpec. */
export interface PortgroupSpecArgs {
  name: string;
  vlanId: number;
  vswitchName: string;
  teaming?: TeamingPolicy | undefined;
  security?: SecurityPolicy | undefined;
}

/** HostVirtualNicSpec (ip + mtu, and ipRouteSpec when the NIC's pool names a gateway). */
export interface VnicSpecArgs {
  dhcp: boolean;
  ipAddress?: string | undefined;
  subnetMask?: string | undefined;
  mtu: number;
  /**
   * HostVirtualNicSpec.ipRouteSpec.ipRouteConfig.defaultGateway (vSphere API 6.5+): the pool's
   * `gateway`; absent = the NIC's gateway is not managed (it keeps its TCP/IP stack's).
   */
  gateway?: string | undefined;
}

/** Arguments of each step, by vSphere method name. Plain JSON: persisted with the job. */
export interface StepArgsMap {
  /** Folder.CreateDatacenter on the parent folder (path without the last element, '' = root). */
  CreateDatacenter: { name: string; parentPath: string };
  /** Folder.CreateClusterEx on the datacenter's hostFolder. */
  CreateClusterEx: { name: string; spec: ClusterSpec };
  /** ClusterComputeResource.ReconfigureComputeResource_Task, modify=true. */
  ReconfigureComputeResource_Task: { spec: ClusterSpec; modify: true };
  /**
   * ClusterComputeResource.AddHost_Task; the password comes from `credentials` at apply time.
   * `sslThumbprint` = the cluster file's pin; `phoneHomeThumbprint` = what the host reported in
   * its phone-home on this boot (engine.thumbprint-policy `phone-home`).
   */
  AddHost_Task: {
    hostName: string;
    credentials: string;
    sslThumbprint?: string | undefined;
    phoneHomeThumbprint?: string | undefined;
    asConnected: true;
  };
  /**
   * HostSystem.ReconnectHost_Task with a HostConnectSpec for this boot (a rebooted stateless host:
   * new certificate, root password to set); same thumbprint and credential rules as AddHost_Task.
   */
  ReconnectHost_Task: {
    hostName: string;
    credentials: string;
    sslThumbprint?: string | undefined;
    phoneHomeThumbprint?: string | undefined;
  };
  EnterMaintenanceMode_Task: { timeout: number };
  ExitMaintenanceMode_Task: { timeout: number };
  AddVirtualSwitch: { vswitchName: string; spec: VSwitchSpecArgs };
  UpdateVirtualSwitch: { vswitchName: string; spec: VSwitchSpecArgs };
  AddPortGroup: { portgrp: PortgroupSpecArgs };
  UpdatePortGroup: { pgName: string; portgrp: PortgroupSpecArgs };
  AddVirtualNic: { portgroup: string; nic: VnicSpecArgs };
  /** `device` is resolved from the port group at apply time when the NIC is new. */
  UpdateVirtualNic: { device: string; portgroup: string; nic: VnicSpecArgs };
  /** HostNetworkSystem.RemoveVirtualNic (prune); `portgroup` is the one it is on (for the plan). */
  RemoveVirtualNic: { device: string; portgroup: string };
  /** HostNetworkSystem.RemovePortGroup (prune); `vswitchName` is the one it is on (for the plan). */
  RemovePortGroup: { pgName: string; vswitchName: string };
  /** HostNetworkSystem.RemoveVirtualSwitch (prune). */
  RemoveVirtualSwitch: { vswitchName: string };
  SelectVnicForNicType: { nicType: VmkService; portgroup: string; device?: string | undefined };
  DeselectVnicForNicType: { nicType: VmkService; portgroup: string; device: string };
  UpdateDateTimeConfig: { ntpServers: string[] };
  UpdateServicePolicy: { id: string; policy: 'on' | 'off' | 'automatic' };
  StartService: { id: string };
  /** Full HostDnsConfig (the API replaces it as a whole). */
  UpdateDnsConfig: { dhcp: false; hostName: string; domainName: string; servers: string[]; searchDomains: string[] };
  UpdateOptions: {
    changedValue: { key: string; value: string | number | boolean; type: 'string' | 'int' | 'long' | 'boolean' }[];
  };
}

export type StepName = keyof StepArgsMap;

/**
 * Methods that change the host's existing network (may cut traffic): trigger maintenance mode if
 * VMs run. RemovePortGroup / RemoveVirtualSwitch are not: ESXi refuses them (ResourceInUse) while
 * anything still uses the port group or vSwitch, so they cannot cut traffic.
 */
const DISRUPTIVE: ReadonlySet<StepName> = new Set<StepName>([
  'UpdateVirtualSwitch',
  'UpdatePortGroup',
  'UpdateVirtualNic',
  'DeselectVnicForNicType',
  'RemoveVirtualNic',
]);

interface StepBase {
  /** Human target: `datacenter:DC0`, `cluster:prod`, `host:esx1.lab`. */
  target: string;
  /** SMBIOS UUID of the host the step acts on (host steps only). */
  hostUuid?: string | undefined;
  /** The value before and after (only the members that differ). */
  before: unknown;
  after: unknown;
}

/** One planned vSphere call. */
export type Step = { [N in StepName]: StepBase & { name: N; args: StepArgsMap[N] } }[StepName];

/** Options of a plan. */
export interface PlanContext {
  /** Index of the host among the cluster's members (pool allocation); default: its position in desired.hosts. */
  memberIndex?: number;
  /**
   * Lower-case SMBIOS UUIDs of hosts the engine itself put into maintenance mode (the store's
   * `engine_maintenance` record). Such a host, found in maintenance mode, gets
   * ExitMaintenanceMode_Task at the end of its steps even when nothing else is planned for it —
   * the job that entered maintenance mode may have died before its exit step. A host in
   * maintenance mode that is not listed was put there by someone else and is left in it.
   */
  engineMaintenance?: ReadonlySet<string>;
  /**
   * Pool addresses (engine/pools: persistent, stable per host). Without it a member gets
   * `start + memberIndex` ({@link poolAddress}), which changes when members are inserted or removed.
   */
  poolAddress?: PoolAddressFn;
  /**
   * What the engine knows of each member's current boot (engine/lifecycle, store host_boots).
   * Every production caller passes it (the server's job runner, its plan/drift views, the CLI's
   * plan, apply and drift); a member not in vCenter whose current boot has not phoned home — no
   * record at all included — is then held "waiting for phone-home". Without it (a pure plan in a
   * unit test or an engine harness) every member counts as phoned home.
   */
  boot?: (uuid: string) => HostBoot | undefined;
  /** Filled by the planner: members left out of the plan and why (waiting for boot, …). */
  holds?: HostHold[];
}

// ---------------------------------------------------------------- cluster

/** The ClusterConfigSpecEx members the file asks for, in the engine's terms. */
export function desiredClusterConfig(d: DesiredCluster): {
  dasConfig: DasState;
  drsConfig: DrsState;
  dpmConfig: DpmState;
} {
  const ac = d.ha.admissionControl;
  let policy: DasState['admissionControlPolicy'];
  if (ac.enabled && ac.policy === 'hostFailuresTolerated') {
    policy = { type: 'ClusterFailoverLevelAdmissionControlPolicy', failoverLevel: ac.hostFailuresTolerated };
  } else if (ac.enabled && ac.policy === 'percentage') {
    policy = {
      type: 'ClusterFailoverResourcesAdmissionControlPolicy',
      cpuFailoverResourcesPercent: ac.cpuPercent,
      memoryFailoverResourcesPercent: ac.memoryPercent,
    };
  } else {
    policy = { type: 'other' };
  }
  return {
    dasConfig: {
      enabled: d.ha.enabled,
      hostMonitoring: d.ha.hostMonitoring ? 'enabled' : 'disabled',
      vmMonitoring: d.ha.vmMonitoring,
      admissionControlEnabled: ac.enabled,
      admissionControlPolicy: policy,
      restartPriority: d.ha.restartPriority,
      isolationResponse: d.ha.isolationResponse,
    },
    drsConfig: {
      enabled: d.drs.enabled,
      defaultVmBehavior: d.drs.automationLevel,
      vmotionRate: d.drs.migrationThreshold,
    },
    dpmConfig: {
      enabled: d.dpm.enabled,
      defaultDpmBehavior: d.dpm.automationLevel,
      hostPowerActionRate: d.dpm.threshold,
    },
  };
}

/** Datacenter and cluster steps (find or create; reconcile HA/DRS/DPM with modify=true, only what differs). */
export function planClusterSteps(desired: DesiredCluster, current: ClusterState): Step[] {
  const steps: Step[] = [];
  const want = desiredClusterConfig(desired);
  const createSpec: ClusterSpec = {
    dasConfig: stripOther(want.dasConfig),
    drsConfig: want.drsConfig,
    dpmConfig: want.dpmConfig,
  };
  if (!current.datacenterRef) {
    const parts = desired.datacenter.split('/');
    const name = parts.pop()!;
    steps.push(
      mk('CreateDatacenter', `datacenter:${desired.datacenter}`, { name, parentPath: parts.join('/') }, null, { name }),
    );
  }
  if (!current.clusterRef || !current.config) {
    steps.push(
      mk('CreateClusterEx', `cluster:${desired.name}`, { name: desired.name, spec: createSpec }, null, createSpec),
    );
    return steps;
  }
  const spec: ClusterSpec = {};
  const before: ClusterSpec = {};
  const have = current.config;
  // admission control policy only matters when admission control is on
  const [db, da] = diffObject(
    have.dasConfig,
    want.dasConfig,
    (k) => k === 'admissionControlPolicy' && !want.dasConfig.admissionControlEnabled,
  );
  if (Object.keys(da).length) {
    spec.dasConfig = stripOther(da);
    before.dasConfig = db;
  }
  const [rb, ra] = diffObject(have.drsConfig, want.drsConfig);
  if (Object.keys(ra).length) {
    spec.drsConfig = ra;
    before.drsConfig = rb;
  }
  const [pb, pa] = diffObject(have.dpmConfig, want.dpmConfig);
  if (Object.keys(pa).length) {
    spec.dpmConfig = pa;
    before.dpmConfig = pb;
  }
  if (Object.keys(spec).length) {
    steps.push(mk('ReconfigureComputeResource_Task', `cluster:${desired.name}`, { spec, modify: true }, before, spec));
  }
  return steps;
}

/** Drops an `other` admission control policy (nothing to send: admission control is off). */
function stripOther(d: Partial<DasState>): Partial<DasState> {
  if (d.admissionControlPolicy?.type !== 'other') return d;
  const { admissionControlPolicy: _drop, ...rest } = d;
  return rest;
}

/**
 * Steps for one member host only (no cluster steps), by the host's lifecycle (engine/lifecycle):
 * - not in vCenter: AddHost_Task once it phoned home on its current boot (before that — only PXE
 *   saw it, or nothing was recorded — held "waiting for phone-home");
 * - disconnected / not responding: ReconnectHost_Task when its current boot phoned home and has not
 *   converged yet, else held "waiting for boot";
 * - connected, but the current phone-home reports another thumbprint than vCenter accepted: held
 *   "thumbprint mismatch" (a spoof; nothing is changed);
 * then its configuration — planned against {@link defaultHostState} after an AddHost_Task or
 * ReconnectHost_Task (the host is at its image defaults; the job re-plans from real state right
 * after) — wrapped in maintenance mode when needed. A held host gets no steps and is appended to
 * `context.holds`.
 * @param clusterRef the cluster's MoRef (undefined: not created yet) — a host in another compute
 *   resource is refused (moving hosts between clusters is left to the operator).
 * @throws PlanError for a host in another cluster, a missing static address or an exhausted pool.
 */
// eslint-disable-next-line max-lines-per-function -- a member's join, rejoin or hold, then its configuration: one decision read top to bottom
export function planHostSteps(
  desired: DesiredCluster,
  host: MemberHost,
  current: HostState | undefined,
  clusterRef: string | undefined,
  context: PlanContext = {},
): Step[] {
  const memberIndex =
    context.memberIndex ??
    Math.max(
      0,
      desired.hosts.findIndex((h) => h.uuid === host.uuid),
    );
  const target = `host:${host.fqdn}`;
  const steps: Step[] = [];
  const boot = context.boot?.(host.uuid);
  const hold = (reason: HostHold['reason'], detail: string): Step[] => {
    context.holds?.push({ uuid: host.uuid, fqdn: host.fqdn, reason, detail });
    return [];
  };
  const connect = {
    hostName: host.fqdn,
    credentials: desired.credentials,
    sslThumbprint: host.thumbprint,
    phoneHomeThumbprint: phoneHomeThumbprint(boot),
  };
  let cur = current;
  let rejoined = false;
  if (!cur) {
    if (context.boot && !phonedHomeThisBoot(boot))
      return hold(
        'waiting-for-phone-home',
        seenByPxeOnly(boot)
          ? `${host.fqdn} is booting (seen by PXE, no phone-home from this boot yet); it is added when ESXi phones home`
          : `${host.fqdn} has not phoned home yet (no boot recorded); it is added when it boots and ESXi phones home`,
      );
    steps.push(
      mk('AddHost_Task', target, { ...connect, asConnected: true }, null, { cluster: desired.name }, host.uuid),
    );
    cur = defaultHostState(host.fqdn, host.uuid);
  } else {
    if (clusterRef && cur.parentRef && cur.parentRef !== clusterRef) {
      throw new PlanError(
        `host ${host.fqdn} (${host.uuid}) is in another compute resource (${cur.parentRef}), not in cluster ${desired.name}; move it there or remove it first`,
      );
    }
    if (cur.connectionState !== 'connected') {
      if (!context.boot || !rejoinDue(boot))
        return hold(
          'waiting-for-boot',
          `${host.fqdn} is ${cur.connectionState} in vCenter and has not phoned home since ${phonedHomeThisBoot(boot) ? 'its last convergence' : 'it last booted'}; it rejoins when it boots and phones home`,
        );
      steps.push(
        mk(
          'ReconnectHost_Task',
          target,
          connect,
          { connectionState: cur.connectionState },
          { connectionState: 'connected' },
          host.uuid,
        ),
      );
      cur = { ...defaultHostState(host.fqdn, host.uuid), inMaintenanceMode: cur.inMaintenanceMode, refs: cur.refs };
      rejoined = true;
    } else if (thumbprintMismatch(boot)) {
      return hold(
        'thumbprint-mismatch',
        `${host.fqdn} is connected in vCenter with SSL thumbprint ${boot!.joinedThumbprint!}, but a phone-home for it reported ${[boot!.thumbprint, boot!.thumbprintSha1].filter(Boolean).join(' / ')}: refused as a possible spoof, nothing changed (if the certificate was replaced on purpose: statelesx host reset-thumbprint ${host.uuid})`,
      );
    }
  }
  const config = [
    ...planNetwork(desired, host, cur, memberIndex, target, context.poolAddress),
    ...planTimeDnsOptions(desired, host, cur, target, host.uuid),
  ];
  const needsMaintenance = cur.vmCount > 0 && !cur.inMaintenanceMode && config.some((s) => DISRUPTIVE.has(s.name));
  // After a reboot, a host found in maintenance mode was put there by the reboot (or by us).
  const leftInMaintenance =
    cur.inMaintenanceMode && (rejoined || (context.engineMaintenance?.has(host.uuid.toLowerCase()) ?? false));
  if (needsMaintenance) steps.push(mk('EnterMaintenanceMode_Task', target, { timeout: 0 }, false, true, host.uuid));
  steps.push(...config);
  if (needsMaintenance || leftInMaintenance)
    steps.push(mk('ExitMaintenanceMode_Task', target, { timeout: 0 }, true, false, host.uuid));
  return steps;
}

/** Finds a member by UUID (case-insensitive). @throws PlanError when the cluster has no such member. */
export function memberByUuid(desired: DesiredCluster, uuid: string): MemberHost {
  const h = desired.hosts.find((m) => m.uuid.toLowerCase() === uuid.toLowerCase());
  if (!h) throw new PlanError(`host ${uuid} is not a member of cluster ${desired.name}`);
  return h;
}

/**
 * The plan for one host: cluster steps, then the host's steps.
 * @param current cluster state and this host's state (undefined when vCenter does not know it)
 */
export function planHost(
  desired: DesiredCluster,
  host: MemberHost,
  current: { cluster: ClusterState; host: HostState | undefined },
  context: PlanContext = {},
): Step[] {
  return [
    ...planClusterSteps(desired, current.cluster),
    ...planHostSteps(desired, host, current.host, current.cluster.clusterRef, context),
  ];
}

/** The plan for a whole cluster: cluster steps, then every member's (or every known member's) steps in file order. */
export function planCluster(
  desired: DesiredCluster,
  current: CurrentState,
  context: Omit<PlanContext, 'memberIndex'> & {
    /** Plan only members vCenter already knows (no AddHost_Task): drift remediation. */
    existingOnly?: boolean;
  } = {},
): Step[] {
  const { existingOnly, ...ctx } = context;
  const steps = planClusterSteps(desired, current.cluster);
  desired.hosts.forEach((h, i) => {
    if (existingOnly && !current.hosts[h.uuid]) return;
    steps.push(
      ...planHostSteps(desired, h, current.hosts[h.uuid], current.cluster.clusterRef, { ...ctx, memberIndex: i }),
    );
  });
  return steps;
}
