/**
 * The console's dashboard (`/`): host counts by state, running and failed jobs, the latest boots.
 */
import type { FastifyPluginCallback } from 'fastify';
import { unlessMissing } from './api-call.js';
import type { ConsoleOptions } from './render.js';

/** Registers `/`. */
export const dashboardPage: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  app.get('/', async (req, reply) => {
    const call = api(req, reply);
    // Counted by the store in one query, not by listing every host.
    const { total, ...counts } = await call<Record<string, number> & { total: number }>('GET', '/api/v1/hosts/counts');
    const [running, queued, failed, boots] = await Promise.all([
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=running&limit=20')),
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=queued&limit=20')),
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=failed&limit=10')),
      call<unknown[]>('GET', '/api/v1/boots?limit=10'),
    ]);
    return page(req, reply, 'dashboard', {
      title: 'Dashboard',
      counts,
      total,
      boots,
      running: running && queued ? [...running, ...queued] : null,
      failed,
    });
  });
  done();
};
