/**
 * Semantic checks of cluster files: what the XSD cannot express. Within one file: names
 * unique, references resolve (portgroup → vSwitch, VMkernel NIC → portgroup and pool, teaming
 * NICs → the vSwitch's uplinks), uplinks not shared between vSwitches, addresses valid, inside
 * their subnet and unique, pools big enough, member UUIDs/FQDNs/MACs unique, every static
 * VMkernel NIC addressed on every host, advanced values of their declared type, referenced
 * vCenter, credentials and images exist. Across files: a UUID (either byte order), FQDN or
 * cluster name in at most one file. Every problem is reported (not only the first), each with
 * file, line, column and element path.
 */
import { swapUuidByteOrder } from '../hosts/identity.js';
import type { ClusterDiagnostic, SourceIndex } from './diagnostics.js';
import type { DesiredCluster } from './types.js';
import { runSections, type SectionCheck, type SemanticContext } from './checks/section.js';
import { checkReferences, checkServices } from './checks/references.js';
import { checkPortgroups, checkVswitches } from './checks/network.js';
import { checkPoolCapacity, checkPools } from './checks/pools.js';
import { checkVmknics } from './checks/vmknics.js';
import { checkMembers } from './checks/members.js';
import { checkKernelOptions } from './checks/boot.js';
import { checkAdvanced, checkNameServices } from './checks/settings.js';

export type { SemanticContext } from './checks/section.js';

/** A loaded file as the cross-file check needs it. */
export interface CheckedFile {
  cluster: DesiredCluster;
  index: SourceIndex;
}

/**
 * The sections of one file's checks, in the order their diagnostics are reported. A later section
 * may refer to what an earlier one declared (portgroups to vSwitches, VMkernel NICs to portgroups
 * and pools, members to VMkernel NICs and pools).
 */
const SECTIONS: readonly SectionCheck[] = [
  checkReferences,
  checkServices,
  checkVswitches,
  checkPortgroups,
  checkPools,
  checkVmknics,
  checkPoolCapacity,
  checkMembers,
  checkKernelOptions,
  checkNameServices,
  checkAdvanced,
];

/**
 * All semantic problems of one cluster.
 * @param index positions of the file the cluster came from
 */
export function checkCluster(c: DesiredCluster, index: SourceIndex, ctx: SemanticContext = {}): ClusterDiagnostic[] {
  return runSections(SECTIONS, c, index, ctx);
}

/**
 * Problems between files: a host UUID (in either byte order), FQDN or MAC in two clusters, or
 * two files declaring the same cluster name. Each conflict is reported in both files.
 */
export function checkAcrossFiles(files: readonly CheckedFile[]): ClusterDiagnostic[] {
  const out: ClusterDiagnostic[] = [];
  const names = new Map<string, CheckedFile>();
  const uuids = new Map<string, { f: CheckedFile; fqdn: string; path: string }>();
  const fqdns = new Map<string, { f: CheckedFile; path: string }>();
  for (const f of files) {
    const other = names.get(f.cluster.name);
    if (other) {
      out.push(
        f.index.error('/cluster/@name', `cluster "${f.cluster.name}" is also declared in ${other.cluster.file}`),
      );
      out.push(
        other.index.error('/cluster/@name', `cluster "${f.cluster.name}" is also declared in ${f.cluster.file}`),
      );
    } else names.set(f.cluster.name, f);
    f.cluster.hosts.forEach((h, i) => {
      const path = `/cluster/members/host[${i + 1}]`;
      const prev = uuids.get(h.uuid) ?? uuids.get(swapUuidByteOrder(h.uuid));
      if (prev && prev.f !== f) {
        out.push(
          f.index.error(
            `${path}/@uuid`,
            `UUID ${h.uuid} is also a member of cluster "${prev.f.cluster.name}" (${prev.f.cluster.file}, ${prev.fqdn}); a host belongs to one cluster`,
          ),
        );
        out.push(
          prev.f.index.error(
            `${prev.path}/@uuid`,
            `UUID ${h.uuid} is also a member of cluster "${f.cluster.name}" (${f.cluster.file}, ${h.fqdn}); a host belongs to one cluster`,
          ),
        );
      } else if (!prev) uuids.set(h.uuid, { f, fqdn: h.fqdn, path });
      const prevName = fqdns.get(h.fqdn);
      if (prevName && prevName.f !== f) {
        out.push(
          f.index.error(
            `${path}/@fqdn`,
            `FQDN ${h.fqdn} is also a member of cluster "${prevName.f.cluster.name}" (${prevName.f.cluster.file})`,
          ),
        );
        out.push(
          prevName.f.index.error(
            `${prevName.path}/@fqdn`,
            `FQDN ${h.fqdn} is also a member of cluster "${f.cluster.name}" (${f.cluster.file})`,
          ),
        );
      } else if (!prevName) fqdns.set(h.fqdn, { f, path });
    });
  }
  return out;
}
