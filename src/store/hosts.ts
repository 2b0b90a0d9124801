/**
 * Hosts and their boot history (tables `hosts`, `boot_events`, migration 001), on either store
 * through the SQL executor (./sql.ts). UUIDs are SMBIOS-form, lower-case (see
 * src/hosts/identity.ts); `macs` and `evidence` are JSON text on both stores.
 */
import type { Sql, SqlParam } from './sql.js';
import { jsonTextElements } from './dialect.js';
import type { HostReader, HostWriter } from './ports.js';

export type HostState = 'unregistered' | 'registered' | 'configuring' | 'configured' | 'failed';

/** One host row, JSON columns decoded. Times are epoch milliseconds. */
export interface HostRecord {
  uuid: string;
  hostname: string | null;
  macs: string[];
  serial: string | null;
  vendor: string | null;
  model: string | null;
  state: HostState;
  cluster: string | null;
  imagePin: string | null;
  firstSeen: number;
  lastSeen: number;
  lastAddress: string | null;
  evidence: Record<string, unknown>;
}

/** What a sighting (phone-home, DHCP, boot) tells us about a host; unset fields keep their value. */
export interface HostSighting {
  uuid: string;
  at: number;
  address?: string | undefined;
  hostname?: string | undefined;
  mac?: string | undefined;
  serial?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
  /** Merged into the evidence JSON (shallow). */
  evidence?: Record<string, unknown>;
}

/** Where a page of {@link HostRepo.page} starts: after this host in `last_seen DESC, uuid DESC` order. */
export interface HostPageKey {
  lastSeen: number;
  uuid: string;
}

/** One page of hosts and where the next one starts (undefined on the last page). */
export interface HostPage {
  hosts: HostRecord[];
  next?: HostPageKey | undefined;
}

/** One served boot answer. */
export interface BootEvent {
  id?: number;
  at: number;
  hostUuid: string | null;
  mac: string | null;
  address: string | null;
  protocol: 'dhcp' | 'tftp' | 'http';
  file: string | null;
  image: string | null;
  firmware: string | null;
  detail?: Record<string, unknown>;
}

interface HostRow {
  uuid: string;
  hostname: string | null;
  macs: string;
  serial: string | null;
  vendor: string | null;
  model: string | null;
  state: HostState;
  cluster: string | null;
  image_pin: string | null;
  first_seen: number;
  last_seen: number;
  last_address: string | null;
  evidence: string;
}

interface BootEventRow {
  id: number;
  at: number;
  host_uuid: string | null;
  mac: string | null;
  address: string | null;
  protocol: BootEvent['protocol'];
  file: string | null;
  image: string | null;
  firmware: string | null;
  detail: string;
}

function toRecord(r: HostRow): HostRecord {
  return {
    uuid: r.uuid,
    hostname: r.hostname,
    macs: JSON.parse(r.macs) as string[],
    serial: r.serial,
    vendor: r.vendor,
    model: r.model,
    state: r.state,
    cluster: r.cluster,
    imagePin: r.image_pin,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastAddress: r.last_address,
    evidence: JSON.parse(r.evidence) as Record<string, unknown>,
  };
}

/** Repository for `hosts` and `boot_events`, on either store (./sql.ts). */
export class HostRepo implements HostReader, HostWriter {
  constructor(private readonly sql: Sql) {}

  /** The host with this SMBIOS UUID, or undefined. */
  async get(uuid: string): Promise<HostRecord | undefined> {
    const r = await this.sql.get<HostRow>('SELECT * FROM hosts WHERE uuid = ?', [uuid]);
    return r ? toRecord(r) : undefined;
  }

  /**
   * Hosts whose MAC list (a JSON array in `macs`) contains `mac`, newest sighting first. SQLite
   * reads the list with `json_each`; PostgreSQL with jsonb containment (`@>`, manual §9.16).
   */
  async findByMac(mac: string): Promise<HostRecord[]> {
    const text =
      this.sql.dialect === 'sqlite'
        ? `SELECT * FROM hosts h WHERE EXISTS (SELECT 1 FROM json_each(h.macs) m WHERE m.value = ?)
          ORDER BY last_seen DESC, uuid`
        : `SELECT * FROM hosts WHERE macs::jsonb @> jsonb_build_array(?::text) ORDER BY last_seen DESC, uuid`;
    return (await this.sql.all<HostRow>(text, [mac])).map(toRecord);
  }

  /** All hosts, newest sighting first (ties by UUID); optionally only those in `state`. */
  async list(state?: HostState): Promise<HostRecord[]> {
    const rows = state
      ? await this.sql.all<HostRow>('SELECT * FROM hosts WHERE state = ? ORDER BY last_seen DESC, uuid', [state])
      : await this.sql.all<HostRow>('SELECT * FROM hosts ORDER BY last_seen DESC, uuid');
    return rows.map(toRecord);
  }

  /**
   * One page of hosts, newest sighting first (ties by UUID), in one query: at most `limit` hosts
   * after `after` (keyset pagination: a host seen again meanwhile moves to the front, the others
   * keep their place), optionally only those in `state`.
   */
  async page(opts: {
    limit: number;
    state?: HostState | undefined;
    after?: HostPageKey | undefined;
  }): Promise<HostPage> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (opts.state) {
      where.push('state = ?');
      params.push(opts.state);
    }
    if (opts.after) {
      where.push('(last_seen < ? OR (last_seen = ? AND uuid < ?))');
      params.push(opts.after.lastSeen, opts.after.lastSeen, opts.after.uuid);
    }
    const rows = await this.sql.all<HostRow>(
      `SELECT * FROM hosts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY last_seen DESC, uuid DESC LIMIT ?`,
      [...params, opts.limit + 1],
    );
    const hosts = rows.slice(0, opts.limit).map(toRecord);
    const last = hosts[hosts.length - 1];
    return rows.length > opts.limit && last ? { hosts, next: { lastSeen: last.lastSeen, uuid: last.uuid } } : { hosts };
  }

  /** Number of hosts in each state (states without hosts are absent), in one query. */
  async countByState(): Promise<Partial<Record<HostState, number>>> {
    // count(*) is a BIGINT on PostgreSQL, read back as a number (src/store/pg.ts).
    const rows = await this.sql.all<{ state: HostState; n: number }>(
      'SELECT state, count(*) AS n FROM hosts GROUP BY state',
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /**
   * The image each host last booted, in one query for all `hosts`: the newest boot event naming
   * an image that was recorded for the host's UUID or, without a UUID, for one of its MACs (the
   * events `hostBootHistory` in src/hosts/boot-history.ts merges). Hosts that never booted an image are absent.
   */
  async lastImages(hosts: ReadonlyArray<Pick<HostRecord, 'uuid' | 'macs'>>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (hosts.length === 0) return out;
    const list = jsonTextElements(this.sql.dialect);
    const rows = await this.sql.all<{ host_uuid: string | null; mac: string | null; image: string; at: number }>(
      `SELECT host_uuid, mac, image, at FROM (
        SELECT host_uuid, mac, image, at, ROW_NUMBER() OVER (
          PARTITION BY COALESCE(host_uuid, 'mac:' || mac) ORDER BY at DESC, id DESC) AS n
        FROM boot_events
        WHERE image IS NOT NULL AND (host_uuid IN (SELECT value FROM ${list})
          OR (host_uuid IS NULL AND mac IN (SELECT value FROM ${list})))
      ) AS newest WHERE n = 1`,
      [JSON.stringify(hosts.map((h) => h.uuid)), JSON.stringify(hosts.flatMap((h) => h.macs))],
    );
    const byUuid = new Map<string, { image: string; at: number }>();
    const byMac = new Map<string, { image: string; at: number }>();
    for (const r of rows) {
      if (r.host_uuid) byUuid.set(r.host_uuid, r);
      else if (r.mac) byMac.set(r.mac, r);
    }
    for (const h of hosts) {
      let best = byUuid.get(h.uuid);
      for (const m of h.macs) {
        const e = byMac.get(m);
        if (e && (!best || e.at > best.at)) best = e;
      }
      if (best) out.set(h.uuid, best.image);
    }
    return out;
  }

  /**
   * Inserts or updates a host from a sighting, atomically (one transaction): first_seen kept,
   * last_seen and given fields updated, MAC added to the list once, evidence merged. A new host
   * starts in `newState` (default `unregistered`); an existing host keeps its state. Safe against
   * concurrent sightings of the same host from several servers: the insert is
   * `ON CONFLICT DO NOTHING`, and on PostgreSQL the row is read `FOR UPDATE` before the merge
   * (SQLite's `BEGIN IMMEDIATE` already serializes writers).
   */
  async upsertSighting(s: HostSighting, newState: HostState = 'unregistered'): Promise<HostRecord> {
    return this.sql.tx(async (sql) => {
      const inserted = await sql.get<HostRow>(
        `INSERT INTO hosts (uuid, hostname, macs, serial, vendor, model, state, first_seen, last_seen, last_address, evidence)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO NOTHING RETURNING *`,
        [
          s.uuid,
          s.hostname ?? null,
          JSON.stringify(s.mac ? [s.mac] : []),
          s.serial ?? null,
          s.vendor ?? null,
          s.model ?? null,
          newState,
          s.at,
          s.at,
          s.address ?? null,
          JSON.stringify(s.evidence ?? {}),
        ],
      );
      if (inserted) return toRecord(inserted);
      const row = await sql.get<HostRow>(
        sql.dialect === 'postgres'
          ? 'SELECT * FROM hosts WHERE uuid = ? FOR UPDATE'
          : 'SELECT * FROM hosts WHERE uuid = ?',
        [s.uuid],
      );
      const cur = toRecord(row!);
      const macs = s.mac && !cur.macs.includes(s.mac) ? [...cur.macs, s.mac] : cur.macs;
      const updated = await sql.get<HostRow>(
        `UPDATE hosts SET hostname = ?, macs = ?, serial = ?, vendor = ?, model = ?, last_seen = ?,
        last_address = ?, evidence = ? WHERE uuid = ? RETURNING *`,
        [
          s.hostname ?? cur.hostname,
          JSON.stringify(macs),
          s.serial ?? cur.serial,
          s.vendor ?? cur.vendor,
          s.model ?? cur.model,
          Math.max(s.at, cur.lastSeen),
          s.address ?? cur.lastAddress,
          JSON.stringify({ ...cur.evidence, ...(s.evidence ?? {}) }),
          s.uuid,
        ],
      );
      return toRecord(updated!);
    });
  }

  /** Sets the lifecycle state (and cluster, when given). No-op for an unknown UUID; resolves to whether a row changed. */
  async setState(uuid: string, state: HostState, cluster?: string | null): Promise<boolean> {
    const n =
      cluster === undefined
        ? await this.sql.run('UPDATE hosts SET state = ? WHERE uuid = ?', [state, uuid])
        : await this.sql.run('UPDATE hosts SET state = ?, cluster = ? WHERE uuid = ?', [state, cluster, uuid]);
    return n > 0;
  }

  /** Pins (or with null unpins) the image a host boots; creates the host row if needed. */
  async setImagePin(uuid: string, image: string | null, at = Date.now()): Promise<void> {
    await this.sql.run(
      `INSERT INTO hosts (uuid, state, image_pin, first_seen, last_seen) VALUES (?, 'registered', ?, ?, ?)
      ON CONFLICT(uuid) DO UPDATE SET image_pin = excluded.image_pin`,
      [uuid, image, at, at],
    );
  }

  /** Hosts pinned to `image`, by UUID. */
  async pinnedTo(image: string): Promise<string[]> {
    const rows = await this.sql.all<{ uuid: string }>('SELECT uuid FROM hosts WHERE image_pin = ? ORDER BY uuid', [
      image,
    ]);
    return rows.map((r) => r.uuid);
  }

  /** Records a served boot answer; resolves to its id. One statement text (a boot storm writes thousands). */
  async addBootEvent(e: BootEvent): Promise<number> {
    const row = await this.sql.get<{ id: number }>(
      `INSERT INTO boot_events (at, host_uuid, mac, address, protocol, file, image, firmware, detail)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [e.at, e.hostUuid, e.mac, e.address, e.protocol, e.file, e.image, e.firmware, JSON.stringify(e.detail ?? {})],
    );
    return row!.id;
  }

  /**
   * The newest boot event from client `address` at or after `since` (epoch ms) that names a host
   * UUID or MAC (DHCP and earlier boot-file answers), or undefined. Used to tell which host asks
   * for a file whose name does not identify it (e.g. `<image>/boot.cfg`).
   */
  async lastIdentifiedBootEventFrom(
    address: string,
    since: number,
  ): Promise<{ hostUuid: string | null; mac: string | null; firmware: string | null; at: number } | undefined> {
    const r = await this.sql.get<{ host_uuid: string | null; mac: string | null; firmware: string | null; at: number }>(
      `SELECT host_uuid, mac, firmware, at FROM boot_events
      WHERE address = ? AND at >= ? AND (host_uuid IS NOT NULL OR mac IS NOT NULL)
      ORDER BY at DESC, id DESC LIMIT 1`,
      [address, since],
    );
    return r && { hostUuid: r.host_uuid, mac: r.mac, firmware: r.firmware, at: r.at };
  }

  /** Boot history: for a host UUID or MAC (either may be null), newest first, at most `limit`. */
  async bootEvents(filter: { uuid?: string | null; mac?: string | null; limit?: number } = {}): Promise<BootEvent[]> {
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (filter.uuid != null) {
      where.push('host_uuid = ?');
      params.push(filter.uuid);
    }
    if (filter.mac != null) {
      where.push('mac = ?');
      params.push(filter.mac);
    }
    const rows = await this.sql.all<BootEventRow>(
      `SELECT * FROM boot_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY at DESC, id DESC LIMIT ?`,
      [...params, filter.limit ?? 100],
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      hostUuid: r.host_uuid,
      mac: r.mac,
      address: r.address,
      protocol: r.protocol,
      file: r.file,
      image: r.image,
      firmware: r.firmware,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }
}
