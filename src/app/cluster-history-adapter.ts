/**
 * The git history of the cluster files (src/clusters/history.ts, through the repository) as the
 * web's {@link ClusterHistoryService}: names become file names, history errors become problems.
 */
import type { ClusterChange, ClusterRepository } from '../clusters/repository.js';
import { ClusterHistoryError } from '../clusters/history.js';
import type { ClusterChangeBy, ClusterHistoryService } from '../web/deps.js';
import { HttpProblem } from '../web/problem.js';
import type { AuditLog } from '../store/index.js';

/**
 * The repository's `onDiskChange` callback: hand edits committed at load are audited as
 * `cluster.disk-change` by `statelesx`, target the files (comma-separated), after `{commit, files}`.
 */
export function auditDiskChanges(
  audit: AuditLog,
  now: () => number = Date.now,
): (change: { commit: string; files: string[] }) => Promise<void> {
  return async ({ commit, files }) => {
    await audit.add({
      at: now(),
      actor: 'statelesx',
      action: 'cluster.disk-change',
      target: files.join(','),
      before: null,
      after: { commit, files },
    });
  };
}

/** A web {@link ClusterChangeBy} as the repository's commit author and message. */
export function changeOf(c: ClusterChangeBy): ClusterChange {
  return { author: { name: c.author }, ...(c.message ? { message: c.message } : {}) };
}

/** Runs `fn`, turning a {@link ClusterHistoryError} into a 404 problem. */
async function problemOf<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ClusterHistoryError) throw new HttpProblem(404, 'Not Found', e.message);
    throw e;
  }
}

/**
 * The history service of a repository whose history is on.
 * @param fileName the file name (without `.xml`) for an API name (cluster or file name)
 */
export function clusterHistoryService(
  repo: ClusterRepository,
  fileName: (name: string) => string,
): ClusterHistoryService {
  const history = repo.history!;
  const file = (name: string) => `${fileName(name)}.xml`;
  return {
    // Serialised with writes: the first read may create the repository and commit hand edits.
    versions: (name) =>
      repo.exclusive(async () => {
        await repo.prepareHistory();
        return history.versions(file(name));
      }),
    diff: (name, from, to) => problemOf(() => repo.exclusive(() => history.diff(file(name), from, to))),
    readAt: (name, commit) =>
      problemOf(() =>
        repo.exclusive(async () => {
          const id = await history.resolveCommit(commit);
          return { commit: id, xml: await history.readAt(file(name), id) };
        }),
      ),
  };
}
