import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore } from '../../src/store/index.js';
import { migrations } from '../../src/store/migrations/index.js';
import { sqliteOf } from '../../src/store/inspect.js';

describe('store', () => {
  it('migrates a new file in WAL mode and re-opens without re-running migrations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-store-'));
    const s1 = await openStore(dir);
    expect(sqliteOf(s1).pragma('journal_mode', { simple: true })).toBe('wal');
    await s1.hosts.upsertSighting({ uuid: 'a', at: 1, mac: 'aa:bb:cc:dd:ee:ff' });
    s1.close();
    const s2 = await openStore(dir);
    expect(sqliteOf(s2).prepare('SELECT count(*) FROM schema_migrations').pluck().get()).toBe(migrations.length);
    expect((await s2.hosts.get('a'))?.macs).toEqual(['aa:bb:cc:dd:ee:ff']);
    expect(s2.integrityCheck()).toBe('ok');
    s2.close();
  });

  it('refuses an unwritable data directory with a message naming it', async () => {
    // A path under a regular file can never be created, even as root.
    const dir = mkdtempSync(join(tmpdir(), 'sx-store-'));
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    await expect(openStore(join(file, 'data'))).rejects.toThrow(
      /data directory .*plain-file\/data is not writable \(ENOTDIR\)/,
    );
  });

  it('runs a transaction as one unit: rolled back when it throws, nested as a savepoint; ping tells closed', async () => {
    const s = await openStore(':memory:');
    await expect(
      s.transaction(async () => {
        await s.hosts.upsertSighting({ uuid: 'tx1', at: 1 });
        await s.settings.set('tx1', 'written');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await s.hosts.get('tx1')).toBeUndefined();
    expect(await s.settings.get('tx1')).toBeUndefined();
    await s.transaction(async () => {
      await s.hosts.upsertSighting({ uuid: 'tx2', at: 1 });
      await expect(
        s.transaction(async () => {
          await s.hosts.upsertSighting({ uuid: 'tx3', at: 1 });
          await s.settings.set('tx3', 'written');
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
      await s.settings.set('tx2', 'kept');
    });
    expect(await s.settings.get('tx2')).toBe('kept');
    expect(await s.settings.get('tx3')).toBeUndefined();
    expect(await s.hosts.get('tx2')).toBeDefined();
    expect(await s.hosts.get('tx3')).toBeUndefined();
    expect(await s.ping()).toBe(true);
    s.close();
    expect(await s.ping()).toBe(false);
  });
});
