/**
 * Opening the store the configuration names (issue 18): `store.url` selects PostgreSQL, the
 * password comes from `store.password-file` (never inline in the file), `STATELESX_DATABASE_URL`
 * replaces `store.url`; the opened store answers `ping` and the asynchronous repositories, and
 * `ping` follows PostgreSQL going away and coming back without reopening the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { storeTarget } from '../../src/config/store-target.js';
import { openStore, StoreOpenError } from '../../src/store/index.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

/** `url` without its `user:password@` password: `postgresql://statelesx@/...`. */
function withoutPassword(url: string, password: string): string {
  return url.replace(`:${encodeURIComponent(password)}@`, '@').replace(`:${password}@`, '@');
}

describe('store.url: PostgreSQL from the configuration', () => {
  let pgc: PgCluster;
  let dir: string;
  beforeAll(async () => {
    pgc = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'sx-store-open-'));
  }, 120_000);
  afterAll(async () => {
    await pgc?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an inline password in the file, naming the key and where to put it instead', () => {
    const file = join(dir, 'inline.yaml');
    writeFileSync(file, `store:\n  url: ${pgc.url}\n`);
    expect(() => loadConfig({ configPath: file, explicit: true, env: {} })).toThrow(
      /inline.yaml:2: store\.url: inline passwords are not accepted in store\.url: use store\.password-file/,
    );
  });

  it('opens PostgreSQL with the password from store.password-file; ping follows the server', async () => {
    const pwFile = join(dir, 'pgpass');
    writeFileSync(pwFile, `${pgc.password}\n`, { mode: 0o600 });
    const file = join(dir, 'file.yaml');
    writeFileSync(
      file,
      `data-dir: ./data\nstore:\n  url: "${withoutPassword(pgc.url, pgc.password)}"\n  password-file: pgpass\n`,
    );
    const { config } = loadConfig({ configPath: file, explicit: true, env: {} });
    const target = storeTarget(config, {});
    expect(target.password).toBe(pgc.password);
    const store = await openStore(target);
    try {
      expect(store.dialect).toBe('postgres');
      expect(store.location).not.toContain(pgc.password);
      expect(await store.ping()).toBe(true);
      await store.settings.set('written-on', 'postgres');
      expect(await store.settings.get('written-on')).toBe('postgres');
      // Lost during operation: ping fails with the driver's error, then recovers by itself.
      await pgc.stop();
      await expect(store.ping()).rejects.toThrow();
      await pgc.start();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await store.ping().catch(() => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
      expect(await store.settings.get('written-on')).toBe('postgres');
    } finally {
      await store.end();
    }
    expect(await store.ping()).toBe(false);
    // SQLite was not touched: no statelesx.db in data-dir.
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'data', 'statelesx.db'))).toBe(false);
  }, 60_000);

  it('STATELESX_DATABASE_URL replaces store.url and may carry the password', async () => {
    const { config } = loadConfig({ env: { STATELESX_DATABASE_URL: pgc.url } });
    const store = await openStore(storeTarget(config, {}));
    try {
      expect(await store.settings.get('written-on')).toBe('postgres');
    } finally {
      await store.end();
    }
    expect(() => loadConfig({ env: { STATELESX_DATABASE_URL: 'mysql://x@y/z' } })).toThrow(
      /STATELESX_DATABASE_URL \(store\.url\): a PostgreSQL URL/,
    );
  });

  it('a wrong password fails at start naming the URL, never the password', async () => {
    const err = await openStore({ dataDir: dir, url: withoutPassword(pgc.url, pgc.password), password: 'wrong-pw-1' })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    expect((err as Error).message).toMatch(/cannot open PostgreSQL store postgresql:\/\/statelesx@/);
    expect((err as Error).message).not.toContain('wrong-pw-1');
  });
});
