/**
 * The current vCenter/ESXi state the planner compares with a {@link DesiredCluster}, as typed plain
 * data (JSON-safe: it is persisted with jobs and printed by `cluster plan --json`).
 *
 * Produced by the read adapter (src/engine/vsphere-adapter.ts, over src/vsphere) and by tests.
 * Field names are the vSphere API's: ClusterConfigInfoEx (dasConfig, drsConfig, dpmConfigInfo),
 * HostNetworkInfo (vswitch, portgroup, vnic), HostVirtualNicManagerInfo, HostDateTimeInfo,
 * HostDnsConfig, OptionManager.setting.
 *
 * Owns: types only, plus {@link defaultHostState} (what a freshly installed ESXi host looks like).
 */
import type { SecurityPolicy, TeamingPolicy, VmkService, VSwitchSpec } from '../clusters/types.js';

/** ClusterDasConfigInfo members the engine manages (vim.cluster.DasConfigInfo). */
export interface DasState {
  enabled: boolean;
  /** `enabled` | `disabled` on the wire. */
  hostMonitoring: 'enabled' | 'disabled';
  vmMonitoring: 'vmMonitoringDisabled' | 'vmMonitoringOnly' | 'vmAndAppMonitoring';
  admissionControlEnabled: boolean;
  /** ClusterFailoverLevelAdmissionControlPolicy / ClusterFailoverResourcesAdmissionControlPolicy; other types: `other`. */
  admissionControlPolicy:
    | { type: 'ClusterFailoverLevelAdmissionControlPolicy'; failoverLevel: number }
    | {
        type: 'ClusterFailoverResourcesAdmissionControlPolicy';
        cpuFailoverResourcesPercent: number;
        memoryFailoverResourcesPercent: number;
      }
    | { type: 'other'; xsiType?: string };
  /**
   * ClusterDasVmSettings of defaultVmSettings: restartPriority is a ClusterDasVmSettingsRestartPriority
   * (disabled, low, medium, high, …), isolationResponse a ClusterDasVmSettingsIsolationResponse (none,
   * powerOff, shutdown); kept as strings because vCenter may answer values newer than this list.
   */
  restartPriority: string;
  isolationResponse: string;
}

/** vim.cluster.DrsConfigInfo members the engine manages. */
export interface DrsState {
  enabled: boolean;
  defaultVmBehavior: 'manual' | 'partiallyAutomated' | 'fullyAutomated';
  vmotionRate: number;
}

/** vim.cluster.DpmConfigInfo members the engine manages. */
export interface DpmState {
  enabled: boolean;
  defaultDpmBehavior: 'manual' | 'automated';
  hostPowerActionRate: number;
}

/** The cluster side of the state. Refs are ManagedObjectReference values (`domain-c7`). */
export interface ClusterState {
  /** Datacenter MoRef; undefined when the datacenter path does not exist. */
  datacenterRef?: string | undefined;
  /** The datacenter's hostFolder (where CreateClusterEx is called). */
  hostFolderRef?: string | undefined;
  /** ClusterComputeResource MoRef; undefined when the cluster does not exist. */
  clusterRef?: string | undefined;
  /** configurationEx, reduced to what the engine manages (set when clusterRef is). */
  config?: { dasConfig: DasState; drsConfig: DrsState; dpmConfig: DpmState } | undefined;
}

/** HostVirtualSwitch (spec parts) as read back: the desired shape without its source position. */
export type VSwitchState = Omit<VSwitchSpec, 'pos'>;

/** HostPortGroup spec as read back (policy members unset = inherited). */
export interface PortgroupState {
  name: string;
  vswitch: string;
  vlanId: number;
  teaming?: TeamingPolicy | undefined;
  security?: SecurityPolicy | undefined;
}

/** HostVirtualNic as read back. */
export interface VmkNicState {
  device: string;
  portgroup: string;
  dhcp: boolean;
  ipAddress?: string | undefined;
  subnetMask?: string | undefined;
  mtu: number;
  /** spec.ipRouteSpec.ipRouteConfig.defaultGateway: the NIC's own default gateway (unset = its TCP/IP stack's). */
  gateway?: string | undefined;
}

/** MoRefs of the host and its config managers (HostSystem.configManager.*). */
export interface HostRefs {
  host: string;
  networkSystem?: string | undefined;
  dateTimeSystem?: string | undefined;
  serviceSystem?: string | undefined;
  virtualNicManager?: string | undefined;
  advancedOption?: string | undefined;
}

/** One host, as vCenter reports it. */
export interface HostState {
  refs: HostRefs;
  /** HostSystem.name. */
  name: string;
  /** hardware.systemInfo.uuid. */
  uuid: string;
  /** The ComputeResource the host belongs to (its parent). */
  parentRef?: string | undefined;
  /** runtime.connectionState: connected | disconnected | notResponding. */
  connectionState: string;
  inMaintenanceMode: boolean;
  /** Number of VMs registered on the host (HostSystem.vm). */
  vmCount: number;
  vswitches: VSwitchState[];
  portgroups: PortgroupState[];
  vmknics: VmkNicState[];
  /** HostVirtualNicManager: nicType → selected VMkernel devices. */
  services: Partial<Record<VmkService, string[]>>;
  /** HostDateTimeInfo.ntpConfig.server. */
  ntpServers: string[];
  /** HostService `ntpd`: policy (on | off | automatic) and running; undefined when the host has none. */
  ntpd?: { policy: string; running: boolean } | undefined;
  /** HostDnsConfig (HostNetworkInfo.dnsConfig). */
  dns: { dhcp: boolean; hostName: string; domainName: string; servers: string[]; searchDomains: string[] };
  /** OptionManager.setting values for the keys the cluster file names (others may be absent). */
  advanced: Record<string, string | number | boolean>;
}

/** State for a whole cluster: the cluster and each member host by UUID (undefined = not in vCenter). */
export interface CurrentState {
  cluster: ClusterState;
  hosts: Record<string, HostState | undefined>;
}

/**
 * What a freshly installed ESXi host looks like to the API, used to plan a host that is not in
 * vCenter yet (the job re-plans from real state right after AddHost_Task).
 * vSwitch0 on vmnic0 with "Management Network" (vmk0, DHCP, management) and "VM Network".
 */
export function defaultHostState(fqdn: string, uuid: string): HostState {
  const dot = fqdn.indexOf('.');
  return {
    refs: { host: '' },
    name: fqdn,
    uuid,
    connectionState: 'connected',
    inMaintenanceMode: false,
    vmCount: 0,
    vswitches: [
      {
        name: 'vSwitch0',
        uplinks: ['vmnic0'],
        mtu: 1500,
        numPorts: 128,
        teaming: {
          loadBalancing: 'loadbalance_srcid',
          beaconProbing: false,
          notifySwitches: true,
          rollingOrder: false,
          activeNics: ['vmnic0'],
          standbyNics: [],
        },
        security: { allowPromiscuous: false, macChanges: true, forgedTransmits: true },
      },
    ],
    portgroups: [
      { name: 'Management Network', vswitch: 'vSwitch0', vlanId: 0 },
      { name: 'VM Network', vswitch: 'vSwitch0', vlanId: 0 },
    ],
    vmknics: [{ device: 'vmk0', portgroup: 'Management Network', dhcp: true, mtu: 1500 }],
    services: { management: ['vmk0'] },
    ntpServers: [],
    ntpd: { policy: 'off', running: false },
    dns: {
      dhcp: false,
      hostName: dot > 0 ? fqdn.slice(0, dot) : fqdn,
      domainName: dot > 0 ? fqdn.slice(dot + 1) : '',
      servers: [],
      searchDomains: [],
    },
    advanced: {},
  };
}
