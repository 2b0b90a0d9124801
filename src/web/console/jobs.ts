/**
 * Console jobs: the job list and one job with its steps and log (live updates come from the
 * browser's own `EventSource` on `/api/v1/jobs/:id/events`).
 */
import type { FastifyPluginCallback } from 'fastify';
import { unlessMissing } from './api-call.js';
import { signedIn, type ConsoleOptions } from './render.js';

const enc = encodeURIComponent;

/** Registers `/jobs`, `/jobs/:id`, and the admin's cancel and retry buttons (`POST /jobs/:id/cancel|retry`). */
export const jobPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  app.get('/jobs', async (req, reply) =>
    page(req, reply, 'jobs', {
      title: 'Jobs',
      jobs: await unlessMissing(api(req, reply)('GET', '/api/v1/jobs?limit=200')),
    }),
  );
  app.get<{ Params: { id: string } }>('/jobs/:id', async (req, reply) => {
    const call = api(req, reply);
    const job = await call<{ id: string; steps: unknown[] }>('GET', `/api/v1/jobs/${enc(req.params.id)}`);
    const log = await call('GET', `/api/v1/jobs/${enc(job.id)}/log`);
    return page(req, reply, 'job', { title: `Job ${job.id}`, job, steps: job.steps, log });
  });
  app.post<{ Params: { id: string } }>('/jobs/:id/cancel', signedIn, async (req, reply) => {
    await api(req, reply)('POST', `/api/v1/jobs/${enc(req.params.id)}/cancel`);
    return reply.redirect(`/jobs/${enc(req.params.id)}`, 303);
  });
  app.post<{ Params: { id: string } }>('/jobs/:id/retry', signedIn, async (req, reply) => {
    const ref = await api(req, reply)<{ id: string }>('POST', `/api/v1/jobs/${enc(req.params.id)}/retry`);
    return reply.redirect(`/jobs/${enc(ref.id)}`, 303);
  });
  done();
};
