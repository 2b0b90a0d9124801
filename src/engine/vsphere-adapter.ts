/**
 * {@link VcenterApi} over the vSphere client ({@link VsphereClient}, src/vsphere/client.ts): a
 * bounded pool of logged-in sessions per vCenter (`max-sessions` of the `vcenters:` entry), re-login
 * on NotAuthenticated, per-method call counters, typed ops, and the planning reads of
 * src/vsphere/read.ts. Mapping to the engine's {@link HostState}/{@link ClusterState} lives here;
 * the engine never sees vSphere wire types.
 *
 * Reads ({@link VsphereVcenter.readState}, one "read pass" per plan), in SOAP calls:
 * - several hosts (apply-cluster, drift): `read.readCluster` — FindByInventoryPath of the
 *   datacenter and of the cluster, then ONE RetrievePropertiesEx returning hostFolder,
 *   configurationEx and every member host (3 calls); FindByUuid only for members that are not in
 *   the cluster, `read.readHosts` for those found elsewhere (1 call), and `read.readAdvancedOptions`
 *   for all hosts at once (1 call, only when the file names advanced settings);
 * - one host (configure-host, the common case): the cluster's other hosts are not read (a joining
 *   host would otherwise download every member's network config — O(cluster size) bytes per job).
 *   Cold: FindByInventoryPath ×2, FindByUuid, then ONE RetrievePropertiesEx of the datacenter,
 *   the cluster and the host, and readAdvancedOptions (5 calls; 4 for a host not in vCenter).
 *   Warm: ONE RetrievePropertiesEx of datacenter, cluster, host and its advanced-option manager.
 * Nothing is read twice within a pass.
 *
 * Identity cache (why "warm" is possible): MoRefs are stable for an object's lifetime, so the
 * adapter remembers root-level datacenter path → (Datacenter, hostFolder), (datacenter, cluster
 * name) → ClusterComputeResource, hardware UUID → HostSystem and HostSystem → configManager.
 * Every cached identity is re-checked in the same RetrievePropertiesEx that reads the state
 * (datacenter `name`/`parent` = rootFolder, cluster `name`/`parent` = hostFolder, host
 * `hardware.systemInfo.uuid`); a mismatch or ManagedObjectNotFound (object deleted) drops the cache
 * entries and the pass is redone cold. Only positive facts are cached.
 *
 * Cluster-level inventory steps, once per cluster: when many configure-host jobs for a cluster that
 * does not exist yet run at once (hosts PXE-boot together), each of them plans CreateClusterEx. The
 * adapter lets one CreateDatacenter/CreateClusterEx per (folder, name) reach vCenter: a concurrent
 * or later request for the same (folder, name) waits for it and answers {@link DuplicateName}
 * itself — what vCenter would answer — without a call (engine/apply treats DuplicateName as
 * "already exists"). The memo is dropped when a read that started after the creation finished no
 * longer finds the object. Identical concurrent ReconfigureComputeResource_Task calls on a cluster
 * are joined likewise.
 *
 * Added here because src/vsphere lacks it: the one-host read (datacenter + cluster without member
 * hosts + one host in one RetrievePropertiesEx) and the identity cache.
 */
import type { VcenterConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { Logger } from '../log.js';
import type { SecurityPolicy, TeamingPolicy, VmkService } from '../clusters/types.js';
import { VsphereClient } from '../vsphere/client.js';
import { HostSession } from '../vsphere/host-session.js';
import { DuplicateName, ManagedObjectNotFound } from '../vsphere/faults.js';
import { retrieveAll } from '../vsphere/ops.js';
import { moref } from '../vsphere/xml.js';
import { escapePathSegment, HOST_PATHS, hostStateFrom, type HostState as WireHost } from '../vsphere/read.js';
import type {
  ClusterConfigInfoEx,
  ClusterConfigSpecEx,
  HostNetworkPolicy,
  HostVirtualSwitchSpec,
  MoRef,
  ObjectContent,
  ObjectSpec,
  PropertySpec,
} from '../vsphere/types.js';
import type { ClusterSpec, PortgroupSpecArgs, VnicSpecArgs, VSwitchSpecArgs } from './plan.js';
import type { ClusterState, CurrentState, DasState, HostState } from './state.js';
import type { CallCounts, EsxiConnector, HostConnectArgs, VcenterApi, VcenterConnector } from './vcenter.js';

/** Methods that read or manage sessions/collectors; everything else counts as mutating. */
const READ_METHODS = new Set([
  'RetrieveServiceContent',
  'Login',
  'Logout',
  'RetrievePropertiesEx',
  'ContinueRetrievePropertiesEx',
  'RetrieveProperties',
  'CreateFilter',
  'DestroyPropertyFilter',
  'WaitForUpdatesEx',
  'WaitForUpdates',
  'CancelWaitForUpdates',
  'CreatePropertyCollector',
  'DestroyPropertyCollector',
  'FindByUuid',
  'FindByInventoryPath',
  'FindByIp',
  'FindByDnsName',
  'QueryOptions',
  'QueryNetConfig',
]);

function toTeaming(p: HostNetworkPolicy | undefined): TeamingPolicy | undefined {
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

function fromClusterConfig(c: ClusterConfigInfoEx): NonNullable<ClusterState['config']> {
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

const SERVICE_TYPES: VmkService[] = [
  'management',
  'vmotion',
  'vsan',
  'faultToleranceLogging',
  'vSphereProvisioning',
  'vSphereReplication',
];

function arr<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : v === undefined || v === null ? [] : [v as T];
}

/** OptionManager.setting (OptionValue[]) as key → value, reduced to `keys`. */
function settingOf(props: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const want = new Set(keys);
  const out: Record<string, unknown> = {};
  for (const ov of arr<{ key: string; value: unknown }>(props['setting'])) if (want.has(ov.key)) out[ov.key] = ov.value;
  return out;
}

/**
 * The engine's HostState from the client's host read (src/vsphere/read.ts) and the advanced
 * settings read for it (key → value; only `keys` are kept).
 */
function toHostState(h: WireHost, advanced: Record<string, unknown> | undefined, keys: string[]): HostState {
  const cm = h.configManager;
  const services: HostState['services'] = {};
  for (const t of SERVICE_TYPES) {
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

const same = (a: MoRef | null | undefined, b: MoRef | null | undefined): boolean =>
  !!a && !!b && a.type === b.type && a.value === b.value;

/** A datacenter as cached: its MoRef and hostFolder (both immutable for the datacenter's lifetime). */
interface DatacenterIds {
  datacenter: MoRef;
  hostFolder: MoRef | null;
}

/** A CreateDatacenter/CreateClusterEx that reached vCenter from this adapter (see the module note). */
interface Creation {
  promise: Promise<MoRef>;
  /** Read-pass epoch at which it finished; undefined while in flight. */
  doneEpoch?: number;
}

/** Raised inside a warm read when a cached identity no longer holds; the pass is redone cold. */
class StaleIdentity extends Error {}

/** A {@link VcenterApi} over one {@link VsphereClient} (see the module docstring). */
export class VsphereVcenter implements VcenterApi {
  /** Root-level datacenter path → ids. */
  private readonly datacenters = new Map<string, DatacenterIds>();
  /** `${datacenter}\n${cluster name}` → ClusterComputeResource. */
  private readonly clusters = new Map<string, MoRef>();
  /** Lower-case hardware UUID → HostSystem. */
  private readonly hostsByUuid = new Map<string, MoRef>();
  /** HostSystem value → configManager.advancedOption. */
  private readonly optionManagers = new Map<string, MoRef>();
  /** `${folder}\n${name}` → creation. */
  private readonly creations = new Map<string, Creation>();
  /** `${cluster}\n${spec JSON}` → in-flight ReconfigureComputeResource_Task. */
  private readonly reconfigures = new Map<string, Promise<void>>();
  private epoch = 0;

  /**
   * @param client a connected client (owned: {@link close} closes it)
   * @param taskTimeoutMs deadline for awaiting a task (ms)
   */
  constructor(
    readonly client: VsphereClient,
    private readonly taskTimeoutMs: number,
  ) {}

  private task(t: MoRef, method: string): Promise<unknown> {
    return this.client.waitForTask(t, { method, timeoutMs: this.taskTimeoutMs });
  }

  /** Drops every cached identity under a datacenter path (after a stale hit). */
  private forget(datacenterPath: string, clusterName: string, uuids: string[]): void {
    const dc = this.datacenters.get(datacenterPath);
    this.datacenters.delete(datacenterPath);
    if (dc) this.clusters.delete(`${dc.datacenter.value}\n${clusterName}`);
    for (const u of uuids) this.hostsByUuid.delete(u.toLowerCase());
  }

  /** Forgets a creation memo once a read that began after it finished no longer finds the object. */
  private gone(folder: MoRef | null, name: string, readEpoch: number): void {
    if (!folder) return;
    const key = `${folder.value}\n${name}`;
    const c = this.creations.get(key);
    if (c?.doneEpoch !== undefined && c.doneEpoch < readEpoch) this.creations.delete(key);
  }

  /**
   * The state for a cluster and the given member UUIDs in one read pass (see the module docstring
   * for the calls). Hosts not in vCenter map to undefined.
   * @param datacenterPath inventory path of the datacenter (`DC0`, `Folder/DC0`)
   * @param advancedKeys OptionManager keys the file names; none → no advanced-settings read
   * @throws the client's errors (VsphereFault, VsphereTimeoutError, VsphereNetworkError, …)
   */
  async readState(
    datacenterPath: string,
    clusterName: string,
    uuids: string[],
    advancedKeys: string[],
  ): Promise<CurrentState> {
    if (uuids.length > 1) return this.readWholeCluster(datacenterPath, clusterName, uuids, advancedKeys);
    try {
      return await this.readFew(datacenterPath, clusterName, uuids, advancedKeys, true);
    } catch (e) {
      if (!(e instanceof StaleIdentity || e instanceof ManagedObjectNotFound)) throw e;
      this.forget(datacenterPath, clusterName, uuids);
      return this.readFew(datacenterPath, clusterName, uuids, advancedKeys, false);
    }
  }

  /** Several hosts: read.readCluster (hosts by traversal), then only what it did not return. */
  private async readWholeCluster(
    datacenterPath: string,
    clusterName: string,
    uuids: string[],
    keys: string[],
  ): Promise<CurrentState> {
    const epoch = ++this.epoch;
    const r = await this.client.read.readCluster(datacenterPath, clusterName);
    const hosts: Record<string, HostState | undefined> = {};
    if (!r.datacenter) {
      this.forget(datacenterPath, clusterName, []);
      for (const u of uuids) hosts[u] = undefined;
      return { cluster: {}, hosts };
    }
    const cluster: ClusterState = { datacenterRef: r.datacenter.value, hostFolderRef: r.hostFolder?.value };
    if (!datacenterPath.includes('/'))
      this.datacenters.set(datacenterPath, { datacenter: r.datacenter, hostFolder: r.hostFolder });
    if (r.cluster) {
      cluster.clusterRef = r.cluster.value;
      cluster.config = fromClusterConfig(r.config ?? {});
      this.clusters.set(`${r.datacenter.value}\n${clusterName}`, r.cluster);
    } else {
      this.clusters.delete(`${r.datacenter.value}\n${clusterName}`);
      this.gone(r.hostFolder, clusterName, epoch);
    }
    const byUuid = new Map(r.hosts.map((h) => [h.uuid.toLowerCase(), h]));
    const elsewhere: MoRef[] = [];
    for (const u of uuids) {
      if (byUuid.has(u.toLowerCase())) continue;
      const ref = await this.client.ops.FindByUuid(u, r.datacenter);
      if (ref) elsewhere.push(ref);
    }
    for (const h of await this.client.read.readHosts(elsewhere)) byUuid.set(h.uuid.toLowerCase(), h);
    return { cluster, hosts: await this.withAdvanced(uuids, byUuid, keys, new Map()) };
  }

  /** Reads advanced settings (one call for every host not already covered) and maps the hosts. */
  private async withAdvanced(
    uuids: string[],
    byUuid: Map<string, WireHost>,
    keys: string[],
    known: Map<string, Record<string, unknown>>,
  ): Promise<Record<string, HostState | undefined>> {
    const want = uuids.map((u) => byUuid.get(u.toLowerCase())).filter((h): h is WireHost => !!h);
    for (const h of want) {
      this.hostsByUuid.set(h.uuid.toLowerCase(), h.ref);
      if (h.configManager.advancedOption) this.optionManagers.set(h.ref.value, h.configManager.advancedOption);
    }
    const oms = keys.length
      ? want.map((h) => h.configManager.advancedOption).filter((m): m is MoRef => !!m && !known.has(m.value))
      : [];
    const adv = oms.length
      ? await this.client.read.readAdvancedOptions(oms, keys)
      : new Map<string, Record<string, unknown>>();
    for (const [k, v] of known) adv.set(k, v);
    const hosts: Record<string, HostState | undefined> = {};
    for (const u of uuids) {
      const h = byUuid.get(u.toLowerCase());
      const om = h?.configManager.advancedOption?.value;
      hosts[u] = h ? toHostState(h, om ? adv.get(om) : undefined, keys) : undefined;
    }
    return hosts;
  }

  /**
   * One host (or none): datacenter, cluster (without its member hosts) and host in one
   * RetrievePropertiesEx; identities from the cache when `warm` (verified in the same call, else
   * {@link StaleIdentity}).
   */
  private async readFew(
    datacenterPath: string,
    clusterName: string,
    uuids: string[],
    keys: string[],
    warm: boolean,
  ): Promise<CurrentState> {
    const epoch = ++this.epoch;
    const c = this.client;
    const hosts: Record<string, HostState | undefined> = {};
    for (const u of uuids) hosts[u] = undefined;
    const cachedDc = warm ? this.datacenters.get(datacenterPath) : undefined;
    let dc: MoRef | null = cachedDc?.datacenter ?? null;
    if (!dc) {
      dc = await c.ops.FindByInventoryPath(datacenterPath);
      if (!dc || dc.type !== 'Datacenter') {
        this.forget(datacenterPath, clusterName, []);
        return { cluster: {}, hosts };
      }
    }
    const clusterKey = `${dc.value}\n${clusterName}`;
    const cachedCluster = warm ? this.clusters.get(clusterKey) : undefined;
    let cl: MoRef | null = cachedCluster ?? null;
    if (!cl) {
      const found = await c.ops.FindByInventoryPath(`${datacenterPath}/host/${escapePathSegment(clusterName)}`);
      cl = found?.type === 'ClusterComputeResource' ? found : null;
    }
    const hostRefs = new Map<string, MoRef>();
    for (const u of uuids) {
      const cached = warm ? this.hostsByUuid.get(u.toLowerCase()) : undefined;
      const ref = cached ?? (await c.ops.FindByUuid(u, dc));
      if (ref) hostRefs.set(u.toLowerCase(), ref);
    }
    const oms = keys.length
      ? [...hostRefs.values()].map((h) => this.optionManagers.get(h.value)).filter((m): m is MoRef => !!m)
      : [];
    const propSet: PropertySpec[] = [{ type: 'Datacenter', pathSet: ['name', 'parent', 'hostFolder'] }];
    const objectSet: ObjectSpec[] = [{ obj: dc }];
    if (cl) {
      propSet.push({ type: 'ClusterComputeResource', pathSet: ['name', 'parent', 'configurationEx'] });
      objectSet.push({ obj: cl });
    }
    if (hostRefs.size) {
      propSet.push({ type: 'HostSystem', pathSet: HOST_PATHS });
      objectSet.push(...[...hostRefs.values()].map((obj) => ({ obj })));
    }
    if (oms.length) {
      propSet.push({ type: 'OptionManager', pathSet: ['setting'] });
      objectSet.push(...oms.map((obj) => ({ obj })));
    }
    const objects: ObjectContent[] = await retrieveAll(c, [{ propSet, objectSet }]);
    const dcProps = objects.find((o) => same(o.obj, dc))?.props;
    if (!dcProps) throw new StaleIdentity(`datacenter ${dc.value} returned nothing`);
    if (
      cachedDc &&
      (dcProps['name'] !== datacenterPath || !same(dcProps['parent'] as MoRef, c.serviceContent.rootFolder))
    ) {
      throw new StaleIdentity(`datacenter ${dc.value} is no longer ${datacenterPath}`);
    }
    const hostFolder = (dcProps['hostFolder'] as MoRef | undefined) ?? null;
    if (!datacenterPath.includes('/')) this.datacenters.set(datacenterPath, { datacenter: dc, hostFolder });
    const cluster: ClusterState = { datacenterRef: dc.value, hostFolderRef: hostFolder?.value };
    if (cl) {
      const clProps = objects.find((o) => same(o.obj, cl))?.props;
      if (!clProps) throw new StaleIdentity(`cluster ${cl.value} returned nothing`);
      if (
        cachedCluster &&
        (clProps['name'] !== escapePathSegment(clusterName) || !same(clProps['parent'] as MoRef, hostFolder))
      ) {
        throw new StaleIdentity(`cluster ${cl.value} is no longer ${datacenterPath}/host/${clusterName}`);
      }
      cluster.clusterRef = cl.value;
      cluster.config = fromClusterConfig((clProps['configurationEx'] ?? {}) as ClusterConfigInfoEx);
      this.clusters.set(clusterKey, cl);
    } else {
      this.clusters.delete(clusterKey);
      this.gone(hostFolder, clusterName, epoch);
    }
    const byUuid = new Map<string, WireHost>();
    for (const o of objects) {
      if (o.obj.type !== 'HostSystem') continue;
      const h = hostStateFrom(o);
      const asked = [...hostRefs].find(([, r]) => same(r, o.obj))?.[0];
      if (asked && h.uuid.toLowerCase() !== asked)
        throw new StaleIdentity(`host ${o.obj.value} no longer has UUID ${asked}`);
      if (asked) byUuid.set(asked, h);
    }
    if (byUuid.size !== hostRefs.size) throw new StaleIdentity('a host returned nothing');
    const known = new Map<string, Record<string, unknown>>();
    for (const o of objects) if (o.obj.type === 'OptionManager') known.set(o.obj.value, settingOf(o.props, keys));
    return { cluster, hosts: await this.withAdvanced(uuids, byUuid, keys, known) };
  }

  /** Datacenter, its hostFolder, the cluster and its configurationEx (no member hosts). */
  async readCluster(datacenterPath: string, clusterName: string): Promise<ClusterState> {
    return (await this.readState(datacenterPath, clusterName, [], [])).cluster;
  }

  async findByInventoryPath(path: string): Promise<string | undefined> {
    return (await this.client.ops.FindByInventoryPath(path))?.value;
  }

  async findHostByUuid(datacenterRef: string | undefined, uuid: string): Promise<string | undefined> {
    const r = await this.client.ops.FindByUuid(
      uuid,
      datacenterRef ? { type: 'Datacenter', value: datacenterRef } : undefined,
    );
    if (r) this.hostsByUuid.set(uuid.toLowerCase(), r);
    return r?.value;
  }

  /**
   * One host by MoRef: one RetrievePropertiesEx of the host (and of its advanced-option manager
   * when that is already known), else read.readHosts + read.readAdvancedOptions (2 calls).
   */
  async readHost(hostRef: string, advancedKeys: string[]): Promise<HostState> {
    const ref: MoRef = { type: 'HostSystem', value: hostRef };
    const om = advancedKeys.length ? this.optionManagers.get(hostRef) : undefined;
    let host: WireHost | undefined;
    const known = new Map<string, Record<string, unknown>>();
    if (om) {
      const objects = await retrieveAll(this.client, [
        {
          propSet: [
            { type: 'HostSystem', pathSet: HOST_PATHS },
            { type: 'OptionManager', pathSet: ['setting'] },
          ],
          objectSet: [{ obj: ref }, { obj: om }],
        },
      ]);
      for (const o of objects) {
        if (o.obj.type === 'HostSystem') host = hostStateFrom(o);
        else if (o.obj.type === 'OptionManager') known.set(o.obj.value, settingOf(o.props, advancedKeys));
      }
    } else {
      [host] = await this.client.read.readHosts([ref]);
    }
    if (!host)
      throw new ManagedObjectNotFound(
        'ManagedObjectNotFound',
        `HostSystem ${hostRef} returned no properties`,
        { obj: ref },
        'RetrievePropertiesEx',
      );
    const uuid = host.uuid.toLowerCase();
    return (await this.withAdvanced([uuid], new Map([[uuid, host]]), advancedKeys, known))[uuid]!;
  }

  /**
   * Lets one creation per (folder, name) reach vCenter (see the module docstring); others wait for
   * it and get DuplicateName, as vCenter would answer them.
   */
  private async createOnce(
    folder: MoRef,
    name: string,
    method: string,
    create: () => Promise<MoRef>,
    known?: (obj: MoRef) => void,
  ): Promise<string> {
    const key = `${folder.value}\n${name}`;
    const earlier = this.creations.get(key);
    if (earlier) {
      const obj = await earlier.promise;
      known?.(obj);
      throw new DuplicateName(
        'DuplicateName',
        `${name} was already created by a concurrent job on this connection (answered without a call)`,
        { name, object: obj },
        method,
      );
    }
    const entry: Creation = { promise: create() };
    this.creations.set(key, entry);
    try {
      const obj = await entry.promise;
      entry.doneEpoch = this.epoch;
      known?.(obj);
      return obj.value;
    } catch (e) {
      this.creations.delete(key);
      throw e;
    }
  }

  async createDatacenter(parentPath: string, name: string): Promise<string> {
    const folder = parentPath ? await this.folderAt(parentPath) : this.client.serviceContent.rootFolder;
    return this.createOnce(folder, name, 'CreateDatacenter', () => this.client.ops.CreateDatacenter(folder, name));
  }

  /**
   * The Folder at an inventory path below the root folder (`Europe/West`), creating the missing
   * ones with Folder.CreateFolder, one level at a time (the cluster file's datacenter path is
   * "created when missing", schemas/cluster.xsd DatacenterPath). A concurrent creation answering
   * DuplicateName is looked up again.
   * @throws Error when a path element exists but is not a Folder (e.g. a datacenter)
   */
  private async folderAt(path: string): Promise<MoRef> {
    let parent = this.client.serviceContent.rootFolder;
    const done: string[] = [];
    for (const seg of path.split('/')) {
      done.push(escapePathSegment(seg));
      const at = done.join('/');
      let found = await this.client.ops.FindByInventoryPath(at);
      if (!found) {
        try {
          found = moref((await this.client.invoke('CreateFolder', parent, { name: seg })).returnval[0]);
        } catch (e) {
          if (!(e instanceof DuplicateName)) throw e;
          found = await this.client.ops.FindByInventoryPath(at);
        }
      }
      if (!found || found.type !== 'Folder')
        throw new Error(
          `inventory path ${at} (parent of a datacenter) is ${found ? `a ${found.type}, not a folder` : 'missing'}`,
        );
      parent = found;
    }
    return parent;
  }

  async createClusterEx(hostFolderRef: string, name: string, spec: ClusterSpec): Promise<string> {
    const folder: MoRef = { type: 'Folder', value: hostFolderRef };
    // The re-plan that follows reads the new cluster warm (verified in that read like every cached
    // identity) — also in a job whose CreateClusterEx was answered DuplicateName without a call, so it
    // does not look the cluster up again with the FindByInventoryPath its first read already made.
    const known = (obj: MoRef) => {
      for (const dc of this.datacenters.values()) {
        if (dc.hostFolder?.value === hostFolderRef) this.clusters.set(`${dc.datacenter.value}\n${name}`, obj);
      }
    };
    return this.createOnce(
      folder,
      name,
      'CreateClusterEx',
      () => this.client.ops.CreateClusterEx(folder, name, toClusterSpec(spec)),
      known,
    );
  }

  async reconfigureComputeResource(clusterRef: string, spec: ClusterSpec, modify: boolean): Promise<void> {
    const key = `${clusterRef}\n${modify}\n${JSON.stringify(spec)}`;
    const inFlight = this.reconfigures.get(key);
    if (inFlight) return inFlight;
    const p = (async () => {
      const t = await this.client.ops.ReconfigureComputeResource_Task(
        { type: 'ClusterComputeResource', value: clusterRef },
        toClusterSpec(spec),
        modify,
      );
      await this.task(t, 'ReconfigureComputeResource_Task');
    })();
    this.reconfigures.set(key, p);
    try {
      await p;
    } finally {
      this.reconfigures.delete(key);
    }
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

  async enterMaintenanceMode(hostRef: string, timeoutS: number): Promise<void> {
    await this.task(
      await this.client.ops.EnterMaintenanceMode_Task({ type: 'HostSystem', value: hostRef }, timeoutS),
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

  private pg(p: PortgroupSpecArgs) {
    return { name: p.name, vlanId: p.vlanId, vswitchName: p.vswitchName, policy: toPolicy(p.teaming, p.security) };
  }

  async addPortGroup(ns: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await this.client.ops.AddPortGroup({ type: 'HostNetworkSystem', value: ns }, this.pg(portgrp));
  }

  async updatePortGroup(ns: string, pgName: string, portgrp: PortgroupSpecArgs): Promise<void> {
    await this.client.ops.UpdatePortGroup({ type: 'HostNetworkSystem', value: ns }, pgName, this.pg(portgrp));
  }

  private vnic(n: VnicSpecArgs) {
    return {
      ip: n.dhcp ? { dhcp: true } : { dhcp: false, ipAddress: n.ipAddress, subnetMask: n.subnetMask },
      mtu: n.mtu,
    };
  }

  async addVirtualNic(ns: string, portgroup: string, nic: VnicSpecArgs): Promise<string> {
    return this.client.ops.AddVirtualNic({ type: 'HostNetworkSystem', value: ns }, portgroup, this.vnic(nic));
  }

  async updateVirtualNic(ns: string, device: string, nic: VnicSpecArgs): Promise<void> {
    await this.client.ops.UpdateVirtualNic({ type: 'HostNetworkSystem', value: ns }, device, this.vnic(nic));
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

  /** The client's per-method counters (Login and reads included), split into reads and mutating calls. */
  calls(): CallCounts {
    const byMethod = this.client.callCounts();
    let total = 0;
    let mutating = 0;
    for (const [m, n] of Object.entries(byMethod)) {
      total += n;
      if (!READ_METHODS.has(m)) mutating += n;
    }
    return { total, mutating, byMethod };
  }

  /** Logs every pooled session out and closes the sockets; idempotent. */
  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * Connects to a configured vCenter (URL, username, password source, thumbprint pin or CA file)
 * through {@link VsphereClient}: a pool of up to `max-sessions` sessions, `timeout-ms` per call.
 * @param maxConcurrent concurrent HTTP requests (default: the client's, 2 × max-sessions)
 * @throws Error for an unreadable secret; InvalidLogin, ThumbprintMismatchError, VsphereNetworkError, … from connect
 */
export async function connectVcenter(
  vc: VcenterConfig,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  maxConcurrent?: number,
): Promise<VsphereVcenter> {
  const password = readSecret(vc, `vcenters[${vc.name}]`, env);
  const client = await VsphereClient.connect(vc, password, {
    logger: log,
    ...(maxConcurrent ? { maxConcurrentRequests: maxConcurrent } : {}),
  });
  return new VsphereVcenter(client, Math.max(vc['timeout-ms'] * 10, 60_000));
}

/**
 * An {@link EsxiConnector} over src/vsphere/host-session.ts (certificate pinned to the given
 * thumbprint, SNI = the FQDN).
 */
export function esxiConnector(log: Logger, timeoutMs = 30_000): EsxiConnector {
  return async (o) => {
    const s = await HostSession.connect({ ...o, timeoutMs, logger: log });
    return {
      login: async (user, password) => {
        await s.login(user, password);
      },
      updateUser: (id, password) => s.updateUser({ id, password }),
      close: () => s.close(),
    };
  };
}

/** A {@link VcenterConnector} over the `vcenters:` list. */
export function vcenterConnector(
  vcenters: VcenterConfig[],
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): VcenterConnector {
  return async (name) => {
    const vc = vcenters.find((v) => v.name === name);
    if (!vc) throw new Error(`vCenter "${name}" is not configured (vcenters: in statelesx.yaml)`);
    return connectVcenter(vc, log, env);
  };
}
