/**
 * Coordination of several servers' engines (tables `engine_leases` and `jobs.cancel_requested_by`,
 * migration 018), on either store (./sql.ts): the named lease only one server holds at a time (the
 * `engine` lease: src/engine/job-leader.ts) and cancel requests carried to the server running a
 * job. Times are epoch ms.
 */
import type { Sql } from './sql.js';

/** Repository for `engine_leases` and the jobs' cancel requests. */
export class EngineLeaseRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Takes or renews the lease `name` (`engine`: the one server that schedules and runs jobs)
   * for `owner` until `now + leaseMs`, when it is free, lapsed at or before `now`, or already
   * `owner`'s. One statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE), atomic on both stores.
   * @returns whether `owner` holds it after the call
   */
  async acquireLease(name: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const n = await this.sql.run(
      `INSERT INTO engine_leases (name, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE engine_leases.owner = excluded.owner OR engine_leases.expires_at <= ?`,
      [name, owner, now + leaseMs, now],
    );
    return n > 0;
  }

  /** Gives up `owner`'s lease `name` (a server that stops hands over at once). @returns whether it held it */
  async releaseLease(name: string, owner: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM engine_leases WHERE name = ? AND owner = ?', [name, owner])) > 0;
  }

  /** Who holds the lease `name` and until when (epoch ms), or undefined. */
  async leaseHolder(name: string): Promise<{ owner: string; expiresAt: number } | undefined> {
    const r = await this.sql.get<{ owner: string; expires_at: number }>(
      'SELECT owner, expires_at FROM engine_leases WHERE name = ?',
      [name],
    );
    return r ? { owner: r.owner, expiresAt: Number(r.expires_at) } : undefined;
  }

  /** Records that `by` asked to cancel an unfinished job (the running server acts on it). @returns false when finished or unknown */
  async requestCancel(id: string, by: string): Promise<boolean> {
    const n = await this.sql.run(
      `UPDATE jobs SET cancel_requested_by = coalesce(cancel_requested_by, ?) WHERE id = ? AND state IN ('queued', 'running')`,
      [by, id],
    );
    return n > 0;
  }

  /** Unfinished jobs someone asked to cancel, with who asked. */
  async cancelRequests(): Promise<Array<{ id: string; by: string }>> {
    const rows = await this.sql.all<{ id: string; requested: string }>(
      `SELECT id, cancel_requested_by AS requested FROM jobs WHERE cancel_requested_by IS NOT NULL AND state IN ('queued', 'running')`,
    );
    return rows.map((r) => ({ id: r.id, by: r.requested }));
  }
}
