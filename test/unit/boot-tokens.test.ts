/**
 * Per-boot phone-home tokens (src/hosts/tokens.ts over table boot_tokens): one live token per host
 * per boot window, so renders by anyone never evict the token a host booted with (issue 16,
 * finding 5); the table stays bounded and expired rows are deleted.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens, MAX_UNUSED_TOKENS_PER_HOST } from '../../src/hosts/tokens.js';
import { sqliteOf } from '../../src/store/inspect.js';

const U = '4c4c4544-0042-4610-8053-b3c04f345433';
const U2 = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
const TTL = 3_600_000;

let store: Store;
beforeEach(async () => {
  store = await openStore(':memory:');
});
afterEach(() => store.close());

const rows = (host?: string): number =>
  (host
    ? sqliteOf(store).prepare('SELECT count(*) FROM boot_tokens WHERE host_uuid = ?').pluck().get(host)
    : sqliteOf(store).prepare('SELECT count(*) FROM boot_tokens').pluck().get()) as number;

describe('BootTokens: one live token per host per boot window', () => {
  it('renders within the window return the same token: 1000 fetches write one row and never evict the token the host booted with', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    const booted = await tokens.issue(U, t0); // the real host's boot.cfg
    const issued = new Set<string>();
    for (let i = 1; i <= 1000; i++) issued.add(await tokens.issue(U, t0 + i)); // anyone fetching its boot.cfg / ks.cfg
    expect([...issued]).toEqual([booted]);
    expect(rows(U)).toBe(1);
    // The real host phones home with the token it booted with (this was token-unknown after 16 fetches).
    expect(await tokens.verify(booted, U, t0 + 2000)).toEqual({ ok: true, hostUuid: U });
    // Booting again after the phone-home: a new token.
    const next = await tokens.issue(U, t0 + 3000);
    expect(next).not.toBe(booted);
    expect(await tokens.verify(next, U, t0 + 3001)).toEqual({ ok: true, hostUuid: U });
  });

  it('renders of one host that arrive together get one token and write one row', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    const all = await Promise.all(Array.from({ length: 10 }, () => tokens.issue(U, t0)));
    expect(new Set(all).size).toBe(1);
    expect(rows(U)).toBe(1);
    expect(await tokens.verify(all[0], U, t0 + 1)).toEqual({ ok: true, hostUuid: U });
  });

  it('after the window a render mints a new token; the earlier one stays valid for its whole lifetime', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    expect(tokens.windowMs).toBe(TTL / 2);
    const t0 = Date.now();
    const first = await tokens.issue(U, t0);
    expect(await tokens.issue(U, t0 + TTL / 2)).toBe(first);
    const second = await tokens.issue(U, t0 + TTL / 2 + 1);
    expect(second).not.toBe(first);
    for (let i = 0; i < 100; i++) expect(await tokens.issue(U, t0 + TTL / 2 + 2 + i)).toBe(second);
    expect(rows(U)).toBe(2);
    expect(await tokens.verify(first, U, t0 + TTL - 1)).toEqual({ ok: true, hostUuid: U });
    expect(await tokens.verify(second, U, t0 + TTL - 1)).toEqual({ ok: true, hostUuid: U });
  });

  it('hosts do not share tokens, and the store holds only hashes', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const a = await tokens.issue(U);
    const b = await tokens.issue(U2);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const dump = JSON.stringify(sqliteOf(store).prepare('SELECT * FROM boot_tokens').all());
    expect(dump).not.toContain(a);
    expect(dump).not.toContain(b);
    expect(await tokens.verify(b, U)).toEqual({ ok: false, reason: 'other-host' });
  });

  it('a restart (a new key) mints anew; unused tokens per host stay bounded even then, the newest valid', async () => {
    const t0 = Date.now();
    const issued: string[] = [];
    for (let i = 0; i < 100; i++) issued.push(await new BootTokens(store.tokens, TTL).issue(U, t0 + i));
    expect(new Set(issued).size).toBe(100);
    expect(MAX_UNUSED_TOKENS_PER_HOST).toBe(16);
    expect(rows(U)).toBe(MAX_UNUSED_TOKENS_PER_HOST);
    const tokens = new BootTokens(store.tokens, TTL);
    for (const t of issued.slice(-MAX_UNUSED_TOKENS_PER_HOST))
      expect(await tokens.verify(t, U, t0 + 2000)).toEqual({ ok: true, hostUuid: U });
    expect(await tokens.verify(issued[0], U, t0 + 2000)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('used tokens (kept to name a replay) are bounded per host too', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    let last = '';
    for (let i = 0; i < 100; i++) {
      last = await tokens.issue(U, t0 + 2 * i);
      expect(await tokens.verify(last, U, t0 + 2 * i + 1)).toMatchObject({ ok: true });
    }
    expect(rows(U)).toBeLessThanOrEqual(2 * MAX_UNUSED_TOKENS_PER_HOST);
    expect(await tokens.verify(last, U, t0 + 500)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('deletes expired tokens (any host) when the next token is issued', async () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    const old = await tokens.issue(U, t0 - 2 * TTL); // expired an hour ago
    expect(rows(U)).toBe(1);
    expect(await tokens.verify(old, U, t0)).toEqual({ ok: false, reason: 'expired' });
    await tokens.issue(U2, t0);
    expect(rows(U)).toBe(0);
    expect(rows()).toBe(1);
    expect(await tokens.verify(old, U, t0)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('the expiry purge uses an index (no full scan of boot_tokens)', () => {
    const plan = sqliteOf(store)
      .prepare('EXPLAIN QUERY PLAN DELETE FROM boot_tokens WHERE expires_at < ?')
      .all(0) as Array<{
      detail: string;
    }>;
    expect(plan.map((p) => p.detail).join('\n')).toMatch(/USING (COVERING )?INDEX/);
  });
});
