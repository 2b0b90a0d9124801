/**
 * Repository tests on both stores: SQLite (the embedded default) and a real PostgreSQL (a private
 * cluster, test/helpers/postgres.ts). {@link useStores} registers the cluster's start and removal
 * for the calling test file and gives each test a fresh, migrated, empty SQL executor
 * (src/store/sql.ts) per dialect: an in-memory SQLite database, or a new PostgreSQL database
 * copied from a migrated template (`CREATE DATABASE ... TEMPLATE`, fast).
 *
 *   const fresh = useStores();
 *   describe.each(STORE_DIALECTS)('AuditRepo on %s', (dialect) => {
 *     it('...', async () => { const repo = new AuditRepo(await fresh(dialect)); ... });
 *   });
 *
 * `fresh.peer(sql)` is a second executor on the same database with its own connection pool, as a
 * second server sharing the store has (SQLite: the same executor, its one connection).
 */
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { openDatabase } from '../../src/store/db.js';
import { openPostgres } from '../../src/store/pg.js';
import { PostgresSql, SqliteSql, type Dialect, type Sql } from '../../src/store/sql.js';
import { startPostgres, type PgCluster } from './postgres.js';

/** Both store dialects, for `describe.each`. */
export const STORE_DIALECTS: readonly Dialect[] = ['sqlite', 'postgres'];

/** The URL of database `name` in the cluster whose default database URL is `url`. */
function databaseUrl(url: string, name: string): string {
  return url.replace(/@\/statelesx\?/, `@/${name}?`).replace(/(:\d+)\/statelesx$/, `$1/${name}`);
}

/** `fresh(dialect)` of {@link useStores}, and `peer(sql)`: another pool on the database of `sql`. */
export interface FreshStores {
  (dialect: Dialect): Promise<Sql>;
  peer(sql: Sql): Sql;
}

/**
 * Registers beforeAll/afterAll for a PostgreSQL cluster (started once per file, removed after) and
 * returns `fresh(dialect)`: a new empty store with every migration applied, closed after the file.
 */
export function useStores(): FreshStores {
  let cluster: PgCluster | undefined;
  let admin: pg.Pool | undefined;
  const pools: pg.Pool[] = [];
  const sqlite: Array<{ close(): void }> = [];
  let n = 0;
  const urls = new WeakMap<Sql, string>();
  beforeAll(async () => {
    cluster = await startPostgres();
    // Migrate the default database once; each test's database is a copy of it.
    await (await openPostgres(cluster.url)).end();
    admin = new pg.Pool({ connectionString: databaseUrl(cluster.url, 'postgres'), max: 1 });
  }, 120_000);
  afterAll(async () => {
    for (const db of sqlite) db.close();
    await Promise.all(pools.map((p) => p.end()));
    await admin?.end();
    await cluster?.destroy();
  });
  const fresh = async (dialect: Dialect): Promise<Sql> => {
    if (dialect === 'sqlite') {
      const db = await openDatabase(':memory:');
      sqlite.push(db);
      return new SqliteSql(db);
    }
    if (!cluster || !admin) throw new Error('useStores(): the PostgreSQL cluster did not start (see beforeAll)');
    const name = `t${++n}`;
    await admin.query(`CREATE DATABASE ${name} TEMPLATE statelesx`);
    const url = databaseUrl(cluster.url, name);
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pools.push(pool);
    const sql = new PostgresSql(pool);
    urls.set(sql, url);
    return sql;
  };
  const peer = (sql: Sql): Sql => {
    const url = urls.get(sql);
    if (url === undefined) return sql;
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pools.push(pool);
    return new PostgresSql(pool);
  };
  return Object.assign(fresh, { peer });
}
