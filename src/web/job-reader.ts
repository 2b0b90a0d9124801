/** The store's job history (src/store ports) as the web's {@link JobReader}, with secrets redacted. */
import type { JobHistory, JobState } from '../store/index.js';
import type { JobReader } from './deps.js';
import { redactSecrets } from './audit.js';

/** The jobs store as a {@link JobReader}; step values pass through secret redaction. */
export function storeJobReader(jobs: JobHistory): JobReader {
  return {
    list: (f) =>
      jobs.list({
        ...(f.state ? { state: f.state as JobState } : {}),
        ...(f.target ? { target: f.target } : {}),
        limit: f.limit ?? 100,
      }),
    get: (id) => jobs.get(id),
    steps: (id) =>
      jobs.steps(id).map((s) => ({
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
    log: (id, afterId) => jobs.logs(id, afterId ?? 0).map((l) => ({ id: l.id, at: l.at, level: l.level, msg: l.msg })),
  };
}
