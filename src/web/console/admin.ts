/**
 * Console administration pages: users, API tokens (`/users/tokens`), the audit log, and the admin
 * verbs on a host (forget — optionally with removal from vCenter, a job —, reset the recorded thumbprint).
 */
import type { FastifyPluginCallback } from 'fastify';
import { HttpProblem } from '../problem.js';
import { one, type Form } from './forms.js';
import { signedIn, type ConsoleOptions } from './render.js';

const enc = encodeURIComponent;

/**
 * Registers `/users`, `/users/tokens` (list, create, revoke), `/audit`, and the buttons of a host's
 * page (`POST /hosts/:uuid/forget`, `POST /hosts/:uuid/reset-thumbprint`).
 */
export const adminPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  app.get('/users', async (req, reply) =>
    page(req, reply, 'users', { title: 'Users', users: await api(req, reply)('GET', '/api/v1/users') }),
  );
  const tokensPage = async (req: Parameters<typeof page>[0], reply: Parameters<typeof page>[1], created: unknown) =>
    page(req, reply, 'tokens', {
      title: 'API tokens',
      tokens: await api(req, reply)('GET', '/api/v1/tokens'),
      created,
      now: Date.now(),
    });
  app.get('/users/tokens', (req, reply) => tokensPage(req, reply, null));
  app.post<{ Body: Form }>('/users/tokens', signedIn, async (req, reply) => {
    const expires = one(req.body, 'expires');
    if (expires && !/^\d{4}-\d{2}-\d{2}$/.test(expires))
      throw new HttpProblem(400, 'Bad Request', `expires: "${expires}" is not a date (YYYY-MM-DD)`);
    const created = await api(req, reply)('POST', '/api/v1/tokens', {
      name: one(req.body, 'name'),
      role: one(req.body, 'role'),
      ...(expires ? { expiresAt: `${expires}T00:00:00Z` } : {}),
    });
    return tokensPage(req, reply.code(201), created);
  });
  app.post<{ Params: { id: string }; Body: Form }>('/users/tokens/:id/revoke', signedIn, async (req, reply) => {
    await api(req, reply)('DELETE', `/api/v1/tokens/${encodeURIComponent(req.params.id)}`);
    return reply.redirect('/users/tokens', 303);
  });
  // "Also remove from vCenter" checked: the remove-host job is queued and its page shown (the host
  // is forgotten when the job succeeds); else the host is forgotten at once.
  app.post<{ Params: { uuid: string }; Body: Form }>('/hosts/:uuid/forget', signedIn, async (req, reply) => {
    if (one(req.body, 'removeFromVcenter') === 'on') {
      const path = `/api/v1/hosts/${enc(req.params.uuid)}?removeFromVcenter=true`;
      const r = await api(req, reply)<{ jobId: string }>('DELETE', path);
      return reply.redirect(`/jobs/${enc(r.jobId)}`, 303);
    }
    await api(req, reply)('DELETE', `/api/v1/hosts/${enc(req.params.uuid)}`);
    return reply.redirect('/hosts', 303);
  });
  app.post<{ Params: { uuid: string } }>('/hosts/:uuid/reset-thumbprint', signedIn, async (req, reply) => {
    await api(req, reply)('DELETE', `/api/v1/hosts/${enc(req.params.uuid)}/thumbprint`);
    return reply.redirect(`/hosts/${enc(req.params.uuid)}`, 303);
  });
  app.get('/audit', async (req, reply) =>
    page(req, reply, 'audit', {
      title: 'Audit log',
      entries: await api(req, reply)('GET', '/api/v1/audit?limit=200'),
    }),
  );
  done();
};
