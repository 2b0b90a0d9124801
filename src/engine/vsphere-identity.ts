/**
 * The vSphere adapter's identity cache (why a "warm" read is possible): MoRefs are stable for an
 * object's lifetime, so the adapter remembers root-level datacenter path → (Datacenter,
 * hostFolder), (datacenter, cluster name) → ClusterComputeResource, hardware UUID → HostSystem and
 * HostSystem → configManager.advancedOption. Every cached identity is re-checked in the same
 * RetrievePropertiesEx that reads the state (src/engine/vsphere-vcenter.ts); a mismatch raises
 * {@link StaleIdentity}, the entries are dropped ({@link IdentityCache.forget}) and the pass is
 * redone cold. Only positive facts are cached.
 */
import type { MoRef } from '../vsphere/types.js';

/** True when both MoRefs are set and name the same managed object. */
export const same = (a: MoRef | null | undefined, b: MoRef | null | undefined): boolean =>
  !!a && !!b && a.type === b.type && a.value === b.value;

/** A datacenter as cached: its MoRef and hostFolder (both immutable for the datacenter's lifetime). */
export interface DatacenterIds {
  datacenter: MoRef;
  hostFolder: MoRef | null;
}

/** Raised inside a warm read when a cached identity no longer holds; the pass is redone cold. */
export class StaleIdentity extends Error {}

/** MoRefs remembered per vCenter connection (see the module docstring). */
export class IdentityCache {
  /** Root-level datacenter path → ids. */
  readonly datacenters = new Map<string, DatacenterIds>();
  /** {@link clusterKey} → ClusterComputeResource. */
  readonly clusters = new Map<string, MoRef>();
  /** Lower-case hardware UUID → HostSystem. */
  readonly hostsByUuid = new Map<string, MoRef>();
  /** HostSystem value → configManager.advancedOption. */
  readonly optionManagers = new Map<string, MoRef>();

  /** Key of {@link clusters}: `${datacenter}\n${cluster name}`. */
  clusterKey(datacenter: MoRef | string, clusterName: string): string {
    return `${typeof datacenter === 'string' ? datacenter : datacenter.value}\n${clusterName}`;
  }

  /** Drops every cached identity under a datacenter path (after a stale hit). */
  forget(datacenterPath: string, clusterName: string, uuids: string[]): void {
    const dc = this.datacenters.get(datacenterPath);
    this.datacenters.delete(datacenterPath);
    if (dc) this.clusters.delete(this.clusterKey(dc.datacenter, clusterName));
    for (const u of uuids) this.hostsByUuid.delete(u.toLowerCase());
  }

  /** Remembers a host read (HostSystem by UUID, its advanced-option manager). */
  rememberHost(uuid: string, ref: MoRef, advancedOption: MoRef | undefined): void {
    this.hostsByUuid.set(uuid.toLowerCase(), ref);
    if (advancedOption) this.optionManagers.set(ref.value, advancedOption);
  }
}
