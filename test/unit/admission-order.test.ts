/**
 * Admission of queued engine jobs (src/engine/admission.ts): the order (priority, member order,
 * clusters taking turns, whole-cluster jobs first), the priority rule with its settle window, the
 * per-cluster and per-vCenter limits, the rate, one job per host, and the positions and reasons
 * the jobs API shows.
 */
import { describe, it, expect } from 'vitest';
import {
  admit,
  admissionOrder,
  type AdmissionJob,
  type AdmissionLimits,
  type AdmissionState,
  type ClusterActivity,
} from '../../src/engine/admission.js';

const NOW = 1_000_000;
let seq = 0;

/** A configure-host job of member `index` of `cluster`, queued `ago` ms before NOW. */
function join(cluster: string, priority: number, index: number, ago = 60_000): AdmissionJob {
  return {
    id: `${cluster}-${index}`,
    kind: 'configure-host',
    cluster,
    priority,
    memberIndex: index,
    seq: seq++,
    queuedAt: NOW - ago,
    hosts: [`${cluster}-h${index}`],
  };
}

/** An apply-cluster job over `members` hosts of `cluster`. */
function apply(cluster: string, priority: number, members: number): AdmissionJob {
  return {
    id: `${cluster}-apply`,
    kind: 'apply-cluster',
    cluster,
    priority,
    memberIndex: -1,
    seq: seq++,
    queuedAt: NOW - 60_000,
    hosts: Array.from({ length: members }, (_, i) => `${cluster}-h${i}`),
  };
}

const limits = (over: Partial<AdmissionLimits> = {}): AdmissionLimits => ({
  vcenter: 8,
  rate: 0,
  settleMs: 10_000,
  ...over,
});

/** The activity admission reads for `queue` (joins per cluster; `extra` adds or overrides clusters). */
function state(
  queue: AdmissionJob[],
  over: Partial<AdmissionState> = {},
  extra: ClusterActivity[] = [],
): AdmissionState {
  const joins = new Map<string, ClusterActivity>();
  for (const j of queue)
    if (j.kind === 'configure-host') {
      const c = joins.get(j.cluster) ?? { cluster: j.cluster, priority: j.priority, joins: 0 };
      c.joins++;
      joins.set(j.cluster, c);
    }
  for (const c of extra) joins.set(c.cluster, c);
  return {
    now: NOW,
    vcenter: 'vc1',
    running: 0,
    runningByCluster: new Map(),
    busyHosts: new Map(),
    clusters: [...joins.values()],
    ...over,
  };
}

const started = (queue: AdmissionJob[], l: AdmissionLimits, st: AdmissionState): string[] =>
  admit(queue, l, st)
    .decisions.filter((d) => d.start)
    .map((d) => d.id);

describe('admission order: priority → member order (clusters take turns) → cluster name → arrival', () => {
  it('sorts by priority first, whole-cluster jobs before joins, then member index across clusters, not arrival', () => {
    const q = [
      join('compute-b', 50, 1),
      join('compute-a', 50, 1),
      join('compute-a', 50, 0),
      join('storage', 20, 2),
      join('mgmt', 10, 3),
      join('compute-b', 50, 0),
      apply('compute-b', 50, 2),
      join('mgmt', 10, 0),
    ];
    expect(admissionOrder(q).map((j) => j.id)).toEqual([
      'mgmt-0',
      'mgmt-3',
      'storage-2',
      'compute-b-apply',
      'compute-a-0',
      'compute-b-0',
      'compute-a-1',
      'compute-b-1',
    ]);
  });

  it('equal keys keep arrival order', () => {
    const a = join('c', 50, 0);
    const b = { ...join('c', 50, 0), id: 'later' };
    expect(admissionOrder([b, a]).map((j) => j.id)).toEqual(['c-0', 'later']);
  });

  it('positions are 1-based in that order, whatever the arrival order', () => {
    const q = [join('c', 50, 5), join('c', 50, 1), join('c', 50, 3)];
    const r = admit(q, limits({ vcenter: 1 }), state(q, { running: 1 }));
    expect(r.decisions.map((d) => [d.id, !d.start && d.queuePosition])).toEqual([
      ['c-1', 1],
      ['c-3', 2],
      ['c-5', 3],
    ]);
    for (const d of r.decisions) expect(!d.start && d.waitReason).toBe('vcenter-limit');
  });
});

describe('admission: a lower priority waits while a higher one is coming up', () => {
  it('no join of priority 50 starts while priority 10 has joins queued or running (any vCenter)', () => {
    const q = [join('compute', 50, 0), join('compute', 50, 1)];
    const mgmt: ClusterActivity = { cluster: 'mgmt', priority: 10, joins: 3 };
    const r = admit(q, limits(), state(q, {}, [mgmt]));
    expect(r.decisions.every((d) => !d.start && d.waitReason === 'priority')).toBe(true);
    const d = r.decisions[0]!;
    expect(!d.start && d.waitDetail).toMatch(/cluster mgmt \(priority 10\) has 3 join\(s\) queued or running/);
    expect(r.wakeAt).toBeUndefined(); // only the end of mgmt's joins releases them
    // mgmt done, nothing recent: both start
    expect(started(q, limits(), state(q, {}, [{ ...mgmt, joins: 0 }]))).toEqual(['compute-0', 'compute-1']);
  });

  it('the highest priority and whole-cluster jobs are not held back', () => {
    const q = [join('mgmt', 10, 0), apply('compute', 50, 2)];
    expect(started(q, limits(), state(q))).toEqual(['mgmt-0', 'compute-apply']);
  });

  it('a higher-priority cluster counts as arriving for settle-s after its last phone-home', () => {
    const q = [join('compute', 50, 0)];
    const mgmt: ClusterActivity = { cluster: 'mgmt', priority: 10, joins: 0, lastQueuedAt: NOW - 4_000 };
    const r = admit(q, limits(), state(q, {}, [mgmt]));
    const d = r.decisions[0]!;
    expect(!d.start && d.waitReason).toBe('priority');
    expect(!d.start && d.waitDetail).toMatch(/phoned home 4 s ago.*engine\.priority-settle-s/);
    expect(r.wakeAt).toBe(NOW + 6_000);
    expect(started(q, limits(), state(q, { now: NOW + 6_000 }, [mgmt]))).toEqual(['compute-0']);
    expect(started(q, limits({ settleMs: 0 }), state(q, {}, [mgmt]))).toEqual(['compute-0']);
  });

  it('a join waits settle-s after its own phone-home when a file declares a higher priority', () => {
    const q = [join('compute', 50, 0, 2_000)];
    const r = admit(q, limits(), state(q, { topDeclared: 10 }));
    expect(r.decisions[0]!.start).toBe(false);
    expect(r.wakeAt).toBe(NOW + 8_000);
    expect(started(q, limits(), state(q, { topDeclared: 50 }))).toEqual(['compute-0']); // it is the top
    expect(started(q, limits(), state(q, { topDeclared: 10, now: NOW + 8_000 }))).toEqual(['compute-0']);
  });

  it('three levels: 20 waits for 10, 50 for both', () => {
    const q = [join('a', 10, 0), join('b', 20, 0), join('c', 50, 0)];
    const r = admit(q, limits(), state(q));
    expect(r.decisions.map((d) => (d.start ? 'start' : d.waitReason))).toEqual(['start', 'priority', 'priority']);
    const d = r.decisions[2]!;
    expect(!d.start && d.waitDetail).toMatch(/cluster a \(priority 10\)/);
  });
});

describe('admission: limits', () => {
  it('never more than the vCenter limit, counting running jobs', () => {
    const q = Array.from({ length: 10 }, (_, i) => join('c', 50, i));
    expect(started(q, limits(), state(q, { running: 5 }))).toEqual(['c-0', 'c-1', 'c-2']);
    expect(started(q, limits(), state(q, { running: 8 }))).toEqual([]);
  });

  it('per-cluster limit: each cluster at most N, the others fill the vCenter', () => {
    const q = [
      ...Array.from({ length: 5 }, (_, i) => join('a', 50, i)),
      ...Array.from({ length: 5 }, (_, i) => join('b', 50, i)),
    ];
    const st = state(q, { running: 1, runningByCluster: new Map([['a', 1]]) });
    const r = admit(q, limits({ cluster: 2, vcenter: 8 }), st);
    expect(r.decisions.filter((d) => d.start).map((d) => d.id)).toEqual(['a-0', 'b-0', 'b-1']);
    const a1 = r.decisions.find((d) => d.id === 'a-1')!;
    expect(!a1.start && a1.waitReason).toBe('cluster-limit');
    expect(!a1.start && a1.waitDetail).toBe('cluster a runs 2 job(s) (engine.concurrency-per-cluster 2)');
  });

  it('rate: one start per 1/rate s; the wait ends at the next allowed start', () => {
    const q = [join('c', 50, 0), join('c', 50, 1), join('c', 50, 2)];
    const r = admit(q, limits({ rate: 2 }), state(q));
    expect(r.decisions.map((d) => (d.start ? 'start' : d.waitReason))).toEqual(['start', 'rate', 'rate']);
    expect(r.wakeAt).toBe(NOW + 500);
    expect(started(q, limits({ rate: 2 }), state(q, { lastStartAt: NOW - 100 }))).toEqual([]);
    expect(admit(q, limits({ rate: 2 }), state(q, { lastStartAt: NOW - 100 })).wakeAt).toBe(NOW + 400);
  });

  it('one job per host: a running job holds its host; a waiting apply holds its members against later joins', () => {
    const q = [join('c', 50, 0), join('c', 50, 1)];
    const r = admit(q, limits(), state(q, { busyHosts: new Map([['c-h0', 'job-x']]) }));
    const d = r.decisions[0]!;
    expect(!d.start && d.waitReason).toBe('host');
    expect(!d.start && d.waitDetail).toMatch(/job job-x, which is changing host c-h0/);
    expect(r.decisions[1]!.start).toBe(true);

    // Hosts are granted in arrival order: an apply queued first holds its members against a later join …
    const applyFirst = [apply('c', 50, 2), join('c', 50, 1)];
    const r2 = admit(applyFirst, limits(), state(applyFirst, { busyHosts: new Map([['c-h0', 'job-y']]) }));
    expect(r2.decisions.map((x) => (x.start ? 'start' : x.waitReason))).toEqual(['host', 'host']);
    const later = r2.decisions[1]!;
    expect(!later.start && later.waitDetail).toMatch(/job c-apply, queued before it, which changes host c-h1 too/);
    // … and does not pass a join queued before it, though it comes first in the order.
    const joinFirst = [join('c', 50, 1), apply('c', 50, 2)];
    const r3 = admit(joinFirst, limits(), state(joinFirst));
    expect(r3.decisions.map((x) => [x.id, x.start ? 'start' : x.waitReason])).toEqual([
      ['c-apply', 'host'],
      ['c-1', 'start'],
    ]);
  });
});
