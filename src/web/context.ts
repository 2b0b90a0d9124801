/** The per-app context every route module receives: dependencies plus resolved defaults. */
import type { AppDeps } from './deps.js';
import { problems } from './problem.js';

export interface WebContext {
  deps: AppDeps;
  now: () => number;
  sessionTtlMs: number;
  /** Session cookie `Secure` flag. */
  secure: boolean;
}

/** Resolves defaults from {@link AppDeps}. */
export function makeContext(deps: AppDeps): WebContext {
  const tls = Boolean(deps.config?.http['tls-cert'] && deps.config.http['tls-key']);
  return {
    deps,
    now: deps.now ?? Date.now,
    sessionTtlMs: deps.sessionTtlMs ?? 12 * 3600_000,
    secure: deps.secureCookies ?? tls,
  };
}

/**
 * Returns the optional dependency or throws a 503 problem naming it.
 * @throws HttpProblem 503 when absent
 */
export function need<K extends keyof AppDeps>(ctx: WebContext, key: K, what: string): NonNullable<AppDeps[K]> {
  const v = ctx.deps[key];
  if (v === undefined || v === null) throw problems.notAvailable(what);
  return v;
}
