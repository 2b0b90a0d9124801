/**
 * Console administration pages: users and the audit log.
 */
import type { FastifyPluginCallback } from 'fastify';
import type { ConsoleOptions } from './render.js';

/** Registers `/users`, `/audit`. */
export const adminPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  app.get('/users', async (req, reply) =>
    page(req, reply, 'users', { title: 'Users', users: await api(req, reply)('GET', '/api/v1/users') }),
  );
  app.get('/audit', async (req, reply) =>
    page(req, reply, 'audit', {
      title: 'Audit log',
      entries: await api(req, reply)('GET', '/api/v1/audit?limit=200'),
    }),
  );
  done();
};
