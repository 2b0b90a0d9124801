/**
 * Console users and their sessions (tables `users`, `sessions` from migration 001).
 * Passwords arrive here already hashed (argon2id, see src/web/auth/passwords.ts); session ids
 * arrive as the SHA-256 of the cookie value — the cookie value itself is never stored.
 */
import type { Database } from 'better-sqlite3';
import type { UserStore } from './ports.js';

/** Console roles: admin (everything), operator (join, apply, pins), viewer (read only). */
export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

/** One user without the password hash. Times are epoch milliseconds. */
export interface UserRecord {
  id: number;
  username: string;
  role: Role;
  createdAt: number;
  disabled: boolean;
}

/** A live session joined with its user. */
export interface SessionRecord {
  idHash: string;
  user: UserRecord;
  createdAt: number;
  expiresAt: number;
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  created_at: number;
  disabled: number;
}

function toUser(r: UserRow): UserRecord {
  return { id: r.id, username: r.username, role: r.role, createdAt: r.created_at, disabled: r.disabled !== 0 };
}

/** Thrown by {@link UserRepo.create} when the user name is taken. */
export class DuplicateUserError extends Error {
  override name = 'DuplicateUserError';
}

/** Repository for `users` and `sessions`. Synchronous (better-sqlite3). */
export class UserRepo implements UserStore {
  constructor(private readonly db: Database) {}

  /** Number of users (enabled or not); 0 means first start (setup link). */
  count(): number {
    return this.db.prepare('SELECT count(*) FROM users').pluck().get() as number;
  }

  /**
   * Creates a user.
   * @param passwordHash argon2id PHC string
   * @throws DuplicateUserError when `username` exists
   */
  create(username: string, passwordHash: string, role: Role, at = Date.now()): UserRecord {
    try {
      const r = this.db
        .prepare('INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)')
        .run(username, passwordHash, role, at);
      return this.get(Number(r.lastInsertRowid))!;
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw new DuplicateUserError(`user ${username} already exists`);
      throw e;
    }
  }

  /**
   * Creates the first admin only if no user exists yet, atomically (setup link race).
   * @returns the user, or undefined when a user already existed
   */
  createFirst(username: string, passwordHash: string, role: Role, at = Date.now()): UserRecord | undefined {
    return this.db
      .transaction(() => (this.count() === 0 ? this.create(username, passwordHash, role, at) : undefined))
      .immediate();
  }

  get(id: number): UserRecord | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return r ? toUser(r) : undefined;
  }

  getByName(username: string): UserRecord | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return r ? toUser(r) : undefined;
  }

  /** The stored argon2 hash for a login check, or undefined for an unknown user. */
  passwordHash(username: string): { user: UserRecord; hash: string } | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return r ? { user: toUser(r), hash: r.password_hash } : undefined;
  }

  /** All users by name. */
  list(): UserRecord[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
  }

  /** Replaces the password hash and ends the user's sessions. Returns whether the user exists. */
  setPassword(id: number, passwordHash: string): boolean {
    return this.db.transaction(() => {
      const r = this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, id);
      this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id);
      return r.changes > 0;
    })();
  }

  /** Updates role and/or disabled flag; disabling ends the user's sessions. Returns the new record. */
  update(id: number, patch: { role?: Role; disabled?: boolean }): UserRecord | undefined {
    return this.db.transaction(() => {
      if (patch.role) this.db.prepare('UPDATE users SET role = ? WHERE id = ?').run(patch.role, id);
      if (patch.disabled !== undefined) {
        this.db.prepare('UPDATE users SET disabled = ? WHERE id = ?').run(patch.disabled ? 1 : 0, id);
        if (patch.disabled) this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(id);
      }
      return this.get(id);
    })();
  }

  /** Deletes a user (sessions cascade). Returns whether a row was removed. */
  delete(id: number): boolean {
    return this.db.prepare('DELETE FROM users WHERE id = ?').run(id).changes > 0;
  }

  /** Number of enabled admins (the last one cannot be removed or demoted). */
  adminCount(): number {
    return this.db.prepare("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0").pluck().get() as number;
  }

  /** Stores a session by the SHA-256 (hex) of its cookie value. */
  createSession(idHash: string, userId: number, createdAt: number, expiresAt: number): void {
    this.db
      .prepare('INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
      .run(idHash, userId, createdAt, expiresAt);
  }

  /** The unexpired session of an enabled user, or undefined. */
  getSession(idHash: string, now = Date.now()): SessionRecord | undefined {
    const r = this.db
      .prepare(
        `SELECT s.id_hash, s.created_at AS s_created, s.expires_at, u.*
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0`,
      )
      .get(idHash, now) as (UserRow & { id_hash: string; s_created: number; expires_at: number }) | undefined;
    return r ? { idHash: r.id_hash, user: toUser(r), createdAt: r.s_created, expiresAt: r.expires_at } : undefined;
  }

  deleteSession(idHash: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
  }

  /** Removes expired sessions (`expires_at <= now`, epoch ms); returns how many. Called at every login. */
  pruneSessions(now = Date.now()): number {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes;
  }
}
