/**
 * Metric names on `/metrics`: every one carries the `statelesx_` prefix exactly once, Node's
 * default metrics included (`statelesx_process_*`, `statelesx_nodejs_*`), never the doubled
 * `statelesx_process_process_*` that prefixing prom-client's own `process_` names produced.
 */
import { describe, it, expect } from 'vitest';
import { metricsRegistry } from '../../src/metrics.js';

describe('metric names', () => {
  it('Node default metrics are statelesx_process_* / statelesx_nodejs_*, never a doubled prefix', async () => {
    const text = await metricsRegistry.metrics();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(names).toContain('statelesx_process_cpu_user_seconds_total');
    expect(names).toContain('statelesx_process_resident_memory_bytes');
    expect(names).toContain('statelesx_nodejs_eventloop_lag_seconds');
    expect(names).toContain('statelesx_nodejs_heap_size_total_bytes');
    for (const n of names) {
      expect(n, n).toMatch(/^statelesx_/);
      expect(n, n).not.toMatch(/^statelesx_(process_)?(process|nodejs)_(process|nodejs)_/);
      expect(n, n).not.toMatch(/^statelesx_statelesx_/);
    }
  });
});
