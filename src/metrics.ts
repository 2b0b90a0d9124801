/**
 * Prometheus metrics (prom-client). One registry for the process, served at `/metrics`.
 * Subsystems create their metrics through these helpers, which return the already-registered
 * metric when called again with the same name (tests create several servers in one process).
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
/**
 * Node's default metrics with the application prefix only: prom-client's names already start with
 * `process_` or `nodejs_` (`statelesx_process_cpu_user_seconds_total`,
 * `statelesx_nodejs_eventloop_lag_seconds`). The prefix was `statelesx_process_`, which doubled it
 * (`statelesx_process_process_cpu_user_seconds_total`, `statelesx_process_nodejs_heap_size_total_bytes`).
 */
export const DEFAULT_METRICS_PREFIX = 'statelesx_';
collectDefaultMetrics({ register: metricsRegistry, prefix: DEFAULT_METRICS_PREFIX });

/** A counter `statelesx_<name>` with the given label names. */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const full = `statelesx_${name}`;
  return (
    (metricsRegistry.getSingleMetric(full) as Counter<L> | undefined) ??
    new Counter<L>({ name: full, help, labelNames, registers: [metricsRegistry] })
  );
}

/**
 * A gauge `statelesx_<name>`.
 * @param collect optional callback prom-client runs on every scrape before reading the values
 *   (`this` is the gauge: reset and set it from the owner's live state, so the value is exact at
 *   scrape time). Only the first registration's callback is kept (one gauge per process).
 */
export function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: Gauge<L>) => void | Promise<void>,
): Gauge<L> {
  const full = `statelesx_${name}`;
  return (
    (metricsRegistry.getSingleMetric(full) as Gauge<L> | undefined) ??
    new Gauge<L>({ name: full, help, labelNames, registers: [metricsRegistry], ...(collect ? { collect } : {}) })
  );
}

/** A histogram `statelesx_<name>` (seconds buckets by default). */
export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets?: number[],
): Histogram<L> {
  const full = `statelesx_${name}`;
  return (
    (metricsRegistry.getSingleMetric(full) as Histogram<L> | undefined) ??
    new Histogram<L>({ name: full, help, labelNames, registers: [metricsRegistry], ...(buckets ? { buckets } : {}) })
  );
}
