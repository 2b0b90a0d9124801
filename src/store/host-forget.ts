/**
 * Lifecycle verbs on hosts (issue 19 item 3): forget a host — its row, image pin, sightings
 * (`boot_events`), per-boot phone-home tokens (`boot_tokens`), boot record (`host_boots`) and the
 * engine's maintenance record — and delete stale unregistered sightings by age or by UUID. Its
 * phone-home attempts (`phone_homes`) stay as evidence until retention deletes them; its jobs stay
 * as history. A forgotten host that boots again is a new sighting.
 */
import type { Database } from 'better-sqlite3';

const DAY_MS = 86_400_000;
/** Unregistered hosts that may be deleted: never assigned or pinned (as retention, ./retention.ts). */
const DELETABLE = `state = 'unregistered' AND cluster IS NULL AND image_pin IS NULL`;

/** Rows removed when a host is forgotten, by table. */
export interface ForgetResult {
  host: boolean;
  bootEvents: number;
  bootTokens: number;
  hostBoots: number;
}

/** Forgets hosts and deletes stale unregistered sightings. Synchronous (better-sqlite3). */
export class HostForgetRepo {
  constructor(private readonly db: Database) {}

  /**
   * Forgets everything the store holds about host `uuid` (SMBIOS form, any case), in one
   * transaction. @returns what was removed (all zero/false: the store knew nothing of it)
   */
  forget(uuid: string): ForgetResult {
    const u = uuid.toLowerCase();
    return this.db.transaction(() => {
      const host = this.db.prepare('DELETE FROM hosts WHERE uuid = ?').run(u).changes > 0;
      const bootEvents = this.db.prepare('DELETE FROM boot_events WHERE host_uuid = ?').run(u).changes;
      const bootTokens = this.db.prepare('DELETE FROM boot_tokens WHERE host_uuid = ?').run(u).changes;
      const hostBoots = this.db.prepare('DELETE FROM host_boots WHERE host_uuid = ?').run(u).changes;
      this.db.prepare('DELETE FROM engine_maintenance WHERE host_uuid = ?').run(u);
      return { host, bootEvents, bootTokens, hostBoots };
    })();
  }

  /**
   * Deletes unregistered hosts (no cluster, no pin) not seen for `olderThanDays` days before
   * `now` (epoch ms), with their sightings, tokens and unjoined boot records.
   * @returns the UUIDs deleted
   */
  deleteStaleUnregistered(olderThanDays: number, now: number): string[] {
    return this.db.transaction(() => {
      const uuids = this.db
        .prepare(`SELECT uuid FROM hosts WHERE ${DELETABLE} AND last_seen < ? ORDER BY last_seen`)
        .pluck()
        .all(now - olderThanDays * DAY_MS) as string[];
      for (const u of uuids) this.forget(u);
      return uuids;
    })();
  }

  /**
   * Deletes one unregistered host by UUID with its sightings.
   * @returns `deleted`, `missing` (no such host) or `registered` (assigned or pinned: forget it instead)
   */
  deleteUnregistered(uuid: string): 'deleted' | 'missing' | 'registered' {
    const u = uuid.toLowerCase();
    return this.db.transaction(() => {
      const row = this.db.prepare(`SELECT ${DELETABLE} AS ok FROM hosts WHERE uuid = ?`).get(u) as
        { ok: number } | undefined;
      if (!row) return 'missing';
      if (!row.ok) return 'registered';
      this.forget(u);
      return 'deleted';
    })();
  }
}
