/**
 * 015: named API bearer tokens (issue 19), kept apart from the per-boot phone-home tokens of
 * `boot_tokens`: `api_tokens` holds an administrator-made credential with a role, an optional
 * expiry and the time it was last used; only a keyed hash of the token is stored.
 */
import type { Database } from 'better-sqlite3';

export const name = '015-api-tokens';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE api_tokens (
      id           INTEGER PRIMARY KEY,
      name         TEXT NOT NULL UNIQUE,
      role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
      token_hash   TEXT NOT NULL UNIQUE,
      created_at   INTEGER NOT NULL,
      created_by   TEXT NOT NULL,
      expires_at   INTEGER,
      last_used_at INTEGER
    );
  `);
}
