/**
 * `statelesx job list|show|cancel|retry|watch`: the server's durable jobs (src/engine), over the
 * REST API (`--server`; src/cli/remote). `watch` follows a job live and exits 0 when it succeeds,
 * 1 when it fails, is cancelled or blocked.
 */
import type { Command } from 'commander';
import type { ApiClient } from './remote/client.js';
import { remoteOr } from './remote/dispatch.js';
import { UsageError } from './remote/errors.js';
import { cell, printJson, table, when } from './remote/format.js';
import { jobExitCode, jobOutcomeLine, stdoutWatch, watchJob, type JobStepView, type JobView } from './remote/watch.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'blocked', 'cancelled'];
const jobPath = (id: string) => `/api/v1/jobs/${encodeURIComponent(id)}`;

/** `job list` as a table: id, kind, target, state (with the queue position when reported), times. */
export function formatJobs(jobs: JobView[]): string {
  if (jobs.length === 0) return 'no jobs\n';
  const hasQueue = jobs.some((j) => j.queuePosition !== undefined && j.queuePosition !== null);
  const head = ['ID', 'KIND', 'TARGET', 'STATE', ...(hasQueue ? ['QUEUE'] : []), 'CREATED', 'FINISHED', 'BY', 'ERROR'];
  const rows = jobs.map((j) => [
    j.id,
    j.kind,
    j.target,
    j.state,
    ...(hasQueue ? [cell(j.queuePosition)] : []),
    when(j.createdAt),
    when(j.finishedAt),
    cell(j.requestedBy),
    cell(j.error),
  ]);
  return table(head, rows);
}

/** `job show` as text: the job's fields, then its steps. */
export function formatJob(job: JobView): string {
  const fields: Array<[string, unknown]> = [
    ['job', job.id],
    ['kind', job.kind],
    ['target', job.target],
    ['cluster', job.cluster],
    ['vcenter', job.vcenter],
    ['state', job.state],
    ['queue position', job.queuePosition],
    ['created', when(job.createdAt)],
    ['started', when(job.startedAt)],
    ['finished', when(job.finishedAt)],
    ['attempts', job.attempts],
    ['requested by', job.requestedBy],
    ['error', job.error],
  ];
  let out = fields
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${`${k}:`.padEnd(16)}${String(v)}\n`)
    .join('');
  const steps: JobStepView[] = job.steps ?? [];
  out += steps.length
    ? '\n' +
      table(
        ['#', 'STEP', 'TARGET', 'STATE', 'FAULT'],
        steps.map((s) => [String(s.seq), s.name, cell(s.target), s.state, cell(s.fault)]),
      )
    : 'no steps yet\n';
  return out;
}

/**
 * Follows job `id`, prints its steps and outcome (or the final job as JSON), and sets the exit
 * code from it (0 succeeded, 1 otherwise).
 */
export async function followJob(api: ApiClient, id: string, opts: { json?: boolean; log?: boolean }): Promise<void> {
  const job = await watchJob(api, id, stdoutWatch(), { quiet: Boolean(opts.json), log: Boolean(opts.log) });
  if (opts.json) printJson(job);
  else process.stdout.write(jobOutcomeLine(job));
  process.exitCode = jobExitCode(job);
}

/** Registers `statelesx job ...`. */
export function registerJob(program: Command): void {
  const job = program
    .command('job')
    .description('jobs on the server: list, show, cancel, retry, watch (needs --server)');

  job
    .command('list')
    .description('jobs, newest first')
    .option('--state <state>', `only jobs in this state (${STATES.join(', ')})`)
    .option('--target <target>', 'only jobs of this host UUID or cluster name')
    .option('--limit <n>', 'at most this many (1-1000, default 100)')
    .option('--json', 'JSON output')
    .action(
      remoteOr(async (api, opts: { state?: string; target?: string; limit?: string; json?: boolean }) => {
        if (opts.state !== undefined && !STATES.includes(opts.state))
          throw new UsageError(`--state ${opts.state}: one of ${STATES.join(', ')}`);
        const jobs = await api.json<JobView[]>('GET', '/api/v1/jobs', {
          query: { state: opts.state, target: opts.target, limit: opts.limit },
        });
        if (opts.json) printJson(jobs);
        else process.stdout.write(formatJobs(jobs));
      }),
    );

  job
    .command('show <id>')
    .description('one job with its steps')
    .option('--json', 'JSON output')
    .action(
      remoteOr(async (api, id: string, opts: { json?: boolean }) => {
        const j = await api.json<JobView>('GET', jobPath(id));
        if (opts.json) printJson(j);
        else process.stdout.write(formatJob(j));
      }),
    );

  job
    .command('cancel <id>')
    .description('cancel a queued job at once, a running one after its current step')
    .option('--json', 'JSON output')
    .action(
      remoteOr(async (api, id: string, opts: { json?: boolean }) => {
        const r = await api.call<{ id: string; state: string }>('POST', jobPath(id) + '/cancel');
        if (opts.json) printJson(r.body);
        else
          process.stdout.write(
            r.status === 202
              ? `job ${id} is running: it stops after its current step (statelesx job watch ${id})\n`
              : `job ${id} cancelled\n`,
          );
      }),
    );

  job
    .command('retry <id>')
    .description('queue a failed, cancelled or blocked job again (a new job of the same kind and target)')
    .option('--watch', 'follow the new job (exit status from its outcome)')
    .option('--json', 'JSON output')
    .action(
      remoteOr(async (api, id: string, opts: { watch?: boolean; json?: boolean }) => {
        const ref = await api.json<{ id: string; existing: boolean }>('POST', jobPath(id) + '/retry');
        if (opts.watch) return followJob(api, ref.id, opts);
        if (opts.json) printJson(ref);
        else
          process.stdout.write(
            `${ref.existing ? 'an equal job is already active' : 'queued'}: job ${ref.id} (statelesx job watch ${ref.id})\n`,
          );
      }),
    );

  job
    .command('watch <id>')
    .description('follow a job live until it ends; exit 0 when it succeeds, 1 when it fails or is cancelled')
    .option('--log', "also print the job's log lines")
    .option('--json', 'print only the final job (with its steps) as JSON')
    .action(remoteOr(async (api, id: string, opts: { json?: boolean; log?: boolean }) => followJob(api, id, opts)));
}
