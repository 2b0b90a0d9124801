/**
 * 014: boot-once for stateful installs (issue 17 item 3). A stateful member installs ESXi to its
 * disk once: when its kickstart's `%firstboot` phones home with `stage=installed` (verified), the
 * install is recorded here and the host's later network boots get "boot from local disk"
 * (pxelinux `LOCALBOOT 0`, iPXE `exit`, no loader for UEFI native PXE/HTTP boot) — else a host
 * that keeps network boot first in its boot order would reinstall at every boot. An admin's
 * reinstall request clears `installed_at` (kept: when and by whom it was asked), so the next
 * boot installs again. Keyed by hardware UUID like `host_boots`: the install is on that machine's disk.
 */
import type { Database } from 'better-sqlite3';

export const name = '014-host-installs';

export function up(db: Database): void {
  db.exec(`
    CREATE TABLE host_installs (
      host_uuid              TEXT PRIMARY KEY, -- SMBIOS UUID as the cluster file spells it, lower case
      installed_at           INTEGER,          -- epoch ms of the %firstboot phone-home that reported the install; NULL: an install is due
      installed_from         TEXT,             -- source address of that phone-home
      reinstall_requested_at INTEGER,          -- epoch ms an admin last asked for a reinstall
      reinstall_requested_by TEXT              -- who asked (user name, or system:cli)
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE TABLE host_installs (
      host_uuid TEXT PRIMARY KEY, installed_at BIGINT, installed_from TEXT, reinstall_requested_at BIGINT,
      reinstall_requested_by TEXT
    );
  `;
