/**
 * Lifecycle verbs (issue 19 item 3), admins only, audited: cancel a queued or running job (a
 * running one between steps), retry a failed/cancelled/blocked job, forget a host (its row, pin,
 * sightings, boot tokens and boot record; optionally after removing it from vCenter, as a
 * `remove-host` job), delete stale unregistered sightings by age or UUID.
 * Resetting a recorded thumbprint is ./thumbprints.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { errorResponses, UUID_PATTERN } from '../schemas.js';
import { HttpProblem, problems } from '../problem.js';
import { auditChange } from '../audit.js';

const jobParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' } },
} as const;
const uuidParams = {
  type: 'object',
  required: ['uuid'],
  properties: { uuid: { type: 'string', pattern: UUID_PATTERN } },
} as const;

/** Registers the job verbs and the host verbs. */
export function lifecycleRoutes(app: FastifyInstance, ctx: WebContext): void {
  jobVerbs(app, ctx);
  hostVerbs(app, ctx);
}

/** `POST /api/v1/jobs/:id/cancel`, `POST /api/v1/jobs/:id/retry`. */
function jobVerbs(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  app.post<{ Params: { id: string } }>(
    '/api/v1/jobs/:id/cancel',
    {
      schema: {
        tags: ['jobs'],
        summary:
          'Cancel a job: a queued one at once (200), a running one after its current step (202; it then ends cancelled)',
        params: jobParams,
        response: {
          200: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' } } },
          202: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' } } },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const r = await need(ctx, 'jobControl', 'the job engine').cancel(req.params.id, req.user!.username);
      if (r.outcome === 'missing') throw problems.notFound(`job ${req.params.id}`);
      if (r.outcome === 'finished') throw problems.conflict(`job ${req.params.id} has already ended (${r.state})`);
      await auditChange(store.audit, req, 'job.cancel', req.params.id, null, { outcome: r.outcome }, ctx.now());
      return reply
        .code(r.outcome === 'cancelling' ? 202 : 200)
        .send({ id: req.params.id, state: r.outcome === 'cancelling' ? 'running' : 'cancelled' });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/jobs/:id/retry',
    {
      schema: {
        tags: ['jobs'],
        summary:
          'Retry a failed, cancelled or blocked job: queues a new job of the same kind and target (or returns the one already active)',
        params: jobParams,
        response: { 201: { $ref: 'JobRef#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const r = await need(ctx, 'jobControl', 'the job engine').retry(req.params.id, {
        source: 'api',
        actor: req.user!.username,
      });
      if (r.outcome === 'missing') throw problems.notFound(`job ${req.params.id}`);
      if (r.outcome === 'not-retryable')
        throw problems.conflict(
          `job ${req.params.id} is ${r.state}: only failed, cancelled or blocked jobs are retried`,
        );
      if (r.outcome === 'gone') throw new HttpProblem(422, 'Unprocessable Content', r.reason);
      await auditChange(store.audit, req, 'job.retry', req.params.id, null, { job: r.ref.id }, ctx.now());
      return reply.code(201).send(r.ref);
    },
  );
}

/** `DELETE /api/v1/hosts/:uuid[?removeFromVcenter=true]` (forget), then the unregistered verbs. */
function hostVerbs(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  app.delete<{ Params: { uuid: string }; Querystring: { removeFromVcenter?: boolean } }>(
    '/api/v1/hosts/:uuid',
    {
      schema: {
        tags: ['hosts'],
        summary:
          'Forget a host: its record, image pin, sightings, phone-home tokens and boot record (not its cluster file entry). ' +
          'With removeFromVcenter=true, first removes it from vCenter as a job (kind remove-host: maintenance mode, ' +
          'Destroy_Task, then the forget): 202 with the job id; 409 while the host has a job queued or running',
        params: uuidParams,
        querystring: {
          type: 'object',
          properties: {
            removeFromVcenter: {
              type: 'boolean',
              default: false,
              description:
                'also remove the host from vCenter (a remove-host job; the store forget happens when it succeeds)',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              host: { type: 'boolean' },
              bootEvents: { type: 'integer' },
              bootTokens: { type: 'integer' },
              hostBoots: { type: 'integer' },
            },
          },
          202: {
            type: 'object',
            required: ['jobId'],
            properties: { jobId: { type: 'string', description: 'the remove-host job (GET /api/v1/jobs/{id})' } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const uuid = req.params.uuid.toLowerCase();
      const before = await store.hosts.get(uuid);
      const summary = before ? { state: before.state, cluster: before.cluster, imagePin: before.imagePin } : null;
      if (req.query.removeFromVcenter) {
        if (!before) throw problems.notFound(`host ${req.params.uuid}`);
        const r = await need(ctx, 'jobControl', 'the job engine').removeHost(
          uuid,
          { source: 'api', actor: req.user!.username },
          before.cluster,
        );
        if (r.outcome === 'busy') throw problems.conflict(r.reason);
        if (r.outcome === 'no-vcenter') throw new HttpProblem(422, 'Unprocessable Content', r.reason);
        await auditChange(
          store.audit,
          req,
          'host.forget',
          uuid,
          summary,
          { removeFromVcenter: true, job: r.ref.id },
          ctx.now(),
        );
        return reply.code(202).send({ jobId: r.ref.id });
      }
      const r = await store.hostForget.forget(uuid);
      if (!r.host && !r.bootEvents && !r.bootTokens && !r.hostBoots) throw problems.notFound(`host ${req.params.uuid}`);
      await auditChange(store.audit, req, 'host.forget', uuid, summary, r, ctx.now());
      return r;
    },
  );

  unregisteredVerbs(app, ctx);
}

/** `DELETE /api/v1/unregistered?olderThanDays=N` and `DELETE /api/v1/unregistered/:uuid`. */
function unregisteredVerbs(app: FastifyInstance, ctx: WebContext): void {
  const { store } = ctx.deps;
  app.delete<{ Querystring: { olderThanDays: number } }>(
    '/api/v1/unregistered',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Delete unregistered hosts (never assigned or pinned) not seen for olderThanDays days',
        querystring: {
          type: 'object',
          required: ['olderThanDays'],
          properties: { olderThanDays: { type: 'integer', minimum: 1, maximum: 36500 } },
        },
        response: {
          200: { type: 'object', properties: { deleted: { type: 'array', items: { type: 'string' } } } },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const deleted = await store.hostForget.deleteStaleUnregistered(req.query.olderThanDays, ctx.now());
      await auditChange(
        store.audit,
        req,
        'unregistered.delete',
        `older than ${req.query.olderThanDays} days`,
        null,
        { deleted },
        ctx.now(),
      );
      return { deleted };
    },
  );

  app.delete<{ Params: { uuid: string } }>(
    '/api/v1/unregistered/:uuid',
    {
      schema: {
        tags: ['hosts'],
        summary: 'Delete one unregistered host and its sightings',
        params: uuidParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const r = await store.hostForget.deleteUnregistered(req.params.uuid);
      if (r === 'missing') throw problems.notFound(`unregistered host ${req.params.uuid}`);
      if (r === 'registered')
        throw problems.conflict(
          `host ${req.params.uuid} is assigned or pinned, not unregistered: forget it with DELETE /api/v1/hosts/${req.params.uuid}`,
        );
      await auditChange(store.audit, req, 'unregistered.delete', req.params.uuid.toLowerCase(), null, null, ctx.now());
      return reply.code(204).send();
    },
  );
}
