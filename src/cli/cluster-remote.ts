/**
 * `statelesx cluster plan|apply|drift|validate` against a server (src/cli/remote): the server's
 * engine reads its vCenter and runs the change; `apply` queues the job there
 * (`POST /api/v1/clusters/{name}/apply`) and follows it like `job watch` (exit status from its
 * outcome). `validate` sends each file's text to `POST /api/v1/clusters/{name}/validate` (checked
 * against the server's config and its other cluster files; nothing is saved).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Step } from '../engine/plan.js';
import type { RejoinDue } from '../engine/drift.js';
import type { FqdnMismatch, HostHold } from '../engine/lifecycle.js';
import type { ApiClient } from './remote/client.js';
import { printJson } from './remote/format.js';
import { driftText, formatStep, lifecycleLines } from './cluster-engine.js';
import { followJob } from './job.js';

const path = (name: string, what: string) => `/api/v1/clusters/${encodeURIComponent(name)}/${what}`;

/** The plan answer (src/web/api/clusters.ts planOut). */
interface PlanAnswer {
  cluster: string;
  steps: Step[];
  held: HostHold[];
  rejoins: RejoinDue[];
  warnings?: FqdnMismatch[];
}

/** `cluster plan NAME`: the steps an apply would send, read by the server; nothing changes. */
export async function remotePlan(api: ApiClient, name: string, opts: { json?: boolean }): Promise<void> {
  const p = await api.json<PlanAnswer>('GET', path(name, 'plan'));
  if (opts.json) return printJson(p);
  process.stdout.write(
    (p.steps.length
      ? `${p.steps.map(formatStep).join('\n')}\n${p.steps.length} step(s)\n`
      : `cluster ${name}: vCenter matches the file (0 steps)\n`) + lifecycleLines(p.held, p.rejoins, p.warnings ?? []),
  );
}

/** The drift answer (driftOut). */
interface DriftAnswer extends PlanAnswer {
  drifted: boolean;
  driftSteps: Step[];
  missingHosts: string[];
}

/** `cluster drift NAME`: exit code 2 when the cluster drifted (as the local command). */
export async function remoteDrift(api: ApiClient, name: string, opts: { json?: boolean }): Promise<void> {
  const r = await api.json<DriftAnswer>('GET', path(name, 'drift'));
  if (opts.json) printJson(r);
  else {
    process.stdout.write(driftText(name, r));
  }
  if (r.drifted) process.exitCode = 2;
}

/** `cluster apply NAME`: queues the apply on the server and follows it (unless `--no-wait`). */
export async function remoteApply(
  api: ApiClient,
  name: string,
  opts: { wait?: boolean; json?: boolean; log?: boolean },
): Promise<void> {
  const ref = await api.json<{ id: string; existing: boolean }>('POST', path(name, 'apply'));
  if (opts.wait === false) {
    if (opts.json) return printJson(ref);
    process.stdout.write(
      `${ref.existing ? 'an apply of this cluster is already active' : 'queued'}: job ${ref.id} (statelesx job watch ${ref.id})\n`,
    );
    return;
  }
  if (!opts.json)
    process.stdout.write(`${ref.existing ? 'following the active' : 'queued'} job ${ref.id} on ${api.target.server}\n`);
  await followJob(api, ref.id, opts);
}

/** One validation issue (ClusterIssue schema). */
interface Issue {
  message: string;
  path?: string;
  line?: number;
  column?: number;
}

/**
 * `cluster validate FILE...` against the server: each file under the name of its basename.
 * @returns the exit code: 0 all valid, 1 any problem
 */
export async function remoteValidate(api: ApiClient, files: string[], opts: { json?: boolean }): Promise<void> {
  const results: Array<{ file: string; cluster: string; valid: boolean; issues: Issue[] }> = [];
  for (const file of files) {
    const cluster = basename(file).replace(/\.xml$/i, '');
    const r = await api.json<{ valid: boolean; issues: Issue[] }>('POST', path(cluster, 'validate'), {
      body: { xml: await readFile(file, 'utf8') },
    });
    results.push({ file, cluster, ...r });
  }
  if (opts.json) printJson(results);
  else
    for (const r of results) {
      for (const i of r.issues)
        process.stderr.write(`${r.file}:${i.line ?? 0}:${i.column ?? 0}: ${i.path ?? ''}: ${i.message}\n`);
      if (r.valid) process.stdout.write(`${r.file}: ok (cluster ${r.cluster}, checked by ${api.target.server})\n`);
    }
  process.exitCode = results.every((r) => r.valid) ? 0 : 1;
}
