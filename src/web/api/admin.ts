/** Administration: `/api/v1/users` (./users.ts), `/api/v1/audit`, `/api/v1/vcenters` (secrets never returned). */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import { auditChange } from '../audit.js';
import { userRoutes } from './users.js';

/** Registers the users, audit log and vCenter routes. */
export function adminRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  userRoutes(app, ctx);

  app.get<{ Querystring: { limit: number; before?: number } }>(
    '/api/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first (secrets removed)',
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
            before: { type: 'integer', minimum: 1 },
          },
        },
        response: { 200: { type: 'array', items: { $ref: 'AuditEntry#' } }, ...errorResponses },
      },
    },
    async (req) => await store.audit.list(req.query.limit, req.query.before),
  );

  app.get(
    '/api/v1/vcenters',
    {
      schema: {
        tags: ['vcenters'],
        summary: 'Configured vCenters (no secrets)',
        response: { 200: { type: 'array', items: { $ref: 'Vcenter#' } }, ...errorResponses },
      },
    },
    () =>
      (ctx.deps.config?.vcenters ?? []).map((v) => ({
        name: v.name,
        url: v.url,
        username: v.username,
        ...(v.thumbprint ? { thumbprint: v.thumbprint } : {}),
        hasCaFile: Boolean(v['ca-file']),
      })),
  );

  app.post<{ Params: { name: string } }>(
    '/api/v1/vcenters/:name/test',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['vcenters'],
        summary: 'Log in to the vCenter and out again',
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 128 } } },
        response: {
          200: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              ok: { type: 'boolean' },
              message: { type: 'string' },
              apiVersion: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      if (!(ctx.deps.config?.vcenters ?? []).some((v) => v.name === req.params.name))
        throw problems.notFound(`vCenter ${req.params.name}`);
      const r = await need(ctx, 'vcenters', 'the vSphere client').test(req.params.name);
      await auditChange(store.audit, req, 'vcenter.test', req.params.name, null, { ok: r.ok }, ctx.now());
      return { name: req.params.name, ...r };
    },
  );
}
