/**
 * Console history of a cluster file (`/clusters/:name/history`): the versions (commits), a
 * side-by-side diff between two of them, and a Revert button per version (a form with the CSRF
 * token, like the other console forms) that saves that version as a new commit through the API.
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem, type FieldError } from '../problem.js';
import { one, type Form } from './forms.js';
import { signedIn, type ConsoleOptions } from './render.js';

const enc = encodeURIComponent;

/** A version as `GET /api/v1/clusters/{name}/history` answers it. */
interface ClusterVersionView {
  id: string;
  author: string;
  time: number;
  message: string;
}

/** A diff as `GET /api/v1/clusters/{name}/diff` answers it. */
interface ClusterDiffView {
  from: string;
  to: string;
  unified: string;
  hunks: Array<{ oldStart: number; oldLines: number; newStart: number; newLines: number; lines: string[] }>;
}

/** One row of a side-by-side diff: old line (number, text) and new line; `kind` colours it. */
export interface SideBySideRow {
  kind: 'hunk' | 'same' | 'change' | 'del' | 'add';
  left?: { n: number; text: string };
  right?: { n: number; text: string };
  /** For `hunk` rows: the `@@ -a,b +c,d @@` header. */
  header?: string;
}

/**
 * The hunks of a diff as side-by-side rows: context lines on both sides; within a run of removed
 * and added lines, the i-th removed line is paired with the i-th added line (`change`), the rest
 * stand alone (`del` / `add`).
 */
export function sideBySide(hunks: ClusterDiffView['hunks']): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  for (const h of hunks) {
    rows.push({ kind: 'hunk', header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@` });
    let [l, r] = [h.oldStart, h.newStart];
    let dels: string[] = [];
    let adds: string[] = [];
    const flush = () => {
      for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
        const left = i < dels.length ? { n: l++, text: dels[i]! } : undefined;
        const right = i < adds.length ? { n: r++, text: adds[i]! } : undefined;
        rows.push({
          kind: left && right ? 'change' : left ? 'del' : 'add',
          ...(left ? { left } : {}),
          ...(right ? { right } : {}),
        });
      }
      [dels, adds] = [[], []];
    };
    for (const line of h.lines) {
      const [mark, text] = [line[0], line.slice(1)];
      if (mark === '-') dels.push(text);
      else if (mark === '+') adds.push(text);
      else if (mark === ' ') {
        flush();
        rows.push({ kind: 'same', left: { n: l++, text }, right: { n: r++, text } });
      }
      // '\' ("No newline at end of file") carries no line of its own
    }
    flush();
  }
  return rows;
}

/** Registers `/clusters/:name/history` (GET: list and diff) and `/ui/clusters/:name/revert` (POST). */
export const clusterHistoryPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  const show = async (
    req: FastifyRequest,
    reply: FastifyReply,
    name: string,
    q: { from?: string; to?: string },
    notice: { reverted?: string; issues?: FieldError[]; error?: string } = {},
  ) => {
    const call = api(req, reply);
    const versions = await call<ClusterVersionView[]>('GET', `/api/v1/clusters/${enc(name)}/history`);
    const from = q.from || versions[1]?.id || versions[0]?.id;
    const to = q.to || versions[0]?.id;
    let diff: ClusterDiffView | undefined;
    if (from && to) {
      diff = await call<ClusterDiffView>('GET', `/api/v1/clusters/${enc(name)}/diff?from=${enc(from)}&to=${enc(to)}`);
    }
    return page(req, reply, 'cluster-history', {
      title: `History of ${name}`,
      name,
      versions,
      from: diff?.from ?? from,
      to: diff?.to ?? to,
      rows: diff ? sideBySide(diff.hunks) : [],
      ...notice,
    });
  };
  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string } }>(
    '/clusters/:name/history',
    async (req, reply) => show(req, reply, req.params.name, req.query),
  );
  app.post<{ Params: { name: string }; Body: Form }>('/ui/clusters/:name/revert', signedIn, async (req, reply) => {
    const commit = one(req.body, 'commit') ?? '';
    try {
      await api(req, reply)('POST', `/api/v1/clusters/${enc(req.params.name)}/revert`, { commit });
    } catch (e) {
      if (e instanceof HttpProblem && e.status === 422) {
        reply.code(422);
        return show(req, reply, req.params.name, {}, { issues: e.errors ?? [], error: e.message });
      }
      throw e;
    }
    return show(req, reply, req.params.name, {}, { reverted: commit });
  });
  done();
};
