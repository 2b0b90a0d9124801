/**
 * Reads what the engine needs to plan, in as few calls as possible, as typed plain objects:
 *
 * - {@link readCluster}: FindByInventoryPath of the datacenter and of the cluster, then ONE
 *   RetrievePropertiesEx with a TraversalSpec ClusterComputeResource.host that returns the
 *   datacenter's hostFolder, the cluster's `configurationEx` (HA/DRS/DPM) and every member host's
 *   state (3 calls for a whole cluster).
 * - {@link readHosts}: the same host properties for given HostSystems (1 call).
 * - {@link readAdvancedOptions}: the `setting` of several hosts' advanced OptionManagers (1 call).
 * - {@link findHostByUuid}: SearchIndex.FindByUuid, vmSearch=false.
 * - {@link readHostRemoval}: what removing a host from vCenter depends on (3 calls).
 * - {@link readOneHost}: known datacenter, cluster (without member hosts), host(s) and their
 *   advanced-option managers in ONE RetrievePropertiesEx (the engine's one-host read).
 *
 * Host properties read: name, parent, hardware.systemInfo.uuid, runtime.connectionState,
 * runtime.inMaintenanceMode, vm, configManager, config.network, config.virtualNicManagerInfo,
 * config.dateTimeInfo, config.service.
 */
import { FindByInventoryPath, FindByUuid, retrieveAll, type Caller } from './ops.js';
import type {
  ClusterConfigInfoEx,
  HostNetworkInfo,
  HostService,
  MoRef,
  ObjectContent,
  PropertySpec,
  TraversalSpec,
  VirtualNicManagerNetConfig,
} from './types.js';

/** HostSystem.configManager references the engine uses. */
export interface HostManagers {
  networkSystem?: MoRef;
  virtualNicManager?: MoRef;
  dateTimeSystem?: MoRef;
  serviceSystem?: MoRef;
  advancedOption?: MoRef;
}

/** A HostSystem as the engine plans with it. */
export interface HostState {
  ref: MoRef;
  name: string;
  /** hardware.systemInfo.uuid (SMBIOS UUID as vCenter reports it). */
  uuid: string;
  /** HostSystemConnectionState: connected | notResponding | disconnected. */
  connectionState: string;
  inMaintenanceMode: boolean;
  /** Number of VMs registered on the host (`vm`). */
  vmCount: number;
  /** The cluster (or ComputeResource) the host is in. */
  parent?: MoRef;
  configManager: HostManagers;
  /** config.network with arrays always present. */
  network: HostNetworkInfo;
  /** config.virtualNicManagerInfo.netConfig as nicType → selected devices (`vmk1`). */
  vnicServices: Record<string, string[]>;
  /** config.virtualNicManagerInfo.netConfig as read. */
  vnicNetConfig: VirtualNicManagerNetConfig[];
  /** config.dateTimeInfo.ntpConfig.server. */
  ntpServers: string[];
  /** config.dateTimeInfo.timeZone.key (ESXi: UTC). */
  timeZone?: string;
  /** config.service.service. */
  services: HostService[];
  /** Properties vCenter could not read (path → fault name). */
  missing: Record<string, string>;
}

/** A cluster and its hosts as found in vCenter; null references for what does not exist. */
export interface ClusterState {
  datacenter: MoRef | null;
  /** The datacenter's hostFolder (where CreateClusterEx goes). */
  hostFolder: MoRef | null;
  cluster: MoRef | null;
  /** configurationEx: dasConfig, drsConfig, dpmConfigInfo. */
  config?: ClusterConfigInfoEx;
  hosts: HostState[];
}

/** Property paths read for every host. */
export const HOST_PATHS = [
  'name',
  'parent',
  'hardware.systemInfo.uuid',
  'runtime.connectionState',
  'runtime.inMaintenanceMode',
  'vm',
  'configManager',
  'config.network',
  'config.virtualNicManagerInfo',
  'config.dateTimeInfo',
  'config.service',
];

/** Escapes one inventory path segment (SearchIndex: `/` → `%2f`, `%` → `%25`). */
export function escapePathSegment(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2f');
}

function arr<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : v === undefined || v === null ? [] : [v as T];
}

/** The device of a selectedVnic key (`vmotion.key-vim.host.VirtualNic-vmk1` → `vmk1`). */
export function deviceOfVnicKey(key: string, candidates: Array<{ device: string; key: string }> = []): string {
  const c = candidates.find((x) => x.key === key);
  if (c) return c.device;
  const m = /VirtualNic-(.+)$/.exec(key);
  return m ? m[1]! : key;
}

/** Builds a HostState from one ObjectContent of a HostSystem. */
export function hostStateFrom(o: ObjectContent): HostState {
  const p = o.props;
  const net = (p['config.network'] ?? {}) as Partial<HostNetworkInfo>;
  const network: HostNetworkInfo = {
    vswitch: arr(net.vswitch),
    portgroup: arr(net.portgroup),
    vnic: arr(net.vnic),
    pnic: arr(net.pnic),
    ...(net.dnsConfig
      ? {
          dnsConfig: {
            ...net.dnsConfig,
            address: arr(net.dnsConfig.address),
            searchDomain: arr(net.dnsConfig.searchDomain),
          },
        }
      : {}),
    ...(net.ipRouteConfig ? { ipRouteConfig: net.ipRouteConfig } : {}),
  };
  for (const vs of network.vswitch) {
    vs.pnic = arr(vs.pnic);
    vs.portgroup = arr(vs.portgroup);
  }
  const vnm = (p['config.virtualNicManagerInfo'] ?? {}) as { netConfig?: VirtualNicManagerNetConfig[] };
  const vnicNetConfig = arr<VirtualNicManagerNetConfig>(vnm.netConfig);
  const vnicServices: Record<string, string[]> = {};
  for (const nc of vnicNetConfig) {
    const cands = arr<{ device: string; key: string }>(nc.candidateVnic);
    vnicServices[nc.nicType] = arr<string>(nc.selectedVnic).map((k) => deviceOfVnicKey(k, cands));
  }
  const dt = (p['config.dateTimeInfo'] ?? {}) as { ntpConfig?: { server?: string[] }; timeZone?: { key?: string } };
  const svc = (p['config.service'] ?? {}) as { service?: HostService[] };
  const cm = (p.configManager ?? {}) as HostManagers;
  const missing: Record<string, string> = {};
  for (const m of o.missing) missing[m.path] = m.fault;
  return {
    ref: o.obj,
    name: (p.name as string | undefined) ?? '',
    uuid: (p['hardware.systemInfo.uuid'] as string | undefined) ?? '',
    connectionState: (p['runtime.connectionState'] as string | undefined) ?? '',
    inMaintenanceMode: p['runtime.inMaintenanceMode'] === true,
    vmCount: arr(p.vm).length,
    ...(p.parent ? { parent: p.parent as MoRef } : {}),
    configManager: {
      ...(cm.networkSystem ? { networkSystem: cm.networkSystem } : {}),
      ...(cm.virtualNicManager ? { virtualNicManager: cm.virtualNicManager } : {}),
      ...(cm.dateTimeSystem ? { dateTimeSystem: cm.dateTimeSystem } : {}),
      ...(cm.serviceSystem ? { serviceSystem: cm.serviceSystem } : {}),
      ...(cm.advancedOption ? { advancedOption: cm.advancedOption } : {}),
    },
    network,
    vnicServices,
    vnicNetConfig,
    ntpServers: arr<string>(dt.ntpConfig?.server),
    ...(dt.timeZone?.key ? { timeZone: dt.timeZone.key } : {}),
    services: arr(svc.service),
    missing,
  };
}

const hostPropSpec: PropertySpec = { type: 'HostSystem', pathSet: HOST_PATHS };

/**
 * Reads a datacenter (by inventory path, e.g. `DC0` or `Folder/DC0`), its cluster `clusterName`,
 * the cluster's configurationEx and all its hosts. Missing objects come back as null (and no hosts).
 * 3 calls when the cluster exists, 2 when only the datacenter does, 1 when neither.
 */
export async function readCluster(c: Caller, datacenterPath: string, clusterName: string): Promise<ClusterState> {
  const datacenter = await FindByInventoryPath(c, datacenterPath);
  if (!datacenter || datacenter.type !== 'Datacenter')
    return { datacenter: null, hostFolder: null, cluster: null, hosts: [] };
  const found = await FindByInventoryPath(c, `${datacenterPath}/host/${escapePathSegment(clusterName)}`);
  const cluster = found?.type === 'ClusterComputeResource' ? found : null;
  const toHosts: TraversalSpec = {
    _type: 'TraversalSpec',
    name: 'clusterHosts',
    type: 'ClusterComputeResource',
    path: 'host',
    skip: false,
  };
  const objects = await retrieveAll(c, [
    {
      propSet: [
        { type: 'Datacenter', pathSet: ['hostFolder'] },
        ...(cluster ? [{ type: 'ClusterComputeResource', pathSet: ['configurationEx'] }, hostPropSpec] : []),
      ],
      objectSet: [
        { obj: datacenter, skip: false },
        ...(cluster ? [{ obj: cluster, skip: false, selectSet: [toHosts] }] : []),
      ],
    },
  ]);
  const state: ClusterState = { datacenter, hostFolder: null, cluster, hosts: [] };
  for (const o of objects) {
    if (o.obj.type === 'Datacenter') state.hostFolder = (o.props.hostFolder as MoRef | undefined) ?? null;
    else if (o.obj.type === 'ClusterComputeResource') state.config = o.props.configurationEx as ClusterConfigInfoEx;
    else if (o.obj.type === 'HostSystem') state.hosts.push(hostStateFrom(o));
  }
  return state;
}

/** Reads the host properties ({@link HOST_PATHS}) of the given hosts in one call. */
export async function readHosts(c: Caller, hosts: MoRef[]): Promise<HostState[]> {
  if (hosts.length === 0) return [];
  const objects = await retrieveAll(c, [{ propSet: [hostPropSpec], objectSet: hosts.map((obj) => ({ obj })) }]);
  return objects.map(hostStateFrom);
}

/** Reads one host; throws ManagedObjectNotFound when it is gone. */
export async function readHost(c: Caller, host: MoRef): Promise<HostState> {
  const [h] = await readHosts(c, [host]);
  if (!h) throw new Error(`HostSystem ${host.value} returned no properties`);
  return h;
}

/** SearchIndex.FindByUuid (hosts only) — the HostSystem with that hardware UUID, or null. */
export async function findHostByUuid(c: Caller, uuid: string): Promise<MoRef | null> {
  return FindByUuid(c, uuid);
}

/**
 * Advanced settings of several hosts in one call: the `setting` property of each host's
 * `configManager.advancedOption`, filtered to `keys` when given. Returns optionManager value →
 * key → value (numbers for xsd:int/long, booleans for xsd:boolean, strings otherwise).
 */
export async function readAdvancedOptions(
  c: Caller,
  optionManagers: MoRef[],
  keys?: string[],
): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  if (optionManagers.length === 0) return out;
  const want = keys ? new Set(keys) : undefined;
  const objects = await retrieveAll(c, [
    {
      propSet: [{ type: 'OptionManager', pathSet: ['setting'] }],
      objectSet: optionManagers.map((obj) => ({ obj })),
    },
  ]);
  for (const o of objects) {
    const rec: Record<string, unknown> = {};
    for (const ov of arr<{ key: string; value: unknown }>(o.props.setting)) {
      if (!want || want.has(ov.key)) rec[ov.key] = ov.value;
    }
    out.set(o.obj.value, rec);
  }
  return out;
}

/** What {@link readOneHost} read; an object asked for but not returned is undefined. */
export interface OneHostRead {
  /** Datacenter `name`, `parent` and `hostFolder`. */
  datacenter?: { name: unknown; parent?: MoRef | undefined; hostFolder: MoRef | null };
  /** ClusterComputeResource `name`, `parent` and `configurationEx` (no member hosts). */
  cluster?: { name: unknown; parent?: MoRef | undefined; config: ClusterConfigInfoEx };
  /** The hosts returned ({@link HOST_PATHS}). */
  hosts: HostState[];
  /** OptionManager value → key → value, reduced to `keys`. */
  advanced: Map<string, Record<string, unknown>>;
}

/**
 * The one-host read: datacenter (name, parent, hostFolder), cluster (name, parent, configurationEx
 * — its member hosts are not read), the given hosts and the `setting` of the given OptionManagers,
 * all in ONE RetrievePropertiesEx. Any part may be left out. A deleted object fails the call with
 * ManagedObjectNotFound.
 * @param keys advanced-option keys kept from each OptionManager's `setting`
 */
export async function readOneHost(
  c: Caller,
  objects: { datacenter?: MoRef; cluster?: MoRef; hosts?: MoRef[]; optionManagers?: MoRef[] },
  keys: string[],
): Promise<OneHostRead> {
  const propSet: PropertySpec[] = [];
  const objectSet: { obj: MoRef }[] = [];
  if (objects.datacenter) {
    propSet.push({ type: 'Datacenter', pathSet: ['name', 'parent', 'hostFolder'] });
    objectSet.push({ obj: objects.datacenter });
  }
  if (objects.cluster) {
    propSet.push({ type: 'ClusterComputeResource', pathSet: ['name', 'parent', 'configurationEx'] });
    objectSet.push({ obj: objects.cluster });
  }
  if (objects.hosts?.length) {
    propSet.push(hostPropSpec);
    objectSet.push(...objects.hosts.map((obj) => ({ obj })));
  }
  if (objects.optionManagers?.length) {
    propSet.push({ type: 'OptionManager', pathSet: ['setting'] });
    objectSet.push(...objects.optionManagers.map((obj) => ({ obj })));
  }
  const out: OneHostRead = { hosts: [], advanced: new Map() };
  const want = new Set(keys);
  for (const o of await retrieveAll(c, [{ propSet, objectSet }])) {
    const p = o.props;
    if (o.obj.type === 'Datacenter' && o.obj.value === objects.datacenter?.value) {
      out.datacenter = {
        name: p['name'],
        parent: p['parent'] as MoRef | undefined,
        hostFolder: (p['hostFolder'] as MoRef | undefined) ?? null,
      };
    } else if (o.obj.type === 'ClusterComputeResource' && o.obj.value === objects.cluster?.value) {
      out.cluster = {
        name: p['name'],
        parent: p['parent'] as MoRef | undefined,
        config: (p['configurationEx'] ?? {}) as ClusterConfigInfoEx,
      };
    } else if (o.obj.type === 'HostSystem') out.hosts.push(hostStateFrom(o));
    else if (o.obj.type === 'OptionManager') {
      const rec: Record<string, unknown> = {};
      for (const ov of arr<{ key: string; value: unknown }>(p['setting'])) if (want.has(ov.key)) rec[ov.key] = ov.value;
      out.advanced.set(o.obj.value, rec);
    }
  }
  return out;
}

/** What removing a host from vCenter depends on ({@link readHostRemoval}). */
export interface HostRemovalState {
  host: MoRef;
  name: string;
  /** HostSystemConnectionState: connected | notResponding | disconnected. */
  connectionState: string;
  inMaintenanceMode: boolean;
  /** ClusterComputeResource (a cluster member) or ComputeResource (a standalone host). */
  parent: MoRef;
  /** The cluster's ClusterDrsConfigInfo (enabled, defaultVmBehavior); undefined for a standalone host. */
  drs?: { enabled: boolean; defaultVmBehavior: string } | undefined;
  /** Names of the host's VMs whose runtime.powerState is poweredOn. */
  poweredOnVms: string[];
  /** Every VM registered on the host (HostSystem.vm). */
  vmCount: number;
}

/**
 * The host with hardware UUID `uuid` as host removal needs it, or null when vCenter has none:
 * FindByUuid, ONE RetrievePropertiesEx of the host (name, parent, runtime, vm), ONE of its parent's
 * configurationEx (clusters) and its VMs' name and runtime.powerState (3 calls).
 */
export async function readHostRemoval(c: Caller, uuid: string): Promise<HostRemovalState | null> {
  const host = await FindByUuid(c, uuid);
  if (!host) return null;
  const hostPaths = ['name', 'parent', 'runtime.connectionState', 'runtime.inMaintenanceMode', 'vm'];
  const [h] = await retrieveAll(c, [
    { propSet: [{ type: 'HostSystem', pathSet: hostPaths }], objectSet: [{ obj: host }] },
  ]);
  if (!h) return null;
  const parent = h.props['parent'] as MoRef;
  const vms = arr<MoRef>(h.props['vm']);
  const cluster = parent.type === 'ClusterComputeResource';
  const objects =
    cluster || vms.length
      ? await retrieveAll(c, [
          {
            propSet: [
              ...(cluster ? [{ type: 'ClusterComputeResource', pathSet: ['configurationEx'] }] : []),
              ...(vms.length ? [{ type: 'VirtualMachine', pathSet: ['name', 'runtime.powerState'] }] : []),
            ],
            objectSet: [...(cluster ? [{ obj: parent }] : []), ...vms.map((obj) => ({ obj }))],
          },
        ])
      : [];
  const out: HostRemovalState = {
    host,
    name: String(h.props['name']),
    connectionState: String(h.props['runtime.connectionState']),
    inMaintenanceMode: h.props['runtime.inMaintenanceMode'] === true,
    parent,
    poweredOnVms: [],
    vmCount: vms.length,
  };
  for (const o of objects) {
    if (o.obj.type === 'ClusterComputeResource') {
      const drs = (o.props['configurationEx'] as ClusterConfigInfoEx | undefined)?.drsConfig;
      out.drs = { enabled: drs?.enabled === true, defaultVmBehavior: drs?.defaultVmBehavior ?? 'fullyAutomated' };
    } else if (o.obj.type === 'VirtualMachine' && o.props['runtime.powerState'] === 'poweredOn')
      out.poweredOnVms.push(String(o.props['name']));
  }
  return out;
}
