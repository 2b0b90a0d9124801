/**
 * Opens the embedded SQLite store (better-sqlite3, WAL mode) and applies pending migrations
 * (./migrations, recorded in `schema_migrations`). Only `src/store/` issues SQL.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { mkdirSync, accessSync, constants, existsSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { migrations, type Migration } from './migrations/index.js';
import type { Logger } from '../log.js';

/**
 * Applies the migrations not yet recorded in table `schema_migrations`, in list order, each with its
 * record in one transaction: a crash mid-migration leaves neither the schema change nor its record.
 * This replaces umzug, whose module graph (its CLI: @rushstack/ts-command-line) was 25 MiB of the
 * idle server's RSS for what is this loop (docs/benchmarks.md, issue 20).
 * @returns the names applied by this call, in order
 * @throws Error `migration <name> failed: <message>` with the SQLite error as `cause`
 */
function migrate(db: Db, list: readonly Migration[]): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const done = new Set(db.prepare('SELECT name FROM schema_migrations').pluck().all() as string[]);
  const record = db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)');
  const applied: string[] = [];
  for (const m of list) {
    if (done.has(m.name)) continue;
    try {
      db.transaction(() => {
        m.up(db);
        record.run(m.name, Date.now());
      })();
    } catch (e) {
      throw new Error(`migration ${m.name} failed: ${(e as Error).message}`, { cause: e });
    }
    applied.push(m.name);
  }
  return applied;
}

/**
 * True for a write refused because the file system is full or over quota: ENOSPC / EDQUOT, SQLite's
 * SQLITE_FULL ("database or disk is full"), anywhere in the `cause` chain (a failed migration wraps its error); or
 * an SQLite I/O error (growing the -shm/-wal file fails with SQLITE_IOERR_*, not SQLITE_FULL) while
 * the directory's file system has less than 1 MiB available.
 */
function diskFull(e: unknown, dataDir: string): boolean {
  for (let c = e, i = 0; c instanceof Error && i < 5; c = c.cause, i++) {
    const code = String((c as NodeJS.ErrnoException).code ?? '');
    if (
      code === 'ENOSPC' ||
      code === 'EDQUOT' ||
      code === 'SQLITE_FULL' ||
      /database or disk is full|no space left/i.test(c.message)
    )
      return true;
    if (code.startsWith('SQLITE_IOERR') || /disk I\/O error/.test(c.message)) {
      try {
        const fs = statfsSync(dataDir);
        return fs.bavail * fs.bsize < 1024 * 1024;
      } catch {
        return false;
      }
    }
  }
  return false;
}

/** Thrown when the data directory cannot hold the database (missing permission, read-only, full). */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/**
 * Opens (creating if needed) `<dataDir>/statelesx.db` and migrates it to the latest schema.
 * Pass `':memory:'` as dataDir for an in-memory store (tests).
 * @throws StoreOpenError naming the directory and the OS error when it is not writable.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- kept a promise for its callers: opening may become asynchronous again (another store)
export async function openDatabase(dataDir: string, log?: Logger): Promise<Db> {
  let file = ':memory:';
  if (dataDir !== ':memory:') {
    try {
      mkdirSync(dataDir, { recursive: true });
      accessSync(dataDir, constants.W_OK);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new StoreOpenError(
        `data directory ${dataDir} is not writable (${err.code ?? err.message}); pass --data-dir or fix its permissions`,
      );
    }
    file = join(dataDir, 'statelesx.db');
  }
  // A database this call creates is removed again when creating or migrating it fails (disk full):
  // a failed start leaves no partial statelesx.db behind.
  const fresh = file !== ':memory:' && !existsSync(file);
  let opened: Db | undefined;
  try {
    let db: Db;
    try {
      db = opened = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (e) {
      throw new StoreOpenError(`cannot open database ${file}: ${(e as Error).message}`);
    }
    const applied = migrate(db, migrations);
    if (applied.length > 0) log?.info({ migrations: applied }, 'store migrated');
    return db;
  } catch (e) {
    try {
      opened?.close();
    } catch {
      // closing a failed connection
    }
    if (fresh) for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
    if (diskFull(e, dataDir)) {
      throw new StoreOpenError(
        `no space left in the data directory ${dataDir} (ENOSPC: ${(e as Error).message}): ${fresh ? 'nothing was kept' : 'the database is unchanged'}; free space or pass another --data-dir`,
        { cause: e },
      );
    }
    throw e;
  }
}
