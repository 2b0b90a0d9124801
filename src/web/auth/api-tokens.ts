/**
 * API bearer tokens: made, hashed and checked here, for the API (`/api/v1/tokens`, the bearer
 * check of ./plugin.ts) and the CLI (`statelesx token`) alike.
 *
 * A token is `sxt_` followed by 32 random bytes in base64url (43 characters): the prefix lets
 * secret scanners and people recognise one. The store keeps HMAC-SHA256(key, token), the key being
 * 32 random bytes made once per store (settings `api-token-hmac-key`). A fast keyed hash is enough
 * here, unlike for passwords: a token carries 256 bits of entropy, so no guess list exists that a
 * slow hash (argon2) would make expensive, and a slow hash would cost every API request tens of
 * milliseconds of CPU. The key means a hash read from a copy of the audit log or a log line cannot
 * even be checked against a candidate token without the settings table as well.
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  DuplicateApiTokenError,
  ROLES,
  type ApiTokenRecord,
  type ApiTokenStore,
  type Role,
  type SettingsStore,
} from '../../store/index.js';

/** Prefix of every API token. */
export const API_TOKEN_PREFIX = 'sxt_';
/** An API token as issued: the prefix and 43 base64url characters (256 bits). */
const TOKEN_SHAPE = /^sxt_[A-Za-z0-9_-]{43}$/;
/** Token names: letters, digits, `.`, `_`, `-`; 1–64 characters, starting with a letter or digit. */
export const API_TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_SETTING = 'api-token-hmac-key';

/** HMAC keys read so far, per settings store (the key never changes once made). */
const keys = new WeakMap<SettingsStore, Buffer>();

/**
 * The HMAC key of this store, made on first use. Servers sharing a store agree on one key: the
 * first to store it wins and every other reads that one.
 */
async function hmacKey(settings: SettingsStore): Promise<Buffer> {
  let key = keys.get(settings);
  if (!key) {
    const hex =
      (await settings.get(KEY_SETTING)) ?? (await settings.setIfAbsent(KEY_SETTING, randomBytes(32).toString('hex')));
    key = Buffer.from(hex, 'hex');
    keys.set(settings, key);
  }
  return key;
}

/** The stored form of `token`: HMAC-SHA256 under the store's key, hex. */
export async function hashApiToken(settings: SettingsStore, token: string): Promise<string> {
  return createHmac('sha256', await hmacKey(settings))
    .update(token)
    .digest('hex');
}

/** Why a name is refused, or undefined when it is fine. */
export function apiTokenNameProblem(name: string): string | undefined {
  return API_TOKEN_NAME.test(name)
    ? undefined
    : 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
}

/** A new token's request. `expiresAt` epoch ms or null (never). */
export interface ApiTokenRequest {
  name: string;
  role: Role;
  expiresAt: number | null;
  /** Who makes it (audit actor). */
  createdBy: string;
}

/**
 * Makes and stores a token.
 * @returns the record and the token in clear, which is shown once and never again
 * @throws ApiTokenError for a refused name, role or expiry (field named), DuplicateApiTokenError
 */
export async function issueApiToken(
  store: { apiTokens: ApiTokenStore; settings: SettingsStore },
  req: ApiTokenRequest,
  now: number,
): Promise<{ record: ApiTokenRecord; token: string }> {
  const n = apiTokenNameProblem(req.name);
  if (n) throw new ApiTokenError('name', `token name ${n}`);
  if (!ROLES.includes(req.role)) throw new ApiTokenError('role', `role must be one of ${ROLES.join(', ')}`);
  if (req.expiresAt !== null && !(req.expiresAt > now))
    throw new ApiTokenError('expiresAt', `expiry ${new Date(req.expiresAt).toISOString()} is not in the future`);
  const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const record = await store.apiTokens.create({
    name: req.name,
    role: req.role,
    hash: await hashApiToken(store.settings, token),
    createdBy: req.createdBy,
    at: now,
    expiresAt: req.expiresAt,
  });
  return { record, token };
}

/** A refused token request: `field` is the request field at fault. */
export class ApiTokenError extends Error {
  override name = 'ApiTokenError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export { DuplicateApiTokenError };

/** The outcome of checking an `Authorization` header. */
export type BearerCheck = { ok: true; token: ApiTokenRecord } | { ok: false; reason: string };

/**
 * Checks an `Authorization` header value (RFC 6750 §2.1: `Bearer <token>`) against the store;
 * records the use (throttled) when it is valid. The reasons say what is wrong without echoing
 * the header (it may hold a real token sent to the wrong place).
 */
export async function checkBearer(
  store: { apiTokens: ApiTokenStore; settings: SettingsStore },
  header: string,
  now: number,
): Promise<BearerCheck> {
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m) {
    const scheme = /^\s*(\S+)/.exec(header)?.[1];
    return {
      ok: false,
      reason:
        scheme && !/^bearer$/i.test(scheme)
          ? `Authorization scheme "${scheme.slice(0, 20)}" is not supported: send "Authorization: Bearer <API token>"`
          : 'Authorization header is malformed: send "Authorization: Bearer <API token>"',
    };
  }
  const presented = m[1]!;
  if (!TOKEN_SHAPE.test(presented))
    return {
      ok: false,
      reason: `the bearer token is not a statelesx API token (expected "${API_TOKEN_PREFIX}" and 43 base64url characters)`,
    };
  const hash = await hashApiToken(store.settings, presented);
  const found = await store.apiTokens.findByHash(hash);
  if (!found) return { ok: false, reason: 'unknown or revoked API token' };
  if (found.expiresAt !== null && found.expiresAt <= now)
    return { ok: false, reason: `API token ${found.name} expired at ${new Date(found.expiresAt).toISOString()}` };
  await store.apiTokens.touch(found.id, now);
  return { ok: true, token: found };
}
