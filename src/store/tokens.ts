/**
 * Per-boot phone-home tokens (table `boot_tokens`, migrations 001 and 009); only SHA-256 hashes
 * are stored. On either store (./sql.ts): with several servers on one PostgreSQL a host may fetch
 * its boot config (token issued) from one server and phone home (token checked and consumed) to
 * another. Consumption is one conditional UPDATE, so a token is used once across all servers.
 * Times are epoch milliseconds.
 */
import type { Sql } from './sql.js';
import type { TokenStore } from './ports.js';

export interface TokenRow {
  tokenHash: string;
  hostUuid: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

interface Row {
  token_hash: string;
  host_uuid: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

function toToken(r: Row): TokenRow {
  return {
    tokenHash: r.token_hash,
    hostUuid: r.host_uuid,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
  };
}

/**
 * Deletes the host's (first parameter) tokens beyond the newest `n` (second) unused ones and
 * beyond the newest `n` used ones. Newest: by `created_at`, ties broken by the hash (the third
 * parameter, the row just inserted, counts as the newest of its millisecond). A window function
 * over the host's rows (index `boot_tokens_host_created`), the same text on SQLite and PostgreSQL.
 */
const TRIM = `DELETE FROM boot_tokens WHERE token_hash IN (
  SELECT token_hash FROM (
    SELECT token_hash, row_number() OVER (
      PARTITION BY used_at IS NULL ORDER BY created_at DESC, token_hash = ? DESC, token_hash DESC
    ) AS n
    FROM boot_tokens WHERE host_uuid = ?
  ) ranked WHERE n > ?)`;

/** Repository for `boot_tokens`, on either store (./sql.ts). */
export class TokenRepo implements TokenStore {
  constructor(private readonly sql: Sql) {}

  /** Inserts one token. @throws the driver's unique violation when the hash is already stored */
  async insert(row: Omit<TokenRow, 'usedAt'>): Promise<void> {
    await this.sql.run('INSERT INTO boot_tokens (token_hash, host_uuid, created_at, expires_at) VALUES (?, ?, ?, ?)', [
      row.tokenHash,
      row.hostUuid,
      row.createdAt,
      row.expiresAt,
    ]);
  }

  /** The token with this SHA-256 (hex), or undefined. */
  async get(tokenHash: string): Promise<TokenRow | undefined> {
    const r = await this.sql.get<Row>('SELECT * FROM boot_tokens WHERE token_hash = ?', [tokenHash]);
    return r && toToken(r);
  }

  /**
   * The host's newest token that is unused and issued at or after `since` (epoch ms), if any
   * (index `boot_tokens_host_created`; tokens of one millisecond by hash).
   */
  async newestUnused(hostUuid: string, since: number): Promise<TokenRow | undefined> {
    const r = await this.sql.get<Row>(
      `SELECT * FROM boot_tokens WHERE host_uuid = ? AND created_at >= ? AND used_at IS NULL
       ORDER BY created_at DESC, token_hash DESC LIMIT 1`,
      [hostUuid, since],
    );
    return r && toToken(r);
  }

  /**
   * Marks a token used if it is not yet; false when it already was (a replay) or is unknown. One
   * conditional UPDATE: of two servers consuming one token at once, exactly one gets true.
   */
  async markUsed(tokenHash: string, at: number): Promise<boolean> {
    return (
      (await this.sql.run('UPDATE boot_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL', [
        at,
        tokenHash,
      ])) === 1
    );
  }

  /**
   * Undoes {@link markUsed}: clears `used_at` when it is still exactly `at` (the consumption being
   * undone, not a later one). Returns false when the token is unknown or was not used at `at`.
   */
  async markUnused(tokenHash: string, at: number): Promise<boolean> {
    return (
      (await this.sql.run('UPDATE boot_tokens SET used_at = NULL WHERE token_hash = ? AND used_at = ?', [
        tokenHash,
        at,
      ])) === 1
    );
  }

  /**
   * Inserts a token and, in the same transaction, keeps the table bounded: deletes every token
   * (any host) that expired before `row.createdAt`, then the host's unused tokens beyond the newest
   * `keepPerHost` and its used tokens beyond the newest `keepPerHost` (newest by `created_at`; in
   * one millisecond the inserted row first, then by hash). Index-backed (`boot_tokens_expires`,
   * `boot_tokens_host_created`). A row with the same hash already stored is kept as it is and not
   * inserted again: the same token (same host, same issue time) minted by a concurrent call.
   * @param keepPerHost at least 1
   * @returns how many rows were deleted
   * @throws RangeError when keepPerHost is not a positive integer
   */
  async insertBounded(row: Omit<TokenRow, 'usedAt'>, keepPerHost: number): Promise<number> {
    if (!Number.isInteger(keepPerHost) || keepPerHost < 1)
      throw new RangeError(`keepPerHost must be a positive integer, got ${keepPerHost}`);
    return this.sql.tx(async (sql) => {
      let deleted = await sql.run('DELETE FROM boot_tokens WHERE expires_at < ?', [row.createdAt]);
      await sql.run(
        `INSERT INTO boot_tokens (token_hash, host_uuid, created_at, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (token_hash) DO NOTHING`,
        [row.tokenHash, row.hostUuid, row.createdAt, row.expiresAt],
      );
      deleted += await sql.run(TRIM, [row.tokenHash, row.hostUuid, keepPerHost]);
      return deleted;
    });
  }

  /** Deletes tokens that expired before `now`; returns how many. */
  async purgeExpired(now: number): Promise<number> {
    return this.sql.run('DELETE FROM boot_tokens WHERE expires_at < ?', [now]);
  }
}
