/**
 * A job runner in a child process, for the crash test (test/integration/engine-resume.test.ts).
 * Input: env SX_ENGINE_CHILD = JSON { dataDir, config (statelesx.yaml object), cluster (DesiredCluster),
 * hostUuid?, mode: 'enqueue' | 'resume' }. Prints `STEP <state> <name>` per finished step and
 * `JOB <json>` when the job ends, then exits. The parent kills it with SIGKILL mid-job.
 */
import { openStore } from '../../src/store/index.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { clusterLookups, fixedClusterFiles } from '../../src/app/cluster-lookups.js';
import { vcenterConnector } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const input = JSON.parse(process.env['SX_ENGINE_CHILD'] ?? '{}') as {
  dataDir: string;
  config: unknown;
  cluster: DesiredCluster;
  mode: 'enqueue' | 'resume';
};
const config = configSchema.parse(input.config);
const store = await openStore(input.dataDir);
const runner = new JobRunner({
  jobs: store.jobs,
  config,
  clusters: clusterLookups(fixedClusterFiles([input.cluster])).engine,
  log: silentLogger,
  retryBaseMs: 200,
  connect: vcenterConnector(config.vcenters, silentLogger),
});
runner.on('step', (s) => {
  if (s.state !== 'running' && s.state !== 'pending') process.stdout.write(`STEP ${s.state} ${s.name}\n`);
});
await runner.start();
let id: string;
if (input.mode === 'enqueue') {
  id = (await runner.enqueueApplyCluster(input.cluster.name, { source: 'test' })).id;
} else {
  const j = (await store.jobs.list({ limit: 1 }))[0];
  if (!j) throw new Error('no job to resume');
  id = j.id;
}
process.stdout.write(`ID ${id}\n`);
const job = await runner.wait(id);
process.stdout.write(`JOB ${JSON.stringify(job)}\n`);
await runner.close();
store.close();
process.exit(0);
