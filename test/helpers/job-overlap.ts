/**
 * How many jobs ran at once, read back from the store's start/finish times: the engine tests'
 * check of the concurrency limits (per vCenter, per cluster, across servers).
 */
import type { JobRecord } from '../../src/store/jobs.js';

/** Most jobs running at the same time (a finish at t comes before a start at t). Jobs must have started and finished. */
export function maxOverlap(jobs: JobRecord[]): number {
  const ev = jobs
    .flatMap((j) => [[j.startedAt!, 1] as const, [j.finishedAt!, -1] as const])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (n += d));
  return max;
}
