/**
 * The retention service: runs the store's retention (src/store/retention.ts) at start and every
 * `retention.interval-s`, a batch at a time with the event loop free between batches, and logs
 * what it deleted. Issue 16, finding 8: boot events, phone-homes and unregistered hosts grew
 * without bound from unauthenticated traffic.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Service } from '../net/service.js';
import type { RetentionPolicy, RetentionResult } from '../store/index.js';

/** The store's retention port. */
export interface RetentionStore {
  pruneBatch(policy: RetentionPolicy, now: number, batch?: number): Promise<RetentionResult>;
}

/** `retention` config keys → {@link RetentionPolicy}. */
export function retentionPolicy(c: Config['retention']): RetentionPolicy {
  return {
    bootEventsDays: c['boot-events-days'],
    bootEventsMaxRows: c['boot-events-max-rows'],
    phoneHomesDays: c['phone-homes-days'],
    phoneHomesMaxRows: c['phone-homes-max-rows'],
    unregisteredHostsDays: c['unregistered-hosts-days'],
    unregisteredHostsMaxRows: c['unregistered-hosts-max-rows'],
  };
}

/** A running retention schedule. */
export interface RetentionService extends Service {
  /** Runs the retention now, to the end; resolves with the rows deleted. */
  runOnce(): Promise<RetentionResult>;
}

/**
 * @param store `store.retention`
 * @param c the `retention` config section
 * @param now clock in epoch ms (tests)
 */
export function createRetentionService(
  store: RetentionStore,
  c: Config['retention'],
  log: Logger,
  now: () => number = Date.now,
): RetentionService {
  const policy = retentionPolicy(c);
  const rlog = log.child({ subsystem: 'retention' });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RetentionResult> | undefined;
  let closed = false;

  const runOnce = async (): Promise<RetentionResult> => {
    const total: RetentionResult = { bootEvents: 0, phoneHomes: 0, unregisteredHosts: 0 };
    for (;;) {
      const r = await store.pruneBatch(policy, now());
      total.bootEvents += r.bootEvents;
      total.phoneHomes += r.phoneHomes;
      total.unregisteredHosts += r.unregisteredHosts;
      if (closed || r.bootEvents + r.phoneHomes + r.unregisteredHosts === 0) break;
      await new Promise<void>((res) => setImmediate(res)); // let requests in between batches
    }
    if (total.bootEvents + total.phoneHomes + total.unregisteredHosts > 0)
      rlog.info({ deleted: total }, 'retention: old boot events, phone-homes and unregistered hosts deleted');
    return total;
  };
  const tick = () => {
    if (running) return;
    running = runOnce()
      .catch((e: unknown) => {
        rlog.error({ err: e }, 'retention run failed');
        return { bootEvents: 0, phoneHomes: 0, unregisteredHosts: 0 };
      })
      .finally(() => {
        running = undefined;
      });
  };
  return {
    name: 'retention',
    // eslint-disable-next-line @typescript-eslint/require-await -- Service.start is async; the first run goes on in the background
    async start() {
      closed = false;
      tick();
      timer = setInterval(tick, c['interval-s'] * 1000);
      timer.unref();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    runOnce,
  };
}
