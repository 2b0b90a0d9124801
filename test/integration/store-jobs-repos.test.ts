/**
 * JobRepo (tables `jobs`, `job_steps`, `job_log`, `host_thumbprints`, `engine_maintenance`) and
 * PoolAllocationRepo (`pool_allocations`) on both stores: SQLite and a real PostgreSQL
 * (test/helpers/stores.ts). Includes the read-modify-write units under concurrent callers: one
 * active job per target (createUnlessActive) and one address per member (allocate).
 */
import { describe, expect, it } from 'vitest';
import { JobRepo, type NewJob } from '../../src/store/jobs.js';
import { PoolAllocationRepo, type PoolAllocationRequest } from '../../src/store/pools.js';
import type { Sql } from '../../src/store/sql.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const fresh = useStores();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `first` inside a transaction that stays open until `second` has been started and given
 * time to run; resolves to both results. `second` must wait for (or see) what `first` wrote.
 */
async function overlapping<A, B>(sql: Sql, first: () => Promise<A>, second: () => Promise<B>): Promise<[A, B]> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let firstDone!: () => void;
  const wrote = new Promise<void>((r) => (firstDone = r));
  const a = sql.tx(async () => {
    const out = await first();
    firstDone();
    await gate;
    return out;
  });
  await wrote;
  const b = second();
  await sleep(100); // the second caller runs into the open transaction
  release();
  return Promise.all([a, b]);
}

const job = (id: string, target: string, at: number, kind: NewJob['kind'] = 'configure-host'): NewJob => ({
  id,
  kind,
  target,
  cluster: 'prod',
  vcenter: 'vc1',
  requestedBy: 'test',
  at,
});

const pool = (hostUuid: string, extra: Partial<PoolAllocationRequest> = {}): PoolAllocationRequest => ({
  cluster: 'c1',
  pool: 'vmotion',
  portgroup: 'vMotion',
  hostUuid,
  start: '10.20.0.10',
  end: '10.20.0.13',
  at: 1,
  ...extra,
});

describe.each(STORE_DIALECTS)('JobRepo on %s', (dialect) => {
  it('records a job, its steps (args, results, faults, skips) and log lines; lists and filters', async () => {
    const jobs = new JobRepo(await fresh(dialect));
    expect(await jobs.create(job('j1', 'uuid-1', 10))).toMatchObject({
      id: 'j1',
      state: 'queued',
      attempts: 0,
      cluster: 'prod',
      createdAt: 10,
      startedAt: null,
    });
    await jobs.create(job('j2', 'prod', 20, 'apply-cluster'));
    expect((await jobs.active('uuid-1'))?.id).toBe('j1');
    expect(await jobs.active('prod', ['drift'])).toBeUndefined();
    expect(await jobs.markRunning('j1', 15)).toMatchObject({ state: 'running', startedAt: 15, attempts: 1 });
    expect(await jobs.markRunning('j1', 16)).toMatchObject({ startedAt: 15, attempts: 2 });
    expect(await jobs.markRunning('nope', 16)).toBeUndefined();

    expect(
      await jobs.appendSteps('j1', [
        {
          name: 'AddHost_Task',
          target: 'host:esx1',
          hostUuid: 'uuid-1',
          args: { hostName: 'esx1' },
          before: null,
          after: { cluster: 'prod' },
        },
        { name: 'AddPortGroup', target: 'pg', args: { vlanId: 5 }, before: null, after: { vlanId: 5 } },
      ]),
    ).toEqual([1, 2]);
    await jobs.stepStarted('j1', 1, 21);
    await jobs.stepDone('j1', 1, 22, { host: 'host-1' });
    await jobs.stepStarted('j1', 2, 23);
    await jobs.stepFault('j1', 2, 24, 'TaskInProgress: busy', false);
    expect(await jobs.step('j1', 2)).toMatchObject({
      state: 'running',
      fault: 'TaskInProgress: busy',
      finishedAt: null,
    });
    expect(await jobs.skipUnfinished('j1', 'interrupted', 25)).toBe(1);
    expect(
      await jobs.appendSteps('j1', [{ name: 'AddPortGroup', target: 'pg', args: {}, before: null, after: null }]),
    ).toEqual([3]);
    expect(await jobs.appendSteps('j1', [])).toEqual([]);
    await jobs.stepStarted('j1', 3, 26);
    await jobs.stepFault('j1', 3, 27, 'NotFound: x', true);
    const steps = await jobs.steps('j1');
    expect(steps.map((s) => [s.seq, s.state, s.attempts])).toEqual([
      [1, 'done', 1],
      [2, 'skipped', 1],
      [3, 'failed', 1],
    ]);
    expect(steps[0]).toMatchObject({
      jobId: 'j1',
      args: { hostName: 'esx1' },
      after: { cluster: 'prod' },
      result: { host: 'host-1' },
      hostUuid: 'uuid-1',
      startedAt: 21,
      finishedAt: 22,
    });
    expect(steps[1]!.result).toEqual({ skipped: 'interrupted' });
    expect(steps[2]).toMatchObject({ fault: 'NotFound: x', finishedAt: 27, hostUuid: null });

    const a = await jobs.log('j1', 30, 'info', 'hello');
    const b = await jobs.log('j1', 31, 'warn', 'it\'s "quoted" ?');
    expect(a).toEqual({ id: a.id, jobId: 'j1', at: 30, level: 'info', msg: 'hello' });
    expect(b.id).toBeGreaterThan(a.id);
    expect(await jobs.logs('j1')).toEqual([a, b]);
    expect(await jobs.logs('j1', a.id)).toEqual([b]);

    expect((await jobs.unfinished()).map((j) => j.id)).toEqual(['j1', 'j2']);
    expect(await jobs.finish('j1', 'failed', 40, 'reason')).toMatchObject({
      state: 'failed',
      error: 'reason',
      finishedAt: 40,
    });
    expect(await jobs.get('j1')).toMatchObject({ state: 'failed', startedAt: 15, finishedAt: 40, attempts: 2 });
    expect(await jobs.active('uuid-1')).toBeUndefined();
    expect((await jobs.unfinished()).map((j) => j.id)).toEqual(['j2']);
    await jobs.create(job('j3', 'uuid-1', 30));
    expect((await jobs.list()).map((j) => j.id)).toEqual(['j3', 'j2', 'j1']);
    expect((await jobs.list({ state: 'failed' })).map((j) => j.id)).toEqual(['j1']);
    expect((await jobs.list({ target: 'uuid-1', limit: 1 })).map((j) => j.id)).toEqual(['j3']);
    expect(await jobs.get('nope')).toBeUndefined();
  });

  it('createUnlessActive: returns the active job that covers the request (by kind), else inserts', async () => {
    const jobs = new JobRepo(await fresh(dialect));
    expect(
      await jobs.createUnlessActive(job('d1', 'prod', 1, 'drift'), [{ target: 'prod', kinds: ['apply-cluster'] }]),
    ).toMatchObject({
      existing: false,
      job: { id: 'd1', kind: 'drift' },
    });
    // an active drift job does not stand in for an apply; an apply then stands in for a drift request
    const apply = await jobs.createUnlessActive(job('a1', 'prod', 2, 'apply-cluster'), [
      { target: 'prod', kinds: ['apply-cluster'] },
    ]);
    expect(apply).toMatchObject({ existing: false, job: { id: 'a1' } });
    expect(
      await jobs.createUnlessActive(job('d2', 'prod', 3, 'drift'), [
        { target: 'prod', kinds: ['apply-cluster', 'drift'] },
      ]),
    ).toMatchObject({ existing: true, job: { id: 'd1' } });
    // several conflicts (remove-host: the host itself, or an apply of its cluster)
    expect(
      await jobs.createUnlessActive(job('r1', 'uuid-9', 4, 'remove-host'), [
        { target: 'uuid-9' },
        { target: 'prod', kinds: ['apply-cluster', 'drift'] },
      ]),
    ).toMatchObject({ existing: true, job: { id: 'd1' } });
    expect((await jobs.list()).map((j) => j.id).sort()).toEqual(['a1', 'd1']);
  });

  it('createUnlessActive under concurrent callers: one job per target', async () => {
    const sql = await fresh(dialect);
    const jobs = new JobRepo(sql);
    const other = new JobRepo(fresh.peer(sql)); // a second server on the same database
    // a second server's call while the first one's transaction (its insert) is still open
    const [a, b] = await overlapping(
      sql,
      () => jobs.createUnlessActive(job('x1', 'uuid-x', 1), [{ target: 'uuid-x' }]),
      () => other.createUnlessActive(job('x2', 'uuid-x', 2), [{ target: 'uuid-x' }]),
    );
    expect(a).toMatchObject({ existing: false, job: { id: 'x1' } });
    expect(b).toMatchObject({ existing: true, job: { id: 'x1' } });
    await jobs.finish('x1', 'succeeded', 3);
    const out = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        jobs.createUnlessActive(job(`c${i}`, i % 2 ? 'uuid-a' : 'uuid-b', i), [
          { target: i % 2 ? 'uuid-a' : 'uuid-b' },
        ]),
      ),
    );
    expect(out.filter((o) => !o.existing)).toHaveLength(2);
    expect(new Set(out.map((o) => o.job.id)).size).toBe(2);
    expect((await jobs.list()).filter((j) => j.state === 'queued')).toHaveLength(2);
  });

  it('thumbprints: the first recorded wins, and can be forgotten; maintenance records: the latest job wins', async () => {
    const jobs = new JobRepo(await fresh(dialect));
    expect(await jobs.thumbprint('esx1')).toBeUndefined();
    expect(await jobs.trustThumbprint('esx1', 'AA:BB', 1)).toBe('AA:BB');
    expect(await jobs.trustThumbprint('esx1', 'CC:DD', 2)).toBe('AA:BB');
    expect(await jobs.forgetThumbprint('esx1')).toBe(true);
    expect(await jobs.forgetThumbprint('esx1')).toBe(false);
    expect(await jobs.trustThumbprint('esx1', 'CC:DD', 3)).toBe('CC:DD');

    await jobs.markMaintenance('UUID-1', 'j1', 1);
    await jobs.markMaintenance('uuid-1', 'j2', 2);
    await jobs.markMaintenance('uuid-2', 'j2', 2);
    expect(await jobs.maintenanceHosts()).toEqual(new Set(['uuid-1', 'uuid-2']));
    await jobs.clearMaintenance('UUID-2');
    expect(await jobs.maintenanceHosts()).toEqual(new Set(['uuid-1']));
  });
});

describe.each(STORE_DIALECTS)('job leases (migration 017) on %s', (dialect) => {
  it('claimNext: the oldest unheld queued or running job; a lapsed lease is taken over; heartbeat and release', async () => {
    const jobs = new JobRepo(await fresh(dialect));
    expect(await jobs.claimNext('A', 100, 1000)).toBeUndefined();
    await jobs.create(job('j1', 'u1', 1));
    await jobs.create(job('j2', 'u2', 2));
    await jobs.create({ ...job('j3', 'u3', 3), vcenter: 'vc2' });
    await jobs.create(job('j0', 'u0', 0));
    await jobs.finish('j0', 'succeeded', 5);
    await jobs.markRunning('j2', 6);

    expect(await jobs.claimNext('A', 100, 1000)).toEqual({
      job: expect.objectContaining({ id: 'j1', state: 'queued' }) as unknown,
      leaseOwner: 'A',
      leaseExpiresAt: 1100,
    });
    expect((await jobs.claimNext('B', 100, 1000))?.job).toMatchObject({ id: 'j2', state: 'running' });
    expect((await jobs.claimNext('B', 100, 1000, { vcenter: 'vc1' }))?.job).toBeUndefined();
    expect((await jobs.claimNext('B', 100, 1000, { vcenter: 'vc2' }))?.job.id).toBe('j3');
    expect(await jobs.claimNext('C', 100, 1000)).toBeUndefined();
    expect(await jobs.lease('j1')).toEqual({ owner: 'A', expiresAt: 1100 });

    // A renews j1; B's lease on j2 lapses (its server died): C takes j2 over, B has lost it
    expect(await jobs.heartbeat('j1', 'A', 1050, 1000)).toBe(true);
    expect(await jobs.heartbeat('j1', 'B', 1050, 1000)).toBe(false);
    expect((await jobs.claimNext('C', 1100, 1000))?.job.id).toBe('j2');
    expect(await jobs.heartbeat('j2', 'B', 1101, 1000)).toBe(false);
    expect(await jobs.heartbeat('j2', 'C', 1101, 1000)).toBe(true);
    expect(await jobs.lease('j1')).toEqual({ owner: 'A', expiresAt: 2050 });

    // a held lease past its expiry that nobody claimed is still A's to renew
    expect(await jobs.heartbeat('j1', 'A', 5000, 1000)).toBe(true);
    // an ended job has no lease to renew; a released one is claimable again
    await jobs.finish('j1', 'succeeded', 5001);
    expect(await jobs.heartbeat('j1', 'A', 5002, 1000)).toBe(false);
    expect(await jobs.releaseLease('j3', 'A')).toBe(false);
    expect(await jobs.releaseLease('j3', 'B')).toBe(true);
    expect(await jobs.lease('j3')).toBeUndefined();
    expect((await jobs.claimNext('D', 1200, 1000))?.job.id).toBe('j3');
    expect(await jobs.heartbeat('nope', 'D', 1, 1)).toBe(false);
    await expect(jobs.claimNext('', 1, 1)).rejects.toThrow(RangeError);
    await expect(jobs.claimNext('A', 1, 0)).rejects.toThrow(/not a positive number/);
    await expect(jobs.heartbeat('j3', 'D', 1, Number.NaN)).rejects.toThrow(RangeError);
  });

  it('two claimers at once never get the same job', async () => {
    const sql = await fresh(dialect);
    const jobs = new JobRepo(sql);
    const other = new JobRepo(fresh.peer(sql)); // a second server on the same database
    for (let i = 0; i < 30; i++) await jobs.create(job(`j${String(i).padStart(2, '0')}`, `u${i}`, i));
    // the second claimer runs while the first one's claim is still uncommitted (its row locked)
    let secondAt = 0;
    const [a, b] = await overlapping(
      sql,
      () => jobs.claimNext('A', 100, 60_000),
      async () => {
        const out = await other.claimNext('B', 100, 60_000);
        secondAt = Date.now();
        return out;
      },
    );
    const released = Date.now();
    expect(a?.job.id).toBe('j00');
    expect(b?.job.id).toBe('j01');
    // PostgreSQL passes over the locked row (SKIP LOCKED) instead of waiting for it
    if (dialect === 'postgres') expect(secondAt).toBeLessThan(released - 50);
    // claim loops of both servers over the rest, two each: every job claimed once, by one of them
    const claimed = new Map<string, string>();
    const twice: string[] = [];
    await Promise.all(
      ['C', 'D', 'E', 'F'].map(async (owner, i) => {
        const repo = i % 2 ? other : jobs;
        for (;;) {
          const c = await repo.claimNext(owner, 100, 60_000);
          if (!c) return;
          if (claimed.has(c.job.id)) twice.push(c.job.id);
          claimed.set(c.job.id, owner);
        }
      }),
    );
    expect(twice).toEqual([]);
    expect(claimed.size).toBe(28);
    expect(new Set(claimed.values()).size).toBeGreaterThan(dialect === 'postgres' ? 1 : 0);
    for (const [id, owner] of claimed) expect((await jobs.lease(id))?.owner).toBe(owner);
  });
});

describe.each(STORE_DIALECTS)('PoolAllocationRepo on %s', (dialect) => {
  it('keeps a recorded address, prefers the current one, skips reserved ones, runs out, releases', async () => {
    const pools = new PoolAllocationRepo(await fresh(dialect));
    expect(await pools.allocate(pool('A'))).toBe('10.20.0.10');
    expect(await pools.allocate(pool('a', { prefer: '10.20.0.12' }))).toBe('10.20.0.10'); // recorded wins, any case
    expect(await pools.allocate(pool('b', { prefer: '10.20.0.12' }))).toBe('10.20.0.12');
    expect(await pools.allocate(pool('c', { prefer: '10.20.0.10', reserved: new Set(['10.20.0.11']) }))).toBe(
      '10.20.0.13',
    );
    expect(await pools.allocate(pool('d'))).toBe('10.20.0.11');
    expect(await pools.allocate(pool('e'))).toBeUndefined();
    // a recorded address that left the range (the pool shrank) is given up for one inside it
    expect(await pools.allocate(pool('c', { end: '10.20.0.12' }))).toBeUndefined();
    expect((await pools.list('c1')).map((x) => [x.hostUuid, x.address])).toEqual([
      ['a', '10.20.0.10'],
      ['d', '10.20.0.11'],
      ['b', '10.20.0.12'],
    ]);
    expect(
      await pools.releaseExcept('c1', [
        { pool: 'vmotion', portgroup: 'vMotion', hostUuid: 'A' },
        { pool: 'vmotion', portgroup: 'vMotion', hostUuid: 'b' },
      ]),
    ).toBe(1);
    expect((await pools.list('c1')).map((x) => x.hostUuid)).toEqual(['a', 'b']);
    expect((await pools.list('c1'))[0]).toEqual({
      cluster: 'c1',
      pool: 'vmotion',
      portgroup: 'vMotion',
      hostUuid: 'a',
      address: '10.20.0.10',
      allocatedAt: 1,
    });
    await expect(pools.allocate(pool('z', { start: '10.20.0.300' }))).rejects.toThrow(/not an IPv4 range/);
  });

  it('concurrent allocations never hand out one address twice', async () => {
    const sql = await fresh(dialect);
    const pools = new PoolAllocationRepo(sql);
    const other = new PoolAllocationRepo(fresh.peer(sql)); // a second server on the same database
    // a second member, and the same member again, while the first allocation is still uncommitted
    expect(
      await overlapping(
        sql,
        () => pools.allocate(pool('x')),
        () => other.allocate(pool('y')),
      ),
    ).toEqual(['10.20.0.10', '10.20.0.11']);
    expect(
      await overlapping(
        sql,
        () => pools.allocate(pool('z')),
        () => other.allocate(pool('z')),
      ),
    ).toEqual(['10.20.0.12', '10.20.0.12']);
    await pools.releaseExcept('c1', []);
    const hosts = Array.from({ length: 6 }, (_, i) => `h${i}`);
    const got = await Promise.all(hosts.map((h, i) => (i % 2 ? other : pools).allocate(pool(h))));
    expect(got.filter((x) => x !== undefined).sort()).toEqual(['10.20.0.10', '10.20.0.11', '10.20.0.12', '10.20.0.13']);
    expect(got.filter((x) => x === undefined)).toHaveLength(2);
    // the same member asked twice at once gets one address
    const again = await Promise.all([pools.allocate(pool('h0')), pools.allocate(pool('h0'))]);
    expect(again[0]).toBe(again[1]);
    expect(await pools.list('c1')).toHaveLength(4);
  });
});
