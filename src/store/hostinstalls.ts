/**
 * Stateful members' installs (table `host_installs`, migration 014): when a host's install was
 * reported done by its kickstart's `%firstboot` phone-home, and an admin's reinstall request.
 * The boot policy reads {@link HostInstallRepo.installedAt}: a stateful member with an install on
 * record boots from its local disk. On either store through the SQL executor (./sql.ts). UUIDs are
 * stored lower case.
 */
import type { Sql } from './sql.js';
import type { HostInstallStore } from './ports.js';

/** One host's row. Times are epoch ms. */
export interface HostInstallRecord {
  uuid: string;
  /** When the `%firstboot` phone-home reported the install done; undefined: an install is due. */
  installedAt?: number | undefined;
  /** Source address of that phone-home. */
  installedFrom?: string | undefined;
  /** When an admin last asked for a reinstall. */
  reinstallRequestedAt?: number | undefined;
  /** Who asked (console/API user name, or `system:cli`). */
  reinstallRequestedBy?: string | undefined;
}

interface Row {
  host_uuid: string;
  installed_at: number | null;
  installed_from: string | null;
  reinstall_requested_at: number | null;
  reinstall_requested_by: string | null;
}

const u = (x: string) => x.toLowerCase();
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/** Repository of `host_installs`, on either store (./sql.ts). */
export class HostInstallRepo implements HostInstallStore {
  constructor(private readonly sql: Sql) {}

  /** The host's row, or undefined when it never reported an install nor had a reinstall requested. */
  async get(uuid: string): Promise<HostInstallRecord | undefined> {
    const r = await this.sql.get<Row>('SELECT * FROM host_installs WHERE host_uuid = ?', [u(uuid)]);
    if (!r) return undefined;
    return {
      uuid: r.host_uuid,
      installedAt: opt(r.installed_at),
      installedFrom: opt(r.installed_from),
      reinstallRequestedAt: opt(r.reinstall_requested_at),
      reinstallRequestedBy: opt(r.reinstall_requested_by),
    };
  }

  /** When the host's install was reported done (epoch ms), or undefined: none on record, an install is due. */
  async installedAt(uuid: string): Promise<number | undefined> {
    const r = await this.sql.get<{ installed_at: number | null }>(
      'SELECT installed_at FROM host_installs WHERE host_uuid = ?',
      [u(uuid)],
    );
    return r?.installed_at ?? undefined;
  }

  /** Records that the host's install is done (its `%firstboot` phone-home at `at` from `address`). */
  async markInstalled(uuid: string, p: { at: number; address: string }): Promise<void> {
    await this.sql.run(
      `INSERT INTO host_installs (host_uuid, installed_at, installed_from) VALUES (?, ?, ?)
      ON CONFLICT(host_uuid) DO UPDATE SET installed_at = excluded.installed_at,
        installed_from = excluded.installed_from`,
      [u(uuid), p.at, p.address],
    );
  }

  /**
   * Forgets the host's install (its next network boot installs again) and records who asked, in
   * one transaction.
   * @returns when the forgotten install had been reported (undefined: none was on record)
   */
  async requestReinstall(
    uuid: string,
    p: { at: number; actor: string },
  ): Promise<{ previousInstalledAt: number | undefined }> {
    return this.sql.tx(async (sql) => {
      const prev = await sql.get<{ installed_at: number | null }>(
        sql.dialect === 'postgres'
          ? 'SELECT installed_at FROM host_installs WHERE host_uuid = ? FOR UPDATE'
          : 'SELECT installed_at FROM host_installs WHERE host_uuid = ?',
        [u(uuid)],
      );
      await sql.run(
        `INSERT INTO host_installs (host_uuid, reinstall_requested_at, reinstall_requested_by) VALUES (?, ?, ?)
        ON CONFLICT(host_uuid) DO UPDATE SET installed_at = NULL, installed_from = NULL,
          reinstall_requested_at = excluded.reinstall_requested_at,
          reinstall_requested_by = excluded.reinstall_requested_by`,
        [u(uuid), p.at, p.actor],
      );
      return { previousInstalledAt: prev?.installed_at ?? undefined };
    });
  }
}
