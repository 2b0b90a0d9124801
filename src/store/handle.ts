/**
 * The database handle behind each opened Store, kept here rather than on the Store object so that
 * nothing outside src/store can reach it through the Store it was given.
 */
import type { Database } from 'better-sqlite3';

const handles = new WeakMap<object, Database>();

/** Records `db` as the handle of `owner` (the Store constructor). */
export function attachDatabase(owner: object, db: Database): void {
  handles.set(owner, db);
}

/**
 * The handle of `owner`.
 * @throws Error when `owner` is not an opened Store
 */
export function databaseOf(owner: object): Database {
  const db = handles.get(owner);
  if (!db) throw new Error('not an opened statelesx store');
  return db;
}
