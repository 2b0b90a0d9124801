/**
 * Who may call what. Each route declares `config.auth`: `'public'` (no session: login, setup,
 * health) or the least role it needs. Default: GET/HEAD need `viewer`, other methods `admin`.
 * Roles are ordered viewer < operator < admin (operator: joins, applies, pins; admin: everything).
 */
import type { ApiTokenRecord, Role, UserRecord } from '../../store/index.js';

/** Route-level access declaration (fastify route `config.auth`). */
export type Access = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: Access;
  }
  interface FastifyRequest {
    /** The logged-in user (set by the auth hook); undefined on public routes without a session. */
    user?: UserRecord;
    /** The raw session cookie value of a valid session (CSRF key). */
    sessionKey?: string;
    /**
     * The API token of a bearer request (`Authorization: Bearer`); `user` is then the token as a
     * caller named `token:<name>` with the token's role and a negative id (never a user's).
     */
    apiToken?: ApiTokenRecord;
  }
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `user` holds `needed` or a higher role. */
export function allows(user: UserRecord, needed: Role): boolean {
  return RANK[user.role] >= RANK[needed];
}

/** The access a route needs, applying the method default. */
export function accessOf(method: string, declared: Access | undefined): Access {
  if (declared) return declared;
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'admin';
}

/** True for methods that change state (CSRF-checked). */
export function isStateChanging(method: string): boolean {
  return !(method === 'GET' || method === 'HEAD' || method === 'OPTIONS');
}
