/**
 * Console login, logout and first admin: the forms over `POST/DELETE /api/v1/session` and
 * `GET/POST /api/v1/setup`.
 */
import type { FastifyPluginCallback } from 'fastify';
import { HttpProblem } from '../problem.js';
import { one, safeNext, type Form } from './forms.js';
import type { ConsoleOptions, SessionView } from './render.js';

const enc = encodeURIComponent;

/** Registers `/login`, `/logout`, `/setup`. */
export const sessionPages: FastifyPluginCallback<ConsoleOptions> = (app, { api, page }, done) => {
  // ---- login, logout, first admin: POST/DELETE /api/v1/session and POST /api/v1/setup ----
  app.get<{ Querystring: { next?: string } }>('/login', { config: { auth: 'public' } }, async (req, reply) => {
    const s = await api(req, reply)<SessionView>('GET', '/api/v1/session');
    return page(req, reply, 'login', {
      title: 'Log in',
      next: safeNext(req.query.next),
      error: null,
      setupRequired: Boolean(s.setupRequired),
    });
  });
  app.post<{ Body: Form }>('/login', { config: { auth: 'public' } }, async (req, reply) => {
    const next = safeNext(one(req.body, 'next'));
    try {
      await api(req, reply)('POST', '/api/v1/session', {
        username: one(req.body, 'username'),
        password: one(req.body, 'password'),
      });
    } catch (e) {
      if (e instanceof HttpProblem && (e.status === 401 || e.status === 400)) {
        return page(req, reply.code(e.status), 'login', {
          title: 'Log in',
          next,
          error: e.status === 400 ? 'enter a user name and a password' : e.message,
          setupRequired: false,
        });
      }
      throw e;
    }
    return reply.redirect(next, 303);
  });
  app.post('/logout', { config: { auth: 'viewer' } }, async (req, reply) => {
    await api(req, reply)('DELETE', '/api/v1/session');
    return reply.redirect('/login', 303);
  });
  app.get<{ Querystring: { token?: string } }>('/setup', { config: { auth: 'public' } }, async (req, reply) => {
    const token = req.query.token ?? '';
    const valid =
      token !== '' &&
      (await api(req, reply)<{ valid: boolean }>('GET', `/api/v1/setup?token=${enc(token.slice(0, 256))}`)).valid;
    return page(req, reply.code(valid ? 200 : 403), 'setup', {
      title: 'Create the first admin',
      token: req.query.token ?? '',
      valid,
      errors: [],
    });
  });
  app.post<{ Body: Form }>('/setup', { config: { auth: 'public' } }, async (req, reply) => {
    const token = one(req.body, 'token');
    try {
      await api(req, reply)('POST', '/api/v1/setup', {
        token,
        username: one(req.body, 'username'),
        password: one(req.body, 'password'),
      });
    } catch (e) {
      if (e instanceof HttpProblem && e.status < 500 && e.status !== 429) {
        return page(req, reply.code(e.status), 'setup', {
          title: 'Create the first admin',
          token,
          valid: e.status !== 403,
          errors: e.errors ?? [{ path: '', message: e.message }],
        });
      }
      throw e;
    }
    return reply.redirect('/', 303);
  });
  done();
};
