/**
 * README "Configuration reference" and src/config/schema.ts cannot drift apart: every key of the
 * zod schema has a row (one key per row) with the schema's real default, and every row names a
 * key of the schema.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaKeys, keysAt } from '../../src/config/schema-keys.js';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

/** key → default cell of the table under "## Configuration reference". */
function readmeTable(): Map<string, string> {
  const section = README.split(/^## Configuration reference$/m)[1]!.split(/^## /m)[0]!;
  const rows = section.split('\n').filter((l) => /^\| `/.test(l));
  const out = new Map<string, string>();
  for (const row of rows) {
    const cells = row
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const key = /^`([^`]+)`$/.exec(cells[0]!)?.[1];
    if (!key) throw new Error(`README row does not name exactly one key: ${row}`);
    if (out.has(key)) throw new Error(`README lists ${key} twice`);
    out.set(key, cells[1]!);
  }
  return out;
}

/** How the README writes a default value. */
function expectDefaultCell(key: string, cell: string, value: unknown): void {
  if (Array.isArray(value) && value.length > 0) {
    for (const v of value) expect(cell, key).toContain(`\`${String(v)}\``);
  } else if (Array.isArray(value)) {
    expect(cell, key).toBe('`[]`');
  } else {
    expect(cell, key).toBe(`\`${String(value)}\``);
  }
}

describe('README configuration reference', () => {
  const table = readmeTable();
  const keys = schemaKeys();

  it('walks the schema: nested objects, arrays of objects, defaults', () => {
    const byKey = new Map(keys.map((k) => [k.key, k]));
    expect(byKey.get('tftp.port')).toEqual({ key: 'tftp.port', hasDefault: true, default: 69 });
    expect(byKey.get('vcenters[].max-sessions')).toEqual({
      key: 'vcenters[].max-sessions',
      hasDefault: true,
      default: 4,
    });
    expect(byKey.get('vcenters[].url')).toEqual({ key: 'vcenters[].url', hasDefault: false });
    expect(byKey.get('dhcp.boot-files.uefi')?.default).toBe('ipxe.efi');
    expect(byKey.has('vcenters[].password')).toBe(false); // refused key, not a setting
    expect(byKey.has('tftp')).toBe(false); // containers are not leaves
    expect(keysAt(['vcenters', 0])).toContain('password-env');
    expect(keysAt(['tftp', 'port'])).toBeUndefined();
  });

  it('lists every schema key with its real default, and nothing else', () => {
    const missing = keys.filter((k) => !table.has(k.key)).map((k) => k.key);
    expect(missing, 'schema keys without a README row').toEqual([]);
    const known = new Set(keys.map((k) => k.key));
    expect(
      [...table.keys()].filter((k) => !known.has(k)),
      'README rows naming no schema key',
    ).toEqual([]);
    for (const k of keys) {
      const cell = table.get(k.key)!;
      if (k.hasDefault) expectDefaultCell(k.key, cell, k.default);
      // No default: "—" or words ("the interface's address"), never a value that looks like one.
      else expect(cell, k.key).not.toMatch(/`/);
    }
  });
});
