/**
 * `statelesx cluster history|diff|revert` against a server (src/cli/remote): the
 * {@link ClusterHistorySource} of the server's API (src/web/api/cluster-history.ts), so the
 * commands print exactly what they print on the local clusters directory (./cluster-history.ts).
 *
 * - history: `GET /api/v1/clusters/{name}/history` (viewer)
 * - diff: `GET /api/v1/clusters/{name}/diff?from=…&to=…` (viewer)
 * - revert: `POST /api/v1/clusters/{name}/revert` `{commit}` (admin); the server commits as the
 *   token (`token:<name>`). Its 422 (the old version does not validate now; nothing written) is the
 *   refused {@link RevertOutcome}, printed and exit-coded (1) like the local refusal.
 *
 * Other error answers are thrown as the remote CLI's ApiError (exit codes in ./remote/errors.ts:
 * 404 unknown cluster or commit → 4, 401/403 → 3, 503 no history kept on the server → 6).
 */
import type { ClusterDiff, ClusterVersion } from '../clusters/history.js';
import { formatDiagnostic } from '../clusters/diagnostics.js';
import type { ApiClient } from './remote/client.js';
import { ApiError } from './remote/errors.js';
import type { ClusterHistorySource, RevertOutcome } from './cluster-history.js';

const path = (name: string, what: string) => `/api/v1/clusters/${encodeURIComponent(name)}/${what}`;

/**
 * The full id of the version `commit` (a unique prefix) names among the file's versions, when it is
 * one of them; else `commit` as given.
 */
async function fullId(api: ApiClient, name: string, commit: string): Promise<string> {
  const list = await api.json<ClusterVersion[]>('GET', path(name, 'history'));
  const hits = list.filter((v) => v.id.startsWith(commit.toLowerCase()));
  return hits.length === 1 ? hits[0]!.id : commit;
}

/**
 * The history of cluster file `name` on the server behind `api`, as the CLI's history source.
 * Names are cluster names or file names (without `.xml`), as the API takes them.
 * @throws ApiError / UnreachableError (./remote/errors.ts) from each call, except revert's 422
 */
export function remoteHistory(api: ApiClient): ClusterHistorySource {
  return {
    versions: (name) => api.json<ClusterVersion[]>('GET', path(name, 'history')),
    diff: (name, from, to) =>
      api.json<Pick<ClusterDiff, 'file' | 'from' | 'to' | 'unified' | 'hunks'>>('GET', path(name, 'diff'), {
        query: { from, to },
      }),
    revert: async (name, commit): Promise<RevertOutcome> => {
      try {
        const r = await api.json<{ saved: boolean; revertedTo: string }>('POST', path(name, 'revert'), {
          body: { commit },
        });
        return { saved: true, revertedTo: r.revertedTo };
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 422) throw e;
        return {
          saved: false,
          revertedTo: await fullId(api, name, commit),
          problems: e.errors.map((f) =>
            formatDiagnostic({
              file: `${name}.xml`,
              line: f.line ?? 0,
              column: f.column ?? 0,
              path: f.path,
              message: f.message,
            }),
          ),
        };
      }
    },
  };
}
