/**
 * Which server the remote CLI talks to and with which token: `--server URL` (or
 * `$STATELESX_SERVER`, or `server:` in the client file), the bearer token from `$STATELESX_TOKEN`
 * or `token:` in the client file (never a command-line flag: it would show in `ps` and shell
 * history), and an optional CA (`--ca FILE`, `$STATELESX_CA`, `ca:`).
 *
 * The client file is `$XDG_CONFIG_HOME/statelesx/cli.yaml` (default `~/.config/statelesx/cli.yaml`).
 * It holds a secret, so like ssh with its private keys it is refused when its group or others may
 * read or write it (mode must be 0600 or stricter).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './errors.js';

/** A server the CLI talks to. */
export interface RemoteTarget {
  /** The server's base URL (`https://statelesx.example.com:8080`), no trailing slash. */
  server: string;
  /** The API bearer token (`sxt_...`). Never printed. */
  token: string;
  /** Absolute path of a PEM file with the CA that signed the server's certificate; absent: the system store. */
  ca?: string;
  /** Where each value came from, for messages (`--server`, `$STATELESX_TOKEN`, the file path). */
  from: { server: string; token: string };
}

/** The global options that choose the remote mode (commander camelCase). */
export interface RemoteOptions {
  server?: string;
  /** The option that gave `server`, for messages (default `--server`; `image sync` passes `--from`). */
  serverFlag?: string;
  ca?: string;
  local?: boolean;
}

/** The client file's path: `$XDG_CONFIG_HOME/statelesx/cli.yaml`, else `~/.config/statelesx/cli.yaml`. */
export function clientFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] ?? homedir(), '.config');
  return join(base, 'statelesx', 'cli.yaml');
}

/** The client file's keys. */
interface ClientFile {
  server?: string;
  token?: string;
  ca?: string;
}

/**
 * Reads the client file when it exists.
 * @throws UsageError when group or others may read or write it, or it is not a YAML mapping of
 *   `server`, `token`, `ca` strings
 */
export function readClientFile(path: string): ClientFile | undefined {
  if (!existsSync(path)) return undefined;
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0)
    throw new UsageError(
      `${path} holds an API token but its permissions are ${(st.mode & 0o777).toString(8).padStart(4, '0')}: it must not be accessible by group or others; run: chmod 600 ${path}`,
    );
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new UsageError(`${path}: expected a mapping with server, token and ca`);
  const out: ClientFile = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k !== 'server' && k !== 'token' && k !== 'ca')
      throw new UsageError(`${path}: unknown key "${k}" (allowed: server, token, ca)`);
    if (typeof v !== 'string' || v === '') throw new UsageError(`${path}: ${k} must be a non-empty string`);
    out[k] = v;
  }
  return out;
}

/** `url` as a base URL (http or https, no query), without the trailing slash. @throws UsageError */
export function serverUrl(url: string, from: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${from}: "${url}" is not a URL (https://statelesx.example.com:8080)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new UsageError(`${from}: "${url}" must be an http:// or https:// URL`);
  if (u.search || u.hash || u.username || u.password)
    throw new UsageError(`${from}: "${url}" must be a plain base URL (no user, query or fragment)`);
  return u.href.replace(/\/+$/, '');
}

/** True when `host` (a URL hostname) is a loopback address or localhost. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The remote target of a command, or undefined for the local data-directory mode (no `--server`,
 * no `$STATELESX_SERVER`, no `server:` in the client file, or `--local`).
 * @param warn where a warning goes (a token sent in clear over http:// to another machine)
 * @throws UsageError for a bad URL, a refused client file, a missing token or an unreadable CA file
 */
export function remoteTarget(
  opts: RemoteOptions,
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): RemoteTarget | undefined {
  if (opts.local) {
    if (opts.server) throw new UsageError('give at most one of --server and --local');
    return undefined;
  }
  const fromEnv = env['STATELESX_SERVER'] || undefined;
  // The file is read only when needed: for the server when neither flag nor variable names one, and for the token.
  const path = clientFilePath(env);
  let file: ClientFile | undefined;
  const fileOnce = () => (file ??= readClientFile(path) ?? {});
  const rawServer = opts.server ?? fromEnv ?? fileOnce().server;
  if (rawServer === undefined) return undefined;
  const serverFrom =
    opts.server !== undefined ? (opts.serverFlag ?? '--server') : fromEnv !== undefined ? '$STATELESX_SERVER' : path;
  const server = serverUrl(rawServer, serverFrom);
  const envToken = env['STATELESX_TOKEN'] || undefined;
  const token = envToken ?? fileOnce().token;
  if (!token)
    throw new UsageError(
      `no API token for ${server}: set STATELESX_TOKEN or put "token:" in ${path} (mode 0600); create one with: statelesx token create NAME --role operator`,
    );
  const rawCa = opts.ca ?? (env['STATELESX_CA'] || undefined) ?? fileOnce().ca;
  const ca = rawCa === undefined ? undefined : resolve(rawCa);
  if (ca !== undefined) checkCaFile(ca);
  const u = new URL(server);
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    warn(`statelesx: warning: ${server} is http://: the API token crosses the network in clear text; use https://`);
  return {
    server,
    token,
    ...(ca ? { ca } : {}),
    from: { server: serverFrom, token: envToken ? '$STATELESX_TOKEN' : path },
  };
}

/** @throws UsageError unless `file` is a readable PEM file with at least one certificate */
function checkCaFile(file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--ca ${file}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--ca ${file}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`);
}
