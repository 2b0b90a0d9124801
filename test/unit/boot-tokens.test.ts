/**
 * Per-boot phone-home tokens (src/hosts/tokens.ts over table boot_tokens): the table stays bounded
 * however often a host's boot config is rendered, and expired rows are deleted.
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

describe('BootTokens: bounded table', () => {
  it('keeps at most the newest unused tokens per host however often the boot config is rendered; the newest stay valid', () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    const issued: string[] = [];
    for (let i = 0; i < 1000; i++) issued.push(tokens.issue(U, t0 + i)); // one boot.cfg render each
    const other = tokens.issue(U2, t0 + 1000);
    expect(MAX_UNUSED_TOKENS_PER_HOST).toBe(16);
    expect(rows(U)).toBe(MAX_UNUSED_TOKENS_PER_HOST);
    expect(rows()).toBe(MAX_UNUSED_TOKENS_PER_HOST + 1);
    // a newer boot superseded the older tokens; the newest ones (and the other host's) still work
    expect(tokens.verify(issued[0], U, t0 + 2000)).toEqual({ ok: false, reason: 'unknown' });
    expect(tokens.verify(issued[1000 - MAX_UNUSED_TOKENS_PER_HOST - 1], U, t0 + 2000)).toEqual({
      ok: false,
      reason: 'unknown',
    });
    for (const t of issued.slice(-MAX_UNUSED_TOKENS_PER_HOST))
      expect(tokens.verify(t, U, t0 + 2000)).toEqual({ ok: true, hostUuid: U });
    expect(tokens.verify(other, U2, t0 + 2000)).toEqual({ ok: true, hostUuid: U2 });
  });

  it('used tokens (kept to name a replay) are bounded per host too', () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    let last = '';
    for (let i = 0; i < 100; i++) {
      last = tokens.issue(U, t0 + 2 * i);
      expect(tokens.verify(last, U, t0 + 2 * i + 1)).toMatchObject({ ok: true });
    }
    expect(rows(U)).toBeLessThanOrEqual(2 * MAX_UNUSED_TOKENS_PER_HOST);
    expect(tokens.verify(last, U, t0 + 500)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('deletes expired tokens (any host) when the next token is issued', () => {
    const tokens = new BootTokens(store.tokens, TTL);
    const t0 = Date.now();
    const old = tokens.issue(U, t0 - 2 * TTL); // expired an hour ago
    expect(rows(U)).toBe(1);
    expect(tokens.verify(old, U, t0)).toEqual({ ok: false, reason: 'expired' });
    tokens.issue(U2, t0);
    expect(rows(U)).toBe(0);
    expect(rows()).toBe(1);
    expect(tokens.verify(old, U, t0)).toEqual({ ok: false, reason: 'unknown' });
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
