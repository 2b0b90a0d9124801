/**
 * TypeScript shapes of the vim25 data objects this client sends and reads. Names and members are
 * the vSphere API reference's (Data Object Types); the wire order lives in schema.ts. Optional
 * members are omitted from the request when undefined. `_type` selects a subtype where the API
 * declares a base type (e.g. admissionControlPolicy, selectSet).
 */
import type { XsdValue } from './schema.js';
import type { MoRef } from './xml.js';

export type { MoRef } from './xml.js';
export type { XsdValue } from './schema.js';

// --- PropertyCollector -----------------------------------------------------------------------
/** vmodl.query.PropertyCollector.SelectionSpec (a reference to a named TraversalSpec). */
export interface SelectionSpec {
  _type?: 'SelectionSpec' | 'TraversalSpec';
  name?: string;
}
/** vmodl.query.PropertyCollector.TraversalSpec. */
export interface TraversalSpec {
  _type: 'TraversalSpec';
  name?: string;
  type: string;
  path: string;
  skip?: boolean;
  selectSet?: Array<SelectionSpec | TraversalSpec>;
}
/** vmodl.query.PropertyCollector.PropertySpec. */
export interface PropertySpec {
  type: string;
  all?: boolean;
  pathSet?: string[];
}
/** vmodl.query.PropertyCollector.ObjectSpec. */
export interface ObjectSpec {
  obj: MoRef;
  skip?: boolean;
  selectSet?: Array<SelectionSpec | TraversalSpec>;
}
/** vmodl.query.PropertyCollector.FilterSpec. */
export interface PropertyFilterSpec {
  propSet: PropertySpec[];
  objectSet: ObjectSpec[];
  reportMissingObjectsInResults?: boolean;
}
/** One object of a RetrieveResult, properties decoded to plain values by path. */
export interface ObjectContent {
  obj: MoRef;
  props: Record<string, unknown>;
  /** Paths that could not be read, with the fault name (e.g. NoPermission). */
  missing: Array<{ path: string; fault: string }>;
}
/** vmodl.query.PropertyCollector.RetrieveResult (decoded). */
export interface RetrieveResult {
  token?: string;
  objects: ObjectContent[];
}

// --- ServiceInstance --------------------------------------------------------------------------
/** vim.AboutInfo (the parts we use). */
export interface AboutInfo {
  name: string;
  fullName: string;
  version: string;
  build: string;
  apiType: string;
  apiVersion: string;
  instanceUuid?: string;
}
/** vim.ServiceInstanceContent (the references we use). */
export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  about: AboutInfo;
  sessionManager: MoRef;
  searchIndex: MoRef;
  taskManager?: MoRef;
  setting?: MoRef;
  /** HostLocalAccountManager (`ha-localacctmgr` on an ESXi host's own SDK). */
  accountManager?: MoRef;
  [k: string]: unknown;
}
/** vim.UserSession (the parts we use). */
export interface UserSession {
  key: string;
  userName: string;
  fullName?: string;
  loginTime?: string;
}

// --- Cluster ------------------------------------------------------------------------------------
/** vim.cluster.FailoverLevelAdmissionControlPolicy ("host failures cluster tolerates"). */
export interface ClusterFailoverLevelAdmissionControlPolicy {
  _type: 'ClusterFailoverLevelAdmissionControlPolicy';
  resourceReductionToToleratePercent?: number;
  failoverLevel: number;
}
/** vim.cluster.FailoverResourcesAdmissionControlPolicy (percentage of resources reserved). */
export interface ClusterFailoverResourcesAdmissionControlPolicy {
  _type: 'ClusterFailoverResourcesAdmissionControlPolicy';
  resourceReductionToToleratePercent?: number;
  cpuFailoverResourcesPercent: number;
  memoryFailoverResourcesPercent: number;
  failoverLevel?: number;
  autoComputePercentages?: boolean;
}
/** vim.cluster.FailoverHostAdmissionControlPolicy (dedicated failover hosts). */
export interface ClusterFailoverHostAdmissionControlPolicy {
  _type: 'ClusterFailoverHostAdmissionControlPolicy';
  failoverHosts?: MoRef[];
  failoverLevel?: number;
}
export type ClusterDasAdmissionControlPolicy =
  | ClusterFailoverLevelAdmissionControlPolicy
  | ClusterFailoverResourcesAdmissionControlPolicy
  | ClusterFailoverHostAdmissionControlPolicy;
/** vim.option.OptionValue; value is xsi-typed on the wire. */
export interface OptionValue {
  key: string;
  value: XsdValue;
}
/** vim.cluster.DasVmSettings (HA defaults for VMs). */
export interface ClusterDasVmSettings {
  /** disabled | lowest | low | medium | high | highest | clusterRestartPriority */
  restartPriority?: string;
  restartPriorityTimeout?: number;
  /** none | powerOff | shutdown | clusterIsolationResponse */
  isolationResponse?: string;
}
/** vim.cluster.DasConfigInfo (HA). */
export interface ClusterDasConfigInfo {
  enabled?: boolean;
  /** vmMonitoringDisabled | vmMonitoringOnly | vmAndAppMonitoring */
  vmMonitoring?: string;
  /** enabled | disabled */
  hostMonitoring?: string;
  vmComponentProtecting?: string;
  failoverLevel?: number;
  admissionControlPolicy?: ClusterDasAdmissionControlPolicy;
  admissionControlEnabled?: boolean;
  defaultVmSettings?: ClusterDasVmSettings;
  option?: OptionValue[];
}
/** vim.cluster.DrsConfigInfo. */
export interface ClusterDrsConfigInfo {
  enabled?: boolean;
  enableVmBehaviorOverrides?: boolean;
  /** manual | partiallyAutomated | fullyAutomated */
  defaultVmBehavior?: string;
  /** 1 … 5 */
  vmotionRate?: number;
  option?: OptionValue[];
}
/** vim.cluster.DpmConfigInfo. */
export interface ClusterDpmConfigInfo {
  enabled?: boolean;
  /** manual | automated */
  defaultDpmBehavior?: string;
  /** 1 … 5 */
  hostPowerActionRate?: number;
  option?: OptionValue[];
}
/** vim.cluster.ConfigSpecEx (only the members this project sets). */
export interface ClusterConfigSpecEx {
  vmSwapPlacement?: string;
  dasConfig?: ClusterDasConfigInfo;
  drsConfig?: ClusterDrsConfigInfo;
  dpmConfig?: ClusterDpmConfigInfo;
}
/** vim.cluster.ConfigInfoEx as read back (`configurationEx`); DPM lives in `dpmConfigInfo`. */
export interface ClusterConfigInfoEx {
  dasConfig?: ClusterDasConfigInfo;
  drsConfig?: ClusterDrsConfigInfo;
  dpmConfigInfo?: ClusterDpmConfigInfo;
  [k: string]: unknown;
}

// --- Host connection ----------------------------------------------------------------------------
/** vim.host.ConnectSpec. `password` is sent once and never logged. */
export interface HostConnectSpec {
  hostName: string;
  port?: number;
  /** SHA-1 thumbprint of the host's certificate, colon hex. */
  sslThumbprint?: string;
  userName?: string;
  password?: string;
  vmFolder?: MoRef;
  force: boolean;
  vimAccountName?: string;
  vimAccountPassword?: string;
  managementIp?: string;
  lockdownMode?: string;
}

/** vim.HostSystem.ReconnectSpec (ReconnectHost_Task). */
export interface HostSystemReconnectSpec {
  /** Sync the host's state (VM inventory) with vCenter's on reconnect. */
  syncState?: boolean;
}

/**
 * vim.host.LocalAccountManager.AccountSpecification (HostLocalAccountManager.UpdateUser).
 * `password` is sent once and never logged.
 */
export interface HostAccountSpec {
  _type?: 'HostAccountSpec' | 'HostPosixAccountSpec';
  /** The account name (`root`). */
  id: string;
  password?: string;
  description?: string;
}

// --- Host networking ------------------------------------------------------------------------------
/** vim.host.VirtualSwitch.BondBridge (uplinks of a standard switch). */
export interface HostVirtualSwitchBondBridge {
  _type?: 'HostVirtualSwitchBondBridge';
  nicDevice: string[];
  beacon?: { interval: number };
  linkDiscoveryProtocolConfig?: { protocol: string; operation: string };
}
/** vim.host.NetworkPolicy.SecurityPolicy. */
export interface HostNetworkSecurityPolicy {
  allowPromiscuous?: boolean;
  macChanges?: boolean;
  forgedTransmits?: boolean;
}
/** vim.host.NetworkPolicy.NicFailureCriteria (checkBeacon = beacon probing). */
export interface HostNicFailureCriteria {
  checkSpeed?: string;
  speed?: number;
  checkDuplex?: boolean;
  fullDuplex?: boolean;
  checkErrorPercent?: boolean;
  percentage?: number;
  checkBeacon?: boolean;
}
/** vim.host.NetworkPolicy.NicOrderPolicy. */
export interface HostNicOrderPolicy {
  activeNic?: string[];
  standbyNic?: string[];
}
/** vim.host.NetworkPolicy.NicTeamingPolicy. */
export interface HostNicTeamingPolicy {
  /** loadbalance_ip | loadbalance_srcmac | loadbalance_srcid | failover_explicit */
  policy?: string;
  reversePolicy?: boolean;
  notifySwitches?: boolean;
  rollingOrder?: boolean;
  failureCriteria?: HostNicFailureCriteria;
  nicOrder?: HostNicOrderPolicy;
}
/** vim.host.NetworkPolicy. */
export interface HostNetworkPolicy {
  security?: HostNetworkSecurityPolicy;
  nicTeaming?: HostNicTeamingPolicy;
  offloadPolicy?: { csumOffload?: boolean; tcpSegmentation?: boolean; zeroCopyXmit?: boolean };
  shapingPolicy?: { enabled?: boolean; averageBandwidth?: number; peakBandwidth?: number; burstSize?: number };
}
/** vim.host.VirtualSwitch.Specification. */
export interface HostVirtualSwitchSpec {
  numPorts: number;
  bridge?: HostVirtualSwitchBondBridge;
  policy?: HostNetworkPolicy;
  mtu?: number;
}
/** vim.host.PortGroup.Specification. */
export interface HostPortGroupSpec {
  name: string;
  vlanId: number;
  vswitchName: string;
  policy: HostNetworkPolicy;
}
/** vim.host.IpConfig (IPv4 part). */
export interface HostIpConfig {
  dhcp: boolean;
  ipAddress?: string | undefined;
  subnetMask?: string | undefined;
}
/** vim.host.VirtualNic.Specification. */
export interface HostVirtualNicSpec {
  ip?: HostIpConfig;
  mac?: string;
  portgroup?: string;
  mtu?: number;
  tsoEnabled?: boolean;
  /** defaultTcpipStack | vmotion | vSphereProvisioning */
  netStackInstanceKey?: string;
  /** vim.host.VirtualNic.IpRouteSpec (vSphere API 6.5): the NIC's own default gateway. */
  ipRouteSpec?: { ipRouteConfig?: { _type?: 'HostIpRouteConfig'; defaultGateway?: string } };
}
/** vim.host.DnsConfig. */
export interface HostDnsConfig {
  dhcp: boolean;
  virtualNicDevice?: string;
  ipv6VirtualNicDevice?: string;
  hostName: string;
  domainName: string;
  address?: string[];
  searchDomain?: string[];
}
/** vim.host.DateTimeConfig. */
export interface HostDateTimeConfig {
  timeZone?: string;
  ntpConfig?: { server?: string[]; configFile?: string[] };
}

/** vim.host.VirtualSwitch as read. */
export interface HostVirtualSwitch {
  name: string;
  key: string;
  numPorts: number;
  numPortsAvailable?: number;
  mtu?: number;
  portgroup?: string[];
  pnic?: string[];
  spec: HostVirtualSwitchSpec;
}
/** vim.host.PortGroup as read. */
export interface HostPortGroup {
  key?: string;
  vswitch?: string;
  computedPolicy?: HostNetworkPolicy;
  spec: HostPortGroupSpec;
}
/** vim.host.VirtualNic as read. */
export interface HostVirtualNic {
  device: string;
  key: string;
  portgroup: string;
  spec: HostVirtualNicSpec;
  port?: string;
}
/** vim.host.NetworkInfo (the parts we use). */
export interface HostNetworkInfo {
  vswitch: HostVirtualSwitch[];
  portgroup: HostPortGroup[];
  vnic: HostVirtualNic[];
  pnic: Array<{ key?: string; device: string; mac?: string }>;
  dnsConfig?: HostDnsConfig;
  ipRouteConfig?: { defaultGateway?: string; gatewayDevice?: string };
}
/** vim.host.VirtualNicManager.NetConfig. */
export interface VirtualNicManagerNetConfig {
  nicType: string;
  multiSelectAllowed: boolean;
  candidateVnic?: HostVirtualNic[];
  /** Keys like `vmotion.key-vim.host.VirtualNic-vmk1`. */
  selectedVnic?: string[];
}
/** vim.host.Service. */
export interface HostService {
  key: string;
  label?: string;
  required?: boolean;
  running: boolean;
  ruleset?: string[];
  policy: string;
}

/** vim.TaskInfo (the parts we use). */
export interface TaskInfo {
  key?: string;
  task?: MoRef;
  name?: string;
  descriptionId?: string;
  entityName?: string;
  /** queued | running | success | error */
  state: 'queued' | 'running' | 'success' | 'error';
  cancelled?: boolean;
  progress?: number;
  result?: unknown;
}
