/**
 * Loads `statelesx.yaml`, applies `STATELESX_*` environment variables and CLI flags over it
 * (precedence: flag > env > file > default), validates once, and resolves every relative path
 * (the directories, `loader-dirs`, `http.tls-cert`/`tls-key`/`metrics-token-file`, `vcenters[].ca-file` and the
 * `password-file` of vCenters and credentials) against the config file's directory.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, isSeq } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { configSchema, POSTGRES_URL_RE, type Config } from './schema.js';
import { keysAt } from './schema-keys.js';

/** A configuration problem with where it is: file, line, column and key path. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string | undefined,
    readonly line: number | undefined,
    readonly key: string | undefined,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** How an override's text is read: `path` is resolved against the working directory. */
type OverrideType = 'string' | 'path' | 'number' | 'boolean';

/**
 * Flat overrides, keyed by config path. The same table maps CLI flags (`--tftp-port`) and
 * environment variables (`STATELESX_TFTP_PORT`) onto config keys. A relative path given by flag
 * or environment is relative to the working directory (as on any command line), not to the
 * config file's directory, which only the file's own paths are resolved against.
 */
export const OVERRIDES: ReadonlyArray<{ flag: string; path: string[]; type: OverrideType }> = [
  { flag: 'data-dir', path: ['data-dir'], type: 'path' },
  { flag: 'images-dir', path: ['images-dir'], type: 'path' },
  { flag: 'tftp-root', path: ['tftp-root'], type: 'path' },
  { flag: 'clusters-dir', path: ['clusters-dir'], type: 'path' },
  { flag: 'templates-dir', path: ['templates-dir'], type: 'path' },
  { flag: 'listen-address', path: ['listen-address'], type: 'string' },
  { flag: 'advertise-address', path: ['advertise-address'], type: 'string' },
  { flag: 'interface', path: ['interface'], type: 'string' },
  { flag: 'log-level', path: ['log-level'], type: 'string' },
  { flag: 'tftp-port', path: ['tftp', 'port'], type: 'number' },
  { flag: 'http-address', path: ['http', 'address'], type: 'string' },
  { flag: 'http-port', path: ['http', 'port'], type: 'number' },
  { flag: 'boot-http-address', path: ['boot-http', 'address'], type: 'string' },
  { flag: 'boot-http-port', path: ['boot-http', 'port'], type: 'number' },
  { flag: 'initiator-port', path: ['initiator', 'port'], type: 'number' },
  { flag: 'dhcp-mode', path: ['dhcp', 'mode'], type: 'string' },
  { flag: 'require-token', path: ['initiator', 'require-token'], type: 'boolean' },
];

/** Environment variable that sets `store.url` (may carry the password; replaces the file's `url`). */
export const DATABASE_URL_ENV = 'STATELESX_DATABASE_URL';

/** `tftp-port` → `STATELESX_TFTP_PORT`. */
export function envName(flag: string): string {
  return 'STATELESX_' + flag.toUpperCase().replace(/-/g, '_');
}

function coerce(value: string, type: OverrideType, where: string): unknown {
  if (type === 'string') return value;
  if (type === 'path') return resolve(value);
  if (type === 'number') {
    if (!/^\d+$/.test(value))
      throw new ConfigError(`${where}: expected a whole number, got "${value}"`, undefined, undefined, where);
    return Number(value);
  }
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new ConfigError(`${where}: expected true or false, got "${value}"`, undefined, undefined, where);
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

export interface LoadOptions {
  /** Path of the YAML file; missing → defaults only (an explicitly named missing file is an error). */
  configPath?: string;
  /** True when the user named the file (then it must exist). */
  explicit?: boolean;
  /** CLI flag values by flag name (`tftp-port` → '6969'); undefined entries are ignored. */
  flags?: Record<string, string | number | boolean | undefined>;
  /** Environment to read `STATELESX_*` from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** The loaded configuration with absolute paths and where it came from. */
export interface LoadedConfig {
  config: Config;
  /** Absolute path of the YAML file, or undefined when only defaults were used. */
  file: string | undefined;
  /** Directory relative paths were resolved against. */
  baseDir: string;
}

/**
 * Reads, overrides, validates and resolves the configuration.
 * @throws ConfigError naming the file, line and key of the first problems found (all zod issues
 *   are joined in the message, one per line).
 */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.configPath ? resolve(opts.configPath) : undefined;
  let raw: Record<string, unknown> = {};
  let doc: ReturnType<typeof parseDocument> | undefined;
  const lineCounter = new LineCounter();
  if (file && existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new ConfigError(`${file}:${line ?? '?'}: ${e.message.split('\n')[0]}`, file, line, undefined);
    }
    const js = doc.toJS({ maxAliasCount: 50 }) as unknown;
    if (js !== null && js !== undefined) {
      if (typeof js !== 'object' || Array.isArray(js)) {
        throw new ConfigError(`${file}:1: the top level must be a mapping of keys`, file, 1, undefined);
      }
      raw = js as Record<string, unknown>;
    }
  } else if (file && opts.explicit) {
    throw new ConfigError(`config file not found: ${file}`, file, undefined, undefined);
  }

  const sources = new Map<string, string>();
  for (const o of OVERRIDES) {
    const name = envName(o.flag);
    const v = env[name];
    if (v !== undefined && v !== '') {
      setPath(raw, o.path, coerce(v, o.type, name));
      sources.set(o.path.join('.'), `environment variable ${name}`);
    }
  }
  for (const o of OVERRIDES) {
    const v = opts.flags?.[o.flag];
    if (v !== undefined) {
      setPath(raw, o.path, typeof v === 'string' ? coerce(v, o.type, `--${o.flag}`) : v);
      sources.set(o.path.join('.'), `flag --${o.flag}`);
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap(describeIssue);
    const lines = problems.map(({ path, message }) => {
      const key = path.map(String).join('.');
      const from = sources.get(key);
      if (from) return `${from} (${key}): ${message}`;
      const line = doc ? lineOf(doc, path, lineCounter) : undefined;
      return `${file ?? 'config'}${line ? `:${line}` : ''}: ${key || '(top level)'}: ${message}`;
    });
    const first = problems[0]!;
    throw new ConfigError(
      lines.join('\n'),
      file,
      doc ? lineOf(doc, first.path, lineCounter) : undefined,
      first.path.map(String).join('.'),
    );
  }
  const baseDir = file ? dirname(file) : process.cwd();
  const c = parsed.data;
  applyDatabaseUrlEnv(c, env);
  const abs = (p: string) => resolve(baseDir, p);
  c['data-dir'] = abs(c['data-dir']);
  c['images-dir'] = abs(c['images-dir']);
  c['tftp-root'] = abs(c['tftp-root']);
  c['pxelinux-cfg-dir'] = abs(c['pxelinux-cfg-dir']);
  c['clusters-dir'] = abs(c['clusters-dir']);
  c['templates-dir'] = abs(c['templates-dir']);
  c['loader-dirs'] = c['loader-dirs'].map(abs);
  if (c.http['tls-cert']) c.http['tls-cert'] = abs(c.http['tls-cert']);
  if (c.http['tls-key']) c.http['tls-key'] = abs(c.http['tls-key']);
  if (c.http['metrics-token-file']) c.http['metrics-token-file'] = abs(c.http['metrics-token-file']);
  for (const v of c.vcenters) {
    if (v['ca-file']) v['ca-file'] = abs(v['ca-file']);
    if (v['password-file']) v['password-file'] = abs(v['password-file']);
  }
  for (const cr of c.credentials) if (cr['password-file']) cr['password-file'] = abs(cr['password-file']);
  if (c.store['password-file']) c.store['password-file'] = abs(c.store['password-file']);
  return { config: c, file: file && existsSync(file) ? file : undefined, baseDir };
}

/**
 * Sets `store.url` from {@link DATABASE_URL_ENV} when set: the one place a database password may
 * travel inline (the environment; never the file or a flag).
 * @throws ConfigError when the variable is not a PostgreSQL URL
 */
function applyDatabaseUrlEnv(c: Config, env: NodeJS.ProcessEnv): void {
  const dbUrl = env[DATABASE_URL_ENV];
  if (dbUrl === undefined || dbUrl === '') return;
  if (!POSTGRES_URL_RE.test(dbUrl))
    throw new ConfigError(
      `environment variable ${DATABASE_URL_ENV} (store.url): a PostgreSQL URL (postgres://user@host:port/database)`,
      undefined,
      undefined,
      'store.url',
    );
  c.store.url = dbUrl;
}

/**
 * One zod issue as problems with a path each: an `unrecognized_keys` issue (a strict object met
 * keys it does not know) becomes one problem per unknown key, at that key, naming the keys the
 * object accepts (a misspelt key would otherwise be silently ignored).
 */
function describeIssue(issue: z.core.$ZodIssue): Array<{ path: (string | number)[]; message: string }> {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code !== 'unrecognized_keys') return [{ path, message: issue.message }];
  const known = keysAt(path);
  const where = path.length ? `of ${path.map(String).join('.')}` : 'at the top level';
  return issue.keys.map((k) => ({
    path: [...path, k],
    message: `unknown key "${k}"${known ? ` (the keys ${where} are: ${known.join(', ')})` : ''}`,
  }));
}

/**
 * 1-based line of the deepest YAML node that exists along `path`: for a mapping key, the line of
 * the key itself (a block value starts on the next line); for a sequence item, the item's line.
 */
function lineOf(doc: ReturnType<typeof parseDocument>, path: (string | number)[], lc: LineCounter): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const parent = (n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true)) as YamlNode | null | undefined;
    const seg = path[n - 1];
    let at: number | undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      at = (isScalar(pair?.key) ? pair.key.range?.[0] : undefined) ?? undefined;
    } else if (isSeq(parent) && typeof seg === 'number') {
      const item = parent.items[seg];
      at = item && typeof item === 'object' && 'range' in item ? (item as YamlNode).range?.[0] : undefined;
    }
    if (at !== undefined) return lc.linePos(at).line;
  }
  const top = doc.contents;
  return top?.range ? lc.linePos(top.range[0]).line : undefined;
}
