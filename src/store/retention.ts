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
import type { Database, Statement } from 'better-sqlite3';
import { preparedOnce } from './statements.js';

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

/** Deletes what is past the {@link RetentionPolicy}, a batch at a time. Synchronous (better-sqlite3). */
export class RetentionRepo {
  /** The prepared statement for an SQL text, prepared once (hot paths call these per packet or batch). */
  private readonly sql: (text: string) => Statement;

  constructor(private readonly db: Database) {
    this.sql = preparedOnce(db);
  }

  /**
   * One batch: deletes at most `batch` rows of each table that are past `policy` at `now` (epoch ms).
   * Call again while it deletes anything.
   * @throws RangeError when batch < 1
   */
  pruneBatch(policy: RetentionPolicy, now: number, batch = 5000): RetentionResult {
    if (!(batch >= 1)) throw new RangeError(`batch must be at least 1, got ${batch}`);
    return this.db.transaction((): RetentionResult => ({
      bootEvents: this.pruneLog('boot_events', policy.bootEventsDays, policy.bootEventsMaxRows, now, batch),
      phoneHomes: this.pruneLog('phone_homes', policy.phoneHomesDays, policy.phoneHomesMaxRows, now, batch),
      unregisteredHosts: this.pruneHosts(policy, now, batch),
    }))();
  }

  /** Rows of an append-only log table (`id` grows with `at`): older than `days`, then beyond `maxRows`. */
  private pruneLog(table: 'boot_events' | 'phone_homes', days: number, maxRows: number, now: number, batch: number) {
    let n = 0;
    if (days > 0) {
      n += this.sql(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE at < ? LIMIT ?)`).run(
        now - days * DAY_MS,
        batch,
      ).changes;
    }
    if (maxRows > 0) {
      const excess = (this.sql(`SELECT count(*) FROM ${table}`).pluck().get() as number) - maxRows;
      if (excess > 0)
        n += this.sql(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} ORDER BY id LIMIT ?)`).run(
          Math.min(excess, batch),
        ).changes;
    }
    return n;
  }

  private pruneHosts(policy: RetentionPolicy, now: number, batch: number): number {
    const uuids: string[] = [];
    if (policy.unregisteredHostsDays > 0) {
      uuids.push(
        ...(this.sql(`SELECT uuid FROM hosts WHERE ${DELETABLE_HOST} AND last_seen < ? ORDER BY last_seen LIMIT ?`)
          .pluck()
          .all(now - policy.unregisteredHostsDays * DAY_MS, batch) as string[]),
      );
    }
    if (policy.unregisteredHostsMaxRows > 0 && uuids.length < batch) {
      const count = this.sql(`SELECT count(*) FROM hosts WHERE ${DELETABLE_HOST}`).pluck().get() as number;
      const excess = count - uuids.length - policy.unregisteredHostsMaxRows;
      if (excess > 0) {
        const seen = new Set(uuids);
        const oldest = this.sql(`SELECT uuid FROM hosts WHERE ${DELETABLE_HOST} ORDER BY last_seen, uuid LIMIT ?`)
          .pluck()
          .all(Math.min(batch, excess + uuids.length)) as string[];
        let added = 0;
        for (const u of oldest) {
          if (seen.has(u) || added >= excess || uuids.length >= batch) continue;
          uuids.push(u);
          added++;
        }
      }
    }
    const delHost = this.sql(`DELETE FROM hosts WHERE uuid = ? AND ${DELETABLE_HOST}`);
    const delBoot = this.sql(
      'DELETE FROM host_boots WHERE host_uuid = ? AND joined_thumbprint IS NULL AND converged_at IS NULL',
    );
    let n = 0;
    for (const u of uuids) {
      n += delHost.run(u).changes;
      delBoot.run(u);
    }
    return n;
  }
}
