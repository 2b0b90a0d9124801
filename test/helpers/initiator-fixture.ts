/**
 * Shared set-up for the initiator tests: a real in-memory store, real BootTokens and HostRegistry,
 * a real TCP listener on 127.0.0.1:0, and a small recording JobQueue (the engine is not under test
 * here; the recording queue implements its published interface).
 */
import { connect, type Socket } from 'node:net';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { HostRegistry, type DeclaredHost, type LeaseLookup } from '../../src/hosts/registry.js';
import { createPhoneHomeListener, type PhoneHomeListener } from '../../src/phonehome/listener.js';
import type { JobQueue, JobOrigin, JobRef } from '../../src/engine/queue.js';
import { silentLogger } from '../../src/log.js';
import { KeyedRateLimit } from '../../src/net/rate-limit.js';

/** Records configure requests; `fail` makes the next call throw as the engine does for an unknown host. */
export class RecordingQueue implements JobQueue {
  calls: Array<{ hostUuid: string; origin: JobOrigin }> = [];
  fail = false;
  /** How long each enqueue takes, ms: a store that answers over the network (PostgreSQL). */
  delayMs = 0;
  private readonly jobs = new Map<string, string>();
  async enqueueConfigureHost(hostUuid: string, origin: JobOrigin): Promise<JobRef> {
    await (this.delayMs > 0 ? new Promise((r) => setTimeout(r, this.delayMs)) : Promise.resolve());
    if (this.fail) throw new Error(`host ${hostUuid} is in no cluster`);
    this.calls.push({ hostUuid, origin });
    const existing = this.jobs.get(hostUuid);
    if (existing) return { id: existing, existing: true };
    const id = `job-${this.jobs.size + 1}`;
    this.jobs.set(hostUuid, id);
    return { id, existing: false };
  }
  enqueueApplyCluster(cluster: string): Promise<JobRef> {
    return Promise.resolve({ id: `apply-${cluster}`, existing: false });
  }
}

function newHostLimit(perMinute: number | undefined): ((address: string, at: number) => boolean) | undefined {
  if (perMinute === undefined) return undefined;
  const limit = new KeyedRateLimit(perMinute);
  return (address, at) => limit.take(address, at);
}

export interface Fixture {
  store: Store;
  tokens: BootTokens;
  queue: RecordingQueue;
  declared: Map<string, DeclaredHost>;
  leases: Map<string, string>;
  registry: HostRegistry;
  listener: PhoneHomeListener;
  port: number;
  close(): Promise<void>;
}

export async function startFixture(
  o: {
    requireToken?: boolean;
    readTimeoutMs?: number;
    perSource?: number;
    maxConnections?: number;
    /** `initiator.new-hosts-per-source-per-minute` (default: no limit). */
    newHostsPerMinute?: number;
  } = {},
): Promise<Fixture> {
  const store = await openStore(':memory:');
  const tokens = new BootTokens(store.tokens, 3_600_000);
  const queue = new RecordingQueue();
  const declared = new Map<string, DeclaredHost>();
  const leases = new Map<string, string>();
  const leaseLookup: LeaseLookup = (mac) => Promise.resolve(leases.get(mac));
  const registry = new HostRegistry({
    hosts: store.hosts,
    phoneHomes: store.phoneHomes,
    tokens,
    queue,
    declared: (u) => declared.get(u),
    leases: leaseLookup,
    boots: store.hostBoots,
    requireToken: o.requireToken ?? true,
    log: silentLogger,
    admitNewHost: newHostLimit(o.newHostsPerMinute),
  });
  const listener = createPhoneHomeListener({
    host: '127.0.0.1',
    port: 0,
    handler: registry,
    log: silentLogger,
    readTimeoutMs: o.readTimeoutMs ?? 10_000,
    maxConnectionsPerSource: o.perSource ?? 16,
    ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}),
  });
  await listener.start();
  const port = listener.address().port;
  return {
    store,
    tokens,
    queue,
    declared,
    leases,
    registry,
    listener,
    port,
    async close() {
      await listener.close();
      store.close();
    },
  };
}

/**
 * Connects from `localAddress` (default 127.0.0.1), sends `data`, optionally half-closes, and
 * resolves with everything the server sent before closing. Bounded by `timeoutMs`.
 */
export function exchange(
  port: number,
  data: string | Buffer,
  opts: { end?: boolean; localAddress?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s: Socket = connect({ host: '127.0.0.1', port, localAddress: opts.localAddress ?? '127.0.0.1' });
    const t = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no close from the server within ${opts.timeoutMs ?? 5000} ms; got ${JSON.stringify(Buffer.concat(chunks).toString())}`,
        ),
      );
    }, opts.timeoutMs ?? 5000);
    s.on('connect', () => {
      if (data.length > 0) s.write(data);
      if (opts.end ?? true) s.end();
    });
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {
      /* reset after the reply: the close handler resolves */
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * What the 2008 scripts did: send the bytes, never read, close right away. Resolves once the
 * socket is closed on our side.
 */
export function fireAndForget(port: number, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => s.write(data, () => s.destroy()));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}
