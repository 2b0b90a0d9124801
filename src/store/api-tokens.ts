/**
 * API bearer tokens (table `api_tokens`, migration 015): named credentials for automation, each
 * with a role, an optional expiry and a last-used time. Only a keyed hash of a token arrives here
 * (src/web/auth/api-tokens.ts); the token itself is shown once at creation and never stored.
 * Not to be confused with the per-boot phone-home tokens of ./tokens.ts (`boot_tokens`).
 */
import type { Database } from 'better-sqlite3';
import type { Role } from './users.js';
import type { ApiTokenStore } from './ports.js';

/** One API token without its hash. Times are epoch milliseconds. */
export interface ApiTokenRecord {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
  /** Who made it: a console user name, `token:<name>` or `system:cli`. */
  createdBy: string;
  /** When it stops working; null: never. */
  expiresAt: number | null;
  /** Last authenticated request, updated at most once per {@link LAST_USED_RESOLUTION_MS}. */
  lastUsedAt: number | null;
}

/** Thrown by {@link ApiTokenRepo.create} when the name is taken. */
export class DuplicateApiTokenError extends Error {
  override name = 'DuplicateApiTokenError';
}

/**
 * Resolution of `last_used_at`: a token used by a busy pipeline writes at most once a minute,
 * not once per request.
 */
export const LAST_USED_RESOLUTION_MS = 60_000;

interface Row {
  id: number;
  name: string;
  role: Role;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  last_used_at: number | null;
}

function toRecord(r: Row): ApiTokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
  };
}

/** A token to store: its name, role, keyed hash, who made it, when (epoch ms) and its expiry (epoch ms or null). */
export interface NewApiToken {
  name: string;
  role: Role;
  hash: string;
  createdBy: string;
  at: number;
  expiresAt: number | null;
}

/** Repository for `api_tokens`. Synchronous (better-sqlite3). */
export class ApiTokenRepo implements ApiTokenStore {
  constructor(private readonly db: Database) {}

  /**
   * Stores a new token by its hash.
   * @throws DuplicateApiTokenError when `name` exists
   */
  create(t: NewApiToken): ApiTokenRecord {
    try {
      const r = this.db
        .prepare(
          'INSERT INTO api_tokens (name, role, token_hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(t.name, t.role, t.hash, t.at, t.createdBy, t.expiresAt);
      return this.get(Number(r.lastInsertRowid))!;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new DuplicateApiTokenError(`API token ${t.name} already exists`);
      throw e;
    }
  }

  get(id: number): ApiTokenRecord | undefined {
    const r = this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  getByName(name: string): ApiTokenRecord | undefined {
    const r = this.db.prepare('SELECT * FROM api_tokens WHERE name = ?').get(name) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** The token with this hash, expired or not (the caller says which it is), or undefined. */
  findByHash(hash: string): ApiTokenRecord | undefined {
    const r = this.db.prepare('SELECT * FROM api_tokens WHERE token_hash = ?').get(hash) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Every token by name. */
  list(): ApiTokenRecord[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY name').all() as Row[]).map(toRecord);
  }

  /**
   * Records a use at `at` (epoch ms) unless one was recorded within {@link LAST_USED_RESOLUTION_MS}:
   * the write is skipped, so a token's requests cost one write a minute. Returns whether it wrote.
   */
  touch(id: number, at: number): boolean {
    return (
      this.db
        .prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)')
        .run(at, id, at - LAST_USED_RESOLUTION_MS).changes > 0
    );
  }

  /** Revokes (deletes) a token: its next request is refused. Returns whether one was removed. */
  delete(id: number): boolean {
    return this.db.prepare('DELETE FROM api_tokens WHERE id = ?').run(id).changes > 0;
  }
}
