/**
 * A DesiredCluster for engine tests against the vCenter simulator, with the defaults those tests
 * share (datacenter DC0 of the simulator's model, vCenter `vc1`, credentials `esx`, HA off, DRS fully
 * automated, DPM off, no networking, NTP, DNS or advanced settings); each test overrides what it
 * is about.
 */
import type { DesiredCluster } from '../../src/clusters/types.js';

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
