/**
 * Adapters from the real modules to the web app's ports (src/web/deps.ts), so routes depend on a
 * narrow interface and the composition root passes the modules unchanged.
 */
import type { Store } from '../store/index.js';
import type { JobReader } from './deps.js';
import { redactSecrets } from './audit.js';

/** The jobs store (src/store/jobs.ts) as a {@link JobReader}; step values pass through secret redaction. */
export function storeJobReader(store: Store): JobReader {
  return {
    list: (f) => store.jobs.list({ ...(f.state ? { state: f.state as never } : {}), ...(f.target ? { target: f.target } : {}), limit: f.limit ?? 100 }),
    get: (id) => store.jobs.get(id),
    steps: (id) => store.jobs.steps(id).map((s) => ({
      seq: s.seq, name: s.name, target: s.target, before: redactSecrets(s.before), after: redactSecrets(s.after), state: s.state,
      startedAt: s.startedAt, finishedAt: s.finishedAt, result: redactSecrets(s.result), fault: s.fault,
    })),
    log: (id, afterId) => store.jobs.logs(id, afterId ?? 0).map((l) => ({ id: l.id, at: l.at, level: l.level, msg: l.msg })),
  };
}
