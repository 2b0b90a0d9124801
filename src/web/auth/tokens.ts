/**
 * Session ids, CSRF tokens and the one-time setup token.
 *
 * - Session: 32 random bytes, base64url, in cookie `sx_session`; the store keeps only SHA-256(hex).
 * - CSRF (synchronizer token bound to the session, OWASP "signed double-submit"): the token is
 *   HMAC-SHA256(key = session cookie value, "csrf"); it is sent in the `x-csrf-token` header (htmx,
 *   fetch) or a `_csrf` form field. Before login the key is the `sx_prelogin` cookie instead.
 * - Setup: 32 random bytes; SHA-256 stored in settings `setup-token-sha256`; deleted on use.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SettingsStore } from '../../store/index.js';

export const SESSION_COOKIE = 'sx_session';
export const PRELOGIN_COOKIE = 'sx_prelogin';
export const CSRF_HEADER = 'x-csrf-token';
const SETUP_KEY = 'setup-token-sha256';

/**
 * File in the data directory holding the one-time setup link (mode 0600), written at start when
 * no user exists and removed once the first admin is created. The link never goes to stdout,
 * which is the log stream under systemd and Docker.
 */
export const SETUP_LINK_FILE = 'setup-link';

/** 256 random bits, base64url. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 hex of a token (what the store keeps). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The CSRF token bound to a session (or pre-login) cookie value. */
export function csrfTokenFor(cookieValue: string): string {
  return createHmac('sha256', cookieValue).update('csrf').digest('base64url');
}

/** Constant-time comparison of a presented CSRF token with the expected one. */
export function csrfMatches(cookieValue: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(csrfTokenFor(cookieValue));
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Creates (replacing any earlier) the one-time setup token; returns it in clear, once. */
export async function issueSetupToken(settings: SettingsStore): Promise<string> {
  const token = randomToken();
  await settings.set(SETUP_KEY, sha256(token));
  return token;
}

/** True when a setup token is outstanding. */
export async function hasSetupToken(settings: SettingsStore): Promise<boolean> {
  return (await settings.get(SETUP_KEY)) !== undefined;
}

/** Checks the setup token without consuming it. */
export async function setupTokenValid(settings: SettingsStore, token: string | undefined): Promise<boolean> {
  const stored = await settings.get(SETUP_KEY);
  if (!stored || !token) return false;
  const a = Buffer.from(stored);
  const b = Buffer.from(sha256(token));
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Deletes the setup token (after the first admin is created). */
export async function consumeSetupToken(settings: SettingsStore): Promise<void> {
  await settings.delete(SETUP_KEY);
}
