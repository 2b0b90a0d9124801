/**
 * The SQL executor the repositories speak, the same for both stores: statements written once
 * with `?` placeholders in the SQL both dialects share, run on SQLite (better-sqlite3) or on
 * PostgreSQL (node-postgres), always returning promises.
 *
 * - Placeholders: `?` everywhere; the PostgreSQL executor rewrites them to `$1..$n` (outside
 *   quoted literals and identifiers), once per distinct statement.
 * - Inserted ids: use `INSERT ... RETURNING id` with {@link Sql.get} (SQLite >= 3.35 and
 *   PostgreSQL both have it); {@link Sql.run} returns only the number of changed rows.
 * - Transactions: {@link Sql.tx} runs `fn` on one connection inside BEGIN/COMMIT (ROLLBACK when
 *   it throws). Every statement issued from `fn`'s asynchronous context — through the `sql` it
 *   is given or through this executor (so repositories need not be re-bound) — joins the
 *   transaction (AsyncLocalStorage). SQLite has one connection: while a transaction is open,
 *   statements from elsewhere wait for it (else they would run inside it and be rolled back with
 *   it). A `tx` inside a `tx` joins the outer one.
 * - SQLite outside a transaction answers synchronously under the promise (no queueing cost).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database, Statement } from 'better-sqlite3';
import type pg from 'pg';

/** Which engine runs the statements, for the few places the dialects differ. */
export type Dialect = 'sqlite' | 'postgres';

/** A statement parameter: what both drivers bind the same way. */
export type SqlParam = string | number | null;

/** Runs SQL on one store. Every method may reject with the driver's error. */
export interface Sql {
  readonly dialect: Dialect;
  /** All rows of a query. */
  all<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** The first row of a query, or undefined. */
  get<T>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** Runs `fn` in one transaction (see the module header). */
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
}

/** SQLite through better-sqlite3 (one connection, statements prepared once and cached). */
export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  readonly #db: Database;
  readonly #cache = new Map<string, Statement>();
  /** Settles when the open transaction (if any) ends; undefined when none is open. */
  #open: Promise<void> | undefined;
  /**
   * Set in the asynchronous context of a transaction; `open` turns false when it ends, so work
   * that context scheduled and that runs later (a timer, a job it queued) is outside it, not in
   * whichever transaction is open by then.
   */
  readonly #inTx = new AsyncLocalStorage<{ open: boolean }>();

  constructor(db: Database) {
    this.#db = db;
  }

  #stmt(sql: string): Statement {
    let s = this.#cache.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#cache.set(sql, s);
    }
    return s;
  }

  /** Runs `op` now when no transaction is open, else after it ends (in arrival order). */
  async #outside<T>(op: () => T): Promise<T> {
    if (!this.#inTx.getStore()?.open) while (this.#open) await this.#open;
    return op();
  }

  all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return this.#outside(() => this.#stmt(sql).all(...params) as T[]);
  }

  get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return this.#outside(() => this.#stmt(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return this.#outside(() => this.#stmt(sql).run(...params).changes);
  }

  async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.#inTx.getStore()?.open) return fn(this);
    while (this.#open) await this.#open;
    let end!: () => void;
    this.#open = new Promise<void>((resolve) => (end = resolve));
    const scope = { open: true };
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const out = await this.#inTx.run(scope, () => fn(this)).finally(() => (scope.open = false));
        this.#db.exec('COMMIT');
        return out;
      } catch (e) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw e;
      }
    } finally {
      this.#open = undefined;
      end();
    }
  }
}

/**
 * `sql` with each `?` outside '...' literals and "..." identifiers replaced by `$1..$n`
 * (PostgreSQL's positional parameters).
 */
export function toPostgresPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/** PostgreSQL through a node-postgres pool (inside a transaction: its checked-out client). */
export class PostgresSql implements Sql {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #text = new Map<string, string>();
  /** The transaction's client in the asynchronous context of an open transaction. */
  readonly #inTx = new AsyncLocalStorage<{ client: pg.PoolClient; open: boolean }>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  #translate(sql: string): string {
    let t = this.#text.get(sql);
    if (t === undefined) {
      t = toPostgresPlaceholders(sql);
      this.#text.set(sql, t);
    }
    return t;
  }

  async #query<T>(sql: string, params: readonly SqlParam[]): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
    const t = this.#inTx.getStore();
    // A context whose transaction has ended (work it scheduled, running later) uses the pool, never
    // the released client, which another checkout may be running a transaction on.
    const q = t?.open ? t.client : this.#pool;
    return q.query<T & pg.QueryResultRow>(this.#translate(sql), params as SqlParam[]);
  }

  async all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return (await this.#query<T>(sql, params)).rows;
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return (await this.#query<T>(sql, params)).rows[0];
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return (await this.#query(sql, params)).rowCount ?? 0;
  }

  async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.#inTx.getStore()?.open) return fn(this);
    const client = await this.#pool.connect();
    let broken = false;
    const scope = { client, open: true };
    try {
      await client.query('BEGIN');
      try {
        const out = await this.#inTx.run(scope, () => fn(this)).finally(() => (scope.open = false));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        // A connection that cannot even roll back is dropped, not returned to the pool.
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw e;
      }
    } finally {
      client.release(broken);
    }
  }
}

/**
 * Whether `e` is a unique-constraint violation on either store: better-sqlite3's
 * `SQLITE_CONSTRAINT_UNIQUE` (or `_PRIMARYKEY`), PostgreSQL's SQLSTATE 23505 `unique_violation`.
 */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
