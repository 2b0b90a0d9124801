/**
 * Finding a member host of loaded cluster files by its SMBIOS UUID, in either byte order, and the
 * read-only view of loaded files every consumer gets ({@link ClusterFiles}): the server's live
 * {@link ClusterRepository} and a fixed list of clusters (the CLI's one-shot runs, tests) both
 * answer through the same index, so they match UUIDs the same way.
 */
import { normalizeUuid, uuidForms } from '../hosts/identity.js';
import type { DesiredCluster, MemberHost } from './types.js';

/** A member host and the cluster whose file lists it. */
export interface ClusterMember {
  cluster: DesiredCluster;
  host: MemberHost;
}

/** Loaded, validated cluster files as consumers read them (implemented by ClusterRepository). */
export interface ClusterFiles {
  /** Valid clusters, in file order. */
  clusters(): DesiredCluster[];
  /** The valid cluster named `name` (the cluster's name, not the file's). */
  get(name: string): DesiredCluster | undefined;
  /**
   * The member with this SMBIOS UUID given in either byte order (SMBIOS form or the PXE/option-97
   * wire form); undefined when no valid cluster lists it, or for a malformed or nil UUID.
   */
  findHostByUuid(uuid: string): ClusterMember | undefined;
}

/** Members by normalized UUID as the file spells it; the first listing of a UUID wins. */
export type MemberIndex = ReadonlyMap<string, ClusterMember>;

/** Indexes the members of `clusters` by their normalized UUID (first listing wins). */
export function indexMembers(clusters: readonly DesiredCluster[]): MemberIndex {
  const index = new Map<string, ClusterMember>();
  for (const cluster of clusters)
    for (const host of cluster.hosts) {
      const u = normalizeUuid(host.uuid) ?? host.uuid;
      if (!index.has(u)) index.set(u, { cluster, host });
    }
  return index;
}

/** The member listed under either byte order of `uuid` (SMBIOS form first). */
export function findMember(index: MemberIndex, uuid: string): ClusterMember | undefined {
  const forms = uuidForms(uuid);
  if (!forms) return undefined;
  return index.get(forms.smbios) ?? index.get(forms.wire);
}

/**
 * A fixed list of validated clusters as {@link ClusterFiles}. The list is read at every call (a
 * caller may change it between calls), so lookups always see its current content.
 */
export function fixedClusterFiles(list: readonly DesiredCluster[]): ClusterFiles {
  return {
    clusters: () => [...list],
    get: (name) => list.find((c) => c.name === name),
    findHostByUuid: (uuid) => findMember(indexMembers(list), uuid),
  };
}
