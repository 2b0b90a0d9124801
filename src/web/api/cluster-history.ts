/**
 * Cluster-file history: `/api/v1/clusters/{name}/history`, `…/diff`, `…/revert`, and deleting a
 * file (`DELETE /api/v1/clusters/{name}`). The clusters directory is a git repository
 * (src/clusters/history.ts); saves, reverts and deletions are commits by the caller.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { NAME_PATTERN, errorResponses } from '../schemas.js';
import { HttpProblem, problems } from '../problem.js';
import type { ClusterHistoryService } from '../deps.js';
import { deleteClusterXml, issuesToFieldErrors, revertClusterXml } from '../services.js';

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;
const COMMIT = { type: 'string', pattern: '^[0-9a-fA-F]{4,40}$', description: 'a commit id or a unique prefix of it' };
const versionOut = {
  type: 'object',
  description: 'a commit that touched the file (src/clusters/history ClusterVersion)',
  required: ['id', 'author', 'email', 'time', 'message'],
  properties: {
    id: { type: 'string', description: 'commit id, 40 hex digits' },
    author: { type: 'string', description: 'console user, token:<name>, or statelesx for hand edits found on disk' },
    email: { type: 'string' },
    time: { type: 'integer', description: 'author time, epoch ms' },
    message: { type: 'string', description: 'what changed: action and file' },
  },
} as const;
const diffOut = {
  type: 'object',
  required: ['file', 'from', 'to', 'unified', 'hunks'],
  properties: {
    file: { type: 'string' },
    from: { type: 'string', description: 'full commit id' },
    to: { type: 'string', description: 'full commit id, or working (the file on disk)' },
    unified: { type: 'string', description: 'unified diff text (jsdiff), 3 lines of context' },
    hunks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['oldStart', 'oldLines', 'newStart', 'newLines', 'lines'],
        properties: {
          oldStart: { type: 'integer' },
          oldLines: { type: 'integer' },
          newStart: { type: 'integer' },
          newLines: { type: 'integer' },
          lines: { type: 'array', items: { type: 'string' }, description: "each starts with ' ', '-' or '+'" },
        },
      },
    },
  },
} as const;

/** The history port, or 503 when the server keeps no history of the cluster files. */
function historyOf(ctx: WebContext): ClusterHistoryService {
  const h = need(ctx, 'clusters', 'cluster files').history;
  if (!h) throw new HttpProblem(503, 'Service Unavailable', 'the cluster files keep no history on this server');
  return h;
}

/** Registers the history, diff, revert and delete routes of `/api/v1/clusters/{name}`. */
export function clusterHistoryRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Params: { name: string } }>(
    '/api/v1/clusters/:name/history',
    {
      schema: {
        tags: ['clusters'],
        summary: 'Commits that touched the cluster file, newest first (the clusters directory is a git repository)',
        params: nameParams,
        response: { 200: { type: 'array', items: versionOut }, ...errorResponses },
      },
    },
    async (req) => {
      const list = await historyOf(ctx).versions(req.params.name);
      if (!list.length && (await need(ctx, 'clusters', 'cluster files').readXml(req.params.name)) === undefined)
        throw problems.notFound(`cluster ${req.params.name}`);
      return list;
    },
  );

  app.get<{ Params: { name: string }; Querystring: { from: string; to?: string } }>(
    '/api/v1/clusters/:name/diff',
    {
      schema: {
        tags: ['clusters'],
        summary: 'The difference of the cluster file between two versions (unified text and hunks)',
        params: nameParams,
        querystring: {
          type: 'object',
          required: ['from'],
          properties: {
            from: COMMIT,
            to: {
              type: 'string',
              pattern: '^([0-9a-fA-F]{4,40}|working)$',
              default: 'working',
              description: 'a commit, or working for the file on disk (default)',
            },
          },
        },
        response: { 200: diffOut, ...errorResponses },
      },
    },
    async (req) => {
      const d = await historyOf(ctx).diff(req.params.name, req.query.from, req.query.to ?? 'working');
      return { file: d.file, from: d.from, to: d.to, unified: d.unified, hunks: d.hunks };
    },
  );

  clusterWriteRoutes(app, ctx);
}

/** Revert (a new commit with an old version) and delete (a commit removing the file). */
function clusterWriteRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.post<{ Params: { name: string }; Body: { commit: string } }>(
    '/api/v1/clusters/:name/revert',
    {
      schema: {
        tags: ['clusters'],
        summary:
          "Write the file's version from a commit as a new commit, validated like a save; 422 with the issues when that version does not validate now (nothing written)",
        params: nameParams,
        body: { type: 'object', required: ['commit'], additionalProperties: false, properties: { commit: COMMIT } },
        response: {
          200: {
            type: 'object',
            required: ['saved', 'revertedTo'],
            properties: { saved: { type: 'boolean' }, revertedTo: { type: 'string', description: 'full commit id' } },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      historyOf(ctx);
      const r = await revertClusterXml(ctx, req, req.params.name, req.body.commit);
      if (r.issues.length)
        throw new HttpProblem(
          422,
          'Unprocessable Content',
          `the version of ${req.params.name} in ${r.commit.slice(0, 12)} does not validate (${r.issues.length} issue(s)); nothing was saved`,
          issuesToFieldErrors(r.issues),
        );
      return { saved: true, revertedTo: r.commit };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/clusters/:name',
    {
      schema: {
        tags: ['clusters'],
        summary: 'Delete the cluster file (a commit in its history; its hosts are left alone in vCenter)',
        params: nameParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      await deleteClusterXml(ctx, req, req.params.name);
      return reply.code(204).send();
    },
  );
}
