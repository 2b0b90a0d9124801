/**
 * Lifecycle verbs on hosts (issue 19 item 3): forget a host — its row, image pin, sightings
 * (`boot_events`), per-boot phone-home tokens (`boot_tokens`), boot record (`host_boots`) and the
 * engine's maintenance record — and delete stale unregistered sightings by age or by UUID. Its
 * phone-home attempts (`phone_homes`) stay as evidence until retention deletes them; its jobs stay
 * as history. A forgotten host that boots again is a new sighting.
 */
import type { Sql } from './sql.js';

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

/** Forgets hosts and deletes stale unregistered sightings, on either store (./sql.ts). */
export class HostForgetRepo {
  constructor(private readonly sql: Sql) {}

  /**
   * Forgets everything the store holds about host `uuid` (SMBIOS form, any case), in one
   * transaction. @returns what was removed (all zero/false: the store knew nothing of it)
   */
  async forget(uuid: string): Promise<ForgetResult> {
    const u = uuid.toLowerCase();
    return this.sql.tx(async (sql) => {
      const host = (await sql.run('DELETE FROM hosts WHERE uuid = ?', [u])) > 0;
      const bootEvents = await sql.run('DELETE FROM boot_events WHERE host_uuid = ?', [u]);
      const bootTokens = await sql.run('DELETE FROM boot_tokens WHERE host_uuid = ?', [u]);
      const hostBoots = await sql.run('DELETE FROM host_boots WHERE host_uuid = ?', [u]);
      await sql.run('DELETE FROM engine_maintenance WHERE host_uuid = ?', [u]);
      return { host, bootEvents, bootTokens, hostBoots };
    });
  }

  /**
   * Deletes unregistered hosts (no cluster, no pin) not seen for `olderThanDays` days before
   * `now` (epoch ms), with their sightings, tokens and unjoined boot records, in one transaction.
   * @returns the UUIDs deleted, oldest sighting first
   */
  async deleteStaleUnregistered(olderThanDays: number, now: number): Promise<string[]> {
    return this.sql.tx(async (sql) => {
      const rows = await sql.all<{ uuid: string }>(
        `SELECT uuid FROM hosts WHERE ${DELETABLE} AND last_seen < ? ORDER BY last_seen, uuid`,
        [now - olderThanDays * DAY_MS],
      );
      for (const r of rows) await this.forget(r.uuid);
      return rows.map((r) => r.uuid);
    });
  }

  /**
   * Deletes one unregistered host by UUID with its sightings, in one transaction.
   * @returns `deleted`, `missing` (no such host) or `registered` (assigned or pinned: forget it instead)
   */
  async deleteUnregistered(uuid: string): Promise<'deleted' | 'missing' | 'registered'> {
    const u = uuid.toLowerCase();
    return this.sql.tx(async (sql) => {
      const row = await sql.get<{ ok: number | boolean }>(`SELECT ${DELETABLE} AS ok FROM hosts WHERE uuid = ?`, [u]);
      if (!row) return 'missing';
      if (!row.ok) return 'registered';
      await this.forget(u);
      return 'deleted';
    });
  }
}
