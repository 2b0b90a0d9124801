/** The audit log (table `audit_log`) and server settings (table `settings`). */
import type { Sql } from './sql.js';
import type { AuditLog, SettingsStore } from './ports.js';

/** One audited change: who, what, when, before/after (JSON-serialisable, secrets removed by the caller). */
export interface AuditEntry {
  id?: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  before: unknown;
  after: unknown;
}

/** Repository for `audit_log`, on either store (./sql.ts). */
export class AuditRepo implements AuditLog {
  constructor(private readonly sql: Sql) {}

  /** Appends an entry; resolves to its id. */
  async add(e: Omit<AuditEntry, 'id'>): Promise<number> {
    const r = await this.sql.get<{ id: number }>(
      'INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
      [e.at, e.actor, e.action, e.target, JSON.stringify(e.before ?? null), JSON.stringify(e.after ?? null)],
    );
    return r!.id;
  }

  /** At most `limit` entries with id below `beforeId` (all when undefined), newest first. */
  async list(limit = 200, beforeId?: number): Promise<AuditEntry[]> {
    const rows = await this.sql.all<{
      id: number;
      at: number;
      actor: string;
      action: string;
      target: string | null;
      before: string;
      after: string;
    }>(
      beforeId === undefined
        ? 'SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'
        : 'SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?',
      beforeId === undefined ? [limit] : [beforeId, limit],
    );
    return rows.map((r) => ({ ...r, before: JSON.parse(r.before) as unknown, after: JSON.parse(r.after) as unknown }));
  }
}

/** Repository for `settings` (key/value text), on either store. */
export class SettingsRepo implements SettingsStore {
  constructor(private readonly sql: Sql) {}
  async get(key: string): Promise<string | undefined> {
    return (await this.sql.get<{ value: string }>('SELECT value FROM settings WHERE key = ?', [key]))?.value;
  }
  async set(key: string, value: string): Promise<void> {
    await this.sql.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }
  /**
   * Stores `value` under `key` unless the key has one; resolves to the value stored (this one, or
   * the one another caller — another server on a shared store — stored first).
   */
  async setIfAbsent(key: string, value: string): Promise<string> {
    await this.sql.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING', [key, value]);
    return (await this.get(key)) ?? value;
  }
  async delete(key: string): Promise<void> {
    await this.sql.run('DELETE FROM settings WHERE key = ?', [key]);
  }
}
