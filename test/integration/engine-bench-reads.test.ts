/**
 * The engine benchmark's duplicate-read counter (src/bench/engine.ts ReadTracker): what counts as
 * the same read, and a small run on the simulator (4 hosts, no added latency — not the benchmark)
 * where every host's job makes no read twice.
 */
import { describe, it, expect } from 'vitest';
import { benchEngineRun, LATENCY_MODELS, ReadTracker } from '../../src/bench/engine.js';

describe('engine bench: duplicate reads', () => {
  it('counts a read repeated within one job with no change in between; a change, another job or a task poll resets or does not count', () => {
    const t = new ReadTracker();
    const pc = { type: 'PropertyCollector', value: 'propertyCollector' };
    const host = {
      specSet: [
        {
          propSet: [{ type: 'HostSystem', pathSet: ['name'] }],
          objectSet: [{ obj: { type: 'HostSystem', value: 'host-1' } }],
        },
      ],
    };
    t.note('j1', 'RetrievePropertiesEx', pc, host);
    t.note('j2', 'RetrievePropertiesEx', pc, host); // another host's job
    t.note('j1', 'RetrievePropertiesEx', pc, {
      specSet: [{ ...host.specSet[0], propSet: [{ type: 'HostSystem', pathSet: ['name', 'vm'] }] }],
    }); // other properties
    expect(t.duplicates).toBe(0);
    t.note('j1', 'RetrievePropertiesEx', pc, host);
    expect(t.duplicates).toBe(1);
    t.note('j1', 'AddPortGroup', { type: 'HostNetworkSystem', value: 'ns-1' }, {});
    t.note('j1', 'RetrievePropertiesEx', pc, host); // read back after a change: not a duplicate
    t.note('j1', 'Login', { type: 'SessionManager', value: 'sm' }, {});
    t.note('j1', 'FindByUuid', { type: 'SearchIndex', value: 'si' }, { uuid: 'u' });
    t.note('j1', 'FindByUuid', { type: 'SearchIndex', value: 'si' }, { uuid: 'u' });
    const task = {
      specSet: [
        { propSet: [{ type: 'Task', pathSet: ['info'] }], objectSet: [{ obj: { type: 'Task', value: 'task-1' } }] },
      ],
    };
    t.note('j1', 'RetrievePropertiesEx', pc, task);
    t.note('j1', 'RetrievePropertiesEx', pc, task);
    t.note(undefined, 'RetrievePropertiesEx', pc, host);
    expect(t.duplicates).toBe(2);
    expect(t.byMethod).toEqual({ RetrievePropertiesEx: 1, FindByUuid: 1 });
  });

  it("4 hosts joined and configured at concurrency 2 on the simulator: no read made twice within a host's job", async () => {
    const r = await benchEngineRun(4, 2, LATENCY_MODELS['none']);
    expect(r.succeeded).toBe(4);
    expect(r.readsPerHost).toBeGreaterThan(0);
    expect(r.duplicateReadsByMethod).toEqual({});
    expect(r.duplicateReads).toBe(0);
  }, 120_000);
});
