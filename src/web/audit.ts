/**
 * Audit trail for changes made through the API and console: who (user name), what (action, e.g.
 * `host.join`), when, target, before and after — with secrets removed by key name before storing.
 */
import type { FastifyRequest } from 'fastify';
import type { AuditLog } from '../store/index.js';

const SECRET_KEY = /pass(word)?|secret|token|hash|cookie|authorization|private.?key/i;

/**
 * A deep copy of `v` with the value of every secret-looking key replaced by `"[redacted]"`.
 * Depth-limited (8) so a cyclic or huge object cannot hang the request.
 */
export function redactSecrets(v: unknown, depth = 0): unknown {
  if (depth > 8) return '[truncated]';
  if (Array.isArray(v)) return v.map((x) => redactSecrets(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) ? '[redacted]' : redactSecrets(x, depth + 1);
    }
    return out;
  }
  return v;
}

/** Records one change made by the request's user (or `anonymous` for setup); resolves when stored. */
export async function auditChange(
  repo: AuditLog,
  req: FastifyRequest,
  action: string,
  target: string | null,
  before: unknown,
  after: unknown,
  now = Date.now(),
): Promise<void> {
  await repo.add({
    at: now,
    actor: req.user?.username ?? 'anonymous',
    action,
    target,
    before: redactSecrets(before),
    after: redactSecrets(after),
  });
  req.log.info({ action, target }, 'audited change');
}
