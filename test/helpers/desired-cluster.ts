/**
 * A DesiredCluster for engine tests against the vCenter simulator, with the defaults those tests
 * share (datacenter DC0 of the simulator's model, vCenter `vc1`, credentials `esx`, HA off, DRS fully
 * automated, DPM off, no networking, NTP, DNS or advanced settings); each test overrides what it
 * is about. {@link vmotionNetworking} and {@link networkedCluster}: the vSwitch1 / vMotion / vmk1
 * networking (and NTP, DNS, advanced settings) the engine tests configure.
 */
import type { AddressPool, DesiredCluster, PortgroupSpec, VmkNicSpec, VSwitchSpec } from '../../src/clusters/types.js';

/** HA as the tests leave it unless they are about HA: disabled, everything else at vCenter's defaults. */
export const HA_OFF: DesiredCluster['ha'] = {
  enabled: false,
  hostMonitoring: true,
  vmMonitoring: 'vmMonitoringDisabled',
  admissionControl: { enabled: false },
  isolationResponse: 'none',
  restartPriority: 'medium',
};

/**
 * @param over at least `name` and `hosts`; any other field replaces the default (shallow)
 * @returns the cluster, its `file` `/clusters/<name>.xml` unless given
 */
export function desiredCluster(over: Partial<DesiredCluster> & Pick<DesiredCluster, 'name' | 'hosts'>): DesiredCluster {
  return {
    datacenter: 'DC0',
    vcenter: 'vc1',
    credentials: 'esx',
    file: `/clusters/${over.name}.xml`,
    ha: HA_OFF,
    drs: { enabled: true, automationLevel: 'fullyAutomated', migrationThreshold: 3 },
    dpm: { enabled: false, automationLevel: 'automated', threshold: 3 },
    vswitches: [],
    portgroups: [],
    vmknics: [],
    pools: [],
    ntpServers: [],
    dns: { servers: [], searchDomains: [] },
    advanced: [],
    ...over,
  };
}

/** HA as the tests set it when they are about HA: host failures tolerated 1, power off on isolation. */
export const HA_ON: DesiredCluster['ha'] = {
  enabled: true,
  hostMonitoring: true,
  vmMonitoring: 'vmMonitoringOnly',
  admissionControl: { enabled: true, policy: 'hostFailuresTolerated', hostFailuresTolerated: 1 },
  isolationResponse: 'powerOff',
  restartPriority: 'high',
};

/** What {@link vmotionNetworking} varies between the tests that use it. */
export interface NetworkingOptions {
  /** vSwitch1's security policy; default: promiscuous mode, MAC changes and forged transmits all refused. */
  security?: VSwitchSpec['security'];
  /** With it, also port group vSAN (VLAN 30) and vmk2 for vSAN from pool `vsan` (10.30.0.10 to this address). */
  vsanPoolEnd?: string;
}

/**
 * The networking the engine tests converge: vSwitch1 on vmnic2 (active) and vmnic3 (standby), MTU
 * 9000, 256 ports; port group vMotion (VLAN 20) on it; vmk1 on vMotion, static (each member's
 * `addresses.vmk1`, /24), MTU 9000, tagged for vMotion. A new object at each call (tests mutate it).
 */
export function vmotionNetworking(
  o: NetworkingOptions = {},
): Pick<DesiredCluster, 'vswitches' | 'portgroups' | 'vmknics' | 'pools'> {
  const portgroups: PortgroupSpec[] = [{ name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 }];
  const vmknics: VmkNicSpec[] = [
    {
      device: 'vmk1',
      portgroup: 'vMotion',
      addressing: { mode: 'static', netmask: '255.255.255.0' },
      mtu: 9000,
      services: ['vmotion'],
    },
  ];
  const pools: AddressPool[] = [];
  if (o.vsanPoolEnd !== undefined) {
    portgroups.push({ name: 'vSAN', vswitch: 'vSwitch1', vlanId: 30 });
    vmknics.push({
      device: 'vmk2',
      portgroup: 'vSAN',
      addressing: { mode: 'pool', pool: 'vsan' },
      mtu: 9000,
      services: ['vsan'],
    });
    pools.push({ name: 'vsan', start: '10.30.0.10', end: o.vsanPoolEnd, netmask: '255.255.255.0' });
  }
  const vswitch: VSwitchSpec = {
    name: 'vSwitch1',
    uplinks: ['vmnic2', 'vmnic3'],
    mtu: 9000,
    numPorts: 256,
    teaming: { loadBalancing: 'failover_explicit', activeNics: ['vmnic2'], standbyNics: ['vmnic3'] },
    security: o.security ?? { allowPromiscuous: false, macChanges: false, forgedTransmits: false },
  };
  return { vswitches: [vswitch], portgroups, vmknics, pools };
}

/**
 * {@link desiredCluster} with {@link vmotionNetworking}, NTP `0.pool.ntp.example`, DNS 10.0.0.53
 * (search `lab.local`) and `UserVars.SuppressShellWarning` = 1: a member the engine fully
 * configures. `over` replaces any of these (shallow).
 */
export function networkedCluster(
  over: Partial<DesiredCluster> & Pick<DesiredCluster, 'name' | 'hosts'>,
): DesiredCluster {
  return desiredCluster({
    ...vmotionNetworking(),
    ntpServers: ['0.pool.ntp.example'],
    dns: { servers: ['10.0.0.53'], searchDomains: ['lab.local'] },
    advanced: [{ key: 'UserVars.SuppressShellWarning', value: 1, type: 'long' }],
    ...over,
  });
}
