/**
 * The one adapter from loaded cluster files to the lookups the rest of statelesx reads them
 * through: the boot policy's {@link ClusterLookup} (membership and declared boot MAC), the
 * phone-home registry's {@link DeclaredHostLookup}, the engine's {@link ClusterSource}, and the
 * kickstart template of a stateful cluster. The server builds them over its live
 * ClusterRepository; the CLI and the tests over a directory or a fixed list
 * ({@link fixedClusterFiles}) — the same UUID and MAC matching everywhere.
 *
 * UUID matches are exact: the policy and the registry try both byte orders themselves and must
 * learn which spelling the files hold (a pin in the store is keyed by that same SMBIOS form).
 */
import { memberKernelOptions, type ClusterLookup, type ClusterMembership } from '../hosts/policy.js';
import type { DeclaredHostLookup } from '../hosts/registry.js';
import { normalizeMac, normalizeUuid } from '../hosts/identity.js';
import type { ClusterSource } from '../engine/jobs.js';
import type { DesiredCluster } from '../clusters/types.js';
import { memberBootMode } from '../clusters/boot-mode.js';
import { ClusterRepository } from '../clusters/repository.js';
import type { SemanticContext } from '../clusters/semantics.js';
import { formatDiagnostic } from '../clusters/diagnostics.js';
import type { ClusterFiles, ClusterMember } from '../clusters/members.js';

export { fixedClusterFiles, type ClusterFiles } from '../clusters/members.js';

/** Every view of the cluster files a subsystem reads. All are side-effect free. */
export interface ClusterLookups {
  /** Boot policy (src/hosts/policy.ts): membership by exact SMBIOS UUID, `byMac` by declared `mac=`. */
  policy: ClusterLookup & { byMac: (mac: string) => string | undefined };
  /** Phone-home registry (src/hosts/registry.ts): the member's cluster, FQDN and static vmk0 address. */
  declared: DeclaredHostLookup;
  /** Engine (src/engine/jobs.ts): a cluster by name, and a member's cluster by exact SMBIOS UUID. */
  engine: ClusterSource;
  /** The `boot/@kickstartTemplate` of cluster `name` as loaded and checked with its file; null: none. */
  kickstartTemplate: (name: string | null) => { name: string; text: string } | undefined;
}

/** Builds the lookups over `files`; each call reads the files' current content. */
export function clusterLookups(files: ClusterFiles): ClusterLookups {
  const membership = (uuid: string): ClusterMember | undefined => {
    const m = files.findHostByUuid(uuid);
    const exact = normalizeUuid(uuid) ?? uuid.toLowerCase();
    return m && (normalizeUuid(m.host.uuid) ?? m.host.uuid) === exact ? m : undefined;
  };
  const policy = Object.assign(
    (uuid: string): ClusterMembership | undefined => {
      const m = membership(uuid);
      if (!m) return undefined;
      return {
        cluster: m.cluster.name,
        ...(m.host.image ? { image: m.host.image } : {}),
        ...(m.cluster.image ? { defaultImage: m.cluster.image } : {}),
        ...(memberBootMode(m.cluster, m.host) === 'stateful' ? { stateful: true } : {}),
        ...kernelOptionsOf(m),
      };
    },
    {
      // A member's declared boot MAC (`mac=`): found before any sighting; the first listing wins.
      byMac: (mac: string): string | undefined => {
        const want = normalizeMac(mac);
        if (!want) return undefined;
        const h = files
          .clusters()
          .flatMap((c) => c.hosts)
          .find((x) => x.mac !== undefined && normalizeMac(x.mac) === want);
        return h && (normalizeUuid(h.uuid) ?? h.uuid);
      },
    },
  );
  return {
    policy,
    declared: (uuid) => {
      const m = membership(uuid);
      return (
        m && {
          cluster: m.cluster.name,
          fqdn: m.host.fqdn,
          managementAddress: m.host.addresses['vmk0'],
          ...(memberBootMode(m.cluster, m.host) === 'stateful' ? { stateful: true } : {}),
        }
      );
    },
    engine: {
      get: (name) => files.get(name),
      findByHost: (uuid) => membership(uuid)?.cluster,
      list: () => files.clusters(),
    },
    kickstartTemplate: (name) => {
      const t = name === null ? undefined : files.get(name)?.boot?.kickstart;
      return t && { name: t.file, text: t.text };
    },
  };
}

/** The `kernelOptions` of a member's cluster (`boot/@kernelOptions`) and of the member itself. */
function kernelOptionsOf(m: ClusterMember): Pick<ClusterMembership, 'kernelOptions'> {
  const cluster = m.cluster.boot?.kernelOptions?.trim();
  const member = m.host.kernelOptions?.trim();
  if (!cluster && !member) return {};
  return { kernelOptions: { ...(cluster ? { cluster } : {}), ...(member ? { member } : {}) } };
}

/**
 * The kernel boot options a member boots with (cluster's `boot/@kernelOptions`, then its own,
 * space-joined, as {@link decideBoot} hands them to the renderers); undefined: none.
 */
export function kernelOptionsOfMember(m: ClusterMember): string | undefined {
  return memberKernelOptions(kernelOptionsOf(m));
}

/** The cluster files of a directory, loaded once, as the engine reads them (the CLI's one-shot runs). */
export interface LoadedClusters extends ClusterSource {
  /** The valid clusters. */
  list(): DesiredCluster[];
  /** One formatted line per diagnostic of a file that did not load (file:line:column: message). */
  problems: string[];
}

/**
 * Loads every `*.xml` in `dir` through the cluster repository (the same loader and checks the
 * server uses) and looks members up through {@link clusterLookups}. A missing directory = no clusters.
 * @param context vCenter/credentials names to check references against (omit: not checked)
 */
export async function loadClusterDir(dir: string, context?: SemanticContext): Promise<LoadedClusters> {
  const repo = new ClusterRepository({ dir, ...(context ? { context } : {}) });
  await repo.reload();
  const { engine } = clusterLookups(repo);
  return {
    list: () => repo.clusters(),
    problems: repo.invalid().flatMap((f) => f.diagnostics.map(formatDiagnostic)),
    get: (n) => engine.get(n),
    findByHost: (u) => engine.findByHost(u),
  };
}
