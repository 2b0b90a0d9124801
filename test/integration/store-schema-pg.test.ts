/**
 * One schema history, two dialects (issue 18): every migration applied to a real PostgreSQL
 * (a private cluster, test/helpers/postgres.ts) ends with the same tables, columns, NOT NULLs,
 * primary keys and indexes as the SQLite store; servers starting together migrate once; a bad
 * URL fails with a clear error that never shows the password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Database } from 'better-sqlite3';
import { openDatabase, StoreOpenError } from '../../src/store/db.js';
import { migratePostgres, openPostgres, redactDatabaseUrl } from '../../src/store/pg.js';
import { migrations } from '../../src/store/migrations/index.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

/** table -> "column notnull pk" lines, and the sorted index names (explicit indexes only). */
interface SchemaShape {
  tables: Record<string, string[]>;
  indexes: string[];
}

function sqliteShape(db: Database): SchemaShape {
  const tables: Record<string, string[]> = {};
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  for (const t of names) {
    const cols = db.prepare(`PRAGMA table_info(${t})`).all() as { name: string; notnull: number; pk: number }[];
    tables[t] = cols.map((c) => `${c.name} ${c.notnull || c.pk ? 'notnull' : 'null'} ${c.pk ? 'pk' : '-'}`).sort();
  }
  const indexes = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
    .pluck()
    .all() as string[];
  return { tables, indexes };
}

async function pgShape(c: pg.Pool): Promise<SchemaShape> {
  const cols = await c.query<{ table_name: string; column_name: string; is_nullable: string; pk: boolean }>(`
    SELECT c.table_name, c.column_name, c.is_nullable,
           EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                   JOIN information_schema.table_constraints tc
                     ON tc.constraint_name = k.constraint_name AND tc.constraint_type = 'PRIMARY KEY'
                   WHERE k.table_name = c.table_name AND k.column_name = c.column_name) AS pk
    FROM information_schema.columns c WHERE c.table_schema = 'public'`);
  const tables: Record<string, string[]> = {};
  for (const r of cols.rows)
    (tables[r.table_name] ??= []).push(
      `${r.column_name} ${r.is_nullable === 'NO' ? 'notnull' : 'null'} ${r.pk ? 'pk' : '-'}`,
    );
  for (const t of Object.keys(tables)) tables[t]!.sort();
  // Indexes made by CREATE INDEX (not those behind PRIMARY KEY / UNIQUE constraints).
  const idx = await c.query<{ indexname: string }>(`
    SELECT indexname FROM pg_indexes i WHERE schemaname = 'public'
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname) ORDER BY indexname`);
  return { tables: Object.fromEntries(Object.entries(tables).sort()), indexes: idx.rows.map((r) => r.indexname) };
}

describe('PostgreSQL store schema', () => {
  let pgc: PgCluster;
  beforeAll(async () => {
    pgc = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await pgc?.destroy();
  });

  it('two servers starting together migrate once, and the schema equals SQLite’s', async () => {
    const a = new pg.Pool({ connectionString: pgc.url, max: 2 });
    const b = new pg.Pool({ connectionString: pgc.url, max: 2 });
    try {
      const [ra, rb] = await Promise.all([migratePostgres(a), migratePostgres(b)]);
      // One applied every migration; the other waited on the advisory lock and found none to do.
      expect([ra.length, rb.length].sort((x, y) => x - y)).toEqual([0, migrations.length]);
      const rows = await a.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows.rows[0]!.n).toBe(migrations.length);
      const lite = await openDatabase(':memory:');
      expect(await pgShape(a)).toEqual(sqliteShape(lite));
      lite.close();
      // A later start finds nothing to do.
      expect(await migratePostgres(b)).toEqual([]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  }, 60_000);

  it('epoch milliseconds come back as numbers (BIGINT parsed)', async () => {
    const pool = await openPostgres(pgc.url);
    try {
      const at = Date.UTC(2026, 11, 7, 18, 0, 0, 123);
      await pool.query('INSERT INTO audit_log (at, actor, action) VALUES ($1, $2, $3)', [at, 'test', 'probe']);
      const r = await pool.query<{ at: unknown; id: unknown }>("SELECT at, id FROM audit_log WHERE action = 'probe'");
      expect(r.rows[0]!.at).toBe(at);
      expect(typeof r.rows[0]!.id).toBe('number');
    } finally {
      await pool.end();
    }
  });

  it('a wrong password or a missing server fails with the URL, password redacted', async () => {
    const wrong = pgc.url.replace(encodeURIComponent(pgc.password), 'Secret-Wrong-pw');
    const e1 = await openPostgres(wrong).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(StoreOpenError);
    expect((e1 as Error).message).toMatch(/password authentication failed/);
    expect((e1 as Error).message).toContain('postgresql://statelesx:***@/statelesx?host=');
    expect((e1 as Error).message).not.toContain('Secret-Wrong-pw');
    const gone = pgc.url.replace(/host=[^&]+/, 'host=%2Fnonexistent-statelesx');
    const e2 = await openPostgres(gone).catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/cannot open PostgreSQL store .*nonexistent-statelesx.*ENOENT/);
    expect((e2 as Error).message).not.toContain(pgc.password);
  });
});

describe('redactDatabaseUrl', () => {
  it.each([
    ['postgres://sx:pw@db.example:5432/statelesx', 'postgres://sx:***@db.example:5432/statelesx'],
    ['postgresql://sx:p%40ss@/statelesx?host=/run/pg', 'postgresql://sx:***@/statelesx?host=/run/pg'],
    ['postgres://sx:pa/ss@word@db/statelesx', 'postgres://sx:***@db/statelesx'],
    ['postgres://db.example/statelesx?user=sx&password=pw', 'postgres://db.example/statelesx?user=sx&password=***'],
    ['postgres://db.example:5432/statelesx', 'postgres://db.example:5432/statelesx'],
  ])('%s', (url, redacted) => {
    expect(redactDatabaseUrl(url)).toBe(redacted);
  });
});
