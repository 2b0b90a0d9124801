/**
 * ESXi `boot.cfg`: the configuration read by VMware's `mboot.c32` / `mboot.efi`.
 *
 * Format (as shipped on every ESXi installer ISO since 5.0): one `key=value` per line, `#` comments,
 * no sections. Keys we know: `bootstate`, `title`, `timeout`, `prefix` (directory prepended to
 * `kernel` and every module; a URL for HTTP boot), `kernel`, `kernelopt` (kernel command line),
 * `modules` (paths separated by ` --- `), `build` (`<version>-<update>.<patch>.<build>`),
 * `updated`, `nobootif`, `norts`. Unknown keys are kept, in order, so a round trip loses nothing.
 */

/** A `boot.cfg` problem, with the file and 1-based line it was found on (0 when not tied to a line). */
export class BootCfgError extends Error {
  override name = 'BootCfgError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
  }
}

/** The keys whose meaning we know; everything else lands in {@link BootCfg.other}. */
export const KNOWN_KEYS = [
  'bootstate',
  'title',
  'timeout',
  'prefix',
  'kernel',
  'kernelopt',
  'modules',
  'build',
  'updated',
  'nobootif',
  'norts',
] as const;
export type KnownKey = (typeof KNOWN_KEYS)[number];

/** A parsed boot.cfg. Scalar values are kept as written (strings) so serialization is exact. */
export interface BootCfg {
  bootstate?: string;
  title?: string;
  timeout?: string;
  prefix?: string;
  kernel: string;
  kernelopt: string;
  /** Module paths as written (may start with `/`), in load order. */
  modules: string[];
  build?: string;
  updated?: string;
  nobootif?: string;
  norts?: string;
  /** Unknown keys with their values, in file order. */
  other: Array<{ key: string; value: string }>;
  /** Every key in the order it appeared; {@link serializeBootCfg} writes keys in this order first. */
  order: string[];
}

/** The separator mboot uses between module paths in `modules=`. */
export const MODULE_SEPARATOR = ' --- ';

/**
 * Parses boot.cfg text.
 * @param text file contents (LF or CRLF)
 * @param file name used in error messages
 * @throws BootCfgError naming the line for: a line that is not `key=value`, an empty key, a
 *   duplicate key, an empty module between separators; and (line 0) a missing `kernel=` or `modules=`.
 */
export function parseBootCfg(text: string, file = 'boot.cfg'): BootCfg {
  const cfg: Partial<BootCfg> & { other: BootCfg['other']; order: string[] } = { other: [], order: [] };
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new BootCfgError(file, lineNo, `expected key=value, got "${truncate(line)}"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === '') throw new BootCfgError(file, lineNo, 'empty key before "="');
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new BootCfgError(file, lineNo, `invalid key "${truncate(key)}"`);
    const first = seen.get(key);
    if (first !== undefined) throw new BootCfgError(file, lineNo, `duplicate key "${key}" (first at line ${first})`);
    seen.set(key, lineNo);
    cfg.order.push(key);
    if (key === 'modules') {
      cfg.modules = value === '' ? [] : splitModules(value, file, lineNo);
    } else if ((KNOWN_KEYS as readonly string[]).includes(key)) {
      (cfg as Record<string, unknown>)[key] = value;
    } else {
      cfg.other.push({ key, value });
    }
  });
  if (cfg.kernel === undefined || cfg.kernel === '')
    throw new BootCfgError(file, 0, 'no "kernel=" line (not an ESXi boot.cfg?)');
  if (cfg.modules === undefined) throw new BootCfgError(file, 0, 'no "modules=" line (not an ESXi boot.cfg?)');
  cfg.kernelopt ??= '';
  return cfg as BootCfg;
}

function splitModules(value: string, file: string, line: number): string[] {
  const parts = value.split(/\s+---\s+|\s+---$|^---\s+/);
  parts.forEach((p, i) => {
    if (p.trim() === '') throw new BootCfgError(file, line, `empty module name at position ${i + 1} in "modules="`);
    if (/\s/.test(p.trim()))
      throw new BootCfgError(file, line, `module "${truncate(p.trim())}" contains whitespace (separator is " --- ")`);
  });
  return parts.map((p) => p.trim());
}

function truncate(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/**
 * Writes a BootCfg back as text (LF line ends, trailing newline). Keys appear in
 * {@link BootCfg.order}; keys set but not in `order` follow in {@link KNOWN_KEYS} order, then
 * unknown keys. Undefined known keys (and an empty `kernelopt` not in `order`) are omitted.
 */
export function serializeBootCfg(cfg: BootCfg): string {
  const other = new Map(cfg.other.map((o) => [o.key, o.value]));
  const valueOf = (key: string): string | undefined => {
    if (key === 'modules') return cfg.modules.join(MODULE_SEPARATOR);
    if ((KNOWN_KEYS as readonly string[]).includes(key))
      return (cfg as unknown as Record<string, string | undefined>)[key];
    return other.get(key);
  };
  const keys = [...cfg.order];
  for (const k of [...KNOWN_KEYS, ...other.keys()]) {
    const v = valueOf(k);
    // A defaulted, empty kernelopt that was not in the file stays out of it.
    if (!keys.includes(k) && v !== undefined && !(k === 'kernelopt' && v === '')) keys.push(k);
  }
  const out: string[] = [];
  for (const k of keys) {
    const v = valueOf(k);
    if (v !== undefined) out.push(`${k}=${v}`);
  }
  return out.join('\n') + '\n';
}

/**
 * Reads ESXi version and build number from `build=` (e.g. `8.0.2-0.0.22380479` → version
 * `8.0.2`, build `22380479`; `7.0.3-0.35.19482537` → `7.0.3`, `19482537`).
 * @returns nulls when `build=` is absent or not in that shape
 */
export function esxiVersionOf(cfg: BootCfg): { version: string | null; build: string | null } {
  const m = /^(\d+\.\d+(?:\.\d+)?)-[\d.]*?(\d{4,})$/.exec(cfg.build ?? '');
  if (!m) return { version: null, build: null };
  return { version: m[1]!, build: m[2]! };
}

/** A module or kernel path as a file inside the image: no leading `/`, `prefix` not applied. */
export function stripLeadingSlash(p: string): string {
  return p.replace(/^\/+/, '');
}
