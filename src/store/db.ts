/**
 * Opens the embedded SQLite store (better-sqlite3, WAL mode) and applies pending migrations
 * with umzug. Only `src/store/` issues SQL.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { mkdirSync, accessSync, constants, existsSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { Umzug, type UmzugStorage } from 'umzug';
import { migrations } from './migrations/index.js';
import type { Logger } from '../log.js';

/** Umzug storage kept in the database itself, in table `schema_migrations`. */
function sqliteStorage(db: Db): UmzugStorage {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  return {
    // Recorded inside the migration's own transaction (see openDatabase), so a crash mid-migration
    // leaves neither the schema change nor its record.
    async logMigration() {},
    // eslint-disable-next-line @typescript-eslint/require-await -- UmzugStorage methods return promises; better-sqlite3 is synchronous
    async unlogMigration({ name }) {
      db.prepare('DELETE FROM schema_migrations WHERE name = ?').run(name);
    },
    // eslint-disable-next-line @typescript-eslint/require-await -- UmzugStorage methods return promises; better-sqlite3 is synchronous
    async executed() {
      return db.prepare('SELECT name FROM schema_migrations ORDER BY name').pluck().all() as string[];
    },
  };
}

/**
 * True for a write refused because the file system is full or over quota: ENOSPC / EDQUOT, SQLite's
 * SQLITE_FULL ("database or disk is full"), anywhere in the `cause` chain (umzug wraps errors); or
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
    const umzug = new Umzug({
      migrations: migrations.map((m) => ({
        name: m.name,
        // eslint-disable-next-line @typescript-eslint/require-await -- an umzug migration's up() returns a promise; better-sqlite3 is synchronous
        up: async () => {
          db.transaction(() => {
            m.up(db);
            db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(m.name, Date.now());
          })();
        },
      })),
      storage: sqliteStorage(db),
      logger: undefined,
    });
    const applied = await umzug.up();
    if (applied.length > 0) log?.info({ migrations: applied.map((m) => m.name) }, 'store migrated');
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
