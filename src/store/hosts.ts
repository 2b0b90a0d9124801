/**
 * Hosts and their boot history (tables `hosts`, `boot_events`).
 * UUIDs are SMBIOS-form, lower-case (see src/hosts/identity.ts).
 */
import type { Database, Statement } from 'better-sqlite3';
import { preparedOnce } from './statements.js';
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

/** Repository for `hosts` and `boot_events`. All methods are synchronous (better-sqlite3). */
export class HostRepo implements HostReader, HostWriter {
  /** The prepared statement for an SQL text, prepared once (hot paths call these per packet or batch). */
  private readonly sql: (text: string) => Statement;

  constructor(private readonly db: Database) {
    this.sql = preparedOnce(db);
  }

  /** The host with this SMBIOS UUID, or undefined. */
  get(uuid: string): HostRecord | undefined {
    const r = this.sql('SELECT * FROM hosts WHERE uuid = ?').get(uuid) as HostRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Hosts whose MAC list contains `mac`. */
  findByMac(mac: string): HostRecord[] {
    const rows = this.db
      .prepare('SELECT h.* FROM hosts h, json_each(h.macs) m WHERE m.value = ?')
      .all(mac) as HostRow[];
    return rows.map(toRecord);
  }

  /** All hosts, newest sighting first; optionally only those in `state`. */
  list(state?: HostState): HostRecord[] {
    const rows = (
      state
        ? this.sql('SELECT * FROM hosts WHERE state = ? ORDER BY last_seen DESC').all(state)
        : this.sql('SELECT * FROM hosts ORDER BY last_seen DESC').all()
    ) as HostRow[];
    return rows.map(toRecord);
  }

  /**
   * One page of hosts, newest sighting first (ties by UUID), in one query: at most `limit` hosts
   * after `after` (keyset pagination: a host seen again meanwhile moves to the front, the others
   * keep their place), optionally only those in `state`.
   */
  page(opts: { limit: number; state?: HostState | undefined; after?: HostPageKey | undefined }): HostPage {
    const rows = this.sql(
      `SELECT * FROM hosts WHERE (@state IS NULL OR state = @state)
      AND (@lastSeen IS NULL OR last_seen < @lastSeen OR (last_seen = @lastSeen AND uuid < @uuid))
      ORDER BY last_seen DESC, uuid DESC LIMIT @limit`,
    ).all({
      state: opts.state ?? null,
      lastSeen: opts.after?.lastSeen ?? null,
      uuid: opts.after?.uuid ?? '',
      limit: opts.limit + 1,
    }) as HostRow[];
    const hosts = rows.slice(0, opts.limit).map(toRecord);
    const last = hosts[hosts.length - 1];
    return rows.length > opts.limit && last ? { hosts, next: { lastSeen: last.lastSeen, uuid: last.uuid } } : { hosts };
  }

  /** Number of hosts in each state (states without hosts are absent), in one query. */
  countByState(): Partial<Record<HostState, number>> {
    const rows = this.sql('SELECT state, COUNT(*) AS n FROM hosts GROUP BY state').all() as Array<{
      state: HostState;
      n: number;
    }>;
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /**
   * The image each host last booted, in one query for all `hosts`: the newest boot event naming
   * an image that was recorded for the host's UUID or, without a UUID, for one of its MACs (the
   * events `hostBootHistory` in src/hosts/boot-history.ts merges). Hosts that never booted an image are absent.
   */
  lastImages(hosts: ReadonlyArray<Pick<HostRecord, 'uuid' | 'macs'>>): Map<string, string> {
    const out = new Map<string, string>();
    if (hosts.length === 0) return out;
    const rows = this.sql(
      `SELECT host_uuid, mac, image, at FROM (
        SELECT host_uuid, mac, image, at, ROW_NUMBER() OVER (
          PARTITION BY COALESCE(host_uuid, 'mac:' || mac) ORDER BY at DESC, id DESC) AS n
        FROM boot_events
        WHERE image IS NOT NULL AND (host_uuid IN (SELECT value FROM json_each(@uuids))
          OR (host_uuid IS NULL AND mac IN (SELECT value FROM json_each(@macs))))
      ) WHERE n = 1`,
    ).all({
      uuids: JSON.stringify(hosts.map((h) => h.uuid)),
      macs: JSON.stringify(hosts.flatMap((h) => h.macs)),
    }) as Array<{ host_uuid: string | null; mac: string | null; image: string; at: number }>;
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
   * Inserts or updates a host from a sighting, atomically: first_seen kept, last_seen and
   * given fields updated, MAC added to the list once, evidence merged. A new host starts in
   * `newState` (default `unregistered`); an existing host keeps its state.
   */
  upsertSighting(s: HostSighting, newState: HostState = 'unregistered'): HostRecord {
    return this.db.transaction((): HostRecord => {
      const cur = this.get(s.uuid);
      if (!cur) {
        this.sql(
          `INSERT INTO hosts (uuid, hostname, macs, serial, vendor, model, state, first_seen, last_seen, last_address, evidence)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
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
        );
      } else {
        const macs = s.mac && !cur.macs.includes(s.mac) ? [...cur.macs, s.mac] : cur.macs;
        this.sql(
          `UPDATE hosts SET hostname = ?, macs = ?, serial = ?, vendor = ?, model = ?, last_seen = ?,
          last_address = ?, evidence = ? WHERE uuid = ?`,
        ).run(
          s.hostname ?? cur.hostname,
          JSON.stringify(macs),
          s.serial ?? cur.serial,
          s.vendor ?? cur.vendor,
          s.model ?? cur.model,
          Math.max(s.at, cur.lastSeen),
          s.address ?? cur.lastAddress,
          JSON.stringify({ ...cur.evidence, ...(s.evidence ?? {}) }),
          s.uuid,
        );
      }
      return this.get(s.uuid)!;
    })();
  }

  /** Sets the lifecycle state (and cluster, when given). No-op for an unknown UUID; returns whether a row changed. */
  setState(uuid: string, state: HostState, cluster?: string | null): boolean {
    const r =
      cluster === undefined
        ? this.sql('UPDATE hosts SET state = ? WHERE uuid = ?').run(state, uuid)
        : this.sql('UPDATE hosts SET state = ?, cluster = ? WHERE uuid = ?').run(state, cluster, uuid);
    return r.changes > 0;
  }

  /** Pins (or with null unpins) the image a host boots; creates the host row if needed. */
  setImagePin(uuid: string, image: string | null, at = Date.now()): void {
    this.sql(
      `INSERT INTO hosts (uuid, state, image_pin, first_seen, last_seen) VALUES (?, 'registered', ?, ?, ?)
      ON CONFLICT(uuid) DO UPDATE SET image_pin = excluded.image_pin`,
    ).run(uuid, image, at, at);
  }

  /** Hosts pinned to `image`. */
  pinnedTo(image: string): string[] {
    return this.sql('SELECT uuid FROM hosts WHERE image_pin = ?').pluck().all(image) as string[];
  }

  /** Records a served boot answer; returns its id. */
  addBootEvent(e: BootEvent): number {
    const r = this.sql(
      `INSERT INTO boot_events (at, host_uuid, mac, address, protocol, file, image, firmware, detail)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.at, e.hostUuid, e.mac, e.address, e.protocol, e.file, e.image, e.firmware, JSON.stringify(e.detail ?? {}));
    return Number(r.lastInsertRowid);
  }

  /**
   * The newest boot event from client `address` at or after `since` (epoch ms) that names a host
   * UUID or MAC (DHCP and earlier boot-file answers), or undefined. Used to tell which host asks
   * for a file whose name does not identify it (e.g. `<image>/boot.cfg`).
   */
  lastIdentifiedBootEventFrom(
    address: string,
    since: number,
  ): { hostUuid: string | null; mac: string | null; firmware: string | null; at: number } | undefined {
    const r = this.sql(
      `SELECT host_uuid, mac, firmware, at FROM boot_events
      WHERE address = ? AND at >= ? AND (host_uuid IS NOT NULL OR mac IS NOT NULL)
      ORDER BY at DESC, id DESC LIMIT 1`,
    ).get(address, since) as
      { host_uuid: string | null; mac: string | null; firmware: string | null; at: number } | undefined;
    return r && { hostUuid: r.host_uuid, mac: r.mac, firmware: r.firmware, at: r.at };
  }

  /** Boot history: for a host UUID or MAC (either may be null), newest first, at most `limit`. */
  bootEvents(filter: { uuid?: string | null; mac?: string | null; limit?: number } = {}): BootEvent[] {
    const limit = filter.limit ?? 100;
    const rows = this.sql(
      `SELECT * FROM boot_events
      WHERE (@uuid IS NULL OR host_uuid = @uuid) AND (@mac IS NULL OR mac = @mac)
      ORDER BY at DESC, id DESC LIMIT @limit`,
    ).all({ uuid: filter.uuid ?? null, mac: filter.mac ?? null, limit }) as Array<{
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
    }>;
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
