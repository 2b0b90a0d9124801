/**
 * The audit, settings, users/sessions and API-token repositories behave the same on SQLite and on
 * a real PostgreSQL (issue 18: one repository, two stores): ids, ordering, unique names, the
 * first-admin race, session expiry, the last-used throttle and first-writer-wins settings.
 */
import { describe, expect, it } from 'vitest';
import { AuditRepo, SettingsRepo } from '../../src/store/audit.js';
import { DuplicateUserError, UserRepo } from '../../src/store/users.js';
import { ApiTokenRepo, DuplicateApiTokenError, LAST_USED_RESOLUTION_MS } from '../../src/store/api-tokens.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();

describe.each(STORE_DIALECTS)('store repositories on %s', (dialect) => {
  it('audit log: ids grow, newest first, paging by id, JSON before/after kept', async () => {
    const audit = new AuditRepo(await fresh(dialect));
    const ids: number[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        await audit.add({ at: 1000 + i, actor: 'admin', action: `a${i}`, target: null, before: null, after: { i } }),
      );
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const page = await audit.list(2);
    expect(page.map((e) => e.action)).toEqual(['a4', 'a3']);
    expect(page[0]).toMatchObject({ actor: 'admin', at: 1004, before: null, after: { i: 4 } });
    expect((await audit.list(10, page[1]!.id)).map((e) => e.action)).toEqual(['a2', 'a1', 'a0']);
  });

  it('settings: set replaces, setIfAbsent keeps the first writer, delete removes', async () => {
    const settings = new SettingsRepo(await fresh(dialect));
    expect(await settings.get('k')).toBeUndefined();
    await settings.set('k', 'one');
    await settings.set('k', 'two');
    expect(await settings.get('k')).toBe('two');
    const raced = await Promise.all(['x', 'y', 'z'].map((v) => settings.setIfAbsent('key', v)));
    expect(new Set(raced).size).toBe(1);
    expect(await settings.get('key')).toBe(raced[0]);
    await settings.delete('k');
    expect(await settings.get('k')).toBeUndefined();
  });

  it('users: create, duplicate name refused, update/disable ends sessions, admin count', async () => {
    const users = new UserRepo(await fresh(dialect));
    const a = await users.create('alice', 'hash-a', 'admin', 10);
    expect(a).toEqual({ id: a.id, username: 'alice', role: 'admin', createdAt: 10, disabled: false });
    await expect(users.create('alice', 'h', 'viewer')).rejects.toBeInstanceOf(DuplicateUserError);
    const b = await users.create('bob', 'hash-b', 'operator', 11);
    expect((await users.list()).map((u) => u.username)).toEqual(['alice', 'bob']);
    expect(await users.passwordHash('bob')).toEqual({ user: b, hash: 'hash-b' });
    await users.createSession('s-bob', b.id, 100, 10_000);
    expect(await users.getSession('s-bob', 200)).toMatchObject({ idHash: 's-bob', user: { username: 'bob' } });
    expect(await users.getSession('s-bob', 10_000)).toBeUndefined(); // expired
    expect(await users.update(b.id, { role: 'admin', disabled: true })).toMatchObject({
      role: 'admin',
      disabled: true,
    });
    expect(await users.getSession('s-bob', 200)).toBeUndefined(); // disabling ended it
    expect(await users.adminCount()).toBe(1); // bob is disabled
    await users.createSession('s-alice', a.id, 100, 500);
    expect(await users.setPassword(a.id, 'hash-a2')).toBe(true);
    expect(await users.getSession('s-alice', 200)).toBeUndefined();
    expect(await users.setPassword(9999, 'x')).toBe(false);
    await users.createSession('old', a.id, 1, 2);
    expect(await users.pruneSessions(3)).toBe(1);
    expect(await users.delete(b.id)).toBe(true);
    expect(await users.count()).toBe(1);
  });

  it('users: createFirst makes exactly one user when several race', async () => {
    const users = new UserRepo(await fresh(dialect));
    const made = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((n) => users.createFirst(n, 'h', 'admin')));
    expect(made.filter((u) => u !== undefined)).toHaveLength(1);
    expect(await users.count()).toBe(1);
  });

  it('API tokens: create, unique names, lookup by hash, throttled touch, revoke', async () => {
    const tokens = new ApiTokenRepo(await fresh(dialect));
    const t = await tokens.create({
      name: 'ci',
      role: 'operator',
      hash: 'h1',
      createdBy: 'admin',
      at: 5,
      expiresAt: null,
    });
    expect(t).toEqual({
      id: t.id,
      name: 'ci',
      role: 'operator',
      createdAt: 5,
      createdBy: 'admin',
      expiresAt: null,
      lastUsedAt: null,
    });
    await expect(
      tokens.create({ name: 'ci', role: 'viewer', hash: 'h2', createdBy: 'admin', at: 6, expiresAt: 99 }),
    ).rejects.toBeInstanceOf(DuplicateApiTokenError);
    expect(await tokens.findByHash('h1')).toEqual(t);
    expect(await tokens.getByName('ci')).toEqual(t);
    expect(await tokens.touch(t.id, 1_000_000)).toBe(true);
    expect(await tokens.touch(t.id, 1_000_000 + LAST_USED_RESOLUTION_MS - 1)).toBe(false);
    expect(await tokens.touch(t.id, 1_000_000 + LAST_USED_RESOLUTION_MS)).toBe(true);
    expect((await tokens.get(t.id))!.lastUsedAt).toBe(1_000_000 + LAST_USED_RESOLUTION_MS);
    expect(await tokens.delete(t.id)).toBe(true);
    expect(await tokens.delete(t.id)).toBe(false);
    expect(await tokens.list()).toEqual([]);
  });
});
