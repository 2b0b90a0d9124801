/**
 * TokenRepo (table `boot_tokens`) and LeaseRepo (table `dhcp_leases`) on both stores: SQLite and a
 * real PostgreSQL (test/helpers/stores.ts). On PostgreSQL the conflicts run from two connection
 * pools at once, as two servers sharing one store: a token is consumed once, an address is
 * claimed by one client; and two full-DHCP responders on one store never bind one address twice.
 */
import { describe, expect, it } from 'vitest';
import { TokenRepo } from '../../src/store/tokens.js';
import { LeaseRepo, type DhcpLease } from '../../src/store/leases.js';
import { FullModeResponder, type FullModeConfig } from '../../src/boot/dhcp/full.js';
import { clientInfoOf } from '../../src/boot/dhcp/client-info.js';
import { MessageType, Opt, decodePacket, encodePacket, ipBytes, type DhcpPacket } from '../../src/boot/dhcp/packet.js';
import { bootRequest } from '../helpers/dhcp-harness.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();

const H = '4c4c4544-0042-4610-8053-b3c04f345433';
const H2 = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
const tok = (hash: string, createdAt: number, host = H, ttl = 3_600_000) => ({
  tokenHash: hash,
  hostUuid: host,
  createdAt,
  expiresAt: createdAt + ttl,
});
const lease = (address: string, mac: string, state: DhcpLease['state'], expiresAt: number, at = 1000): DhcpLease => ({
  address,
  mac,
  clientId: null,
  hostname: null,
  state,
  expiresAt,
  updatedAt: at,
});
const MAC_A = '52:54:00:00:00:0a';
const MAC_B = '52:54:00:00:00:0b';

describe.each(STORE_DIALECTS)('TokenRepo on %s', (dialect) => {
  it('inserts, reads, finds the newest unused token, consumes once and gives back', async () => {
    const repo = new TokenRepo(await fresh(dialect));
    await repo.insert(tok('h1', 1000));
    await repo.insert(tok('h2', 2000));
    await repo.insert(tok('h3', 3000, H2));
    expect(await repo.get('h1')).toEqual({ ...tok('h1', 1000), usedAt: null });
    expect(await repo.get('nope')).toBeUndefined();
    await expect(repo.insert(tok('h1', 5000))).rejects.toThrow();
    expect((await repo.newestUnused(H, 0))?.tokenHash).toBe('h2');
    expect(await repo.newestUnused(H, 2001)).toBeUndefined();
    expect(await repo.markUsed('h2', 2500)).toBe(true);
    expect(await repo.markUsed('h2', 2600)).toBe(false); // a replay
    expect(await repo.markUsed('nope', 2600)).toBe(false);
    expect((await repo.get('h2'))?.usedAt).toBe(2500);
    expect((await repo.newestUnused(H, 0))?.tokenHash).toBe('h1');
    expect(await repo.markUnused('h2', 2499)).toBe(false); // not that consumption
    expect(await repo.markUnused('h2', 2500)).toBe(true);
    expect((await repo.newestUnused(H, 0))?.tokenHash).toBe('h2');
    expect(await repo.purgeExpired(1000 + 3_600_001)).toBe(1);
    expect(await repo.get('h1')).toBeUndefined();
  });

  it('insertBounded: purges expired tokens of every host, keeps the newest n unused and n used per host', async () => {
    const repo = new TokenRepo(await fresh(dialect));
    await expect(repo.insertBounded(tok('x', 1), 0)).rejects.toThrow(RangeError);
    await expect(repo.insertBounded(tok('x', 1), 1.5)).rejects.toThrow(RangeError);
    expect(await repo.get('x')).toBeUndefined();
    await repo.insert(tok('old', 0, H2, 10)); // another host's, expired at 10
    for (let i = 1; i <= 4; i++) {
      await repo.insertBounded(tok(`u${i}`, 100 * i), 3);
      await repo.markUsed(`u${i}`, 100 * i + 1);
    }
    expect(await repo.get('old')).toBeUndefined(); // purged by the first insert
    // 4 used tokens now; the next insert trims the oldest used one, and unused ones beyond 3.
    for (let i = 5; i <= 9; i++) await repo.insertBounded(tok(`n${i}`, 100 * i), 3);
    const names = ['u1', 'u2', 'u3', 'u4', 'n5', 'n6', 'n7', 'n8', 'n9'];
    const left = await Promise.all(names.map((h) => repo.get(h)));
    expect(left.map((r) => r?.tokenHash ?? null)).toEqual([null, 'u2', 'u3', 'u4', null, null, 'n7', 'n8', 'n9']);
    // The count of rows deleted: one expired (any host) plus the host's unused beyond the bound.
    await repo.insert(tok('gone', 0, H2, 950));
    expect(await repo.insertBounded(tok('n10', 1000), 3)).toBe(2);
    // Another host's tokens are not trimmed by this host's bound.
    await repo.insertBounded(tok('o1', 1001, H2), 3);
    expect(await repo.get('o1')).toBeDefined();
    expect(await repo.get('n8')).toBeDefined();
  });

  it('insertBounded: in one millisecond the inserted token counts as the newest; the same hash again is kept', async () => {
    const repo = new TokenRepo(await fresh(dialect));
    await repo.insertBounded(tok('b', 500), 1);
    await repo.insertBounded(tok('a', 500), 1); // 'a' sorts below 'b', yet it is the one kept
    expect(await repo.get('a')).toBeDefined();
    expect(await repo.get('b')).toBeUndefined();
    await repo.insertBounded(tok('c', 500), 1);
    expect((await repo.newestUnused(H, 0))?.tokenHash).toBe('c');
    // A concurrent mint of the same token: no error, the stored row (here used) stays as it is.
    await repo.markUsed('c', 600);
    expect(await repo.insertBounded(tok('c', 500), 1)).toBe(0);
    expect((await repo.get('c'))?.usedAt).toBe(600);
  });

  it('two servers: a token is consumed once; concurrent mints for one host keep the bound', async () => {
    const sql = await fresh(dialect);
    const a = new TokenRepo(sql);
    const b = new TokenRepo(fresh.peer(sql));
    for (let i = 0; i < 20; i++) await a.insert(tok(`t${i}`, 1000 + i));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => [a.markUsed(`t${i}`, 5000), b.markUsed(`t${i}`, 5000)]).flat(),
    );
    for (let i = 0; i < 20; i++) expect(results[2 * i]! !== results[2 * i + 1]!, `t${i} consumed once`).toBe(true);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).insertBounded(tok(`m${i}`, 2000 + i, H2), 4)),
    );
    const kept = await Promise.all(Array.from({ length: 24 }, (_, i) => a.get(`m${i}`)));
    const n = kept.filter(Boolean).length;
    expect(n).toBeGreaterThanOrEqual(4);
    expect(n).toBeLessThanOrEqual(8); // each mint trims to 4; racing ones may each see the other's row missing
    expect(kept[23]).toBeDefined();
  });
});

describe.each(STORE_DIALECTS)('LeaseRepo on %s', (dialect) => {
  it('upserts, reads by address and MAC, releases and deletes only what the client holds', async () => {
    const repo = new LeaseRepo(await fresh(dialect));
    await repo.upsert(lease('10.0.0.2', MAC_A, 'bound', 9000, 1000));
    await repo.upsert(lease('10.0.0.1', MAC_A, 'released', 2000, 2000));
    await repo.upsert(lease('10.0.0.3', MAC_B, 'declined', 9000, 1500));
    expect((await repo.all()).map((l) => l.address)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(await repo.get('10.0.0.2')).toEqual(lease('10.0.0.2', MAC_A, 'bound', 9000, 1000));
    expect(await repo.get('10.0.0.9')).toBeUndefined();
    expect((await repo.byMac(MAC_A)).map((l) => l.address)).toEqual(['10.0.0.1', '10.0.0.2']);
    // DHCPRELEASE only by the holder of a bound lease
    expect(await repo.release('10.0.0.2', MAC_B, 3000)).toBe(false);
    expect(await repo.release('10.0.0.2', MAC_A, 3000)).toBe(true);
    expect(await repo.get('10.0.0.2')).toMatchObject({ state: 'released', expiresAt: 3000, updatedAt: 3000 });
    expect(await repo.release('10.0.0.2', MAC_A, 3100)).toBe(false);
    // delete with a MAC: only the client's own, never a declined row
    await repo.delete('10.0.0.1', MAC_B);
    await repo.delete('10.0.0.3', MAC_B);
    expect(await repo.get('10.0.0.1')).toBeDefined();
    expect(await repo.get('10.0.0.3')).toBeDefined();
    await repo.delete('10.0.0.1', MAC_A);
    expect(await repo.get('10.0.0.1')).toBeUndefined();
    await repo.delete('10.0.0.3');
    expect(await repo.get('10.0.0.3')).toBeUndefined();
  });

  it('claim takes a free, expired, released or own address; never one another client holds or a quarantined one', async () => {
    const repo = new LeaseRepo(await fresh(dialect));
    const now = 10_000;
    expect(await repo.claim(lease('10.0.0.5', MAC_A, 'bound', now + 600, now), now)).toBe(true);
    expect(await repo.claim(lease('10.0.0.5', MAC_B, 'bound', now + 600, now), now)).toBe(false);
    expect(await repo.get('10.0.0.5')).toMatchObject({ mac: MAC_A, expiresAt: now + 600 });
    // the holder renews
    expect(
      await repo.claim({ ...lease('10.0.0.5', MAC_A, 'bound', now + 900, now + 1), hostname: 'esx' }, now + 1),
    ).toBe(true);
    expect(await repo.get('10.0.0.5')).toMatchObject({ mac: MAC_A, expiresAt: now + 900, hostname: 'esx' });
    // expired (at its expiry time exactly): anyone's
    expect(await repo.claim(lease('10.0.0.5', MAC_B, 'bound', now + 2000, now + 900), now + 900)).toBe(true);
    expect(await repo.get('10.0.0.5')).toMatchObject({ mac: MAC_B });
    // released: anyone's at once
    await repo.upsert(lease('10.0.0.6', MAC_B, 'released', now + 5000));
    expect(await repo.claim(lease('10.0.0.6', MAC_A, 'bound', now + 600, now), now)).toBe(true);
    // declined: nobody's, its decliner included, until the quarantine ends
    await repo.upsert(lease('10.0.0.7', MAC_A, 'declined', now + 100));
    expect(await repo.claim(lease('10.0.0.7', MAC_A, 'bound', now + 600, now), now)).toBe(false);
    expect(await repo.claim(lease('10.0.0.7', MAC_B, 'bound', now + 600, now), now)).toBe(false);
    expect(await repo.claim(lease('10.0.0.7', MAC_B, 'bound', now + 700, now + 100), now + 100)).toBe(true);
  });

  it('claim with a previous address moves the client in one transaction; a refused claim leaves both rows', async () => {
    const repo = new LeaseRepo(await fresh(dialect));
    const now = 10_000;
    await repo.upsert(lease('10.0.0.1', MAC_A, 'bound', now + 600));
    await repo.upsert(lease('10.0.0.2', MAC_B, 'bound', now + 600));
    expect(await repo.claim(lease('10.0.0.2', MAC_A, 'bound', now + 600, now), now, '10.0.0.1')).toBe(false);
    expect(await repo.get('10.0.0.1')).toMatchObject({ mac: MAC_A, state: 'bound' });
    expect(await repo.claim(lease('10.0.0.3', MAC_A, 'bound', now + 600, now), now, '10.0.0.1')).toBe(true);
    expect(await repo.get('10.0.0.1')).toBeUndefined();
    expect((await repo.byMac(MAC_A)).map((l) => l.address)).toEqual(['10.0.0.3']);
    // the previous address is not deleted when someone else holds it by now
    expect(await repo.claim(lease('10.0.0.4', MAC_A, 'bound', now + 600, now), now, '10.0.0.2')).toBe(true);
    expect(await repo.get('10.0.0.2')).toMatchObject({ mac: MAC_B });
  });

  it('two servers claim one address for two clients at once: exactly one wins, every time', async () => {
    const sql = await fresh(dialect);
    const a = new LeaseRepo(sql);
    const b = new LeaseRepo(fresh.peer(sql));
    const now = 10_000;
    for (let i = 0; i < 40; i++) {
      const address = `10.0.1.${i}`;
      if (i % 4 === 1) await a.upsert(lease(address, '52:54:00:00:ff:ff', 'bound', now - 1)); // an expired lease
      if (i % 4 === 2) await a.upsert(lease(address, '52:54:00:00:ff:ff', 'released', now + 600));
      const [wa, wb] = await Promise.all([
        a.claim(lease(address, MAC_A, 'bound', now + 600, now), now),
        b.claim(lease(address, MAC_B, 'bound', now + 600, now), now),
      ]);
      expect(wa !== wb, `${address}: exactly one claim wins (a ${wa}, b ${wb})`).toBe(true);
      expect((await b.get(address))?.mac).toBe(wa ? MAC_A : MAC_B);
    }
  });
});

/** A client request as it comes off the wire (encoded, decoded). */
function req(type: number, mac: string, extra: Array<[number, Buffer]> = []): DhcpPacket {
  return decodePacket(encodePacket(bootRequest(type, mac, extra, { flags: 0 }), 1500).buffer);
}
const opt = (code: number, a: string): [number, Buffer] => [code, ipBytes(a)];
const serverCfg = (serverId: string): FullModeConfig => ({
  serverId,
  rangeStart: '10.9.0.100',
  rangeEnd: '10.9.0.103',
  netmask: '255.255.255.0',
  dnsServers: [],
  leaseTimeS: 600,
  reservations: [],
});
const boot = {
  bootFiles: { bios: 'undionly.kpxe', uefi: 'ipxe.efi', ipxe: 'boot.ipxe' },
  advertiseAddress: '10.9.0.1',
  httpPort: 8080,
};

describe.each(STORE_DIALECTS)('two full-DHCP servers sharing one range on %s', (dialect) => {
  const run = (f: FullModeResponder, p: DhcpPacket, now: number) => f.respond(p, clientInfoOf(p), now);
  const type = (r: Awaited<ReturnType<typeof run>>) => r.reply?.options.get(Opt.MESSAGE_TYPE)?.[0];

  it("never bind one address twice: a stale server offers past the other's leases; of two racing offers one client gets a NAK", async () => {
    const sql = await fresh(dialect);
    const now = 1_000_000;
    // Both start on the same (empty) store: each working set knows nothing of the other's leases.
    const A = await FullModeResponder.create(serverCfg('10.9.0.1'), new LeaseRepo(sql), boot);
    const B = await FullModeResponder.create(serverCfg('10.9.0.2'), new LeaseRepo(fresh.peer(sql)), boot);
    const C = await FullModeResponder.create(serverCfg('10.9.0.3'), new LeaseRepo(fresh.peer(sql)), boot);
    const repo = new LeaseRepo(sql);

    // Client 1 is bound by A to .100.
    const o1 = await run(A, req(MessageType.DISCOVER, '52:54:00:00:00:01'), now);
    expect(o1.reply?.yiaddr).toBe('10.9.0.100');
    const a1 = await run(
      A,
      req(MessageType.REQUEST, '52:54:00:00:00:01', [
        opt(Opt.SERVER_ID, '10.9.0.1'),
        opt(Opt.REQUESTED_ADDRESS, '10.9.0.100'),
      ]),
      now,
    );
    expect(type(a1)).toBe(MessageType.ACK);
    // B's working set still thinks .100 is free: its store check skips it.
    const o2 = await run(B, req(MessageType.DISCOVER, '52:54:00:00:00:02'), now + 1);
    expect(o2.reply?.yiaddr).toBe('10.9.0.101');

    // Clients 3 and 4 DISCOVER at once; A and B each offer the next free address (.101 on A,
    // .102 on B since B holds .101 for client 2): then both clients take B's and A's offers of one address.
    const o3 = await run(A, req(MessageType.DISCOVER, '52:54:00:00:00:03'), now + 2);
    const o4 = await run(B, req(MessageType.DISCOVER, '52:54:00:00:00:04'), now + 2);
    expect(o3.reply?.yiaddr).toBe('10.9.0.101');
    expect(o4.reply?.yiaddr).toBe('10.9.0.102');
    // Client 2 is bound by B to .101 while A has offered .101 to client 3.
    const [r2, r3] = await Promise.all([
      run(
        B,
        req(MessageType.REQUEST, '52:54:00:00:00:02', [
          opt(Opt.SERVER_ID, '10.9.0.2'),
          opt(Opt.REQUESTED_ADDRESS, '10.9.0.101'),
        ]),
        now + 3,
      ),
      run(
        A,
        req(MessageType.REQUEST, '52:54:00:00:00:03', [
          opt(Opt.SERVER_ID, '10.9.0.1'),
          opt(Opt.REQUESTED_ADDRESS, '10.9.0.101'),
        ]),
        now + 3,
      ),
    ]);
    const types = [type(r2), type(r3)].sort();
    expect(types).toEqual([MessageType.ACK, MessageType.NAK].sort());
    const loser =
      type(r2) === MessageType.NAK
        ? { f: B, mac: '52:54:00:00:00:02', sid: '10.9.0.2' }
        : { f: A, mac: '52:54:00:00:00:03', sid: '10.9.0.1' };
    expect((type(r2) === MessageType.NAK ? r2 : r3).reply?.options.get(Opt.MESSAGE)?.toString()).toBe(
      'requested address 10.9.0.101 is leased to another client',
    );
    // The NAKed client starts over and is offered (and bound to) another address by the same server.
    const again = await run(loser.f, req(MessageType.DISCOVER, loser.mac), now + 4);
    expect(again.reply?.yiaddr).toBeDefined();
    expect(again.reply?.yiaddr).not.toBe('10.9.0.101');
    const ack = await run(
      loser.f,
      req(MessageType.REQUEST, loser.mac, [
        opt(Opt.SERVER_ID, loser.sid),
        opt(Opt.REQUESTED_ADDRESS, again.reply!.yiaddr),
      ]),
      now + 4,
    );
    expect(type(ack)).toBe(MessageType.ACK);

    // The store holds one bound lease per address and per client.
    const bound = (await repo.all()).filter((l) => l.state === 'bound');
    expect(new Set(bound.map((l) => l.address)).size).toBe(bound.length);
    expect(new Set(bound.map((l) => l.mac)).size).toBe(bound.length);
    expect(bound.length).toBe(3);
    // A client bound by A that reboots (INIT-REBOOT) and is answered by C, which never saw its
    // lease, keeps its address: C finds it in the store.
    const reboot = await run(
      C,
      req(MessageType.REQUEST, '52:54:00:00:00:01', [opt(Opt.REQUESTED_ADDRESS, '10.9.0.100')]),
      now + 5,
    );
    expect([type(reboot), reboot.reply?.yiaddr]).toEqual([MessageType.ACK, '10.9.0.100']);
  });
});
