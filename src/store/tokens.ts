/** Per-boot phone-home tokens (table `boot_tokens`); only SHA-256 hashes are stored. */
import type { Database } from 'better-sqlite3';
import type { TokenStore } from './ports.js';

export interface TokenRow {
  tokenHash: string;
  hostUuid: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export class TokenRepo implements TokenStore {
  constructor(private readonly db: Database) {}

  insert(row: Omit<TokenRow, 'usedAt'>): void {
    this.db
      .prepare('INSERT INTO boot_tokens (token_hash, host_uuid, created_at, expires_at) VALUES (?, ?, ?, ?)')
      .run(row.tokenHash, row.hostUuid, row.createdAt, row.expiresAt);
  }

  get(tokenHash: string): TokenRow | undefined {
    const r = this.db.prepare('SELECT * FROM boot_tokens WHERE token_hash = ?').get(tokenHash) as
      | { token_hash: string; host_uuid: string; created_at: number; expires_at: number; used_at: number | null }
      | undefined;
    return (
      r && {
        tokenHash: r.token_hash,
        hostUuid: r.host_uuid,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        usedAt: r.used_at,
      }
    );
  }

  /**
   * The host's newest token that is unused and issued at or after `since` (epoch ms), if any
   * (index `boot_tokens_host_created`).
   */
  newestUnused(hostUuid: string, since: number): TokenRow | undefined {
    const r = this.db
      .prepare(
        `SELECT token_hash FROM boot_tokens WHERE host_uuid = ? AND created_at >= ? AND used_at IS NULL
         ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      )
      .pluck()
      .get(hostUuid, since) as string | undefined;
    return r === undefined ? undefined : this.get(r);
  }

  /** Marks a token used if it is not yet; returns false when it already was (a replay). */
  markUsed(tokenHash: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE boot_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL').run(at, tokenHash)
        .changes === 1
    );
  }

  /**
   * Undoes {@link markUsed}: clears `used_at` when it is still exactly `at` (the consumption being
   * undone, not a later one). Returns false when the token is unknown or was not used at `at`.
   */
  markUnused(tokenHash: string, at: number): boolean {
    return (
      this.db.prepare('UPDATE boot_tokens SET used_at = NULL WHERE token_hash = ? AND used_at = ?').run(tokenHash, at)
        .changes === 1
    );
  }

  /**
   * Inserts a token and, in the same transaction, keeps the table bounded: deletes every token
   * (any host) that expired before `row.createdAt`, then the host's unused tokens beyond the newest
   * `keepPerHost` and its used tokens beyond the newest `keepPerHost` (newest by `created_at`, then
   * insertion order). Index-backed (`boot_tokens_expires`, `boot_tokens_host_created`).
   * @param keepPerHost at least 1
   * @returns how many rows were deleted
   * @throws RangeError when keepPerHost is not a positive integer
   */
  insertBounded(row: Omit<TokenRow, 'usedAt'>, keepPerHost: number): number {
    if (!Number.isInteger(keepPerHost) || keepPerHost < 1)
      throw new RangeError(`keepPerHost must be a positive integer, got ${keepPerHost}`);
    return this.db.transaction(() => {
      let deleted = this.purgeExpired(row.createdAt);
      this.insert(row);
      const trim = this.db.prepare(`DELETE FROM boot_tokens WHERE rowid IN (
          SELECT rowid FROM boot_tokens WHERE host_uuid = ? AND (used_at IS NULL) = ?
          ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)`);
      deleted += trim.run(row.hostUuid, 1, keepPerHost).changes;
      deleted += trim.run(row.hostUuid, 0, keepPerHost).changes;
      return deleted;
    })();
  }

  /** Deletes tokens that expired before `now`; returns how many. */
  purgeExpired(now: number): number {
    return this.db.prepare('DELETE FROM boot_tokens WHERE expires_at < ?').run(now).changes;
  }
}
