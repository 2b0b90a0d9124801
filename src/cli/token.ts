/**
 * `statelesx token create NAME --role R [--expires DATE | --expires-in-days N]`, `token list`,
 * `token revoke NAME|ID`: API bearer tokens in the store of the local data directory (like
 * `statelesx user`; works while the server runs, SQLite WAL). `create` prints the token once, on
 * stdout (for `$(...)` capture), and never again. Changes are audited as `system:cli`. With
 * `--server` they go through `/api/v1/tokens` (admin token) and are audited as that token.
 */
import type { Command } from 'commander';
import type { Store, ApiTokenRecord } from '../store/index.js';
import { ROLES, type Role } from '../store/index.js';
import { ApiTokenError, DuplicateApiTokenError, issueApiToken } from '../web/auth/api-tokens.js';
import { configOption } from './common.js';
import { withStore } from './user.js';
import type { ApiClient } from './remote/client.js';
import { remoteOr } from './remote/dispatch.js';
import { ApiError, UsageError } from './remote/errors.js';

const DAY_MS = 86_400_000;

/**
 * The expiry of `--expires` (RFC 3339 date or date-time; a date alone means its 00:00 UTC) or
 * `--expires-in-days` from `now`; null when neither is given.
 * @throws Error naming the option for an unreadable value or both given
 */
export function expiryOf(opts: { expires?: string; expiresInDays?: string }, now: number): number | null {
  if (opts.expires !== undefined && opts.expiresInDays !== undefined)
    throw new Error('give at most one of --expires and --expires-in-days');
  if (opts.expires !== undefined) {
    const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(opts.expires) ? `${opts.expires}T00:00:00Z` : opts.expires);
    if (Number.isNaN(at)) throw new Error(`--expires ${opts.expires}: not a date (2027-01-31 or 2027-01-31T12:00:00Z)`);
    return at;
  }
  if (opts.expiresInDays !== undefined) {
    const d = Number(opts.expiresInDays);
    if (!Number.isInteger(d) || d < 1 || d > 3650)
      throw new Error(`--expires-in-days ${opts.expiresInDays}: a whole number of days from 1 to 3650`);
    return now + d * DAY_MS;
  }
  return null;
}

/**
 * Creates a token and audits it as `system:cli`.
 * @returns the record and the token in clear
 * @throws Error with a message naming what is refused
 */
export async function createToken(
  store: Store,
  name: string,
  role: string,
  expiresAt: number | null,
  now = Date.now(),
): Promise<{ record: ApiTokenRecord; token: string }> {
  if (!ROLES.includes(role as Role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
  try {
    const made = await issueApiToken(store, { name, role: role as Role, expiresAt, createdBy: 'system:cli' }, now);
    await store.audit.add({
      at: now,
      actor: 'system:cli',
      action: 'api-token.create',
      target: name,
      before: null,
      after: { name, role, expiresAt },
    });
    return made;
  } catch (e) {
    if (e instanceof ApiTokenError) throw new Error(e.message, { cause: e });
    if (e instanceof DuplicateApiTokenError)
      throw new Error(`${e.message}; revoke it first (statelesx token revoke ${name})`, { cause: e });
    throw e;
  }
}

/**
 * Revokes the token named `nameOrId` (a name, else a numeric id) and audits it as `system:cli`.
 * @throws Error when there is no such token
 */
export async function revokeToken(store: Store, nameOrId: string, now = Date.now()): Promise<ApiTokenRecord> {
  const t =
    (await store.apiTokens.getByName(nameOrId)) ??
    (/^\d+$/.test(nameOrId) ? await store.apiTokens.get(Number(nameOrId)) : undefined);
  if (!t) throw new Error(`no API token ${nameOrId} (statelesx token list)`);
  await store.apiTokens.delete(t.id);
  await store.audit.add({
    at: now,
    actor: 'system:cli',
    action: 'api-token.revoke',
    target: t.name,
    before: { name: t.name, role: t.role, expiresAt: t.expiresAt },
    after: null,
  });
  return t;
}

const iso = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString());

/** One line of `token list`. */
function line(t: ApiTokenRecord): string {
  return `${String(t.id).padStart(4)}  ${t.name.padEnd(24)} ${t.role.padEnd(9)} expires ${iso(t.expiresAt).padEnd(24)} last used ${iso(t.lastUsedAt)}\n`;
}

/** Options of `token create`. */
interface CreateOptions {
  role: string;
  expires?: string;
  expiresInDays?: string;
  json?: boolean;
  config?: string;
  dataDir?: string;
}

/** Prints a new token: on stdout alone (for `$(...)`), the note on stderr; or JSON with the token. */
function printCreated(made: { record: ApiTokenRecord; token: string }, opts: CreateOptions, expiresAt: number | null) {
  if (opts.json) process.stdout.write(JSON.stringify({ ...made.record, token: made.token }, null, 2) + '\n');
  else {
    process.stdout.write(made.token + '\n');
    process.stderr.write(
      `API token ${made.record.name} created (${opts.role}, expires ${iso(expiresAt)}); it is shown this once: send it as "Authorization: Bearer <token>"\n`,
    );
  }
}

/** `token list` output: one line per token, or JSON. */
function printList(list: ApiTokenRecord[], opts: { json?: boolean }): void {
  if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
  else if (list.length === 0) process.stdout.write('no API tokens (statelesx token create NAME --role viewer)\n');
  else for (const t of list) process.stdout.write(line(t));
}

/** `token create` on a server: `POST /api/v1/tokens`. */
async function remoteCreate(api: ApiClient, name: string, opts: CreateOptions): Promise<void> {
  if (!ROLES.includes(opts.role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  const expiresAt = expiryOf(opts, Date.now());
  const made = await api.json<ApiTokenRecord & { token: string }>('POST', '/api/v1/tokens', {
    body: { name, role: opts.role, ...(expiresAt !== null ? { expiresAt: new Date(expiresAt).toISOString() } : {}) },
  });
  const { token, ...record } = made;
  printCreated({ record, token }, opts, expiresAt);
}

/** `token list` on a server: `GET /api/v1/tokens`. */
async function remoteList(api: ApiClient, opts: { json?: boolean }): Promise<void> {
  printList(await api.json<ApiTokenRecord[]>('GET', '/api/v1/tokens'), opts);
}

/** `token revoke NAME|ID` on a server: the id by name from the list, then `DELETE /api/v1/tokens/{id}`. */
async function remoteRevoke(api: ApiClient, nameOrId: string): Promise<void> {
  const list = await api.json<ApiTokenRecord[]>('GET', '/api/v1/tokens');
  const t =
    list.find((x) => x.name === nameOrId) ??
    (/^\d+$/.test(nameOrId) ? list.find((x) => x.id === Number(nameOrId)) : undefined);
  if (!t)
    throw new ApiError(404, 'Not Found', `no API token ${nameOrId} on ${api.target.server} (statelesx token list)`);
  await api.call('DELETE', `/api/v1/tokens/${t.id}`);
  process.stdout.write(`API token ${t.name} revoked\n`);
}

/** Registers `statelesx token create|list|revoke`. */
export function registerToken(program: Command): void {
  const token = program.command('token').description('API bearer tokens for automation (Authorization: Bearer)');
  const common = (c: Command) =>
    configOption(c).option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)');

  common(
    token
      .command('create <name>')
      .description('create a token; prints it once on stdout (it cannot be shown again)')
      .requiredOption('--role <role>', 'admin | operator | viewer')
      .option('--expires <date>', 'expiry, RFC 3339 (2027-01-31 or 2027-01-31T12:00:00Z); default: never')
      .option('--expires-in-days <n>', 'expiry in whole days from now')
      .option('--json', 'JSON output (the record with its token)'),
  ).action(
    remoteOr(remoteCreate, async (name: string, opts: CreateOptions) => {
      const now = Date.now();
      const expiresAt = expiryOf(opts, now);
      const made = await withStore(opts, (s) => createToken(s, name, opts.role, expiresAt, now));
      printCreated(made, opts, expiresAt);
    }),
  );

  common(
    token.command('list').description('list tokens (never the tokens themselves)').option('--json', 'JSON output'),
  ).action(
    remoteOr(remoteList, async (opts: { json?: boolean; config?: string; dataDir?: string }) => {
      printList(await withStore(opts, async (s) => await s.apiTokens.list()), opts);
    }),
  );

  common(token.command('revoke <name-or-id>').description('revoke a token at once')).action(
    remoteOr(remoteRevoke, async (nameOrId: string, opts: { config?: string; dataDir?: string }) => {
      const t = await withStore(opts, (s) => revokeToken(s, nameOrId));
      process.stdout.write(`API token ${t.name} revoked\n`);
    }),
  );
}
