/**
 * The TCP 1974 listener against real sockets on 127.0.0.1 (127.0.0.0/8 source addresses for the
 * per-source and legacy address checks). The registry, tokens and store are the real ones.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { connect } from 'node:net';
import { startFixture, exchange, fireAndForget, type Fixture } from '../helpers/initiator-fixture.js';
import { createPhoneHomeListener } from '../../src/phonehome/listener.js';
import { BindError } from '../../src/net/bind-error.js';
import { metricsRegistry } from '../../src/metrics.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';

const U = '4c4c4544-0042-4610-8053-b3c04f345433';
const W = '44454c4c-4200-1046-8053-b3c04f345433';
const U2 = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function counterValue(labels: Record<string, string>): Promise<number> {
  const m = await metricsRegistry.getSingleMetric('statelesx_phone_homes_total')!.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

describe('initiator listener: historical forms', () => {
  it('records the 1.0 form sent as the 2008 script did (bare uuid, no newline, reply never read)', async () => {
    fx = await startFixture();
    await fireAndForget(fx.port, Buffer.from(U, 'ascii'));
    await waitFor('the phone-home record', async () => (await fx!.store.phoneHomes.count()) === 1);
    const h = (await fx.store.hosts.get(U))!;
    expect(h).toMatchObject({ uuid: U, state: 'unregistered', lastAddress: '127.0.0.1', hostname: null });
    expect(h.evidence).toMatchObject({
      uuidForms: { smbios: U, wire: W },
      addresses: ['127.0.0.1'],
      phoneHome: { form: '1.0', transport: 'tcp' },
    });
    expect((await fx.store.phoneHomes.list())[0]).toMatchObject({
      result: 'unregistered',
      hostUuid: U,
      transport: 'tcp',
      address: '127.0.0.1',
    });
  });

  it('records the 1.1 form hostname:uuid sent without newline, reply never read', async () => {
    fx = await startFixture();
    await fireAndForget(fx.port, Buffer.from(`esx17:${U.toUpperCase()}`, 'ascii'));
    await waitFor('the phone-home record', async () => (await fx!.store.phoneHomes.count()) === 1);
    expect(await fx.store.hosts.get(U)).toMatchObject({ hostname: 'esx17', state: 'unregistered' });
    expect((await fx.store.phoneHomes.list())[0]).toMatchObject({ result: 'unregistered', hostname: 'esx17' });
  });

  it('answers UNREGISTERED to a client that reads, and stores the extension evidence', async () => {
    fx = await startFixture();
    const reply = await exchange(
      fx.port,
      `esx18.lab:${U} mac=00:50:56:aa:bb:cc serial=3BFS4T3 vendor=Dell%20Inc. model=PowerEdge%20R750xs version=test/1\r\n`,
      { end: false },
    );
    expect(reply).toBe('UNREGISTERED\n');
    const h = (await fx.store.hosts.get(U))!;
    expect(h).toMatchObject({
      hostname: 'esx18.lab',
      serial: '3BFS4T3',
      vendor: 'Dell Inc.',
      model: 'PowerEdge R750xs',
      macs: [],
    });
    expect(h.evidence).toMatchObject({
      initiatorVersion: 'test/1',
      claimedMacs: ['00:50:56:aa:bb:cc'],
      phoneHome: { form: 'extension' },
    });
  });

  it('updates a repeated unregistered host instead of duplicating it, keeping every source address', async () => {
    fx = await startFixture();
    expect(await exchange(fx.port, `a:${U}\n`)).toBe('UNREGISTERED\n');
    const first = (await fx.store.hosts.get(U))!;
    await new Promise((r) => setTimeout(r, 5));
    // the same host in the other byte order, from another address, renamed
    expect(await exchange(fx.port, `b:${W} mac=00:50:56:00:00:01\n`, { localAddress: '127.0.0.2' })).toBe(
      'UNREGISTERED\n',
    );
    const hosts = await fx.store.hosts.list();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ uuid: U, hostname: 'b', firstSeen: first.firstSeen, lastAddress: '127.0.0.2' });
    expect(hosts[0]!.lastSeen).toBeGreaterThan(first.firstSeen);
    expect(hosts[0]!.evidence['addresses']).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(await fx.store.phoneHomes.count()).toBe(2);
  });
});

describe('initiator listener: known hosts and tokens (require-token: true)', () => {
  it('queues the configure job for a declared host with a valid token, and refuses every bad token', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    const token = await fx.tokens.issue(U);
    const before = await counterValue({ transport: 'tcp', result: 'refused' });
    expect(await exchange(fx.port, `esx01:${U} token=${token} mac=00:50:56:01:02:03\n`)).toBe('OK job-1\n');
    expect(fx.queue.calls).toEqual([{ hostUuid: U, origin: { source: 'initiator', actor: '127.0.0.1' } }]);
    const h = (await fx.store.hosts.get(U))!;
    expect(h).toMatchObject({ state: 'configuring', macs: ['00:50:56:01:02:03'] });
    expect(h.evidence['verifiedBy']).toBe('token');

    const other = await fx.tokens.issue(U2);
    // issued last: the next issue would delete it (expired rows are purged on issue)
    const expired = await fx.tokens.issue(U, Date.now() - 2 * 3_600_000);
    const cases: Array<[string, string]> = [
      [`esx01:${U}\n`, 'ERR token-missing\n'],
      [`esx01:${U} token=${token}\n`, 'ERR token-replayed\n'],
      [`esx01:${U} token=AAAAAAAAAAAAAAAAAAAAAA\n`, 'ERR token-unknown\n'],
      [`esx01:${U} token=${expired}\n`, 'ERR token-expired\n'],
      [`esx01:${U} token=${other}\n`, 'ERR token-other-host\n'],
    ];
    for (const [msg, want] of cases) expect(await exchange(fx.port, msg), msg).toBe(want);
    expect(fx.queue.calls).toHaveLength(1);
    // refusals never touch the host row, but each is recorded and counted
    expect(await fx.store.hosts.get(U)).toEqual(h);
    const refused = (await fx.store.phoneHomes.list())
      .filter((p) => p.result === 'refused')
      .map((p) => p.reason)
      .sort();
    expect(refused).toEqual(['token-expired', 'token-missing', 'token-other-host', 'token-replayed', 'token-unknown']);
    expect(await counterValue({ transport: 'tcp', result: 'refused' })).toBe(before + 5);
  });

  it('handles a message once when the client half-closes while the store is still answering (busybox nc)', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    fx.queue.delayMs = 200; // the end-of-stream arrives before the first answer is written
    const token = await fx.tokens.issue(U);
    expect(await exchange(fx.port, `esx01:${U} token=${token}\n`)).toBe('OK job-1\n');
    expect(fx.queue.calls).toHaveLength(1);
    // one phone-home recorded, not a second one refused as a replay of the same token
    expect((await fx.store.phoneHomes.list()).map((p) => p.reason ?? p.result)).toEqual(['ok']);
  });

  it('matches a host declared in the other byte order and a host assigned in the store', async () => {
    fx = await startFixture();
    fx.declared.set(W, { cluster: 'prod', fqdn: 'esx01.lab' });
    const t1 = await fx.tokens.issue(U); // the renderer saw the SMBIOS form
    expect(await exchange(fx.port, `${U} token=${t1}\n`)).toBe('OK job-1\n');
    expect(fx.queue.calls[0]!.hostUuid).toBe(W);

    await fx.store.hosts.upsertSighting({ uuid: U2, at: 1 });
    await fx.store.hosts.setState(U2, 'registered', 'lab');
    const t2 = await fx.tokens.issue(U2);
    expect(await exchange(fx.port, `esx02:${U2} token=${t2}\n`)).toBe('OK job-2\n');
    expect(await fx.store.hosts.get(U2)).toMatchObject({ state: 'configuring', cluster: 'lab', hostname: 'esx02' });
  });

  it('answers ERR enqueue-failed when the engine cannot queue the job', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    fx.queue.fail = true;
    expect(await exchange(fx.port, `${U} token=${await fx.tokens.issue(U)}\n`)).toBe('ERR enqueue-failed\n');
    expect((await fx.store.phoneHomes.list())[0]).toMatchObject({ result: 'refused', reason: 'enqueue-failed' });
  });

  it('a failed enqueue leaves the token unused: the retry with the same token is accepted, a third use is a replay', async () => {
    fx = await startFixture();
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    const token = await fx.tokens.issue(U);
    fx.queue.fail = true; // the engine fails once (e.g. the store was busy)
    expect(await exchange(fx.port, `esx01:${U} token=${token}\n`)).toBe('ERR enqueue-failed\n');
    fx.queue.fail = false;
    expect(await exchange(fx.port, `esx01:${U} token=${token}\n`)).toBe('OK job-1\n');
    expect(await exchange(fx.port, `esx01:${U} token=${token}\n`)).toBe('ERR token-replayed\n');
    expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
    expect((await fx.store.phoneHomes.list()).map((p) => p.reason ?? p.result).sort()).toEqual([
      'enqueue-failed',
      'ok',
      'token-replayed',
    ]);
  });

  it('a failed enqueue leaves the token unused with the production wiring (one SQLite transaction per phone-home)', async () => {
    const { configSchema } = await import('../../src/config/schema.js');
    const { createPhoneHome } = await import('../../src/phonehome/index.js');
    const { openStore } = await import('../../src/store/index.js');
    const { BootTokens } = await import('../../src/hosts/tokens.js');
    const { RecordingQueue } = await import('../helpers/initiator-fixture.js');
    const config = configSchema.parse({ 'listen-address': '127.0.0.1', initiator: { port: 0, 'require-token': true } });
    const store = await openStore(':memory:');
    let failures = 1;
    const inner = new RecordingQueue();
    const queue = {
      enqueueConfigureHost: async (uuid: string, origin: { source: string }) => {
        if (failures-- > 0) {
          // A write of its own before it fails: on SQLite it runs at once, inside the registry's transaction.
          void store.settings.set('half-queued-job', uuid);
          throw new Error('SQLITE_BUSY: database is locked');
        }
        return inner.enqueueConfigureHost(uuid, origin);
      },
      enqueueApplyCluster: (c: string) => inner.enqueueApplyCluster(c),
    };
    const init = createPhoneHome(config, {
      store,
      queue,
      declared: (u) => (u === U ? { cluster: 'prod', fqdn: 'esx01.lab' } : undefined),
      log: silentLogger,
    });
    await init.listener.start();
    try {
      const port = init.listener.address().port;
      const token = await new BootTokens(store.tokens, 60_000).issue(U);
      expect(await exchange(port, `esx01:${U} token=${token}\n`)).toBe('ERR enqueue-failed\n');
      expect(await store.settings.get('half-queued-job')).toBeUndefined(); // the failed enqueue's own writes were rolled back
      expect((await store.phoneHomes.list())[0]).toMatchObject({ result: 'refused', reason: 'enqueue-failed' }); // the refusal itself is kept
      expect(await exchange(port, `esx01:${U} token=${token}\n`)).toBe('OK job-1\n');
      expect(await store.hosts.get(U)).toMatchObject({ state: 'configuring' });
    } finally {
      await init.listener.close();
      store.close();
    }
  });

  it('records an unknown host with a token and keeps the token verdict as evidence', async () => {
    fx = await startFixture();
    expect(await exchange(fx.port, `${U} token=${await fx.tokens.issue(U)}\n`)).toBe('UNREGISTERED\n');
    expect((await fx.store.hosts.get(U))!.evidence['token']).toBe('valid');
  });
});

describe('initiator listener: legacy mode (require-token: false)', () => {
  it('checks the source address against the declared management IP and the DHCP lease of a known MAC', async () => {
    fx = await startFixture({ requireToken: false });
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab', managementAddress: '127.0.0.9' });
    expect(await exchange(fx.port, `esx01:${U}`)).toBe('ERR address-mismatch\n');
    expect(await exchange(fx.port, `esx01:${U}`, { localAddress: '127.0.0.9' })).toBe('OK job-1\n');

    // Host 2: no file address; our DHCP leased 127.0.0.5 to the MAC its boot used.
    fx.declared.set(U2, { cluster: 'prod', fqdn: 'esx02.lab' });
    await fx.store.hosts.addBootEvent({
      at: 1,
      hostUuid: U2,
      mac: '00:50:56:00:00:02',
      address: null,
      protocol: 'dhcp',
      file: null,
      image: null,
      firmware: 'bios',
    });
    fx.leases.set('00:50:56:00:00:02', '127.0.0.5');
    // claiming the MAC from another address does not help: only MACs the server saw count
    expect(await exchange(fx.port, `esx02:${U2} mac=00:50:56:00:00:02`, { localAddress: '127.0.0.6' })).toBe(
      'ERR address-mismatch\n',
    );
    expect(await exchange(fx.port, `esx02:${U2}`, { localAddress: '127.0.0.5' })).toBe('OK job-2\n');
  });

  it('accepts (unverified) a known host whose address is unknown, and still checks a token that is sent', async () => {
    fx = await startFixture({ requireToken: false });
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    expect(await exchange(fx.port, U)).toBe('OK job-1\n');
    expect((await fx.store.hosts.get(U))!.evidence['verifiedBy']).toBe('none');
    expect(await exchange(fx.port, `${U} token=bogusbogusbogusbogus12\n`)).toBe('ERR token-unknown\n');
  });
});

describe('initiator listener: bad input and limits', () => {
  it('closes garbage, non-UTF-8, oversized, slow and idle clients with a reason; stores nothing', async () => {
    fx = await startFixture({ readTimeoutMs: 300 });
    const before = await counterValue({ transport: 'tcp', result: 'rejected' });
    expect(await exchange(fx.port, 'GET / HTTP/1.0\r\n\r\n')).toBe('ERR syntax\n');
    expect(await exchange(fx.port, 'hello')).toBe('ERR bad-uuid\n');
    expect(await exchange(fx.port, Buffer.from([0x65, 0x73, 0x78, 0x3a, 0xff, 0xfe, 0x0a]))).toBe('ERR encoding\n');
    expect(await exchange(fx.port, 'x'.repeat(5000), { end: false })).toBe('ERR oversized\n');
    expect(await exchange(fx.port, `esx:${U.slice(0, 10)}`, { end: false })).toBe('ERR slow\n');
    expect(await exchange(fx.port, '', { end: false })).toBe('ERR idle\n');
    expect(await exchange(fx.port, '')).toBe('');
    expect(await fx.store.hosts.list()).toEqual([]);
    expect(await fx.store.phoneHomes.count()).toBe(0);
    expect(fx.listener.stats().rejected).toEqual({
      syntax: 1,
      'bad-uuid': 1,
      encoding: 1,
      oversized: 1,
      slow: 1,
      idle: 1,
      empty: 1,
    });
    expect(await counterValue({ transport: 'tcp', result: 'rejected' })).toBe(before + 7);
    // the server is still answering
    expect(await exchange(fx.port, `${U}\n`)).toBe('UNREGISTERED\n');
  });

  it('accepts a complete legacy message at the read deadline from a client that neither sends a newline nor closes (nc without -q)', async () => {
    fx = await startFixture({ readTimeoutMs: 300, requireToken: false });
    fx.declared.set(U, { cluster: 'prod', fqdn: 'esx01.lab' });
    const t0 = Date.now();
    expect(await exchange(fx.port, `esx01:${U}`, { end: false })).toBe('OK job-1\n'); // 1.1, known host
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250); // answered at the deadline, not before
    expect(await exchange(fx.port, U2, { end: false })).toBe('UNREGISTERED\n'); // 1.0, unknown host
    expect(fx.queue.calls.map((c) => c.hostUuid)).toEqual([U]);
    expect(await fx.store.hosts.get(U)).toMatchObject({ state: 'configuring', hostname: 'esx01' });
    expect(await fx.store.hosts.get(U2)).toMatchObject({ state: 'unregistered' });
    expect((await fx.store.phoneHomes.list()).map((p) => p.result).sort()).toEqual(['ok', 'unregistered']);
    expect(fx.listener.stats().rejected).toEqual({});
  });

  it('still refuses at the deadline anything but a complete legacy message: partial UUID, extension keys, trailing space, garbage', async () => {
    fx = await startFixture({ readTimeoutMs: 300 });
    for (const partial of [
      `esx01:${U.slice(0, 30)}`, // UUID not complete yet
      `esx01:${U} token=${await fx.tokens.issue(U)}`, // extension form: only with a newline or a close
      `esx01:${U} `, // more may follow
      `${U}${U}`, // not a UUID
      `a:b:${U}`, // syntax
    ])
      expect(await exchange(fx.port, partial, { end: false }), partial).toBe('ERR slow\n');
    expect(await fx.store.hosts.list()).toEqual([]);
    expect(await fx.store.phoneHomes.count()).toBe(0);
    expect(fx.listener.stats().rejected).toEqual({ slow: 5 });
  });

  it('closes a client that drips its message byte by byte past the read deadline', async () => {
    fx = await startFixture({ readTimeoutMs: 300 });
    const s = connect({ host: '127.0.0.1', port: fx.port });
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    const closed = new Promise((r) => s.on('close', r));
    let i = 0;
    const drip = setInterval(() => {
      if (!s.destroyed && i < 100) s.write(`${U}${'x'.repeat(64)}`[i++]!);
    }, 50); // 100 bytes over 5 s: never idle for 300 ms, never complete; an idle timeout would wait 5 s
    try {
      await Promise.race([
        closed,
        new Promise((_, rej) => setTimeout(() => rej(new Error('not closed within 2 s')), 2000)),
      ]);
    } finally {
      clearInterval(drip);
      s.destroy();
    }
    expect(Buffer.concat(chunks).toString()).toBe('ERR slow\n');
    expect(await fx.store.phoneHomes.count()).toBe(0);
  });

  it('answers ERR busy beyond the per-source bound while other sources still get through', async () => {
    fx = await startFixture({ perSource: 2, readTimeoutMs: 2000 });
    const idle = [0, 1].map(() => connect({ host: '127.0.0.1', port: fx!.port, localAddress: '127.0.0.3' }));
    await Promise.all(idle.map((s) => new Promise((r) => s.once('connect', r))));
    await waitFor('two accepted connections', () => fx!.listener.stats().connections === 2);
    expect(await exchange(fx.port, `${U}\n`, { localAddress: '127.0.0.3' })).toBe('ERR busy\n');
    expect(await exchange(fx.port, `${U}\n`, { localAddress: '127.0.0.4' })).toBe('UNREGISTERED\n');
    expect(fx.listener.stats().rejected['too-many-from-source']).toBe(1);
    for (const s of idle) s.destroy();
  });

  it('turns a taken port into a BindError naming the port and --initiator-port', async () => {
    fx = await startFixture();
    const second = createPhoneHomeListener({
      host: '127.0.0.1',
      port: fx.port,
      handler: fx.registry,
      log: silentLogger,
    });
    const err = await second.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BindError);
    expect((err as BindError).message).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${fx.port}: the port is already in use.*--initiator-port`),
    );
  });
});

describe('createPhoneHome (config wiring) with the real DHCP lease table', () => {
  it('builds a listener from config.initiator and checks legacy phone-homes against bound leases in dhcp_leases', async () => {
    const { configSchema } = await import('../../src/config/schema.js');
    const { createPhoneHome } = await import('../../src/phonehome/index.js');
    const { openStore } = await import('../../src/store/index.js');
    const { RecordingQueue } = await import('../helpers/initiator-fixture.js');
    const config = configSchema.parse({
      'listen-address': '127.0.0.1',
      initiator: { port: 0, 'require-token': false, 'read-timeout-ms': 500 },
    });
    const store = await openStore(':memory:');
    const queue = new RecordingQueue();
    const init = createPhoneHome(config, {
      store,
      queue,
      declared: (u) => (u === U ? { cluster: 'prod', fqdn: 'esx01.lab' } : undefined),
      log: silentLogger,
    });
    await init.listener.start();
    try {
      const port = init.listener.address().port;
      const now = Date.now();
      await store.hosts.addBootEvent({
        at: now,
        hostUuid: U,
        mac: '00:50:56:00:00:07',
        address: null,
        protocol: 'dhcp',
        file: null,
        image: null,
        firmware: 'bios',
      });
      await store.leases.upsert({
        address: '127.0.0.8',
        mac: '00:50:56:00:00:07',
        clientId: null,
        hostname: null,
        state: 'released',
        expiresAt: now + 60_000,
        updatedAt: now - 1,
      });
      await store.leases.upsert({
        address: '127.0.0.7',
        mac: '00:50:56:00:00:07',
        clientId: null,
        hostname: null,
        state: 'bound',
        expiresAt: now + 60_000,
        updatedAt: now,
      });
      expect(await exchange(port, `esx01:${U}\n`, { localAddress: '127.0.0.8' })).toBe('ERR address-mismatch\n');
      expect(await exchange(port, `esx01:${U}\n`, { localAddress: '127.0.0.7' })).toBe('OK job-1\n');
      expect((await store.hosts.get(U))!.evidence['verifiedBy']).toBe('address');
    } finally {
      await init.listener.close();
      store.close();
    }
  });
});
