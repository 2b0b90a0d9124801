/**
 * Following a job on the server (`job watch`, and `cluster apply` / `host forget
 * --remove-from-vcenter` against a server): reads `GET /api/v1/jobs/{id}/events` (SSE, `job`,
 * `log` and `end` events; src/web/api/jobs.ts), reconnecting with `Last-Event-ID` when the stream
 * ends early, and shows the steps as they finish. On a terminal a progress line (bar, steps
 * done/total, the running step, elapsed time) is redrawn under the finished steps; otherwise one
 * plain line per change, for logs and pipes.
 */
import { ApiError, UnreachableError } from './errors.js';
import type { ApiClient } from './client.js';
import { readSse } from './sse.js';
import { duration } from './format.js';

/** A job as the API returns it (Job schema), with its steps. */
export interface JobView {
  id: string;
  kind: string;
  target: string;
  cluster: string | null;
  vcenter: string | null;
  state: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  error: string | null;
  requestedBy: string | null;
  /** Place in the admission queue when queued (present when the server reports it). */
  queuePosition?: number | null;
  steps?: JobStepView[];
}

/** One step of a job (JobStep schema). */
export interface JobStepView {
  seq: number;
  name: string;
  target: string | null;
  state: string;
  startedAt: number | null;
  finishedAt: number | null;
  fault: string | null;
}

/** Job states after which nothing changes. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'blocked']);

/** Where the watch writes. */
export interface WatchOutput {
  write(s: string): void;
  /** A terminal: draw the progress line. */
  tty: boolean;
  /** Terminal width (columns), for the progress line. */
  columns?: number;
}

/** Options of {@link watchJob}. */
export interface WatchOptions {
  /** Also print the job's log lines. */
  log?: boolean;
  /** Print nothing while following (JSON output prints the final job instead). */
  quiet?: boolean;
  /** Reconnection attempts in a row before giving up (default 5). */
  retries?: number;
}

/** Step states shown when a step reaches them; `skipped` is not shown (a step a re-plan superseded). */
const stepMark: Record<string, string> = { done: 'ok  ', failed: 'FAIL' };

/** Draws what changed between two views of a job. */
class Renderer {
  private readonly seen = new Map<number, string>();
  private state = '';
  private last: JobView | undefined;
  private drawn = false;
  constructor(
    private readonly out: WatchOutput,
    private readonly started = Date.now(),
  ) {}

  job(job: JobView): void {
    this.last = job;
    this.clear();
    if (job.state !== this.state) {
      this.state = job.state;
      if (!FINAL_STATES.has(job.state)) {
        const pos =
          job.queuePosition !== undefined && job.queuePosition !== null ? ` (queue position ${job.queuePosition})` : '';
        this.out.write(`job ${job.id} (${job.kind} ${job.target}): ${job.state}${pos}\n`);
      }
    }
    for (const s of job.steps ?? []) {
      if (this.seen.get(s.seq) === s.state) continue;
      this.seen.set(s.seq, s.state);
      const mark = stepMark[s.state];
      if (mark) {
        const took = s.startedAt && s.finishedAt ? ` (${duration(s.finishedAt - s.startedAt)})` : '';
        this.out.write(`${mark} ${s.name} ${s.target ?? ''}${s.fault ? `: ${s.fault}` : ''}${took}\n`);
      }
    }
    this.draw();
  }

  log(line: { level?: string; msg?: string; at?: number }): void {
    this.clear();
    this.out.write(`log  ${line.level ?? ''} ${line.msg ?? ''}\n`);
    this.draw();
  }

  /** Redraws the progress line (a terminal only). */
  draw(): void {
    const job = this.last;
    if (!this.out.tty || !job || FINAL_STATES.has(job.state)) return;
    const steps = (job.steps ?? []).filter((s) => s.state !== 'skipped');
    const finished = steps.filter((s) => s.state === 'done' || s.state === 'failed').length;
    const running = steps.find((s) => s.state === 'running');
    const width = 20;
    const fill = steps.length ? Math.round((finished / steps.length) * width) : 0;
    const text =
      `[${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${finished}/${steps.length} steps  ${job.state}` +
      `${running ? `  ${running.name} ${running.target ?? ''}` : ''}  ${duration(Date.now() - this.started)}`;
    this.out.write(`\r\x1b[2K${text.slice(0, (this.out.columns || 100) - 1)}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows job `id` until it reaches a final state and returns the final job with its steps.
 * @throws ApiError 404 for an unknown job (exit code 4), or when the stream cannot be reopened
 *   `retries` times in a row
 */
export async function watchJob(
  api: ApiClient,
  id: string,
  out: WatchOutput,
  opts: WatchOptions = {},
): Promise<JobView> {
  const path = `/api/v1/jobs/${encodeURIComponent(id)}`;
  const r = new Renderer(out);
  const timer = out.tty && !opts.quiet ? setInterval(() => r.draw(), 1000) : undefined;
  timer?.unref();
  let lastId = '';
  let failures = 0;
  try {
    for (;;) {
      let ended = false;
      try {
        const res = await api.stream(`${path}/events`, lastId || undefined);
        failures = 0;
        for await (const ev of readSse(res.body!)) {
          if (ev.id) lastId = ev.id;
          if (opts.quiet) {
            if (ev.event === 'end') ended = true;
            continue;
          }
          if (ev.event === 'job') r.job(JSON.parse(ev.data) as JobView);
          else if (ev.event === 'log' && opts.log) r.log(JSON.parse(ev.data) as { level?: string; msg?: string });
          else if (ev.event === 'end') ended = true;
        }
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) throw e;
        if (!(e instanceof UnreachableError) && !(e instanceof ApiError) && !(e instanceof TypeError)) throw e;
        if (++failures > (opts.retries ?? 5)) throw e;
      }
      const job = await api.json<JobView>('GET', path);
      if (ended || FINAL_STATES.has(job.state)) {
        r.clear();
        return job;
      }
      await sleep(failures ? 2000 : 200); // the stream ended early (its time cap) or failed: reopen
    }
  } finally {
    if (timer) clearInterval(timer);
    r.clear();
  }
}

/** The exit code of a followed job: 0 when it succeeded, 1 otherwise. */
export function jobExitCode(job: JobView): number {
  return job.state === 'succeeded' ? 0 : 1;
}

/** The last line of a followed job: `job ID: STATE[: error]`. */
export function jobOutcomeLine(job: JobView): string {
  return `job ${job.id}: ${job.state}${job.error ? `: ${job.error}` : ''}\n`;
}

/** The watch output of this process: stdout, a terminal when stdout is one. */
export function stdoutWatch(): WatchOutput {
  return {
    write: (s) => process.stdout.write(s),
    tty: Boolean(process.stdout.isTTY),
    columns: process.stdout.columns,
  };
}
