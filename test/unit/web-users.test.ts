/**
 * Console users over the API with a real store: password changes (your own needs the current
 * password; an admin resetting someone else's does not), expired sessions pruned at login, role
 * and disable changes, deletion, and the last enabled admin that can be neither demoted nor removed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { sha256 } from '../../src/web/auth/tokens.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { makeApp, loginAs, call, PASSWORD, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';

describe('web users: passwords and sessions', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let view: Client;
  const idOf = async (name: string) => (await store.users.getByName(name))!.id;

  beforeAll(async () => {
    ({ app, store } = await makeApp({ loginRateLimit: { max: 100, timeWindowMs: 60_000 } }));
    admin = await loginAs(app, 'admin');
    view = await loginAs(app, 'view');
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it('refuses a self-service change without the current password (422) or with a wrong one (403); the old password keeps working', async () => {
    const url = `/api/v1/users/${await idOf('view')}/password`;
    const missing = await call(app, view, 'PUT', url, { password: 'new-view-password' });
    expect(missing.statusCode).toBe(422);
    expect(missing.json<ProblemBody>().errors).toEqual([
      { path: '/body/currentPassword', message: 'required to change your own password' },
    ]);
    const wrong = await call(app, view, 'PUT', url, {
      password: 'new-view-password',
      currentPassword: 'not my password',
    });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json<ProblemBody>().detail).toBe('the current password is wrong');
    await expect(loginAs(app, 'view', 'new-view-password')).rejects.toThrow(/401/);
    view = await loginAs(app, 'view', PASSWORD);
    // Nor may a viewer set someone else's, with or without a password.
    expect(
      (
        await call(app, view, 'PUT', `/api/v1/users/${await idOf('op')}/password`, {
          password: 'new-op-password',
          currentPassword: PASSWORD,
        })
      ).statusCode,
    ).toBe(403);
  });

  it('changes your own password with the current one; the change ends your sessions', async () => {
    const res = await call(app, view, 'PUT', `/api/v1/users/${await idOf('view')}/password`, {
      password: 'new-view-password',
      currentPassword: PASSWORD,
    });
    expect(res.statusCode).toBe(204);
    expect((await call(app, view, 'GET', '/api/v1/hosts')).statusCode).toBe(401);
    await expect(loginAs(app, 'view', PASSWORD)).rejects.toThrow(/401/);
    view = await loginAs(app, 'view', 'new-view-password');
    expect((await store.audit.list(10)).find((e) => e.action === 'user.password')).toMatchObject({
      actor: 'view',
      target: 'view',
    });
  });

  it("needs the current password for an admin's own change too, but not for an admin resetting another user", async () => {
    expect(
      (
        await call(app, admin, 'PUT', `/api/v1/users/${await idOf('admin')}/password`, {
          password: 'new-admin-password',
        })
      ).statusCode,
    ).toBe(422);
    const reset = await call(app, admin, 'PUT', `/api/v1/users/${await idOf('op')}/password`, {
      password: 'reset-op-password',
    });
    expect(reset.statusCode).toBe(204);
    await loginAs(app, 'op', 'reset-op-password');
  });

  it('prunes expired sessions when someone logs in, keeping live ones', async () => {
    const t = Date.now();
    await store.users.createSession(sha256('expired-1'), await idOf('op'), t - 7200_000, t - 3600_000);
    await store.users.createSession(sha256('expired-2'), await idOf('view'), t - 7200_000, t - 1);
    const live = () =>
      sqliteOf(store).prepare('SELECT count(*) FROM sessions WHERE expires_at > ?').pluck().get(Date.now()) as number;
    const liveBefore = live();
    await loginAs(app, 'admin');
    const expired = sqliteOf(store)
      .prepare('SELECT count(*) FROM sessions WHERE expires_at <= ?')
      .pluck()
      .get(Date.now()) as number;
    expect(expired).toBe(0);
    expect(live()).toBe(liveBefore + 1);
    expect((await call(app, admin, 'GET', '/api/v1/hosts')).statusCode).toBe(200);
  });
});

describe('web users: PATCH and DELETE /api/v1/users/:id', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  const idOf = async (name: string) => (await store.users.getByName(name))!.id;

  beforeAll(async () => {
    ({ app, store } = await makeApp());
    admin = await loginAs(app, 'admin');
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it('changes a role and disables a user (their session stops working), audited with before/after', async () => {
    const op = await loginAs(app, 'op');
    const promote = await call(app, admin, 'PATCH', `/api/v1/users/${await idOf('view')}`, { role: 'operator' });
    expect(promote.statusCode).toBe(200);
    expect(promote.json()).toMatchObject({ username: 'view', role: 'operator', disabled: false });
    expect((await store.users.getByName('view'))!.role).toBe('operator');
    const disable = await call(app, admin, 'PATCH', `/api/v1/users/${await idOf('op')}`, { disabled: true });
    expect(disable.statusCode).toBe(200);
    expect((await call(app, op, 'GET', '/api/v1/hosts')).statusCode).toBe(401);
    await expect(loginAs(app, 'op')).rejects.toThrow(/401/);
    const audit = (await store.audit.list(10))
      .filter((e) => e.action === 'user.update')
      .map((e) => [e.target, e.before, e.after]);
    expect(audit).toEqual([
      ['op', { role: 'operator', disabled: false }, { role: 'operator', disabled: true }],
      ['view', { role: 'viewer', disabled: false }, { role: 'operator', disabled: false }],
    ]);
    expect((await call(app, admin, 'PATCH', `/api/v1/users/${await idOf('view')}`, {})).statusCode).toBe(400);
    expect((await call(app, admin, 'PATCH', '/api/v1/users/9999', { role: 'viewer' })).statusCode).toBe(404);
  });

  it('refuses to demote, disable or delete the last enabled admin (409), and changes nothing', async () => {
    const id = await idOf('admin');
    for (const [method, body] of [
      ['PATCH', { role: 'viewer' }],
      ['PATCH', { disabled: true }],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(app, admin, method, `/api/v1/users/${id}`, body);
      expect(res.statusCode).toBe(409);
      expect(res.json<ProblemBody>().detail).toMatch(/last admin/);
    }
    expect(await store.users.get(id)).toMatchObject({ role: 'admin', disabled: false });
  });

  it('deletes a user (204, gone, audited); with a second admin the first may go, then the second is the last', async () => {
    expect((await call(app, admin, 'DELETE', `/api/v1/users/${await idOf('op')}`)).statusCode).toBe(204);
    expect(await store.users.getByName('op')).toBeUndefined();
    expect((await store.audit.list(5)).find((e) => e.action === 'user.delete')).toMatchObject({
      actor: 'admin',
      target: 'op',
    });
    expect((await call(app, admin, 'DELETE', `/api/v1/users/${(await idOf('admin')) + 1000}`)).statusCode).toBe(404);
    expect(
      (
        await call(app, admin, 'POST', '/api/v1/users', {
          username: 'admin2',
          password: 'admin2-password',
          role: 'admin',
        })
      ).statusCode,
    ).toBe(201);
    const admin2 = await loginAs(app, 'admin2', 'admin2-password');
    expect((await call(app, admin2, 'DELETE', `/api/v1/users/${await idOf('admin')}`)).statusCode).toBe(204);
    expect((await call(app, admin2, 'DELETE', `/api/v1/users/${await idOf('admin2')}`)).statusCode).toBe(409);
    expect((await store.users.list()).map((u) => u.username)).toEqual(['admin2', 'view']);
  });
});

describe('web users: guessing the current password', () => {
  it('counts wrong current-password checks against the login rate limit (429)', async () => {
    const { app, store } = await makeApp({ loginRateLimit: { max: 3, timeWindowMs: 60_000 } });
    const view = await loginAs(app, 'view');
    const url = `/api/v1/users/${(await store.users.getByName('view'))!.id}/password`;
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push(
        (await call(app, view, 'PUT', url, { password: 'new-view-password', currentPassword: `guess-${i}` }))
          .statusCode,
      );
    expect(codes).toEqual([403, 403, 429]);
    expect(
      (await call(app, view, 'PUT', url, { password: 'new-view-password', currentPassword: PASSWORD })).statusCode,
    ).toBe(429);
    await app.close();
    store.close();
  });
});
