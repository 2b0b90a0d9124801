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

  it('upserts sightings without duplicating hosts or MACs', async () => {
    const s = await openStore(':memory:');
    await s.hosts.upsertSighting({ uuid: 'u1', at: 10, mac: 'm1', hostname: 'esx1', evidence: { a: 1 } });
    await s.hosts.upsertSighting({ uuid: 'u1', at: 20, mac: 'm1', evidence: { b: 2 } });
    await s.hosts.upsertSighting({ uuid: 'u1', at: 30, mac: 'm2' });
    const h = (await s.hosts.get('u1'))!;
    expect(await s.hosts.list()).toHaveLength(1);
    expect(h).toMatchObject({
      firstSeen: 10,
      lastSeen: 30,
      macs: ['m1', 'm2'],
      hostname: 'esx1',
      state: 'unregistered',
      evidence: { a: 1, b: 2 },
    });
    expect((await s.hosts.findByMac('m2')).map((x) => x.uuid)).toEqual(['u1']);
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

  it('host_boots: a boot whose job failed for good is not a pending rejoin until the host phones home again', async () => {
    const s = await openStore(':memory:');
    const [A, B, C] = ['4c4c4544-0000-0000-0000-00000000000a', '4c4c4544-0000-0000-0000-00000000000b', 'c'];
    for (const u of [A, B, C]) await s.hostBoots.recordPhoneHome(u, { at: 10, verifiedBy: 'token' });
    await s.hostBoots.markConverged(C, 20); // converged: not pending
    await s.hostBoots.markFailed(B, 15, 'job-b'); // its job for this boot failed for good
    expect(await s.hostBoots.pendingRejoins()).toEqual([A]);
    expect(await s.hostBoots.get(B)).toMatchObject({ phonedHomeAt: 10, failedAt: 15, failedJob: 'job-b' });
    // a new boot phones home: due again
    await s.hostBoots.recordPhoneHome(B, { at: 30, verifiedBy: 'token' });
    expect(await s.hostBoots.pendingRejoins()).toEqual([A, B]);
    s.close();
  });
});
