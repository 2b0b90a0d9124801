/**
 * 020: cluster files shared by several servers (issue 18, item 6). With PostgreSQL the store is
 * the source of truth for cluster files: each server's clusters directory is a working copy that
 * follows this table (src/clusters/shared.ts). One row per file name; a deleted file is a
 * tombstone (`xml` NULL, `sha256` ''), so a server that was down learns of the deletion.
 */
import type { Database } from 'better-sqlite3';

export const name = '020-cluster-files';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE cluster_files (
      name       TEXT PRIMARY KEY,   -- file name without .xml
      xml        TEXT,               -- NULL: deleted
      sha256     TEXT NOT NULL,      -- hex SHA-256 of xml (UTF-8); '' when deleted
      updated_at INTEGER NOT NULL,
      updated_by TEXT NOT NULL,      -- who changed it (console user, token:<name>, statelesx)
      origin     TEXT NOT NULL       -- the server it came from (host name)
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT). */
export const postgres = `
    CREATE TABLE cluster_files (
      name TEXT PRIMARY KEY, xml TEXT, sha256 TEXT NOT NULL, updated_at BIGINT NOT NULL,
      updated_by TEXT NOT NULL, origin TEXT NOT NULL
    );
  `;
