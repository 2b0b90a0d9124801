/**
 * HostRepo (tables `hosts`, `boot_events`), HostBootRepo (`host_boots`) and HostInstallRepo
 * (`host_installs`) on both stores: SQLite and a real PostgreSQL (test/helpers/stores.ts). The
 * statements that differ by dialect — the MAC lookup in the `macs` JSON list (json_each / jsonb
 * `@>`), lists passed as one JSON parameter (json_each / json_array_elements_text) and the
 * sighting's row lock — are exercised on each, with values that only a correct query finds.
 */
import { describe, expect, it } from 'vitest';
import { HostRepo, type BootEvent } from '../../src/store/hosts.js';
import { HostBootRepo } from '../../src/store/hostboots.js';
import { HostInstallRepo } from '../../src/store/hostinstalls.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();

const A = '4c4c4544-0000-0000-0000-00000000000a';
const B = '4c4c4544-0000-0000-0000-00000000000b';
const C = '4c4c4544-0000-0000-0000-00000000000c';

/** A DHCP boot event (`image` null) or a boot-file one naming `image`. */
const ev = (at: number, hostUuid: string | null, mac: string | null, image: string | null = null): BootEvent => ({
  at,
  hostUuid,
  mac,
  address: '10.0.0.9',
  protocol: image ? 'tftp' : 'dhcp',
  file: image ? `${image}/boot.cfg` : 'ipxe.efi',
  image,
  firmware: 'uefi',
  detail: { n: at },
});

describe.each(STORE_DIALECTS)('HostRepo on %s', (dialect) => {
  it('upserts sightings without duplicating hosts or MACs; evidence merged, first sighting kept', async () => {
    const hosts = new HostRepo(await fresh(dialect));
    const first = await hosts.upsertSighting({ uuid: A, at: 10, mac: 'm1', hostname: 'esx1', evidence: { a: 1 } });
    expect(first).toMatchObject({ uuid: A, firstSeen: 10, lastSeen: 10, macs: ['m1'], state: 'unregistered' });
    await hosts.upsertSighting({ uuid: A, at: 20, mac: 'm1', evidence: { b: 2 } });
    const last = await hosts.upsertSighting({ uuid: A, at: 15, mac: 'm2', address: '10.0.0.5' }, 'registered');
    expect(last).toEqual(await hosts.get(A));
    expect(await hosts.list()).toHaveLength(1);
    expect(last).toMatchObject({
      firstSeen: 10,
      lastSeen: 20, // an older sighting never moves last_seen back
      macs: ['m1', 'm2'],
      hostname: 'esx1',
      lastAddress: '10.0.0.5',
      state: 'unregistered', // an existing host keeps its state
      evidence: { a: 1, b: 2 },
    });
    expect(await hosts.get(B)).toBeUndefined();
  });

  it('concurrent sightings of one host from two servers all land: one row, every MAC', async () => {
    const sql = await fresh(dialect);
    const servers = [new HostRepo(sql), new HostRepo(fresh.peer(sql))];
    const hosts = servers[0]!;
    await hosts.upsertSighting({ uuid: A, at: 1 });
    const macs = Array.from({ length: 24 }, (_, i) => `52:54:00:00:00:${String(i).padStart(2, '0')}`);
    await Promise.all(
      macs.map((mac, i) => servers[i % 2]!.upsertSighting({ uuid: A, at: 100 + i, mac, evidence: { [mac]: i } })),
    );
    const h = (await hosts.get(A))!;
    expect([...h.macs].sort()).toEqual(macs);
    expect(Object.keys(h.evidence).sort()).toEqual(macs);
    expect(h.lastSeen).toBe(123);
  });

  it('finds hosts by MAC in their JSON list, exactly (no substring, no other element)', async () => {
    const hosts = new HostRepo(await fresh(dialect));
    await hosts.upsertSighting({ uuid: A, at: 1, mac: '52:54:00:00:00:01' });
    await hosts.upsertSighting({ uuid: A, at: 2, mac: '52:54:00:00:00:02' });
    await hosts.upsertSighting({ uuid: B, at: 3, mac: '52:54:00:00:00:02' });
    await hosts.upsertSighting({ uuid: C, at: 4, mac: '52:54:00:00:00:021' });
    expect((await hosts.findByMac('52:54:00:00:00:02')).map((h) => h.uuid)).toEqual([B, A]); // newest first
    expect((await hosts.findByMac('52:54:00:00:00:01')).map((h) => h.uuid)).toEqual([A]);
    expect(await hosts.findByMac('52:54:00:00:00:0')).toEqual([]);
    expect(await hosts.findByMac('"52:54:00:00:00:01"')).toEqual([]);
  });

  it('pages newest sighting first with an optional state, counts by state, lists pins', async () => {
    const hosts = new HostRepo(await fresh(dialect));
    await hosts.upsertSighting({ uuid: A, at: 30 });
    await hosts.upsertSighting({ uuid: B, at: 30 });
    await hosts.upsertSighting({ uuid: C, at: 10 }, 'registered');
    const p1 = await hosts.page({ limit: 2 });
    expect(p1.hosts.map((h) => h.uuid)).toEqual([B, A]); // same last_seen: by UUID, descending
    expect(p1.next).toEqual({ lastSeen: 30, uuid: A });
    const p2 = await hosts.page({ limit: 2, after: p1.next });
    expect(p2).toEqual({ hosts: [await hosts.get(C)] });
    expect((await hosts.page({ limit: 5, state: 'unregistered' })).hosts.map((h) => h.uuid)).toEqual([B, A]);
    expect((await hosts.page({ limit: 1, state: 'unregistered', after: { lastSeen: 30, uuid: B } })).hosts).toEqual([
      await hosts.get(A),
    ]);
    expect(await hosts.countByState()).toEqual({ unregistered: 2, registered: 1 });
    expect(await hosts.setState(A, 'configured', 'prod')).toBe(true);
    expect(await hosts.setState('nobody', 'configured')).toBe(false);
    expect(await hosts.get(A)).toMatchObject({ state: 'configured', cluster: 'prod' });
    expect((await hosts.list('configured')).map((h) => h.uuid)).toEqual([A]);
    await hosts.setImagePin(B, 'v1', 50);
    await hosts.setImagePin('11111111-2222-3333-4444-555555555555', 'v1', 60); // unknown: created, registered
    expect(await hosts.pinnedTo('v1')).toEqual(['11111111-2222-3333-4444-555555555555', B]);
    expect(await hosts.get('11111111-2222-3333-4444-555555555555')).toMatchObject({
      state: 'registered',
      firstSeen: 60,
    });
    await hosts.setImagePin(B, null);
    expect(await hosts.pinnedTo('v1')).toEqual(['11111111-2222-3333-4444-555555555555']);
  });

  it('records boot events with ids and filters them by UUID and MAC; the last identified event of an address', async () => {
    const hosts = new HostRepo(await fresh(dialect));
    const ids = [
      await hosts.addBootEvent(ev(1, null, 'm1')),
      await hosts.addBootEvent(ev(2, A, 'm1')),
      await hosts.addBootEvent(ev(3, A, null, 'v1')),
      await hosts.addBootEvent(ev(4, B, 'm2')),
    ];
    expect(ids[1]).toBeGreaterThan(ids[0]!);
    expect((await hosts.bootEvents()).map((e) => e.at)).toEqual([4, 3, 2, 1]);
    expect((await hosts.bootEvents({ uuid: A })).map((e) => e.id)).toEqual([ids[2], ids[1]]);
    expect((await hosts.bootEvents({ mac: 'm1' })).map((e) => e.at)).toEqual([2, 1]);
    expect((await hosts.bootEvents({ uuid: A, mac: 'm1' })).map((e) => e.at)).toEqual([2]);
    expect((await hosts.bootEvents({ uuid: null, mac: null, limit: 1 })).map((e) => e.at)).toEqual([4]);
    expect((await hosts.bootEvents({ uuid: A }))[0]).toEqual({ id: ids[2], ...ev(3, A, null, 'v1') });
    expect(await hosts.lastIdentifiedBootEventFrom('10.0.0.9', 0)).toEqual({
      hostUuid: B,
      mac: 'm2',
      firmware: 'uefi',
      at: 4,
    });
    expect(await hosts.lastIdentifiedBootEventFrom('10.0.0.9', 5)).toBeUndefined();
    expect(await hosts.lastIdentifiedBootEventFrom('10.0.0.8', 0)).toBeUndefined();
  });

  it("tells each host's last booted image from its UUID's events and its MACs' MAC-only events, in one query", async () => {
    const hosts = new HostRepo(await fresh(dialect));
    await hosts.addBootEvent(ev(1, A, null, 'v1'));
    await hosts.addBootEvent(ev(2, null, 'ma', 'v2')); // MAC-only, newer: wins for A
    await hosts.addBootEvent(ev(3, A, 'ma')); // no image: ignored
    await hosts.addBootEvent(ev(4, B, null, 'v3'));
    await hosts.addBootEvent(ev(5, null, 'mb', 'v4')); // MAC-only, newer than B's: wins
    await hosts.addBootEvent(ev(6, B, null, 'v5'));
    await hosts.addBootEvent(ev(7, C, 'mb', 'v6')); // another host's event with B's MAC: not B's
    const images = await hosts.lastImages([
      { uuid: A, macs: ['ma'] },
      { uuid: B, macs: ['mb'] },
      { uuid: '99999999-0000-0000-0000-000000000000', macs: ['mz'] },
    ]);
    expect([...images.entries()].sort()).toEqual([
      [A, 'v2'],
      [B, 'v5'],
    ]);
    expect(await hosts.lastImages([])).toEqual(new Map());
  });
});

describe.each(STORE_DIALECTS)('HostBootRepo on %s', (dialect) => {
  it('a boot whose job failed for good is not a pending rejoin until the host phones home again', async () => {
    const boots = new HostBootRepo(await fresh(dialect));
    for (const u of [A, B, C]) await boots.recordPhoneHome(u, { at: 10, verifiedBy: 'token' });
    await boots.markConverged(C, 20); // converged: not pending
    await boots.markFailed(B, 15, 'job-b'); // its job for this boot failed for good
    expect(await boots.pendingRejoins()).toEqual([A]);
    expect(await boots.get(B)).toMatchObject({ phonedHomeAt: 10, failedAt: 15, failedJob: 'job-b' });
    await boots.recordPhoneHome(B, { at: 30, verifiedBy: 'token' }); // a new boot phones home: due again
    expect(await boots.pendingRejoins()).toEqual([A, B]);
  });

  it('records phone-homes and joins, resets thumbprints, reads the newest PXE answer in either byte order', async () => {
    const sql = await fresh(dialect);
    const boots = new HostBootRepo(sql);
    const hosts = new HostRepo(sql);
    expect(await boots.get(A)).toBeUndefined();
    await boots.recordPhoneHome(A.toUpperCase(), {
      at: 10,
      verifiedBy: 'token',
      thumbprint: 'AA:01',
      thumbprintSha1: 'BB:01',
      hostname: 'esx1.lab.example',
    });
    await boots.setJoinedThumbprint(A, 'AA:01');
    const wireA = swapUuidByteOrder(A);
    await hosts.addBootEvent(ev(40, wireA.toUpperCase(), null)); // PXE answer recorded in wire order, upper case
    await hosts.addBootEvent(ev(30, A, null));
    await hosts.addBootEvent(ev(50, C, null)); // PXE only: no host_boots row
    expect(await boots.get(A)).toEqual({
      uuid: A,
      phonedHomeAt: 10,
      verifiedBy: 'token',
      thumbprint: 'AA:01',
      thumbprintSha1: 'BB:01',
      hostname: 'esx1.lab.example',
      joinedThumbprint: 'AA:01',
      convergedAt: undefined,
      failedAt: undefined,
      failedJob: undefined,
      pxeBootAt: 30,
    });
    expect((await boots.get(A, wireA))?.pxeBootAt).toBe(40);
    const many = await boots.getMany([
      { uuid: A, otherByteOrder: wireA },
      { uuid: B, otherByteOrder: swapUuidByteOrder(B) },
      { uuid: C.toUpperCase(), otherByteOrder: swapUuidByteOrder(C) },
    ]);
    expect([...many.keys()].sort()).toEqual([A, C]);
    expect(many.get(A)).toEqual(await boots.get(A, wireA));
    expect(many.get(C)).toMatchObject({ uuid: C, pxeBootAt: 50, phonedHomeAt: undefined });
    expect(await boots.getMany([])).toEqual(new Map());
    expect(await boots.resetThumbprint(A)).toBe(true);
    expect(await boots.resetThumbprint(A)).toBe(false); // nothing left to reset
    expect(await boots.resetThumbprint(B)).toBe(false);
    expect(await boots.get(A)).toMatchObject({ thumbprint: undefined, joinedThumbprint: undefined, phonedHomeAt: 10 });
  });
});

describe.each(STORE_DIALECTS)('HostInstallRepo on %s', (dialect) => {
  it('install due → installed → reinstall requested (due) → installed again', async () => {
    const installs = new HostInstallRepo(await fresh(dialect));
    expect(await installs.get(A)).toBeUndefined();
    expect(await installs.installedAt(A)).toBeUndefined();
    await installs.markInstalled(A.toUpperCase(), { at: 10, address: '10.0.0.5' });
    expect(await installs.installedAt(A)).toBe(10);
    expect(await installs.requestReinstall(A, { at: 20, actor: 'admin' })).toEqual({ previousInstalledAt: 10 });
    expect(await installs.get(A)).toEqual({
      uuid: A,
      installedAt: undefined,
      installedFrom: undefined,
      reinstallRequestedAt: 20,
      reinstallRequestedBy: 'admin',
    });
    expect(await installs.requestReinstall(B, { at: 21, actor: 'system:cli' })).toEqual({
      previousInstalledAt: undefined,
    });
    await installs.markInstalled(A, { at: 30, address: '10.0.0.6' });
    expect(await installs.get(A)).toMatchObject({
      installedAt: 30,
      installedFrom: '10.0.0.6',
      reinstallRequestedAt: 20,
    });
  });
});
