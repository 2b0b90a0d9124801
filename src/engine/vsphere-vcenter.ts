/**
 * {@link VcenterApi} over the vSphere client ({@link VsphereClient}, src/vsphere/client.ts): a
 * bounded pool of logged-in sessions per vCenter (`max-sessions` of the `vcenters:` entry), re-login
 * on NotAuthenticated, per-method call counters, typed ops, and the planning reads of
 * src/vsphere/read.ts. Mapping to the engine's {@link HostState}/{@link ClusterState} is in
 * src/engine/vsphere-map.ts; the engine never sees vSphere wire types. The one-call methods are
 * inherited from {@link VspherePassThrough} (src/engine/vsphere-passthrough.ts).
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
 *   the cluster and the host (`read.readOneHost`), and readAdvancedOptions (5 calls; 4 for a host
 *   not in vCenter). Warm: ONE RetrievePropertiesEx of datacenter, cluster, host and its
 *   advanced-option manager.
 * Nothing is read twice within a pass.
 *
 * Warm reads use the identity cache (src/engine/vsphere-identity.ts); CreateDatacenter,
 * CreateClusterEx and ReconfigureComputeResource_Task go through the create-once memo
 * (src/engine/vsphere-create-once.ts).
 */
import { DuplicateName, ManagedObjectNotFound } from '../vsphere/faults.js';
import { moref } from '../vsphere/xml.js';
import { escapePathSegment, type HostState as WireHost } from '../vsphere/read.js';
import type { MoRef } from '../vsphere/types.js';
import type { ClusterSpec } from './plan.js';
import type { ClusterState, CurrentState, HostState } from './state.js';
import type { VcenterApi } from './vcenter.js';
import type { HostRemovalFacts } from './remove-host.js';
import { CreateOnce } from './vsphere-create-once.js';
import { IdentityCache, same, StaleIdentity } from './vsphere-identity.js';
import { fromClusterConfig, toClusterSpec, toHostState } from './vsphere-map.js';
import { VspherePassThrough } from './vsphere-passthrough.js';

/** A {@link VcenterApi} over one {@link VsphereClient} (see the module docstring). */
export class VsphereVcenter extends VspherePassThrough implements VcenterApi {
  private readonly ids = new IdentityCache();
  private readonly once = new CreateOnce();

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
      this.ids.forget(datacenterPath, clusterName, uuids);
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
    const epoch = this.once.nextEpoch();
    const r = await this.client.read.readCluster(datacenterPath, clusterName);
    const hosts: Record<string, HostState | undefined> = {};
    if (!r.datacenter) {
      this.ids.forget(datacenterPath, clusterName, []);
      for (const u of uuids) hosts[u] = undefined;
      return { cluster: {}, hosts };
    }
    const cluster: ClusterState = { datacenterRef: r.datacenter.value, hostFolderRef: r.hostFolder?.value };
    if (!datacenterPath.includes('/'))
      this.ids.datacenters.set(datacenterPath, { datacenter: r.datacenter, hostFolder: r.hostFolder });
    if (r.cluster) {
      cluster.clusterRef = r.cluster.value;
      cluster.config = fromClusterConfig(r.config ?? {});
      this.ids.clusters.set(this.ids.clusterKey(r.datacenter, clusterName), r.cluster);
    } else {
      this.ids.clusters.delete(this.ids.clusterKey(r.datacenter, clusterName));
      this.once.gone(r.hostFolder, clusterName, epoch);
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
      this.ids.rememberHost(h.uuid, h.ref, h.configManager.advancedOption);
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
    const epoch = this.once.nextEpoch();
    const c = this.client;
    const hosts: Record<string, HostState | undefined> = {};
    for (const u of uuids) hosts[u] = undefined;
    const cachedDc = warm ? this.ids.datacenters.get(datacenterPath) : undefined;
    let dc: MoRef | null = cachedDc?.datacenter ?? null;
    if (!dc) {
      dc = await c.ops.FindByInventoryPath(datacenterPath);
      if (!dc || dc.type !== 'Datacenter') {
        this.ids.forget(datacenterPath, clusterName, []);
        return { cluster: {}, hosts };
      }
    }
    const clusterKey = this.ids.clusterKey(dc, clusterName);
    const cachedCluster = warm ? this.ids.clusters.get(clusterKey) : undefined;
    let cl: MoRef | null = cachedCluster ?? null;
    if (!cl) {
      const found = await c.ops.FindByInventoryPath(`${datacenterPath}/host/${escapePathSegment(clusterName)}`);
      cl = found?.type === 'ClusterComputeResource' ? found : null;
    }
    const hostRefs = new Map<string, MoRef>();
    for (const u of uuids) {
      const cached = warm ? this.ids.hostsByUuid.get(u.toLowerCase()) : undefined;
      const ref = cached ?? (await c.ops.FindByUuid(u, dc));
      if (ref) hostRefs.set(u.toLowerCase(), ref);
    }
    const oms = keys.length
      ? [...hostRefs.values()].map((h) => this.ids.optionManagers.get(h.value)).filter((m): m is MoRef => !!m)
      : [];
    const read = await c.read.readOneHost(
      { datacenter: dc, ...(cl ? { cluster: cl } : {}), hosts: [...hostRefs.values()], optionManagers: oms },
      keys,
    );
    const dcRead = read.datacenter;
    if (!dcRead) throw new StaleIdentity(`datacenter ${dc.value} returned nothing`);
    if (cachedDc && (dcRead.name !== datacenterPath || !same(dcRead.parent, c.serviceContent.rootFolder))) {
      throw new StaleIdentity(`datacenter ${dc.value} is no longer ${datacenterPath}`);
    }
    const hostFolder = dcRead.hostFolder;
    if (!datacenterPath.includes('/')) this.ids.datacenters.set(datacenterPath, { datacenter: dc, hostFolder });
    const cluster: ClusterState = { datacenterRef: dc.value, hostFolderRef: hostFolder?.value };
    if (cl) {
      const clRead = read.cluster;
      if (!clRead) throw new StaleIdentity(`cluster ${cl.value} returned nothing`);
      if (cachedCluster && (clRead.name !== escapePathSegment(clusterName) || !same(clRead.parent, hostFolder))) {
        throw new StaleIdentity(`cluster ${cl.value} is no longer ${datacenterPath}/host/${clusterName}`);
      }
      cluster.clusterRef = cl.value;
      cluster.config = fromClusterConfig(clRead.config);
      this.ids.clusters.set(clusterKey, cl);
    } else {
      this.ids.clusters.delete(clusterKey);
      this.once.gone(hostFolder, clusterName, epoch);
    }
    const byUuid = new Map<string, WireHost>();
    for (const h of read.hosts) {
      const asked = [...hostRefs].find(([, r]) => same(r, h.ref))?.[0];
      if (asked && h.uuid.toLowerCase() !== asked)
        throw new StaleIdentity(`host ${h.ref.value} no longer has UUID ${asked}`);
      if (asked) byUuid.set(asked, h);
    }
    if (byUuid.size !== hostRefs.size) throw new StaleIdentity('a host returned nothing');
    const known = read.advanced;
    return { cluster, hosts: await this.withAdvanced(uuids, byUuid, keys, known) };
  }

  /** Datacenter, its hostFolder, the cluster and its configurationEx (no member hosts). */
  async readCluster(datacenterPath: string, clusterName: string): Promise<ClusterState> {
    return (await this.readState(datacenterPath, clusterName, [], [])).cluster;
  }

  async findHostByUuid(datacenterRef: string | undefined, uuid: string): Promise<string | undefined> {
    const r = await this.client.ops.FindByUuid(
      uuid,
      datacenterRef ? { type: 'Datacenter', value: datacenterRef } : undefined,
    );
    if (r) this.ids.hostsByUuid.set(uuid.toLowerCase(), r);
    return r?.value;
  }

  /**
   * One host by MoRef: one RetrievePropertiesEx of the host (and of its advanced-option manager
   * when that is already known), else read.readHosts + read.readAdvancedOptions (2 calls).
   */
  async readHost(hostRef: string, advancedKeys: string[]): Promise<HostState> {
    const ref: MoRef = { type: 'HostSystem', value: hostRef };
    const om = advancedKeys.length ? this.ids.optionManagers.get(hostRef) : undefined;
    let host: WireHost | undefined;
    const known = new Map<string, Record<string, unknown>>();
    if (om) {
      const read = await this.client.read.readOneHost({ hosts: [ref], optionManagers: [om] }, advancedKeys);
      host = read.hosts[0];
      for (const [k, v] of read.advanced) known.set(k, v);
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

  async createDatacenter(parentPath: string, name: string): Promise<string> {
    const folder = parentPath ? await this.folderAt(parentPath) : this.client.serviceContent.rootFolder;
    return this.once.run(folder, name, 'CreateDatacenter', () => this.client.ops.CreateDatacenter(folder, name));
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
      for (const dc of this.ids.datacenters.values()) {
        if (dc.hostFolder?.value === hostFolderRef)
          this.ids.clusters.set(this.ids.clusterKey(dc.datacenter, name), obj);
      }
    };
    return this.once.run(
      folder,
      name,
      'CreateClusterEx',
      () => this.client.ops.CreateClusterEx(folder, name, toClusterSpec(spec)),
      known,
    );
  }

  async reconfigureComputeResource(clusterRef: string, spec: ClusterSpec, modify: boolean): Promise<void> {
    const key = `${clusterRef}\n${modify}\n${JSON.stringify(spec)}`;
    await this.once.join(key, async () => {
      const t = await this.client.ops.ReconfigureComputeResource_Task(
        { type: 'ClusterComputeResource', value: clusterRef },
        toClusterSpec(spec),
        modify,
      );
      await this.task(t, 'ReconfigureComputeResource_Task');
    });
  }

  async readHostRemoval(uuid: string): Promise<HostRemovalFacts | undefined> {
    const r = await this.client.read.readHostRemoval(uuid);
    if (!r) return undefined;
    return {
      hostRef: r.host.value,
      name: r.name,
      connectionState: r.connectionState,
      inMaintenanceMode: r.inMaintenanceMode,
      parent: { type: r.parent.type, value: r.parent.value },
      drs: r.drs,
      poweredOnVms: r.poweredOnVms,
      vmCount: r.vmCount,
    };
  }

  async destroyEntity(type: 'HostSystem' | 'ComputeResource', ref: string, hostUuid?: string): Promise<void> {
    await this.task(await this.client.ops.Destroy_Task({ type, value: ref }), 'Destroy_Task');
    if (hostUuid) this.ids.hostsByUuid.delete(hostUuid.toLowerCase());
  }
}
