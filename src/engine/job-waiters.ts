/**
 * Who waits for which job to end (JobRunner.wait, src/engine/jobs.ts): resolved by the runner
 * when it finishes the job here, or — several servers, the job may run on another one — when a
 * poll of the store finds it finished.
 */
import type { JobRecord } from '../store/jobs.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'blocked']);

/** The waiters of a runner's jobs. */
export class JobWaiters {
  readonly #waiters = new Map<string, ((j: JobRecord) => void)[]>();

  /** @param get reads a job from the store */
  constructor(
    private readonly get: (id: string) => Promise<JobRecord | undefined>,
    private readonly pollMs = 500,
  ) {}

  /**
   * Resolves with the job once it is final (at once when it already is).
   * @param poll also read the store every `pollMs` (the job may end on another server)
   * @throws Error `no job <id>` when the store has no such job; the store's errors
   */
  async wait(jobId: string, poll: boolean): Promise<JobRecord> {
    // Registered before the store is read: a finish between the read and the registration is not missed.
    let resolve!: (j: JobRecord) => void;
    const done = new Promise<JobRecord>((res) => (resolve = res));
    this.#waiters.set(jobId, [...(this.#waiters.get(jobId) ?? []), resolve]);
    const j = await this.get(jobId).catch((e: unknown) => {
      this.#drop(jobId, resolve);
      throw e;
    });
    if (!j || FINAL.has(j.state)) {
      this.#drop(jobId, resolve);
      if (!j) throw new Error(`no job ${jobId}`);
      return j;
    }
    if (poll) this.#poll(jobId, resolve);
    return done;
  }

  /** The job ended here: wakes its waiters. */
  finished(j: JobRecord): void {
    for (const w of this.#waiters.get(j.id) ?? []) w(j);
    this.#waiters.delete(j.id);
  }

  #poll(jobId: string, resolve: (j: JobRecord) => void): void {
    const t = setInterval(() => {
      if (!(this.#waiters.get(jobId) ?? []).includes(resolve)) return void clearInterval(t);
      void this.get(jobId)
        .then((j) => {
          if (!j || !FINAL.has(j.state)) return;
          clearInterval(t);
          this.#drop(jobId, resolve);
          resolve(j);
        })
        .catch(() => undefined);
    }, this.pollMs);
    t.unref();
  }

  #drop(jobId: string, w: (j: JobRecord) => void): void {
    const rest = (this.#waiters.get(jobId) ?? []).filter((x) => x !== w);
    if (rest.length) this.#waiters.set(jobId, rest);
    else this.#waiters.delete(jobId);
  }
}
