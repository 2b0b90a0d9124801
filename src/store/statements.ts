/**
 * Prepared statements kept per SQL text, for repositories whose methods run on hot paths (every
 * PXE answer, every phone-home, every retention batch): better-sqlite3 prepares a text once and
 * reuses it after.
 */
import type { Database, Statement } from 'better-sqlite3';

/**
 * @returns a function giving the statement for an SQL text over `db`, prepared at its first call
 * @throws (the returned function) better-sqlite3's SqliteError when the text does not prepare
 */
export function preparedOnce(db: Database): (text: string) => Statement {
  const statements = new Map<string, Statement>();
  return (text) => {
    let st = statements.get(text);
    if (!st) {
      st = db.prepare(text);
      statements.set(text, st);
    }
    return st;
  };
}
