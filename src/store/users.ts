/**
 * Console users and their sessions (tables `users`, `sessions` from migration 001).
 * Passwords arrive here already hashed (argon2id, see src/web/auth/passwords.ts); session ids
 * arrive as the SHA-256 of the cookie value — the cookie value itself is never stored.
 */
import { isUniqueViolation, type Sql } from './sql.js';
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

/** Advisory-lock key serialising {@link UserRepo.createFirst} on PostgreSQL ("statelesx" tag, 2). */
const FIRST_USER_LOCK = 0x5354_4c58_0002;

/** Thrown by {@link UserRepo.create} when the user name is taken. */
export class DuplicateUserError extends Error {
  override name = 'DuplicateUserError';
}

/** Repository for `users` and `sessions`, on either store (./sql.ts). */
export class UserRepo implements UserStore {
  constructor(private readonly sql: Sql) {}

  /** Number of users (enabled or not); 0 means first start (setup link). */
  async count(): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n;
  }

  /**
   * Creates a user.
   * @param passwordHash argon2id PHC string
   * @throws DuplicateUserError when `username` exists
   */
  async create(username: string, passwordHash: string, role: Role, at = Date.now()): Promise<UserRecord> {
    try {
      const r = await this.sql.get<UserRow>(
        'INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) RETURNING *',
        [username, passwordHash, role, at],
      );
      return toUser(r!);
    } catch (e) {
      if (isUniqueViolation(e)) throw new DuplicateUserError(`user ${username} already exists`);
      throw e;
    }
  }

  /**
   * Creates the first admin only if no user exists yet, atomically (setup link race: on SQLite the
   * transaction is BEGIN IMMEDIATE; on PostgreSQL a transaction-scoped advisory lock serialises it).
   * @returns the user, or undefined when a user already existed
   */
  async createFirst(
    username: string,
    passwordHash: string,
    role: Role,
    at = Date.now(),
  ): Promise<UserRecord | undefined> {
    return this.sql.tx(async (t) => {
      if (t.dialect === 'postgres') await t.get('SELECT pg_advisory_xact_lock(?)', [FIRST_USER_LOCK]);
      return (await this.count()) === 0 ? this.create(username, passwordHash, role, at) : undefined;
    });
  }

  async get(id: number): Promise<UserRecord | undefined> {
    const r = await this.sql.get<UserRow>('SELECT * FROM users WHERE id = ?', [id]);
    return r ? toUser(r) : undefined;
  }

  async getByName(username: string): Promise<UserRecord | undefined> {
    const r = await this.sql.get<UserRow>('SELECT * FROM users WHERE username = ?', [username]);
    return r ? toUser(r) : undefined;
  }

  /** The stored argon2 hash for a login check, or undefined for an unknown user. */
  async passwordHash(username: string): Promise<{ user: UserRecord; hash: string } | undefined> {
    const r = await this.sql.get<UserRow>('SELECT * FROM users WHERE username = ?', [username]);
    return r ? { user: toUser(r), hash: r.password_hash } : undefined;
  }

  /** All users by name. */
  async list(): Promise<UserRecord[]> {
    return (await this.sql.all<UserRow>('SELECT * FROM users ORDER BY username')).map(toUser);
  }

  /** Replaces the password hash and ends the user's sessions. Resolves to whether the user exists. */
  async setPassword(id: number, passwordHash: string): Promise<boolean> {
    return this.sql.tx(async (t) => {
      const changed = await t.run('UPDATE users SET password_hash = ? WHERE id = ?', [passwordHash, id]);
      await t.run('DELETE FROM sessions WHERE user_id = ?', [id]);
      return changed > 0;
    });
  }

  /** Updates role and/or disabled flag; disabling ends the user's sessions. Resolves to the new record. */
  async update(id: number, patch: { role?: Role; disabled?: boolean }): Promise<UserRecord | undefined> {
    return this.sql.tx(async (t) => {
      if (patch.role) await t.run('UPDATE users SET role = ? WHERE id = ?', [patch.role, id]);
      if (patch.disabled !== undefined) {
        await t.run('UPDATE users SET disabled = ? WHERE id = ?', [patch.disabled ? 1 : 0, id]);
        if (patch.disabled) await t.run('DELETE FROM sessions WHERE user_id = ?', [id]);
      }
      return this.get(id);
    });
  }

  /** Deletes a user (sessions cascade). Resolves to whether a row was removed. */
  async delete(id: number): Promise<boolean> {
    return (await this.sql.run('DELETE FROM users WHERE id = ?', [id])) > 0;
  }

  /** Number of enabled admins (the last one cannot be removed or demoted). */
  async adminCount(): Promise<number> {
    return (await this.sql.get<{ n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0"))!
      .n;
  }

  /** Stores a session by the SHA-256 (hex) of its cookie value. */
  async createSession(idHash: string, userId: number, createdAt: number, expiresAt: number): Promise<void> {
    await this.sql.run('INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)', [
      idHash,
      userId,
      createdAt,
      expiresAt,
    ]);
  }

  /** The unexpired session of an enabled user, or undefined. */
  async getSession(idHash: string, now = Date.now()): Promise<SessionRecord | undefined> {
    const r = await this.sql.get<UserRow & { id_hash: string; s_created: number; expires_at: number }>(
      `SELECT s.id_hash, s.created_at AS s_created, s.expires_at, u.*
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id_hash = ? AND s.expires_at > ? AND u.disabled = 0`,
      [idHash, now],
    );
    return r ? { idHash: r.id_hash, user: toUser(r), createdAt: r.s_created, expiresAt: r.expires_at } : undefined;
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.sql.run('DELETE FROM sessions WHERE id_hash = ?', [idHash]);
  }

  /** Removes expired sessions (`expires_at <= now`, epoch ms); resolves to how many. Called at every login. */
  async pruneSessions(now = Date.now()): Promise<number> {
    return this.sql.run('DELETE FROM sessions WHERE expires_at <= ?', [now]);
  }
}
