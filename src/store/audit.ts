/** The audit log (table `audit_log`) and server settings (table `settings`). */
import type { Database } from 'better-sqlite3';
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

export class AuditRepo implements AuditLog {
  constructor(private readonly db: Database) {}

  /** Appends an entry; returns its id. */
  add(e: Omit<AuditEntry, 'id'>): number {
    const r = this.db
      .prepare('INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.at, e.actor, e.action, e.target, JSON.stringify(e.before ?? null), JSON.stringify(e.after ?? null));
    return Number(r.lastInsertRowid);
  }

  /** Newest first. */
  list(limit = 200, beforeId?: number): AuditEntry[] {
    const rows = this.db
      .prepare('SELECT * FROM audit_log WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?')
      .all(beforeId ?? null, beforeId ?? null, limit) as Array<{
      id: number;
      at: number;
      actor: string;
      action: string;
      target: string | null;
      before: string;
      after: string;
    }>;
    return rows.map((r) => ({ ...r, before: JSON.parse(r.before) as unknown, after: JSON.parse(r.after) as unknown }));
  }
}

export class SettingsRepo implements SettingsStore {
  constructor(private readonly db: Database) {}
  get(key: string): string | undefined {
    return this.db.prepare('SELECT value FROM settings WHERE key = ?').pluck().get(key) as string | undefined;
  }
  set(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }
  delete(key: string): void {
    this.db.prepare('DELETE FROM settings WHERE key = ?').run(key);
  }
}
