/**
 * `statelesx host forget <uuid> --remove-from-vcenter` on the local data directory: the host is
 * removed from vCenter by a `remove-host` job run in this process (maintenance mode, Destroy_Task,
 * then the store forget; src/engine/remove-host.ts), as `cluster apply` runs its job
 * (src/cli/cluster-engine.ts): refused while a server holds the data-dir — the server runs the
 * engine's jobs, so the message points at the remote CLI / API — and only this job is run, never
 * other processes' unfinished ones (except a removal of the same host left by a process that died,
 * which is continued). Audited as `system:cli` (the request) and `job:<id>` (the forget).
 */
import { storeTarget } from '../config/store-target.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/index.js';
import type { JobRecord } from '../store/jobs.js';
import { DataDirBusyError, lockDataDir } from '../store/datadir-lock.js';
import { loadClusterDir } from '../app/cluster-lookups.js';
import { forgetAfterRemoval } from '../app/server.js';
import { JobRunner } from '../engine/jobs.js';
import { esxiConnector, vcenterConnector } from '../engine/vsphere-adapter.js';
import { resolveConfigPath } from './common.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs one remove-host job for `uuid` to its end, writing each finished step to `out`.
 * @returns the finished job (its state says whether the host was removed and forgotten)
 * @throws Error for a malformed UUID, a host the store does not know, a server holding the
 *   data-dir, a host with another job queued or running, or no vCenter to look in
 */
export async function forgetWithRemoval(
  uuid: string,
  opts: { config?: string; dataDir?: string },
  out: (line: string) => void,
): Promise<JobRecord> {
  if (!UUID.test(uuid)) throw new Error(`${uuid} is not a hardware UUID (8-4-4-4-12 hex digits)`);
  const u = uuid.toLowerCase();
  const { config } = loadConfig({ ...resolveConfigPath(opts.config), flags: { 'data-dir': opts.dataDir } });
  let lock;
  try {
    lock = lockDataDir(config['data-dir'], 'cli');
  } catch (e) {
    if (e instanceof DataDirBusyError && e.holder.role === 'server')
      throw new Error(
        `${e.message}. The server runs the engine's jobs: ask it — statelesx --server URL host forget ${u} --remove-from-vcenter ` +
          `(or DELETE /api/v1/hosts/${u}?removeFromVcenter=true)`,
        { cause: e },
      );
    throw e;
  }
  const log = createLogger(config['log-level']);
  try {
    const clusters = await loadClusterDir(config['clusters-dir'], {
      vcenters: config.vcenters.map((v) => v.name),
      credentials: config.credentials.map((c) => c.name),
      templatesDir: config['templates-dir'],
    });
    const store = await openStore(storeTarget(config), log);
    try {
      const host = await store.hosts.get(u);
      if (!host) throw new Error(`the store knows no host ${u}`);
      const runner = new JobRunner({
        jobs: store.jobs,
        config,
        clusters,
        connect: vcenterConnector(config.vcenters, log),
        log,
        resumeUnfinished: false,
        esxi: esxiConnector(log),
        forgetHost: (h, jobId) => forgetAfterRemoval(store, h, jobId),
      });
      runner.on('step', (s) => {
        if (s.state === 'done' || s.state === 'failed')
          out(`${s.state === 'done' ? 'ok  ' : 'FAIL'} ${s.name} ${s.target ?? ''}${s.fault ? `: ${s.fault}` : ''}`);
      });
      await runner.start();
      const actor = process.env['USER'];
      const r = await runner.removeHost(u, { source: 'cli', actor }, host.cluster);
      let id: string;
      if (r.outcome === 'queued') {
        id = r.ref.id;
        await store.audit.add({
          at: Date.now(),
          actor: 'system:cli',
          action: 'host.forget',
          target: u,
          before: { state: host.state, cluster: host.cluster, imagePin: host.imagePin },
          after: { removeFromVcenter: true, job: id },
        });
      } else if (r.outcome === 'busy' && r.kind === 'remove-host' && (await runner.resume(r.jobId))) {
        // Left unfinished by a process that died (nobody else holds the data-dir): continue it.
        id = r.jobId;
        out(`resuming job ${id}, left unfinished by an earlier process`);
      } else throw new Error(r.reason);
      const job = await runner.wait(id);
      await runner.close();
      return job;
    } finally {
      store.close();
    }
  } finally {
    lock.release();
  }
}
