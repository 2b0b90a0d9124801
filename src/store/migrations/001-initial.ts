/**
 * 001: the initial schema. Timestamps are integer milliseconds since the epoch (UTC).
 * UUIDs are stored lower-case with dashes in SMBIOS order (what dmidecode, iPXE `${uuid}` and
 * vCenter show); MACs lower-case colon-separated.
 */
import type { Database } from 'better-sqlite3';

export const name = '001-initial';

// eslint-disable-next-line max-lines-per-function -- one schema as first applied; migrations are never edited
export function up(db: Database): void {
  db.exec(`
    -- Every host we have seen or been told about. state: unregistered | registered | configuring | configured | failed
    CREATE TABLE hosts (
      uuid        TEXT PRIMARY KEY,
      hostname    TEXT,
      macs        TEXT NOT NULL DEFAULT '[]',     -- JSON array
      serial      TEXT,
      vendor      TEXT,
      model       TEXT,
      state       TEXT NOT NULL DEFAULT 'unregistered',
      cluster     TEXT,                           -- cluster name when assigned in the store (files also assign)
      image_pin   TEXT,                           -- boot assignment: image name
      first_seen  INTEGER NOT NULL,
      last_seen   INTEGER NOT NULL,
      last_address TEXT,
      evidence    TEXT NOT NULL DEFAULT '{}'      -- JSON: uuid forms, initiator version, extra keys
    );
    CREATE INDEX hosts_state ON hosts(state);

    -- What each host was served: one row per rendered or looked-up boot answer.
    CREATE TABLE boot_events (
      id        INTEGER PRIMARY KEY,
      at        INTEGER NOT NULL,
      host_uuid TEXT,
      mac       TEXT,
      address   TEXT,
      protocol  TEXT NOT NULL,                    -- dhcp | tftp | http
      file      TEXT,
      image     TEXT,
      firmware  TEXT,                             -- bios | uefi | ipxe | ...
      detail    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX boot_events_host ON boot_events(host_uuid, at);
    CREATE INDEX boot_events_mac ON boot_events(mac, at);

    -- Per-boot phone-home tokens (SHA-256 of the token; the token itself is never stored).
    CREATE TABLE boot_tokens (
      token_hash TEXT PRIMARY KEY,
      host_uuid  TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      used_at    INTEGER
    );
    CREATE INDEX boot_tokens_host ON boot_tokens(host_uuid);

    -- Phone-home attempts, accepted or refused (evidence and counters).
    CREATE TABLE phone_homes (
      id        INTEGER PRIMARY KEY,
      at        INTEGER NOT NULL,
      address   TEXT NOT NULL,
      transport TEXT NOT NULL,                    -- tcp | http
      host_uuid TEXT,
      hostname  TEXT,
      result    TEXT NOT NULL,                    -- ok | unregistered | refused
      reason    TEXT,
      job_id    TEXT
    );
    CREATE INDEX phone_homes_at ON phone_homes(at);

    -- DHCP leases (full mode). state: offered | bound | declined | released
    CREATE TABLE dhcp_leases (
      address    TEXT PRIMARY KEY,
      mac        TEXT NOT NULL,
      client_id  TEXT,
      hostname   TEXT,
      state      TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE INDEX dhcp_leases_mac ON dhcp_leases(mac);

    -- Durable jobs and their steps. state: queued | running | succeeded | failed | blocked | cancelled
    CREATE TABLE jobs (
      id          TEXT PRIMARY KEY,
      kind        TEXT NOT NULL,                  -- configure-host | apply-cluster | drift
      target      TEXT NOT NULL,                  -- host uuid or cluster name
      cluster     TEXT,
      vcenter     TEXT,
      state       TEXT NOT NULL,
      created_at  INTEGER NOT NULL,
      started_at  INTEGER,
      finished_at INTEGER,
      attempts    INTEGER NOT NULL DEFAULT 0,
      error       TEXT,
      requested_by TEXT
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_target ON jobs(target, created_at);
    CREATE TABLE job_steps (
      job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      seq         INTEGER NOT NULL,
      name        TEXT NOT NULL,                  -- vSphere method or read step, e.g. AddHost_Task
      target      TEXT,
      before      TEXT,                           -- JSON
      after       TEXT,                           -- JSON
      state       TEXT NOT NULL,                  -- pending | running | done | failed | skipped
      started_at  INTEGER,
      finished_at INTEGER,
      result      TEXT,
      fault       TEXT,
      PRIMARY KEY (job_id, seq)
    );
    CREATE TABLE job_log (
      id     INTEGER PRIMARY KEY,
      job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      at     INTEGER NOT NULL,
      level  TEXT NOT NULL,
      msg    TEXT NOT NULL
    );
    CREATE INDEX job_log_job ON job_log(job_id, id);

    -- Host SSL thumbprints trusted on first use (when the cluster file pins none).
    CREATE TABLE host_thumbprints (
      host       TEXT PRIMARY KEY,                -- FQDN as given to AddHost_Task
      thumbprint TEXT NOT NULL,
      first_seen INTEGER NOT NULL
    );

    -- Console users, sessions and the audit log.
    CREATE TABLE users (
      id            INTEGER PRIMARY KEY,
      username      TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,                -- argon2id
      role          TEXT NOT NULL,                -- admin | operator | viewer
      created_at    INTEGER NOT NULL,
      disabled      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions (
      id_hash    TEXT PRIMARY KEY,                -- SHA-256 of the cookie value
      user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
    CREATE TABLE audit_log (
      id     INTEGER PRIMARY KEY,
      at     INTEGER NOT NULL,
      actor  TEXT NOT NULL,                       -- username, or system:<subsystem>
      action TEXT NOT NULL,
      target TEXT,
      before TEXT,
      after  TEXT
    );
    CREATE INDEX audit_log_at ON audit_log(at);

    -- Small server-wide values (one-time setup token hash, ...).
    CREATE TABLE settings (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
  `);
}

/** The same change in PostgreSQL's dialect (epoch ms as BIGINT, identity keys). */
export const postgres = `
    CREATE TABLE hosts (
      uuid TEXT PRIMARY KEY, hostname TEXT, macs TEXT NOT NULL DEFAULT '[]', serial TEXT, vendor TEXT, model TEXT,
      state TEXT NOT NULL DEFAULT 'unregistered', cluster TEXT, image_pin TEXT,
      first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, last_address TEXT, evidence TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX hosts_state ON hosts(state);
    CREATE TABLE boot_events (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, host_uuid TEXT, mac TEXT,
      address TEXT, protocol TEXT NOT NULL, file TEXT, image TEXT, firmware TEXT, detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX boot_events_host ON boot_events(host_uuid, at);
    CREATE INDEX boot_events_mac ON boot_events(mac, at);
    CREATE TABLE boot_tokens (
      token_hash TEXT PRIMARY KEY, host_uuid TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
      used_at BIGINT
    );
    CREATE INDEX boot_tokens_host ON boot_tokens(host_uuid);
    CREATE TABLE phone_homes (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, address TEXT NOT NULL,
      transport TEXT NOT NULL, host_uuid TEXT, hostname TEXT, result TEXT NOT NULL, reason TEXT, job_id TEXT
    );
    CREATE INDEX phone_homes_at ON phone_homes(at);
    CREATE TABLE dhcp_leases (
      address TEXT PRIMARY KEY, mac TEXT NOT NULL, client_id TEXT, hostname TEXT, state TEXT NOT NULL,
      expires_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
    );
    CREATE INDEX dhcp_leases_mac ON dhcp_leases(mac);
    CREATE TABLE jobs (
      id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, cluster TEXT, vcenter TEXT, state TEXT NOT NULL,
      created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT, attempts INTEGER NOT NULL DEFAULT 0,
      error TEXT, requested_by TEXT
    );
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_target ON jobs(target, created_at);
    CREATE TABLE job_steps (
      job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, seq INTEGER NOT NULL, name TEXT NOT NULL,
      target TEXT, before TEXT, after TEXT, state TEXT NOT NULL, started_at BIGINT, finished_at BIGINT, result TEXT,
      fault TEXT, PRIMARY KEY (job_id, seq)
    );
    CREATE TABLE job_log (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
      at BIGINT NOT NULL, level TEXT NOT NULL, msg TEXT NOT NULL
    );
    CREATE INDEX job_log_job ON job_log(job_id, id);
    CREATE TABLE host_thumbprints (host TEXT PRIMARY KEY, thumbprint TEXT NOT NULL, first_seen BIGINT NOT NULL);
    CREATE TABLE users (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, username TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at BIGINT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions (
      id_hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
    );
    CREATE TABLE audit_log (
      id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
      action TEXT NOT NULL, target TEXT, before TEXT, after TEXT
    );
    CREATE INDEX audit_log_at ON audit_log(at);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `;
