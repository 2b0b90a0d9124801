/**
 * The SQL executor (src/store/sql.ts) behaves the same on SQLite and on a real PostgreSQL (a
 * private cluster): placeholders, RETURNING ids, changed-row counts, transactions that commit,
 * roll back, join nested calls, and keep statements from elsewhere out of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { openDatabase } from '../../src/store/db.js';
import { openPostgres } from '../../src/store/pg.js';
import { PostgresSql, SqliteSql, toPostgresPlaceholders, type Sql } from '../../src/store/sql.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

let pgc: PgCluster;
let pool: pg.Pool;
const executors: Record<string, () => Sql> = {};

beforeAll(async () => {
  pgc = await startPostgres();
  pool = await openPostgres(pgc.url);
  const lite = await openDatabase(':memory:');
  const sqlite = new SqliteSql(lite);
  const postgres = new PostgresSql(pool);
  executors.sqlite = () => sqlite;
  executors.postgres = () => postgres;
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await pgc?.destroy();
});

describe.each(['sqlite', 'postgres'])('Sql on %s', (dialect) => {
  const sql = () => executors[dialect]!();
  const actor = `t-${dialect}`;

  it('binds ? placeholders, returns inserted ids and changed-row counts', async () => {
    const a = await sql().get<{ id: number }>(
      'INSERT INTO audit_log (at, actor, action, target) VALUES (?, ?, ?, ?) RETURNING id',
      [1000, actor, 'first', "it's ?"],
    );
    const b = await sql().get<{ id: number }>(
      'INSERT INTO audit_log (at, actor, action) VALUES (?, ?, ?) RETURNING id',
      [2000, actor, 'second'],
    );
    expect(b!.id).toBeGreaterThan(a!.id);
    const rows = await sql().all<{ action: string; target: string | null; at: number }>(
      "SELECT action, target, at FROM audit_log WHERE actor = ? AND action <> '?' ORDER BY id",
      [actor],
    );
    expect(rows).toEqual([
      { action: 'first', target: "it's ?", at: 1000 },
      { action: 'second', target: null, at: 2000 },
    ]);
    expect(await sql().run('UPDATE audit_log SET target = ? WHERE actor = ?', ['x', actor])).toBe(2);
    expect(await sql().get('SELECT 1 AS one FROM audit_log WHERE actor = ?', ['nobody'])).toBeUndefined();
  });

  it('commits a transaction; rolls it back whole when it throws', async () => {
    await sql().tx(async (t) => {
      await t.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-a`, '1']);
      await t.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-b`, '2']);
    });
    await expect(
      sql().tx(async (t) => {
        await t.run('UPDATE settings SET value = ? WHERE key = ?', ['changed', `${actor}-a`]);
        // Through the executor itself, not `t`: still inside the transaction, so rolled back too.
        await sql().run('DELETE FROM settings WHERE key = ?', [`${actor}-b`]);
        throw new Error('step failed');
      }),
    ).rejects.toThrow('step failed');
    const kept = await sql().all<{ key: string; value: string }>(
      'SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key',
      [`${actor}-%`],
    );
    expect(kept).toEqual([
      { key: `${actor}-a`, value: '1' },
      { key: `${actor}-b`, value: '2' },
    ]);
  });

  it('a statement from elsewhere is not part of an open transaction that rolls back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const failing = sql()
      .tx(async (t) => {
        await t.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-tx`, 'doomed']);
        entered();
        await gate;
        throw new Error('abort');
      })
      .catch((e: Error) => e.message);
    await inside;
    // Issued from outside the transaction's context while it is open.
    const outside = sql().run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-outside`, 'kept']);
    release();
    expect(await failing).toBe('abort');
    expect(await outside).toBe(1);
    const keys = await sql().all<{ key: string }>('SELECT key FROM settings WHERE key IN (?, ?) ORDER BY key', [
      `${actor}-outside`,
      `${actor}-tx`,
    ]);
    expect(keys.map((k) => k.key)).toEqual([`${actor}-outside`]);
  });

  it('a tx inside a tx joins the outer one', async () => {
    await expect(
      sql().tx(async () => {
        await sql().tx(async (inner) => {
          await inner.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-nested`, 'v']);
        });
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    expect(await sql().get('SELECT key FROM settings WHERE key = ?', [`${actor}-nested`])).toBeUndefined();
  });

  it("work a transaction scheduled runs outside it once it ended, not in a later one's rollback", async () => {
    // As a job queued inside a phone-home's transaction starts later (setImmediate): its writes
    // must neither ride on the released connection nor join whatever transaction is open by then.
    let go!: () => void;
    const gate = new Promise<void>((r) => (go = r));
    let later!: Promise<number>;
    await sql().tx(async (t) => {
      await t.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-first`, '1']);
      setImmediate(() => {
        later = gate.then(() => sql().run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-later`, '1']));
      });
    });
    await new Promise((r) => setImmediate(r));
    await expect(
      sql().tx(async (t) => {
        await t.run('INSERT INTO settings (key, value) VALUES (?, ?)', [`${actor}-rolled-back`, '1']);
        go();
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await later).toBe(1);
    const keys = await sql().all<{ key: string }>('SELECT key FROM settings WHERE key LIKE ? ORDER BY key', [
      `${actor}-%`,
    ]);
    expect(keys.map((k) => k.key)).toEqual(expect.arrayContaining([`${actor}-first`, `${actor}-later`]));
    expect(keys.map((k) => k.key)).not.toContain(`${actor}-rolled-back`);
  });
});

describe('toPostgresPlaceholders', () => {
  it.each([
    ['SELECT * FROM t WHERE a = ? AND b = ?', 'SELECT * FROM t WHERE a = $1 AND b = $2'],
    ["SELECT '?' AS q, ? AS p", "SELECT '?' AS q, $1 AS p"],
    ['SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = $1'],
    ["SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"],
  ])('%s', (input, output) => {
    expect(toPostgresPlaceholders(input)).toBe(output);
  });
});
