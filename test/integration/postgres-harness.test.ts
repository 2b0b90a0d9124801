/**
 * The private PostgreSQL cluster the store tests run against (test/helpers/postgres.ts): it
 * starts from Debian's package, needs the password, keeps data across stop/start and leaves
 * nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('private PostgreSQL cluster', () => {
  let pgc: PgCluster;
  beforeAll(async () => {
    pgc = await startPostgres({ tcp: true });
  }, 120_000);
  afterAll(async () => {
    await pgc?.destroy();
  });

  it('answers on its Unix socket and on 127.0.0.1 as role statelesx in database statelesx', async () => {
    const [viaSocket] = await query<{ db: string; who: string }>(
      pgc.url,
      'SELECT current_database() AS db, current_user AS who',
    );
    expect(viaSocket).toEqual({ db: 'statelesx', who: 'statelesx' });
    const [viaTcp] = await query<{ addr: string }>(pgc.tcpUrl!, 'SELECT inet_server_addr()::text AS addr');
    expect(viaTcp!.addr).toBe('127.0.0.1/32');
  });

  it('refuses a wrong password (SCRAM, never trust)', async () => {
    const wrong = pgc.url.replace(encodeURIComponent(pgc.password), 'not-the-password');
    await expect(query(wrong, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('keeps its data across stop and start; a client fails while it is down', async () => {
    await query(pgc.url, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await pgc.stop();
    await expect(query(pgc.url, 'SELECT 1')).rejects.toThrow(/ENOENT|ECONNREFUSED/);
    await pgc.start();
    expect(await query(pgc.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
  }, 60_000);

  it('destroy removes the directory', async () => {
    const other = await startPostgres();
    expect(existsSync(other.dir)).toBe(true);
    await other.destroy();
    expect(existsSync(other.dir)).toBe(false);
    await expect(query(other.url, 'SELECT 1')).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  }, 120_000);
});
