/**
 * A {@link ClusterSource} over the cluster files in `clusters-dir` (src/clusters loader: XSD +
 * semantic checks). Files with diagnostics are left out and reported; the engine only ever sees
 * validated DesiredClusters.
 */
import type { DesiredCluster } from '../clusters/types.js';
import { ClusterRepository } from '../clusters/repository.js';
import type { SemanticContext } from '../clusters/semantics.js';
import { formatDiagnostic } from '../clusters/diagnostics.js';
import type { ClusterSource } from './jobs.js';

/** Loaded clusters plus the problems of files that did not load. */
export interface LoadedClusters extends ClusterSource {
  list(): DesiredCluster[];
  /** One formatted line per diagnostic (file:line:column: message). */
  problems: string[];
}

/** Wraps a list of validated clusters. */
export function clusterSource(list: DesiredCluster[], problems: string[] = []): LoadedClusters {
  return {
    list: () => list,
    problems,
    get: (n) => list.find((c) => c.name === n),
    findByHost: (u) => list.find((c) => c.hosts.some((h) => h.uuid.toLowerCase() === u.toLowerCase())),
  };
}

/**
 * Loads every `*.xml` in `dir` through the cluster repository (the same loader, checks and
 * both-byte-order UUID lookup the server uses). A missing directory = no clusters.
 * @param context vCenter/credentials names to check references against (omit: not checked)
 */
export async function loadClusterDir(dir: string, context?: SemanticContext): Promise<LoadedClusters> {
  const repo = new ClusterRepository({ dir, ...(context ? { context } : {}) });
  await repo.reload();
  return {
    list: () => repo.clusters(),
    problems: repo.invalid().flatMap((f) => f.diagnostics.map(formatDiagnostic)),
    get: (n) => repo.get(n),
    findByHost: (u) => repo.findHostByUuid(u)?.cluster,
  };
}
