/**
 * API bearer tokens (table `api_tokens`, migration 015): named credentials for automation, each
 * with a role, an optional expiry and a last-used time. Only a keyed hash of a token arrives here
 * (src/web/auth/api-tokens.ts); the token itself is shown once at creation and never stored.
 * Not to be confused with the per-boot phone-home tokens of ./tokens.ts (`boot_tokens`).
 */
import { isUniqueViolation, type Sql } from './sql.js';
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

/** Repository for `api_tokens`, on either store (./sql.ts). */
export class ApiTokenRepo implements ApiTokenStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Stores a new token by its hash.
   * @throws DuplicateApiTokenError when `name` exists
   */
  async create(t: NewApiToken): Promise<ApiTokenRecord> {
    try {
      const r = await this.sql.get<Row>(
        `INSERT INTO api_tokens (name, role, token_hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)
        RETURNING id, name, role, created_at, created_by, expires_at, last_used_at`,
        [t.name, t.role, t.hash, t.at, t.createdBy, t.expiresAt],
      );
      return toRecord(r!);
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateApiTokenError(`API token ${t.name} already exists`);
      throw e;
    }
  }

  async get(id: number): Promise<ApiTokenRecord | undefined> {
    return this.#one('SELECT * FROM api_tokens WHERE id = ?', id);
  }

  async getByName(name: string): Promise<ApiTokenRecord | undefined> {
    return this.#one('SELECT * FROM api_tokens WHERE name = ?', name);
  }

  /** The token with this hash, expired or not (the caller says which it is), or undefined. */
  async findByHash(hash: string): Promise<ApiTokenRecord | undefined> {
    return this.#one('SELECT * FROM api_tokens WHERE token_hash = ?', hash);
  }

  async #one(text: string, key: string | number): Promise<ApiTokenRecord | undefined> {
    const r = await this.sql.get<Row>(text, [key]);
    return r ? toRecord(r) : undefined;
  }

  /** Every token by name. */
  async list(): Promise<ApiTokenRecord[]> {
    return (await this.sql.all<Row>('SELECT * FROM api_tokens ORDER BY name')).map(toRecord);
  }

  /**
   * Records a use at `at` (epoch ms) unless one was recorded within {@link LAST_USED_RESOLUTION_MS}:
   * the write is skipped, so a token's requests cost one write a minute. Resolves to whether it wrote.
   */
  async touch(id: number, at: number): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)',
      [at, id, at - LAST_USED_RESOLUTION_MS],
    );
    return changed > 0;
  }

  /** Revokes (deletes) a token: its next request is refused. Resolves to whether one was removed. */
  async delete(id: number): Promise<boolean> {
    return (await this.sql.run('DELETE FROM api_tokens WHERE id = ?', [id])) > 0;
  }
}
