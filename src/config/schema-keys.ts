/**
 * Reads the structure of the zod {@link configSchema}: every key with its default, and the keys
 * accepted at a path. Used to name the known keys when a config file has an unknown one, and by
 * the test that keeps README "Configuration reference" in step with the schema.
 *
 * Walks zod 4's schema definitions (`schema._zod.def`): object (`shape`), optional / default /
 * prefault / nullable / readonly (`innerType`), array (`element`), pipe (`in`).
 */
import type { z } from 'zod';
import { configSchema } from './schema.js';

/** One leaf key of the configuration. */
export interface SchemaKey {
  /** Dotted path; array elements as `[]`: `tftp.port`, `vcenters[].max-sessions`. */
  key: string;
  /** True when zod fills the key in when it is absent (`.default()` or `.prefault()`). */
  hasDefault: boolean;
  /** The default value (a copy), when {@link hasDefault}. */
  default?: unknown;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  defaultValue?: unknown;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under wrappers that do not change the shape, and the default met on the way. */
function unwrap(s: z.ZodType): { core: z.ZodType; hasDefault: boolean; default?: unknown } {
  let cur = s;
  let found: { value: unknown } | undefined;
  for (;;) {
    const d = defOf(cur);
    if ((d.type === 'default' || d.type === 'prefault') && !found) found = { value: structuredClone(d.defaultValue) };
    if (
      d.innerType &&
      ['optional', 'default', 'prefault', 'nullable', 'readonly', 'nonoptional', 'catch'].includes(d.type)
    ) {
      cur = d.innerType;
    } else if (d.type === 'pipe' && d.in) {
      cur = d.in;
    } else {
      return found ? { core: cur, hasDefault: true, default: found.value } : { core: cur, hasDefault: false };
    }
  }
}

/**
 * Every leaf key of `schema`, depth first in declaration order. Objects are descended into
 * (`tftp` → `tftp.port`, ...); an array of objects is listed itself (`vcenters[]`, its default)
 * and then its element's keys (`vcenters[].url`). Keys of type `never` (refused keys such as an
 * inline `password`) are left out.
 */
export function schemaKeys(schema: z.ZodType = configSchema): SchemaKey[] {
  const out: SchemaKey[] = [];
  const walk = (s: z.ZodType, prefix: string) => {
    const d = defOf(s);
    for (const [name, child] of Object.entries(d.shape ?? {})) {
      const key = prefix ? `${prefix}.${name}` : name;
      const u = unwrap(child);
      const cd = defOf(u.core);
      if (cd.type === 'never') continue;
      if (cd.type === 'object') {
        walk(u.core, key);
        continue;
      }
      const el = cd.type === 'array' && cd.element ? unwrap(cd.element).core : undefined;
      if (el && defOf(el).type === 'object') {
        out.push({ key: `${key}[]`, hasDefault: u.hasDefault, ...(u.hasDefault ? { default: u.default } : {}) });
        walk(el, `${key}[]`);
        continue;
      }
      out.push({ key, hasDefault: u.hasDefault, ...(u.hasDefault ? { default: u.default } : {}) });
    }
  };
  walk(unwrap(schema).core, '');
  return out;
}

/**
 * The keys an object accepts at `path` of the parsed document (array indexes as numbers:
 * `['vcenters', 0]`), in declaration order, refused keys (type `never`) left out; undefined when
 * `path` does not lead to an object of the schema.
 */
export function keysAt(path: ReadonlyArray<string | number>, schema: z.ZodType = configSchema): string[] | undefined {
  let cur = unwrap(schema).core;
  for (const seg of path) {
    const d = defOf(cur);
    if (typeof seg === 'number') {
      if (d.type !== 'array' || !d.element) return undefined;
      cur = unwrap(d.element).core;
    } else {
      const child = d.type === 'object' ? d.shape?.[seg] : undefined;
      if (!child) return undefined;
      cur = unwrap(child).core;
    }
  }
  const d = defOf(cur);
  if (d.type !== 'object') return undefined;
  return Object.entries(d.shape ?? {})
    .filter(([, c]) => defOf(unwrap(c).core).type !== 'never')
    .map(([k]) => k);
}
