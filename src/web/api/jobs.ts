/**
 * Jobs: `/api/v1/jobs` — list, one job with its steps, its log, and live updates as
 * Server-Sent Events (WHATWG HTML §9.2: `event:` / `id:` / `data:` lines). The stream sends
 * `log` events (one per log line, `id` = line id, so `Last-Event-ID` resumes), `job` events (the job
 * with its steps) when its state or a step changes, and ends after the job reaches a final state.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { errorResponses } from '../schemas.js';
import { problems } from '../problem.js';
import type { JobReader } from '../deps.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'blocked']);
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128 } } } as const;

/** Poll period of the SSE stream, ms. */
const POLL_MS = 400;
/** Longest a stream stays open, ms (clients reconnect with Last-Event-ID). */
const MAX_STREAM_MS = 30 * 60_000;

/**
 * Streams a job's log, state and steps as SSE until it is final, the client leaves, or the time
 * cap. A `job` event (the job with its steps) is sent first and then whenever the job's state or a
 * step (added, state, fault, times) changes.
 */
export function streamJob(
  jobs: JobReader,
  req: FastifyRequest,
  reply: FastifyReply,
  id: string,
  afterId: number,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let last = afterId;
  let lastJob = '';
  let closed = false;
  const started = Date.now();
  const send = (event: string, data: unknown, eventId?: number) => {
    res.write(`event: ${event}\n${eventId !== undefined ? `id: ${eventId}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  };
  const tick = async () => {
    if (closed) return;
    try {
      const job = await jobs.get(id);
      for (const line of await jobs.log(id, last)) {
        send('log', line, line.id);
        last = line.id;
      }
      if (job) {
        const view = { ...job, steps: await jobs.steps(id) };
        const seen = JSON.stringify(view);
        if (seen !== lastJob) {
          lastJob = seen;
          send('job', view);
        }
      }
      if (!job || FINAL.has(job.state) || Date.now() - started > MAX_STREAM_MS) {
        send('end', { state: job?.state ?? 'unknown' });
        closed = true;
        res.end();
        return;
      }
      setTimeout(() => void tick(), POLL_MS).unref();
    } catch (e) {
      req.log.warn({ err: e, job: id }, 'job stream failed');
      closed = true;
      res.end();
    }
  };
  req.raw.on('close', () => {
    closed = true;
  });
  res.write(': statelesx job stream\nretry: 2000\n\n');
  void tick();
}

export function jobRoutes(app: FastifyInstance, ctx: WebContext): void {
  jobReadRoutes(app, ctx);
  jobLogRoutes(app, ctx);
}

/** `/api/v1/jobs` and one job with its steps. */
function jobReadRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Querystring: { state?: string; target?: string; limit: number } }>(
    '/api/v1/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Jobs, newest first',
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'blocked', 'cancelled'] },
            target: { type: 'string', maxLength: 256 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: { type: 'array', items: { $ref: 'Job#' } }, ...errorResponses },
      },
    },
    (req) => need(ctx, 'jobs', 'the jobs store').list({ ...req.query }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'One job with its steps',
        params: idParams,
        response: {
          200: {
            allOf: [
              { $ref: 'Job#' },
              { type: 'object', properties: { steps: { type: 'array', items: { $ref: 'JobStep#' } } } },
            ],
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const jobs = need(ctx, 'jobs', 'the jobs store');
      const job = await jobs.get(req.params.id);
      if (!job) throw problems.notFound(`job ${req.params.id}`);
      return { ...job, steps: await jobs.steps(job.id) };
    },
  );
}

/** A job's log: `/api/v1/jobs/:id/log` (polling) and `/api/v1/jobs/:id/events` (SSE). */
function jobLogRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Params: { id: string }; Querystring: { after: number } }>(
    '/api/v1/jobs/:id/log',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Log lines after a line id',
        params: idParams,
        querystring: { type: 'object', properties: { after: { type: 'integer', minimum: 0, default: 0 } } },
        response: { 200: { type: 'array', items: { $ref: 'JobLogLine#' } }, ...errorResponses },
      },
    },
    async (req) => {
      const jobs = need(ctx, 'jobs', 'the jobs store');
      if (!(await jobs.get(req.params.id))) throw problems.notFound(`job ${req.params.id}`);
      return jobs.log(req.params.id, req.query.after);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Live log, state and steps as Server-Sent Events (text/event-stream)',
        params: idParams,
        produces: ['text/event-stream'],
        response: {
          200: {
            type: 'string',
            description:
              'an event stream: `log` events (id = log line id; resume with Last-Event-ID), `job` events (the job with its steps) when the state or a step changes, then `end`',
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const jobs = need(ctx, 'jobs', 'the jobs store');
      if (!(await jobs.get(req.params.id))) throw problems.notFound(`job ${req.params.id}`);
      const lastId = Number(req.headers['last-event-id'] ?? 0);
      streamJob(jobs, req, reply, req.params.id, Number.isFinite(lastId) && lastId > 0 ? lastId : 0);
    },
  );
}
