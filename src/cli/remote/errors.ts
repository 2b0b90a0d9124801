/**
 * The remote CLI's errors and exit codes (README "Remote CLI", exit codes):
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success (a followed job succeeded) |
 * | 1 | a followed job failed, was cancelled or blocked; cluster validate/diff/revert: invalid, differ, refused |
 * | 2 | usage or configuration error (bad option, refused cli.yaml, no token); `cluster drift`: drift |
 * | 3 | the server refused the credentials: 401 (unknown, expired or revoked token) or 403 (role too low) |
 * | 4 | not found (404): no such job, host, cluster, token |
 * | 5 | the server refused the request: 400, 409 (conflict, e.g. a finished job), 413, 415, 422 (invalid input) |
 * | 6 | the server could not be reached (connection, TLS) or answered 5xx (502 vCenter fault, 503) |
 */
import type { FieldError } from '../../web/problem.js';

/** Exit codes of the remote CLI. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  refused: 5,
  unavailable: 6,
} as const;

/** A bad option or client configuration; exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = EXIT.usage;
}

/**
 * An RFC 9457 problem answer of the API (`application/problem+json`: status, title, detail,
 * errors with a JSON Pointer path each), or a non-problem error status.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly errors: FieldError[] = [],
    /** `METHOD path` of the request, for the message. */
    readonly request = '',
  ) {
    super(
      `${request ? `${request}: ` : ''}HTTP ${status} ${title}${detail && detail !== title ? `: ${detail}` : ''}` +
        errors
          .map(
            (e) => `\n  ${e.path}${e.line ? ` (line ${e.line}${e.column ? `:${e.column}` : ''})` : ''}: ${e.message}`,
          )
          .join(''),
    );
  }

  /** The exit code for this status (see the module's table). */
  get exitCode(): number {
    if (this.status === 401 || this.status === 403) return EXIT.auth;
    if (this.status === 404) return EXIT.notFound;
    if (this.status >= 500) return EXIT.unavailable;
    return EXIT.refused;
  }
}

/** The server could not be reached (DNS, connection, TLS, timeout); exit code 6. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
  readonly exitCode = EXIT.unavailable;
}

/** The exit code for an error thrown by a command: its `exitCode` when it has one, else 1. */
export function exitCodeOf(e: unknown): number {
  const code = (e as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? code : EXIT.failed;
}
