/**
 * A {@link ClusterSource} over the cluster files in `clusters-dir` (src/clusters loader: XSD +
 * semantic checks). Files with diagnostics are left out and reported; the engine only ever sees
 * validated DesiredClusters.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DesiredCluster } from '../clusters/types.js';
import { loadClusterFiles } from '../clusters/load.js';
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

/** Loads every `*.xml` in `dir` (a missing directory = no clusters). */
export async function loadClusterDir(dir: string): Promise<LoadedClusters> {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort().map((f) => join(dir, f));
  } catch {
    return clusterSource([]);
  }
  const results = await loadClusterFiles(files);
  const list: DesiredCluster[] = [];
  const problems: string[] = [];
  for (const r of results) {
    if (r.cluster) list.push(r.cluster);
    else problems.push(...r.diagnostics.map(formatDiagnostic));
  }
  return clusterSource(list, problems);
}
