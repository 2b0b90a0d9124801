/**
 * The store's job history (src/store ports) as the web's {@link JobReader}, with secrets redacted,
 * and queued jobs' place in the engine's admission order (`queuePosition`, `waitReason`, `waitDetail`).
 */
import type { JobHistory, JobState } from '../store/index.js';
import type { QueueView } from '../engine/queue.js';
import type { JobReader, JobSummary } from './deps.js';
import { redactSecrets } from './audit.js';

/**
 * The jobs store as a {@link JobReader}; step values pass through secret redaction. With `queue`
 * (the job runner), a queued job carries its place: position in its vCenter's admission order and
 * why it waits (src/engine/admission.ts); a job queued by no runner (another process) has none.
 */
export function storeJobReader(jobs: JobHistory, queue?: QueueView): JobReader {
  const placed = (list: JobSummary[]): JobSummary[] => {
    if (!queue || !list.some((j) => j.state === 'queued')) return list;
    const places = queue.queued();
    return list.map((j) => {
      const p = j.state === 'queued' ? places.get(j.id) : undefined;
      return p ? { ...j, ...p } : j;
    });
  };
  return {
    list: async (f) =>
      placed(
        await jobs.list({
          ...(f.state ? { state: f.state as JobState } : {}),
          ...(f.target ? { target: f.target } : {}),
          limit: f.limit ?? 100,
        }),
      ),
    get: async (id) => {
      const j = await jobs.get(id);
      return j && placed([j])[0];
    },
    steps: async (id) =>
      (await jobs.steps(id)).map((s) => ({
        seq: s.seq,
        name: s.name,
        target: s.target,
        before: redactSecrets(s.before),
        after: redactSecrets(s.after),
        state: s.state,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        result: redactSecrets(s.result),
        fault: s.fault,
      })),
    log: async (id, afterId) =>
      (await jobs.logs(id, afterId ?? 0)).map((l) => ({ id: l.id, at: l.at, level: l.level, msg: l.msg })),
  };
}
