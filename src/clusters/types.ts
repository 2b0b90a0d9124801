/**
 * DesiredCluster: what a cluster XML file declares, after XSD and semantic validation.
 * The engine compares it with vCenter's state; the console edits the member list.
 *
 * Field names follow the vSphere API types they end up in (named in each docstring), so the
 * engine's mapping is a straight line. Units: MTU in bytes, thresholds as the API's 1–5 scale,
 * percentages 0–100. Addresses are IPv4 dotted quads; masks dotted quads.
 */

/** Where in the source file an element was (for error messages and the console editor). */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
  /** Element path, e.g. `/cluster/network/vswitch[2]/uplink[1]`. */
  path: string;
}

/** vim.cluster.DasConfigInfo + admission control policy. */
export interface HaConfig {
  enabled: boolean;
  /** DasConfigInfo.hostMonitoring: 'enabled' | 'disabled'. */
  hostMonitoring: boolean;
  /** DasConfigInfo.vmMonitoring: vmMonitoringDisabled | vmMonitoringOnly | vmAndAppMonitoring. */
  vmMonitoring: 'vmMonitoringDisabled' | 'vmMonitoringOnly' | 'vmAndAppMonitoring';
  admissionControl:
    | { enabled: false }
    /** ClusterFailoverLevelAdmissionControlPolicy.failoverLevel */
    | { enabled: true; policy: 'hostFailuresTolerated'; hostFailuresTolerated: number }
    /** ClusterFailoverResourcesAdmissionControlPolicy (percent of CPU and memory reserved). */
    | { enabled: true; policy: 'percentage'; cpuPercent: number; memoryPercent: number };
  /** ClusterDasVmSettings.isolationResponse: none | powerOff | shutdown. */
  isolationResponse: 'none' | 'powerOff' | 'shutdown';
  /** ClusterDasVmSettings.restartPriority: disabled | low | medium | high. */
  restartPriority: 'disabled' | 'low' | 'medium' | 'high';
}

/** vim.cluster.DrsConfigInfo. */
export interface DrsConfig {
  enabled: boolean;
  /** DrsBehavior: manual | partiallyAutomated | fullyAutomated. */
  automationLevel: 'manual' | 'partiallyAutomated' | 'fullyAutomated';
  /** DrsConfigInfo.vmotionRate, 1 (most aggressive) … 5 (most conservative), as the API defines it. */
  migrationThreshold: number;
}

/** vim.cluster.DpmConfigInfo. */
export interface DpmConfig {
  enabled: boolean;
  /** DpmBehavior: manual | automated. */
  automationLevel: 'manual' | 'automated';
  /** DpmConfigInfo.hostPowerActionRate, 1 … 5. */
  threshold: number;
}

/** vim.host.NetworkPolicy.NicTeamingPolicy (the parts we set). */
export interface TeamingPolicy {
  /** loadbalance_ip | loadbalance_srcmac | loadbalance_srcid | failover_explicit */
  loadBalancing?: 'loadbalance_ip' | 'loadbalance_srcmac' | 'loadbalance_srcid' | 'failover_explicit';
  /** Failure detection: false = link status only (checkBeacon false), true = beacon probing. */
  beaconProbing?: boolean;
  notifySwitches?: boolean;
  rollingOrder?: boolean;
  activeNics?: string[];
  standbyNics?: string[];
}

/** vim.host.NetworkPolicy.SecurityPolicy. */
export interface SecurityPolicy {
  allowPromiscuous?: boolean;
  macChanges?: boolean;
  forgedTransmits?: boolean;
}

/** vim.host.VirtualSwitch.Specification + bridge (HostVirtualSwitchBondBridge). */
export interface VSwitchSpec {
  name: string;
  /** Physical uplinks, `vmnicN`. */
  uplinks: string[];
  mtu: number;
  numPorts: number;
  teaming: TeamingPolicy;
  security: SecurityPolicy;
  pos?: SourcePos;
}

/** vim.host.PortGroup.Specification. Unset policy members inherit from the vSwitch. */
export interface PortgroupSpec {
  name: string;
  vswitch: string;
  /** 0 none, 1–4094 tagged, 4095 trunk (all VLANs). */
  vlanId: number;
  teaming?: TeamingPolicy;
  security?: SecurityPolicy;
  pos?: SourcePos;
}

/** HostVirtualNicManager nic types a VMkernel NIC can carry (HostVirtualNicManagerNicType), in the order they are read and planned. */
export const VMK_SERVICES = [
  'management',
  'vmotion',
  'vsan',
  'faultToleranceLogging',
  'vSphereProvisioning',
  'vSphereReplication',
] as const;

/** One of VMK_SERVICES. */
export type VmkService = (typeof VMK_SERVICES)[number];

/** How a VMkernel NIC gets its address. */
export type VmkAddressing =
  | { mode: 'dhcp' }
  /** Per-host static address from the member's <address vmk="…"> entry. */
  | { mode: 'static'; netmask: string }
  /** Allocated from a named pool declared in the file; the allocation is per host and stable. */
  | { mode: 'pool'; pool: string };

/** A VMkernel NIC, vim.host.VirtualNic.Specification. `device` is `vmkN`. */
export interface VmkNicSpec {
  device: string;
  portgroup: string;
  addressing: VmkAddressing;
  mtu: number;
  services: VmkService[];
  pos?: SourcePos;
}

/** A contiguous IPv4 range for VMkernel addresses. */
export interface AddressPool {
  name: string;
  start: string;
  end: string;
  netmask: string;
  /**
   * `addressPool/@gateway`: the default gateway of every VMkernel NIC addressed from this pool
   * (HostVirtualNicSpec.ipRouteSpec.ipRouteConfig.defaultGateway, vSphere API 6.5+; the NIC's
   * "override default gateway for this adapter"). Absent = the NIC's gateway is not managed.
   */
  gateway?: string;
}

/** OptionValue for HostSystem advanced settings (OptionManager.UpdateOptions). */
export interface AdvancedSetting {
  key: string;
  value: string | number | boolean;
  /** xsi type of the value on the wire: xsd:string | xsd:int | xsd:long | xsd:boolean. */
  type: 'string' | 'int' | 'long' | 'boolean';
}

/**
 * How a member boots from statelesx: `stateless` (ESXi in memory from the PXE image, every boot)
 * or `stateful` (the ESXi installer runs the host's kickstart, `hosts/<uuid>/ks.cfg`, and installs
 * ESXi to disk; the installed host phones home from the kickstart's `%firstboot`).
 */
export type BootMode = 'stateless' | 'stateful';

/** A Mustache kickstart template read and checked when its cluster file was loaded. */
export interface LoadedKickstartTemplate {
  /** Absolute path of the template file (inside the templates directory, `templates-dir`). */
  file: string;
  /** Template text, as read at load time (UTF-8). */
  text: string;
}

/** The cluster's `<boot>` element. */
export interface ClusterBoot {
  /** `boot/@mode` (default `stateless`); a member's {@link MemberHost.bootMode} overrides it. */
  mode: BootMode;
  /** `boot/@kickstartTemplate` as written: relative to the templates directory (`templates-dir`). */
  kickstartTemplate?: string;
  /** `boot/@kernelOptions`: kernel boot options of every member (before a member's own). */
  kernelOptions?: string;
  /** The template `kickstartTemplate` names, loaded and checked (set once the file is valid). */
  kickstart?: LoadedKickstartTemplate;
  /**
   * `boot/@firstDisk`: the disk types the installer may pick, in order (`install --firstdisk=`);
   * absent = `local` only (never a SAN LUN or a USB stick unless listed).
   */
  firstDisk?: InstallDiskType[];
  /** `boot/@overwriteVmfs` (default false): `install --overwritevmfs`, an existing VMFS datastore is wiped. */
  overwriteVmfs?: boolean;
}

/** A disk type of the ESXi installer's `install --firstdisk=` (VMware "Installation and Upgrade Script Commands"). */
export type InstallDiskType = 'local' | 'remote' | 'usb';

/** A member host. */
export interface MemberHost {
  /** FQDN used for AddHost_Task (HostConnectSpec.hostName). */
  fqdn: string;
  /** SMBIOS UUID, lower-case, dashed (hardware.systemInfo.uuid). */
  uuid: string;
  mac?: string;
  /** Image pin for this host (overrides the cluster default image). */
  image?: string;
  /** `bootMode`: overrides the cluster's `boot/@mode` for this host. */
  bootMode?: BootMode;
  /** `kernelOptions`: this host's kernel boot options, after the cluster's `boot/@kernelOptions`. */
  kernelOptions?: string;
  /** SSL thumbprint pinned for this host (HostConnectSpec.sslThumbprint), SHA-1 colon hex. */
  thumbprint?: string;
  /** Static VMkernel addresses by device: vmk1 → 10.0.1.11. */
  addresses: Record<string, string>;
  pos?: SourcePos;
}

/** `cluster/@priority` when the file does not set it (the middle of 1–99). */
export const DEFAULT_CLUSTER_PRIORITY = 50;

/** One validated cluster file. */
export interface DesiredCluster {
  name: string;
  /** Datacenter path, e.g. `DC0` or `Folder/DC0`. */
  datacenter: string;
  /** Name of a `vcenters:` entry in statelesx.yaml. */
  vcenter: string;
  /** Name of a `credentials:` entry used for AddHost_Task. */
  credentials: string;
  /**
   * `cluster/@priority`: bring-up order after a power event, 1 (first) … 99 (last); absent =
   * {@link DEFAULT_CLUSTER_PRIORITY}. Members' joins of a lower number go first (src/engine/admission.ts).
   */
  priority?: number;
  /** Default image for members without a pin. */
  image?: string;
  /** `<boot>`: stateless or stateful members, kickstart template. Absent = every member stateless. */
  boot?: ClusterBoot;
  ha: HaConfig;
  drs: DrsConfig;
  dpm: DpmConfig;
  vswitches: VSwitchSpec[];
  portgroups: PortgroupSpec[];
  vmknics: VmkNicSpec[];
  pools: AddressPool[];
  /**
   * `network/@prune` (default false): convergence also removes the standard vSwitches, port
   * groups and VMkernel NICs a member has but the file does not declare — never vmk0, a NIC
   * selected for management, their port groups or the vSwitches carrying those (engine/prune).
   * Absent or false: nothing is removed.
   */
  prune?: boolean;
  ntpServers: string[];
  dns: { servers: string[]; searchDomains: string[] };
  advanced: AdvancedSetting[];
  hosts: MemberHost[];
  /** Absolute path of the source file. */
  file: string;
}
