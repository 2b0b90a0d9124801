/**
 * `statelesx cluster plan NAME [--json]`, `cluster apply NAME`, `cluster drift NAME`: the engine
 * from the command line. They load the config and the cluster files, talk to the cluster's vCenter
 * and (apply) run the change as a durable job in the store, like the server does. `apply` refuses
 * while a server (or another apply) holds the data-dir (src/store/datadir-lock.ts) and runs only
 * its own job, never other processes' unfinished ones. With `--server` they run on that server
 * instead (./cluster-remote.ts): `apply` queues the job there and follows it.
 */
import { storeTarget } from '../config/store-target.js';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLogger, silentLogger } from '../log.js';
import { openStore } from '../store/index.js';
import { lockDataDir } from '../store/datadir-lock.js';
import { kernelOptionsOfMember, loadClusterDir, type LoadedClusters } from '../app/cluster-lookups.js';
import type { DesiredCluster } from '../clusters/types.js';
import type { Step } from '../engine/plan.js';
import { checkDrift, type RejoinDue } from '../engine/drift.js';
import type { FqdnMismatch, HostHold } from '../engine/lifecycle.js';
import { JobRunner } from '../engine/jobs.js';
import { esxiConnector, vcenterConnector } from '../engine/vsphere-adapter.js';
import { bootLookup } from '../engine/job-lifecycle.js';
import { configOption, resolveConfigPath } from './common.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteApply, remoteDrift, remotePlan } from './cluster-remote.js';

/** One plan step as two lines: number, vSphere method, target; then before → after. */
export function formatStep(s: Step, i: number): string {
  const j = (v: unknown) => (v === null || v === undefined ? '-' : JSON.stringify(v));
  return `${String(i + 1).padStart(3)}. ${s.name.padEnd(32)} ${s.target}\n       ${j(s.before)} → ${j(s.after)}`;
}

async function setup(opts: Record<string, string | undefined>, name: string) {
  const { config } = loadConfig(resolveConfigPath(opts['config']));
  const clusters: LoadedClusters = await loadClusterDir(config['clusters-dir'], {
    vcenters: config.vcenters.map((v) => v.name),
    credentials: config.credentials.map((c) => c.name),
    templatesDir: config['templates-dir'],
  });
  const desired = clusters.get(name);
  if (!desired) {
    const why = clusters.problems.length ? `\nfiles that did not load:\n${clusters.problems.join('\n')}` : '';
    throw new Error(`cluster ${name} is not defined in ${config['clusters-dir']}${why}`);
  }
  return { config, clusters, desired };
}

/**
 * Boot facts of the members that `plan` shows besides the vCenter steps (nothing in vCenter
 * changes for them): each member's kernel boot options (cluster's `boot/@kernelOptions`, then
 * its own), which take effect at its next PXE boot.
 */
export function planInfo(desired: DesiredCluster): string[] {
  return desired.hosts.flatMap((host) => {
    const opts = kernelOptionsOfMember({ cluster: desired, host });
    return opts ? [`${host.fqdn} boots with kernel options "${opts}" (at its next PXE boot)`] : [];
  });
}

/**
 * The members a plan or drift check leaves alone (`held: FQDN waiting for boot — why`), those
 * whose current boot phoned home and has not converged (`rejoin due: FQDN …`) and those that
 * phoned home with another FQDN than the file's (`warning: FQDN phoned home as NAME — why`), one
 * line each.
 */
/**
 * What `cluster drift NAME` prints (local and `--server`): the drift steps or "no drift", the members
 * not in vCenter yet, then {@link lifecycleLines}.
 */
export function driftText(
  name: string,
  r: {
    drifted: boolean;
    driftSteps: Step[];
    missingHosts: string[];
    held: HostHold[];
    rejoins: RejoinDue[];
    warnings?: FqdnMismatch[] | undefined;
  },
): string {
  return (
    (r.drifted
      ? `cluster ${name} drifted:\n${r.driftSteps.map(formatStep).join('\n')}\n`
      : `cluster ${name}: no drift\n`) +
    (r.missingHosts.length
      ? `${r.missingHosts.length} member(s) not in vCenter yet (not drift; apply adds each once it has phoned home): ${r.missingHosts.join(', ')}\n`
      : '') +
    lifecycleLines(r.held, r.rejoins, r.warnings ?? [])
  );
}

export function lifecycleLines(held: HostHold[], rejoins: RejoinDue[], warnings: FqdnMismatch[] = []): string {
  return (
    warnings.map((w) => `warning: ${w.fqdn} phoned home as ${w.reported} — ${w.detail}\n`).join('') +
    held.map((h) => `held: ${h.fqdn} ${h.reason.replaceAll('-', ' ')} — ${h.detail}\n`).join('') +
    rejoins
      .map(
        (r) =>
          `rejoin due: ${r.fqdn} phoned home at ${new Date(r.phonedHomeAt).toISOString()} and has not converged since` +
          (r.failedJob
            ? ` (job ${r.failedJob} failed for this boot; not retried by itself: fix the cause and apply)`
            : '') +
          '\n',
      )
      .join('')
  );
}

/** Adds plan, apply and drift to the `cluster` command group. */
export function registerClusterEngineCommands(cluster: Command): void {
  configOption(cluster.command('plan <name>').description('show what apply would change in vCenter (reads only)'))
    .option('--json', 'print the steps as JSON')
    .action(remoteOr(remotePlan, planCluster));

  configOption(cluster.command('apply <name>').description('make vCenter match the cluster file (a durable job)'))
    .option('--no-wait', 'with --server: print the queued job id instead of following it')
    .option('--log', "with --server: also print the job's log lines")
    .option('--json', 'with --server: print the final job (or, with --no-wait, the job reference) as JSON')
    .action(remoteOr(remoteApply, applyCluster));

  configOption(
    cluster
      .command('drift <name>')
      .description(
        'compare the cluster and the members in vCenter with its file (exit 2 on drift; members not in vCenter yet are listed, not drift)',
      ),
  )
    .option('--json', 'print the report as JSON')
    .action(remoteOr(remoteDrift, driftCluster));
}

/** `cluster drift <name>`: prints the drift, the held members and due rejoins (or JSON); exit code 2 when the cluster drifted. */
async function driftCluster(name: string, opts: Record<string, string | undefined>): Promise<void> {
  const { config, desired } = await setup(opts, name);
  const vc = await vcenterConnector(config.vcenters, silentLogger)(desired.vcenter);
  const store = await openStore(storeTarget(config), silentLogger);
  try {
    const r = await checkDrift(vc, desired, Date.now(), store.jobs.pools, bootLookup(store.hostBoots));
    if (opts['json'] !== undefined) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      process.stdout.write(driftText(name, r));
    }
    if (r.drifted) process.exitCode = 2;
  } finally {
    await vc.close();
    store.close();
  }
}

/** `cluster apply <name>`: runs one apply job in this process (refused while a server holds the data-dir); exit code 1 unless it succeeded. */
async function applyCluster(name: string, opts: Record<string, string | undefined>): Promise<void> {
  const { config, clusters } = await setup(opts, name);
  const log = createLogger(config['log-level']);
  // A running server owns the data-dir's jobs: refuse rather than run a second job runner on
  // its store (DataDirBusyError names the server's pid). Held for the job's duration, so a
  // server started meanwhile refuses too.
  const lock = lockDataDir(config['data-dir'], 'cli');
  try {
    const store = await openStore(storeTarget(config), log);
    // Only this command's job: never the unfinished jobs of other processes.
    const runner = new JobRunner({
      jobs: store.jobs,
      config,
      clusters,
      connect: vcenterConnector(config.vcenters, log),
      log,
      resumeUnfinished: false,
      boots: store.hostBoots,
      esxi: esxiConnector(log),
    });
    runner.on('step', (s) => {
      if (s.state === 'done' || s.state === 'failed')
        process.stdout.write(
          `${s.state === 'done' ? 'ok  ' : 'FAIL'} ${s.name} ${s.target ?? ''}${s.fault ? `: ${s.fault}` : ''}\n`,
        );
    });
    await runner.start();
    const ref = await runner.enqueueApplyCluster(name, { source: 'cli', actor: process.env['USER'] });
    // An unfinished apply of this cluster left by a process that died (no live process holds the
    // data-dir, so nobody runs it): continue it rather than wait for it forever.
    if (ref.existing && (await runner.resume(ref.id)))
      process.stdout.write(`resuming job ${ref.id}, left unfinished by an earlier process\n`);
    const job = await runner.wait(ref.id);
    await runner.close();
    store.close();
    process.stdout.write(`job ${job.id}: ${job.state}${job.error ? `: ${job.error}` : ''}\n`);
    if (job.state !== 'succeeded') process.exitCode = 1;
  } finally {
    lock.release();
  }
}

/** `cluster plan <name>`: prints the steps apply would send (or JSON), the held members, due rejoins and the notes; reads only. */
async function planCluster(name: string, opts: Record<string, string | undefined>): Promise<void> {
  const { config, desired } = await setup(opts, name);
  const vc = await vcenterConnector(config.vcenters, silentLogger)(desired.vcenter);
  // The store's pool allocations, so pool addresses are planned as apply would (stable per host).
  const store = await openStore(storeTarget(config), silentLogger);
  try {
    const { steps, held, rejoins, warnings } = await checkDrift(
      vc,
      desired,
      Date.now(),
      store.jobs.pools,
      bootLookup(store.hostBoots),
    );
    if (opts['json'] !== undefined)
      process.stdout.write(
        `${JSON.stringify({ cluster: name, steps, held, rejoins, warnings, info: planInfo(desired) }, null, 2)}\n`,
      );
    else
      process.stdout.write(
        (steps.length
          ? `${steps.map(formatStep).join('\n')}\n${steps.length} step(s)\n`
          : `cluster ${name}: vCenter matches the file (0 steps)\n`) +
          lifecycleLines(held, rejoins, warnings) +
          planInfo(desired)
            .map((l) => `info: ${l}\n`)
            .join(''),
      );
  } finally {
    await vc.close();
    store.close();
  }
}
