/**
 * Smoke test of the staged bring-up benchmark (src/bench/staged.ts) at a tiny size on the vCenter
 * simulator: it runs to the end and its checks hold (no failure, limits, priority order); and its
 * bound arithmetic, checked by hand.
 */
import { describe, it, expect } from 'vitest';
import { benchStagedRun, maxOverlap, stagedBound, stagedTables, QUICK } from '../../src/bench/staged.js';

describe('bench staged', () => {
  it('bound: Σ over priority levels ceil(members / min(vCenter limit, clusters × cluster limit)) × one join', () => {
    // QUICK: mgmt (10) alone at 2, then two clusters (50) at min(4, 2 × 2) = 4 → ceil(10/2) + ceil(20/4) = 10 joins
    expect(stagedBound(QUICK, 1000)).toBe(10_000);
    expect(
      stagedBound({ ...QUICK, vcenterLimit: 16, clusterLimit: 8, membersPerCluster: 50, clusters: [{ name: 'a' }] }, 2),
    ).toBe(14);
    expect(
      maxOverlap([
        [0, 10],
        [10, 20],
        [5, 15],
      ]),
    ).toBe(2);
  });

  it('a tiny power event runs and its checks hold', async () => {
    const r = await benchStagedRun({
      clusters: [{ name: 'mgmt', priority: 10 }, { name: 'compute-1' }],
      membersPerCluster: 3,
      spreadMs: 1000,
      vcenterLimit: 2,
      clusterLimit: 2,
      rate: 0,
      settleS: 1,
      addHostMs: 300,
      seed: 1,
    });
    expect(r.members).toBe(6);
    expect(r.failed).toBe(0);
    expect(r.maxJobs).toBeLessThanOrEqual(2);
    expect(r.maxAddHost).toBeLessThanOrEqual(2);
    expect(r.orderHeld).toBe(true);
    expect(r.levels.map((l) => [l.priority, l.members])).toEqual([
      [10, 3],
      [50, 3],
    ]);
    expect(stagedTables(r)[0]!.rows[0]![0]).toBe(6);
  }, 240_000);
});
