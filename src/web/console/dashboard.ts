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
    const hosts = await call<Array<{ state: string }>>('GET', '/api/v1/hosts');
    const counts: Record<string, number> = {
      unregistered: 0,
      registered: 0,
      configuring: 0,
      configured: 0,
      failed: 0,
    };
    for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
    const [running, queued, failed, boots] = await Promise.all([
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=running&limit=20')),
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=queued&limit=20')),
      unlessMissing(call<unknown[]>('GET', '/api/v1/jobs?state=failed&limit=10')),
      call<unknown[]>('GET', '/api/v1/boots?limit=10'),
    ]);
    return page(req, reply, 'dashboard', {
      title: 'Dashboard',
      counts,
      total: hosts.length,
      boots,
      running: running && queued ? [...running, ...queued] : null,
      failed,
    });
  });
  done();
};
