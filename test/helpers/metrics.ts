/** Reading the process's Prometheus metrics (src/metrics.ts registry) in tests. */
import { metricsRegistry } from '../../src/metrics.js';

/**
 * Sum of a counter's (or gauge's) values whose labels include `labels`; 0 when the metric does
 * not exist yet (nothing has been counted).
 */
export async function counterValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metricsRegistry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}
