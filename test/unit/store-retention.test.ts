/**
 * Retention of what unauthenticated traffic adds (issue 16, finding 8), on the real SQLite store
 * in a temporary directory: boot events and phone-homes by age and count, unregistered hosts by
 * last sighting and count (never one an operator assigned, pinned or joined), in batches, and the
 * service that runs it at start.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type RetentionPolicy, type Store } from '../../src/store/index.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { createRetentionService } from '../../src/app/retention.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7);
const NONE: RetentionPolicy = {
  bootEventsDays: 0,
  bootEventsMaxRows: 0,
  phoneHomesDays: 0,
  phoneHomesMaxRows: 0,
  unregisteredHostsDays: 0,
  unregisteredHostsMaxRows: 0,
};

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-retention-'));
  store = await openStore(dir);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
async function bootEvent(at: number, n: number): Promise<void> {
  await store.hosts.addBootEvent({
    at,
    hostUuid: uuid(n),
    mac: null,
    address: null,
    protocol: 'dhcp',
    file: 'ipxe.efi',
    image: null,
    firmware: 'uefi',
  });
}
async function phoneHome(at: number, n: number): Promise<void> {
  await store.phoneHomes.record({
    at,
    address: '10.0.0.1',
    transport: 'http',
    hostUuid: uuid(n),
    hostname: null,
    result: 'unregistered',
    reason: null,
    jobId: null,
  });
}
const drain = async (policy: RetentionPolicy, batch?: number) => {
  const total = { bootEvents: 0, phoneHomes: 0, unregisteredHosts: 0, batches: 0 };
  for (;;) {
    const r = await store.retention.pruneBatch(policy, NOW, batch);
    total.batches++;
    total.bootEvents += r.bootEvents;
    total.phoneHomes += r.phoneHomes;
    total.unregisteredHosts += r.unregisteredHosts;
    if (r.bootEvents + r.phoneHomes + r.unregisteredHosts === 0) return total;
  }
};
const count = (table: string) => sqliteOf(store).prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('store retention', () => {
  it('deletes boot events and phone-homes older than the age, then the oldest beyond the row cap, in batches', async () => {
    for (let i = 0; i < 10; i++) await bootEvent(NOW - 40 * DAY + i, i);
    for (let i = 0; i < 10; i++) await bootEvent(NOW - DAY + i, 100 + i);
    for (let i = 0; i < 7; i++) await phoneHome(NOW - 100 * DAY, i);
    for (let i = 0; i < 7; i++) await phoneHome(NOW - 2 * DAY + i, 100 + i);
    const r = await drain({ ...NONE, bootEventsDays: 30, bootEventsMaxRows: 4, phoneHomesDays: 90 }, 3);
    expect(r).toMatchObject({ bootEvents: 16, phoneHomes: 7, unregisteredHosts: 0 });
    expect(r.batches).toBeGreaterThan(3); // 16 rows at most 3 (by age) + 3 (by count) a batch
    expect((await store.hosts.bootEvents({ limit: 100 })).map((e) => e.hostUuid)).toEqual(
      [109, 108, 107, 106].map(uuid), // the newest four
    );
    expect(await store.phoneHomes.count()).toBe(7);
    expect(await drain({ ...NONE, phoneHomesMaxRows: 2 })).toMatchObject({ phoneHomes: 5 });
    expect((await store.phoneHomes.list()).map((p) => p.hostUuid)).toEqual([uuid(106), uuid(105)]);
  });

  it('deletes unregistered hosts unseen for the age, then the longest unseen beyond the cap; never an assigned, pinned or registered one', async () => {
    const sight = (n: number, at: number) =>
      store.hosts.upsertSighting({ uuid: uuid(n), at, mac: '52:54:00:00:00:01' });
    for (let n = 1; n <= 4; n++) await sight(n, NOW - 60 * DAY); // old, unregistered: go
    await sight(5, NOW - 60 * DAY);
    await store.hosts.setImagePin(uuid(5), 'esxi-8.0u3'); // pinned: registered, stays
    await sight(6, NOW - 60 * DAY);
    await store.hosts.setState(uuid(6), 'unregistered', 'prod'); // assigned to a cluster: stays
    await sight(7, NOW - 60 * DAY);
    await store.hosts.setState(uuid(7), 'configured'); // joined: stays
    for (let n = 10; n < 16; n++) await sight(n, NOW - DAY + n); // recent unregistered
    await store.hostBoots.recordPhoneHome(uuid(1), { at: NOW - 60 * DAY, verifiedBy: 'none' });
    await store.hostBoots.recordPhoneHome(uuid(2), { at: NOW - 60 * DAY, verifiedBy: 'none' });
    await store.hostBoots.setJoinedThumbprint(uuid(2), 'AA:BB');
    const r = await drain({ ...NONE, unregisteredHostsDays: 30, unregisteredHostsMaxRows: 4 }, 2);
    expect(r.unregisteredHosts).toBe(4 + 2);
    expect((await store.hosts.list()).map((h) => h.uuid).sort()).toEqual([5, 6, 7, 12, 13, 14, 15].map(uuid));
    // the deleted host's phone-home record goes with it, unless the engine joined it
    expect(await store.hostBoots.get(uuid(1))).toBeUndefined();
    expect((await store.hostBoots.get(uuid(2)))?.joinedThumbprint).toBe('AA:BB');
    // a deleted host comes back at its next sighting
    await sight(1, NOW);
    expect((await store.hosts.get(uuid(1)))?.state).toBe('unregistered');
  });

  it('the retention service runs at start with the configured keys, and 0 keeps everything', async () => {
    for (let i = 0; i < 5; i++) await bootEvent(NOW - 40 * DAY, i);
    for (let i = 0; i < 5; i++) await phoneHome(NOW - 400 * DAY, i);
    const keep = configSchema.parse({ retention: { 'boot-events-days': 0, 'phone-homes-days': 0 } }).retention;
    const kept = createRetentionService(store.retention, keep, silentLogger, () => NOW);
    expect(await kept.runOnce()).toEqual({ bootEvents: 0, phoneHomes: 0, unregisteredHosts: 0 });
    const defaults = configSchema.parse({}).retention;
    expect(defaults).toMatchObject({ 'boot-events-days': 30, 'phone-homes-days': 90, 'interval-s': 3600 });
    const svc = createRetentionService(store.retention, defaults, silentLogger, () => NOW);
    await svc.start();
    await svc.close(); // waits for the run started by start()
    expect([count('boot_events'), count('phone_homes')]).toEqual([0, 0]);
  });
});
