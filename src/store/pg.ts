/**
 * Opens the PostgreSQL store (node-postgres pool) and applies pending migrations — the same
 * migration names and order as the SQLite store (src/store/migrations, each with its `postgres`
 * body), recorded in the same `schema_migrations` table.
 *
 * Several servers may start together against one database: the migration run holds a
 * session-level advisory lock (`pg_advisory_lock`, PostgreSQL manual §9.27.10), so exactly one
 * applies each migration and the others wait and then find nothing to do. Each migration and its
 * record commit in one transaction (PostgreSQL DDL is transactional), so a crash mid-migration
 * leaves neither.
 */
import pg from 'pg';
import { migrations } from './migrations/index.js';
import { StoreOpenError } from './db.js';
import type { Logger } from '../log.js';

/** Advisory lock key for schema migrations ("statelesx" as an int64 tag; any constant works). */
const MIGRATION_LOCK = 0x5354_4c58_0001n;

// int8 (BIGINT, OID 20) as a JS number: epoch ms and identity keys stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * `url` with its password replaced by `***`, for logs and error messages: the password of the
 * `user:password@` part (RFC 3986 userinfo; also the socket form `postgres://u:pw@/db?host=/dir`,
 * which WHATWG `URL` refuses) up to the LAST `@`, so a password someone forgot to percent-encode
 * (`/`, `@`, `?` in it) is still hidden; and any `password=` query parameter.
 */
export function redactDatabaseUrl(url: string): string {
  let out = url;
  const start = out.indexOf('://');
  const at = out.lastIndexOf('@');
  if (start >= 0 && at > start) {
    const colon = out.indexOf(':', start + 3);
    if (colon >= 0 && colon < at) out = `${out.slice(0, colon + 1)}***${out.slice(at)}`;
  }
  return out.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/**
 * Applies pending migrations under the advisory lock, in list order, each with its record in one
 * transaction (the same loop as the SQLite store's, src/store/db.ts).
 * @returns the names applied by this call (empty when another server applied them first)
 * @throws Error `migration <name> failed: <message>` with the server's error as `cause`
 */
export async function migratePostgres(pool: pg.Pool, log?: Logger): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)',
      );
      const rows = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
      const done = new Set(rows.rows.map((r) => r.name));
      const applied: string[] = [];
      for (const m of migrations) {
        if (done.has(m.name)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.postgres);
          await client.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.name} failed: ${(e as Error).message}`, { cause: e });
        }
        applied.push(m.name);
      }
      if (applied.length > 0) log?.info({ migrations: applied }, 'store migrated');
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    client.release();
  }
}

/**
 * Connects a pool to `url` (node-postgres connection string: `postgres://user:pw@host:port/db`,
 * or `?host=/socket/dir`), checks it answers, and migrates the schema. `password`, when given,
 * wins over one in the URL (config `store.password-file` / `password-env`); poolSize: connections.
 * @throws StoreOpenError naming the URL with its password redacted and the server's reason
 *   (unreachable, authentication failed, no such database)
 */
export async function openPostgres(url: string, log?: Logger, poolSize = 10, password?: string): Promise<pg.Pool> {
  // node-postgres lets the connection string win over a `password` option; its `password` query
  // parameter wins over the userinfo (and redactDatabaseUrl hides both).
  const connectionString =
    password === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}password=${encodeURIComponent(password)}`;
  const pool = new pg.Pool({ connectionString, max: poolSize, connectionTimeoutMillis: 10_000 });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the process. The next query reconnects.
  pool.on('error', (e) => log?.warn({ err: e.message }, 'PostgreSQL connection lost; reconnecting on next use'));
  try {
    await migratePostgres(pool, log);
    return pool;
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new StoreOpenError(`cannot open PostgreSQL store ${redactDatabaseUrl(url)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
