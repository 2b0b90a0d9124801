/**
 * Retention of what unauthenticated traffic adds to the store (issue 16, finding 8): boot events
 * (every PXE answer), phone-home attempts, and unregistered hosts (UUIDs anyone on the boot LAN
 * can invent). Each is kept by age and by count; the oldest go first. Deletes run in batches so a
 * caller can yield between them (a first run on a large file must not block the event loop).
 *
 * Unregistered hosts are deleted only while nothing of an operator's holds them: no cluster
 * assigned and no image pinned (state `unregistered` otherwise). Their `host_boots` row goes with
 * them unless the engine recorded a join or a convergence in it.
 */
import type { Sql } from './sql.js';

/** Limits, each 0 = no limit of that kind. Days are of 24 h. */
export interface RetentionPolicy {
  bootEventsDays: number;
  bootEventsMaxRows: number;
  phoneHomesDays: number;
  phoneHomesMaxRows: number;
  unregisteredHostsDays: number;
  unregisteredHostsMaxRows: number;
}

/** Rows deleted, by table. */
export interface RetentionResult {
  bootEvents: number;
  phoneHomes: number;
  unregisteredHosts: number;
}

const DAY_MS = 86_400_000;
/** Hosts retention may delete: never assigned, pinned or joined. */
const DELETABLE_HOST = `state = 'unregistered' AND cluster IS NULL AND image_pin IS NULL`;

/** Deletes what is past the {@link RetentionPolicy}, a batch at a time, on either store (./sql.ts). */
export class RetentionRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * One batch, in one transaction: deletes at most `batch` rows of each table that are past
   * `policy` at `now` (epoch ms). Call again while it deletes anything.
   * @throws RangeError when batch < 1
   */
  async pruneBatch(policy: RetentionPolicy, now: number, batch = 5000): Promise<RetentionResult> {
    if (!(batch >= 1)) throw new RangeError(`batch must be at least 1, got ${batch}`);
    return this.sql.tx(async (): Promise<RetentionResult> => ({
      bootEvents: await this.pruneLog('boot_events', policy.bootEventsDays, policy.bootEventsMaxRows, now, batch),
      phoneHomes: await this.pruneLog('phone_homes', policy.phoneHomesDays, policy.phoneHomesMaxRows, now, batch),
      unregisteredHosts: await this.pruneHosts(policy, now, batch),
    }));
  }

  /** Rows of an append-only log table (`id` grows with `at`): older than `days`, then beyond `maxRows`. */
  private async pruneLog(
    table: 'boot_events' | 'phone_homes',
    days: number,
    maxRows: number,
    now: number,
    batch: number,
  ): Promise<number> {
    let n = 0;
    if (days > 0) {
      n += await this.sql.run(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE at < ? LIMIT ?)`, [
        now - days * DAY_MS,
        batch,
      ]);
    }
    if (maxRows > 0) {
      const count = (await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n;
      const excess = Number(count) - maxRows;
      if (excess > 0)
        n += await this.sql.run(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} ORDER BY id LIMIT ?)`, [
          Math.min(excess, batch),
        ]);
    }
    return n;
  }

  private async uuids(text: string, params: Array<string | number>): Promise<string[]> {
    return (await this.sql.all<{ uuid: string }>(text, params)).map((r) => r.uuid);
  }

  private async pruneHosts(policy: RetentionPolicy, now: number, batch: number): Promise<number> {
    const uuids: string[] = [];
    if (policy.unregisteredHostsDays > 0) {
      uuids.push(
        ...(await this.uuids(
          `SELECT uuid FROM hosts WHERE ${DELETABLE_HOST} AND last_seen < ? ORDER BY last_seen, uuid LIMIT ?`,
          [now - policy.unregisteredHostsDays * DAY_MS, batch],
        )),
      );
    }
    if (policy.unregisteredHostsMaxRows > 0 && uuids.length < batch) {
      const count = (await this.sql.get<{ n: number }>(`SELECT count(*) AS n FROM hosts WHERE ${DELETABLE_HOST}`))!.n;
      const excess = Number(count) - uuids.length - policy.unregisteredHostsMaxRows;
      if (excess > 0) {
        const seen = new Set(uuids);
        const oldest = await this.uuids(
          `SELECT uuid FROM hosts WHERE ${DELETABLE_HOST} ORDER BY last_seen, uuid LIMIT ?`,
          [Math.min(batch, excess + uuids.length)],
        );
        let added = 0;
        for (const u of oldest) {
          if (seen.has(u) || added >= excess || uuids.length >= batch) continue;
          uuids.push(u);
          added++;
        }
      }
    }
    let n = 0;
    for (const u of uuids) {
      n += await this.sql.run(`DELETE FROM hosts WHERE uuid = ? AND ${DELETABLE_HOST}`, [u]);
      await this.sql.run(
        'DELETE FROM host_boots WHERE host_uuid = ? AND joined_thumbprint IS NULL AND converged_at IS NULL',
        [u],
      );
    }
    return n;
  }
}
