import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
/**
 * The composition root of `statelesx serve`: opens the store, builds each subsystem from the typed
 * config, starts them in order (store → TFTP, DHCP, initiator, HTTP → engine) and closes them in
 * reverse. Subsystems know each other only through the interfaces passed in here:
 *
 *   boot:      DHCP, TFTP, HTTP /boot ─► DefaultBootFileSource ─► hosts/policy ◄─ clusters, store
 *   phone-home: TCP 1974, HTTP /api/v1/phone-home ─► HostRegistry ─► JobRunner (engine) | unregistered
 *   HTTP: the boot listener (`boot-http`: /boot, HTTP phone-home) and the administration listener
 *              (`http`: console, API, /metrics), or one listener for both (src/web/listeners.ts);
 *              every URL handed to hosts names the boot listener.
 *   converge:  JobRunner ─► engine/plan + apply ─► vsphere client ─► vCenter
 *
 * Each subsystem gets the store ports it uses (src/store/ports.ts), never the Store itself; the
 * cluster files reach the policy, the registry and the engine through ./cluster-lookups.ts.
 */
import { storeTarget } from '../config/store-target.js';
import { kickstartInstallLookup } from './kickstart-install.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { openStore, type ForgetResult, type Store } from '../store/index.js';
import { lockDataDir } from '../store/datadir-lock.js';
import type { Service } from '../net/service.js';
import { advertiseAddress } from '../net/interfaces.js';
import { BootTokens } from '../hosts/tokens.js';
import { ImageLibrary } from '../images/image.js';
import { cleanStaleImports } from '../images/import.js';
import { ClusterRepository } from '../clusters/repository.js';
import { auditDiskChanges } from './cluster-history-adapter.js';
import { ClusterFileSync } from '../clusters/shared.js';
import { DefaultBootFileSource } from '../boot/files/source.js';
import { bootHttpPlugin } from '../boot/http/plugin.js';
import { createTftpServer } from '../boot/tftp/server.js';
import { createDhcpServer } from '../boot/dhcp/server.js';
import { bootsFromInstalledDisk } from '../hosts/policy.js';
import { withStoreLookups } from '../hosts/policy-lookups.js';
import { JobRunner } from '../engine/jobs.js';
import { esxiConnector, vcenterConnector } from '../engine/vsphere-adapter.js';
import { DriftScheduler } from '../engine/drift.js';
import { bootLookup } from '../engine/job-lifecycle.js';
import { createPhoneHome } from '../phonehome/index.js';
import { createBootHttpService, createHttpService } from '../web/app.js';
import { advertisedBootPort, httpLayout } from '../web/listeners.js';
import { storeJobReader } from '../web/job-reader.js';
import type { AppDeps } from '../web/deps.js';
import { clusterService, imageService, engineService, vcenterTester } from './web-adapters.js';
import { createRetentionService } from './retention.js';
import { createImageCatalogService } from './image-catalog.js';
import { createMallocTrimService } from '../memory/trim.js';
import { clusterLookups, type ClusterLookups } from './cluster-lookups.js';

export type { Service } from '../net/service.js';

/** A running server: its store and services, and how to stop it. */
export interface RunningServer {
  store: Store;
  services: Service[];
  jobs: JobRunner;
  clusters: ClusterRepository;
  close(): Promise<void>;
}

/** Options of {@link startServer} for harnesses; `statelesx serve` passes none. */
export interface StartOptions {
  /**
   * Names of services ({@link Service.name}: `tftp`, `dhcp`, `initiator`, `retention`, `http`,
   * `boot-http`, `malloc-trim`) to build but not start: the benchmark's "idle RSS by subsystem" (src/bench/idle.ts).
   */
  without?: readonly string[] | undefined;
}

/**
 * Starts every service the config enables (less `opts.without`).
 * @throws BindError (port in use / no privilege), StoreOpenError (data dir), DataDirBusyError (another
 *   statelesx process holds the data dir), Error for bad config.
 */
export async function startServer(config: Config, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  // The server owns the data-dir's jobs while it runs (the CLI's `cluster apply` refuses meanwhile).
  const lock = config['data-dir'] === ':memory:' ? undefined : lockDataDir(config['data-dir'], 'server');
  const store = await openStore(storeTarget(config), log.child({ subsystem: 'store' })).catch((e: unknown) => {
    lock?.release();
    throw e;
  });
  const started: Service[] = [];
  let drift: DriftScheduler | undefined;
  let jobs: JobRunner | undefined;
  let clusterSync: ClusterFileSync | undefined;
  const close = async () => {
    await clusterSync?.stop();
    await drift?.close();
    await jobs?.close().catch((e: unknown) => log.warn({ err: e }, 'error while stopping the engine'));
    for (const s of [...started].reverse()) {
      try {
        await s.close();
      } catch (e) {
        log.warn({ err: e, service: s.name }, 'error while closing service');
      }
    }
    await store.end();
    lock?.release();
  };

  try {
    const server = advertiseAddress({
      advertiseAddress: config['advertise-address'],
      listenAddress: config['listen-address'],
      interface: config.interface,
    });
    const images = await openImages(config, log);
    const loaded = await loadClusters(config, log, store);
    const clusters = loaded.clusters;
    clusterSync = loaded.sync;
    const views = clusterLookups(clusters);
    const layout = httpLayout(config);
    warnBootAddress(layout.boot.address, server, log);
    const bootPort = advertisedBootPort(config, layout.boot.port);
    const source = bootFileSource(config, store, images, clusters, views, server, bootPort, log);

    jobs = jobRunner(config, store, views, log);
    const initiator = phoneHome(config, store, jobs, views, log);

    const services: Service[] = [
      createTftpServer({ source, address: config['listen-address'], port: config.tftp.port, limits: config.tftp, log }),
    ];
    if (config.dhcp.mode !== 'off') services.push(dhcpService(config, store, views, server, bootPort, log));
    const catalog = createImageCatalogService(store.imageCatalog, images, imagePins(store, clusters), log);
    services.push(initiator.listener, createRetentionService(store.retention, config.retention, log), catalog);
    const deps = {
      ...webDeps(config, store, clusters, jobs, source, initiator, log, () => started.length === services.length),
      imagesReadiness: () => catalog.readiness(),
      // Imports are published and removals leave the site's catalog at once, not at the next pass.
      images: imageService(config['images-dir'], imagePins(store, clusters), {
        imported: () => catalog.runOnce(),
        removed: (name) => store.imageCatalog.delete(name),
      }),
    };
    const bootHttp = createBootHttpService(config, deps);
    if (bootHttp) services.push(bootHttp);
    services.push(createHttpService(config, deps), createMallocTrimService(log));
    await startAll(services, started, opts.without);
    await jobs.start();
    drift = startDrift(config, clusters, jobs, store, log);
    log.info({ advertise: server, services: services.map((s) => s.name) }, 'statelesx is serving');
    return { store, services, jobs, clusters, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Starts `services` in order, each added to `started` once running; those named in `without` are
 * dropped from `services` first (never started, not awaited by readiness).
 */
async function startAll(services: Service[], started: Service[], without: readonly string[] = []): Promise<void> {
  services.splice(0, services.length, ...services.filter((s) => !without.includes(s.name)));
  for (const s of services) {
    await s.start();
    started.push(s);
  }
}

/** The vSphere engine's job runner over the store's jobs and host boots (not started). */
function jobRunner(config: Config, store: Store, views: ReturnType<typeof clusterLookups>, log: Logger): JobRunner {
  return new JobRunner({
    jobs: store.jobs,
    config,
    clusters: views.engine,
    connect: vcenterConnector(config.vcenters, log),
    log,
    onHostResult: async (uuid, ok, cluster) =>
      void (await store.hosts.setState(uuid, ok ? 'configured' : 'failed', cluster)),
    boots: store.hostBoots,
    esxi: esxiConnector(log),
    forgetHost: (uuid, jobId) => forgetAfterRemoval(store, uuid, jobId),
    // Several servers on PostgreSQL: only the holder of the engine lease runs jobs (src/engine/job-leader.ts).
    shared:
      store.dialect === 'postgres'
        ? {
            owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
            leaseMs: config.engine['lease-s'] * 1000,
          }
        : undefined,
  });
}

/**
 * The store side of a `remove-host` job that removed the host from vCenter: forgets it
 * (src/store/host-forget.ts) and audits that as the job (`job:<id>`). @returns what was removed
 */
export async function forgetAfterRemoval(store: Store, uuid: string, jobId: string): Promise<ForgetResult> {
  const r = await store.hostForget.forget(uuid);
  await store.audit.add({
    at: Date.now(),
    actor: `job:${jobId}`,
    action: 'host.forget',
    target: uuid,
    before: null,
    after: r,
  });
  return r;
}

/** The phone-home intake (TCP listener and HTTP plugin) over its store ports, queuing jobs on `jobs`. */
function phoneHome(
  config: Config,
  store: Store,
  jobs: JobRunner,
  views: ReturnType<typeof clusterLookups>,
  log: Logger,
): ReturnType<typeof createPhoneHome> {
  return createPhoneHome(config, {
    store: {
      hosts: store.hosts,
      phoneHomes: store.phoneHomes,
      tokens: store.tokens,
      leases: store.leases,
      hostBoots: store.hostBoots,
      hostInstalls: store.hostInstalls,
      transaction: (fn) => store.transaction(fn),
    },
    queue: jobs,
    declared: views.declared,
    log,
  });
}

/**
 * The cluster files of `clusters-dir`, loaded and checked; an invalid file is logged and ignored until fixed.
 * Their history is kept in git (src/clusters/history.ts); hand edits committed at load are audited
 * as `cluster.disk-change` by `statelesx`.
 */
async function loadClusters(
  config: Config,
  log: Logger,
  store: Store,
): Promise<{ clusters: ClusterRepository; sync: ClusterFileSync | undefined }> {
  // Several servers on PostgreSQL: the store's cluster files are the source of truth (src/clusters/shared.ts).
  let sync: ClusterFileSync | undefined;
  const clusters = new ClusterRepository({
    dir: config['clusters-dir'],
    context: {
      vcenters: config.vcenters.map((v) => v.name),
      credentials: config.credentials.map((c) => c.name),
      templatesDir: config['templates-dir'],
    },
    logger: log,
    history: true,
    onDiskChange: auditDiskChanges(store.audit),
    afterWrite: async (name, author) => sync?.published(name, author),
  });
  await clusters.reload();
  if (store.dialect === 'postgres') {
    sync = new ClusterFileSync(clusters, store.clusterFiles, hostname(), log.child({ subsystem: 'clusters' }));
    await sync.start();
  }
  for (const bad of clusters.invalid()) {
    log.error(
      { subsystem: 'clusters', file: bad.file, problems: bad.diagnostics.length },
      `cluster file ${bad.file} is invalid and is ignored until fixed: ${bad.diagnostics[0]?.message ?? ''}`,
    );
  }
  return { clusters, sync };
}

/** The one resolver of boot files (TFTP and HTTP `/boot/`): static root, loaders, images, rendered per host. */
function bootFileSource(
  config: Config,
  store: Store,
  images: ImageLibrary,
  clusters: ClusterRepository,
  views: ReturnType<typeof clusterLookups>,
  server: string,
  httpPort: number,
  log: Logger,
): DefaultBootFileSource {
  const tokens = new BootTokens(store.tokens, config.initiator['token-ttl-s'] * 1000);
  return new DefaultBootFileSource({
    tftpRoot: config['tftp-root'],
    loaderDirs: config['loader-dirs'],
    pxelinuxCfgDir: config['pxelinux-cfg-dir'],
    images,
    hosts: store.hosts,
    leases: store.leases,
    tokens,
    clusters: views.policy,
    // Boot-once: a stateful member whose install is on record boots from its local disk.
    installs: store.hostInstalls,
    defaultImage: config.boot['default-image'],
    unknownHosts: config.boot['unknown-hosts'],
    initiatorModule: config.boot['initiator-module'],
    // The cluster's `boot/@kickstartTemplate`, as read and checked when its file was loaded.
    kickstartTemplate: views.kickstartTemplate,
    // A stateful cluster's rootpw hash (its credentials entry) and install disks.
    kickstartInstall: kickstartInstallLookup((name) => clusters.get(name), config.credentials),
    serverAddress: server,
    httpPort,
    initiatorPort: config.initiator.port,
    initiatorAddress: config.initiator['advertise-address'],
    log,
  });
}

/** The DHCP service (`dhcp.mode` proxy or full) on the boot LAN. */
function dhcpService(
  config: Config,
  store: Store,
  views: ClusterLookups,
  server: string,
  httpPort: number,
  log: Logger,
): Service {
  if (config.dhcp.mode === 'off') throw new Error('dhcp.mode is off');
  return createDhcpServer({
    mode: config.dhcp.mode,
    dhcp: config.dhcp,
    store: { hosts: store.hosts, leases: store.leases },
    log,
    interface: config.interface,
    listenAddress: config['listen-address'],
    advertiseAddress: server,
    httpPort,
    bootsLocally: bootsLocallyLookup(store, views),
  });
}

/**
 * Boot-once for DHCP: UEFI firmware of a stateful member whose install is on record gets no loader
 * (src/boot/dhcp/boot-answer.ts), so its boot manager goes on to the installed disk.
 */
function bootsLocallyLookup(
  store: Store,
  views: ClusterLookups,
): (c: { uuid: string | undefined; mac: string }) => Promise<boolean> {
  const reads = { hosts: store.hosts, installedAt: (u: string) => store.hostInstalls.installedAt(u) };
  return (c) =>
    withStoreLookups(reads, (lookups) =>
      bootsFromInstalledDisk(
        { uuid: c.uuid ?? null, uuidOrder: 'either', mac: c.mac },
        { ...lookups, clusters: views.policy },
      ),
    );
}

/** Who is pinned to an image: hosts (their image pin) and clusters (the file's or a member's image). */
function imagePins(store: Store, clusters: ClusterRepository): (image: string) => Promise<string[]> {
  return async (image) => [
    ...(await store.hosts.pinnedTo(image)).map((u) => `host ${u}`),
    ...clusters
      .clusters()
      .filter((c) => c.image === image || c.hosts.some((h) => h.image === image))
      .map((c) => `cluster ${c.name}`),
  ];
}

/**
 * The web app's dependencies: the store's web ports, the engine, cluster files, images, the vCenter
 * login test, and the `/boot/` and phone-home plugins. `ready`: every service has started.
 */
function webDeps(
  config: Config,
  store: Store,
  clusters: ClusterRepository,
  jobs: JobRunner,
  source: DefaultBootFileSource,
  initiator: ReturnType<typeof createPhoneHome>,
  log: Logger,
  ready: () => boolean,
): Omit<AppDeps, 'config'> {
  return {
    store: {
      hosts: store.hosts,
      users: store.users,
      apiTokens: store.apiTokens,
      hostForget: store.hostForget,
      audit: store.audit,
      settings: store.settings,
      jobs: store.jobs,
      hostBoots: store.hostBoots,
      hostInstalls: store.hostInstalls,
      ping: () => store.ping(),
    },
    log,
    queue: jobs,
    jobControl: jobs,
    clusters: clusterService(clusters),
    engine: engineService(
      clusters,
      { connect: jobs.vcenter.bind(jobs), shared: true },
      Date.now,
      store.jobs.pools,
      bootLookup(store.hostBoots),
    ),
    jobs: storeJobReader(store.jobs, jobs),
    vcenters: vcenterTester(config.vcenters, log),
    bootPlugin: async (app) => {
      await app.register(bootHttpPlugin, { source });
    },
    phoneHomePlugin: initiator.httpPlugin,
    ready,
  };
}

/** Starts the scheduled drift checks (`engine.drift-interval-s`); undefined when they are off. */
function startDrift(
  config: Config,
  clusters: ClusterRepository,
  runner: JobRunner,
  store: Store,
  log: Logger,
): DriftScheduler | undefined {
  if (config.engine['drift-interval-s'] <= 0) return undefined;
  const drift = new DriftScheduler({
    clusters: () => clusters.clusters(),
    vcenter: (name) => runner.vcenter(name),
    queue: runner,
    intervalS: config.engine['drift-interval-s'],
    remediate: config.engine['drift-remediate'],
    pools: store.jobs.pools,
    boot: bootLookup(store.hostBoots),
    log,
  });
  drift.start();
  return drift;
}

/** The image library; staging directories of interrupted imports are removed (and logged). */
async function openImages(config: Config, log: Logger): Promise<ImageLibrary> {
  const images = new ImageLibrary(config['images-dir']);
  const stale = await cleanStaleImports(config['images-dir']);
  if (stale.length > 0)
    log.warn({ subsystem: 'images', removed: stale }, 'removed staging directories of interrupted image imports');
  return images;
}

/** Warns when the boot HTTP listener's `address` is not the one hosts are given in boot URLs (`server`). */
function warnBootAddress(address: string, server: string, log: Logger): void {
  if (address !== '0.0.0.0' && address !== server) {
    log.warn(
      { subsystem: 'boot-http', address, advertise: server },
      'boot-http.address differs from the advertised address that hosts are given in boot URLs',
    );
  }
}
