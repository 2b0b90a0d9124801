/**
 * The stateless lifecycle's engine side wired as `statelesx serve` wires it, for tests against the
 * vCenter simulator: a {@link JobRunner} that records boot facts in `host_boots` and reaches the
 * hosts' own SDK (ESXi connector, 10 s timeout), and the phone-home {@link HostRegistry} in front of
 * it (boot token required, each boot recorded, members known from the cluster files).
 */
import type { Config } from '../../src/config/schema.js';
import { JobRunner, type ClusterSource } from '../../src/engine/jobs.js';
import type { JobQueue } from '../../src/engine/queue.js';
import { esxiConnector, vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { HostRegistry } from '../../src/hosts/registry.js';
import type { BootTokens } from '../../src/hosts/tokens.js';
import { silentLogger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';

/** What {@link lifecycleRunner} needs. */
export interface LifecycleRunnerOptions {
  store: Store;
  config: Config;
  clusters: ClusterSource;
  /** Where `password-env` secrets are read (SX_VC_PW, SX_ESX_PW). */
  env: NodeJS.ProcessEnv;
  /** First retry delay after a vCenter fault, ms (doubles per attempt). */
  retryBaseMs: number;
}

/** A started JobRunner over the store's jobs and host_boots, vCenter and ESXi through the real adapters. */
export async function lifecycleRunner(o: LifecycleRunnerOptions): Promise<JobRunner> {
  const runner = new JobRunner({
    jobs: o.store.jobs,
    config: o.config,
    clusters: o.clusters,
    log: silentLogger,
    retryBaseMs: o.retryBaseMs,
    env: o.env,
    connect: vcenterConnector(o.config.vcenters, silentLogger, o.env),
    boots: o.store.hostBoots,
    esxi: esxiConnector(silentLogger, 10_000),
  });
  await runner.start();
  return runner;
}

/**
 * The phone-home registry over the store: a boot token required, each accepted phone-home recorded
 * in host_boots, configure jobs to `queue`; a host is known when a file of `clusters` declares it.
 */
export function lifecycleRegistry(
  store: Store,
  tokens: BootTokens,
  queue: JobQueue,
  clusters: ClusterSource,
): HostRegistry {
  return new HostRegistry({
    hosts: store.hosts,
    phoneHomes: store.phoneHomes,
    tokens,
    queue,
    boots: store.hostBoots,
    declared: (u) => {
      const c = clusters.findByHost(u);
      return c && { cluster: c.name, fqdn: c.hosts.find((h) => h.uuid === u)!.fqdn };
    },
    requireToken: true,
    log: silentLogger,
  });
}
