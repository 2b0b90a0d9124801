import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore } from '../../src/store/index.js';

describe('store: engine jobs', () => {
  it('persists a job, its steps with args, faults and log lines across a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-engine-store-'));
    const s = await openStore(dir);
    const j = await s.jobs.create({
      id: 'j1',
      kind: 'configure-host',
      target: 'uuid-1',
      cluster: 'prod',
      vcenter: 'vc1',
      requestedBy: 'cli',
      at: 1,
    });
    expect(j).toMatchObject({ state: 'queued', attempts: 0, cluster: 'prod' });
    expect((await s.jobs.active('uuid-1'))?.id).toBe('j1');
    await s.jobs.markRunning('j1', 5);
    const seqs = await s.jobs.appendSteps('j1', [
      {
        name: 'AddHost_Task',
        target: 'host:esx1',
        hostUuid: 'uuid-1',
        args: { hostName: 'esx1' },
        before: null,
        after: { cluster: 'prod' },
      },
      {
        name: 'AddPortGroup',
        target: 'host:esx1 portgroup:pg',
        hostUuid: 'uuid-1',
        args: { portgrp: { name: 'pg', vlanId: 5 } },
        before: null,
        after: { vlanId: 5 },
      },
    ]);
    expect(seqs).toEqual([1, 2]);
    await s.jobs.stepStarted('j1', 1, 6);
    await s.jobs.stepDone('j1', 1, 7, { host: 'host-1' });
    await s.jobs.stepStarted('j1', 2, 8);
    await s.jobs.log('j1', 9, 'info', 'hello');
    s.close();

    const s2 = await openStore(dir);
    expect((await s2.jobs.unfinished()).map((x) => x.id)).toEqual(['j1']);
    expect(await s2.jobs.skipUnfinished('j1', 'interrupted', 10)).toBe(1);
    expect(
      await s2.jobs.appendSteps('j1', [{ name: 'AddPortGroup', target: 't', args: {}, before: null, after: null }]),
    ).toEqual([3]);
    await s2.jobs.stepStarted('j1', 3, 11);
    await s2.jobs.stepFault('j1', 3, 12, 'NotFound: x', true);
    const steps = await s2.jobs.steps('j1');
    expect(steps.map((x) => [x.seq, x.state, x.attempts])).toEqual([
      [1, 'done', 1],
      [2, 'skipped', 1],
      [3, 'failed', 1],
    ]);
    expect(steps[0]).toMatchObject({
      args: { hostName: 'esx1' },
      result: { host: 'host-1' },
      hostUuid: 'uuid-1',
      startedAt: 6,
      finishedAt: 7,
    });
    expect(steps[1]!.result).toEqual({ skipped: 'interrupted' });
    expect(steps[2]!.fault).toBe('NotFound: x');
    await s2.jobs.finish('j1', 'failed', 13, 'reason');
    expect(await s2.jobs.get('j1')).toMatchObject({
      state: 'failed',
      error: 'reason',
      startedAt: 5,
      finishedAt: 13,
      attempts: 1,
    });
    expect(await s2.jobs.active('uuid-1')).toBeUndefined();
    expect((await s2.jobs.logs('j1')).map((l) => l.msg)).toEqual(['hello']);
    s2.close();
  });

  it('trust-on-first-use: the first recorded thumbprint wins', async () => {
    const s = await openStore(':memory:');
    expect(await s.jobs.thumbprint('esx1')).toBeUndefined();
    expect(await s.jobs.trustThumbprint('esx1', 'AA:BB', 1)).toBe('AA:BB');
    expect(await s.jobs.trustThumbprint('esx1', 'CC:DD', 2)).toBe('AA:BB');
    s.close();
  });
});
