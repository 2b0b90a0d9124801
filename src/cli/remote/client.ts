/**
 * The REST API client of the remote CLI: one place for the bearer header, JSON bodies, problem+json
 * errors (RFC 9457, src/web/problem.ts) and connection failures, on Node's built-in fetch. Commands
 * call {@link ApiClient.json} (or {@link ApiClient.call} when the status matters) and never build
 * requests themselves.
 */
import type { FieldError } from '../../web/problem.js';
import { ApiError, UnreachableError } from './errors.js';
import type { RemoteTarget } from './target.js';

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** A request's options. */
export interface CallOptions {
  query?: Query;
  /** Sent as JSON (`application/json`). */
  body?: unknown;
  /** Sent as is with `contentType` (e.g. XML text). */
  text?: string;
  contentType?: string;
  /** Abort after this many ms (default 120 s: plan and drift read vCenter). */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Aborts the request (Ctrl-C); the abort error is thrown as it is. */
  signal?: AbortSignal;
}

/** An answer: status, headers and the parsed body (JSON, text, or undefined when empty). */
export interface ApiAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

const USER_AGENT = 'statelesx-cli/0.1.0';

/** What a failed fetch (TypeError "fetch failed") was about: the cause's code and message. */
function causeOf(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  if (c?.code && c.message && !c.message.includes(c.code)) return `${c.code}: ${c.message}`;
  return c?.message ?? c?.code ?? (e as Error).message;
}

/** A hint for TLS verification failures: the CA the certificate needs. */
function tlsHint(msg: string): string {
  return /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_/i.test(msg)
    ? ' (the server certificate is not trusted: pass --ca FILE with the CA that signed it, or set STATELESX_CA)'
    : '';
}

/** The API of one statelesx server, authenticated with a bearer token. */
export class ApiClient {
  constructor(
    readonly target: RemoteTarget,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** The absolute URL of an API path (`/api/v1/...`) with its query. */
  url(path: string, query?: Query): string {
    const u = new URL(this.target.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.href;
  }

  /**
   * Sends a request and returns the answer, whatever its status is 2xx.
   * @throws ApiError for a status ≥ 400 (with the problem's title, detail and field errors)
   * @throws UnreachableError when the server cannot be reached or the request times out
   */
  async call<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<ApiAnswer<T>> {
    const res = await this.send(method, path, opts, opts.timeoutMs ?? 120_000);
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    let body: unknown = text === '' ? undefined : text;
    if (text !== '' && /json/.test(type)) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (res.status >= 400) throw problemOf(res.status, body, `${method} ${path}`);
    return { status: res.status, headers: res.headers, body: body as T };
  }

  /** {@link call} and return only the body. */
  async json<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    return (await this.call<T>(method, path, opts)).body;
  }

  /**
   * Opens a `text/event-stream` (no timeout: it lasts as long as the server sends).
   * @param lastEventId sent as `Last-Event-ID` to resume after that event
   * @throws ApiError / UnreachableError as {@link call}
   */
  async stream(path: string, lastEventId?: string): Promise<Response> {
    return this.open(path, {
      headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    });
  }

  /**
   * GETs a file (`application/octet-stream`) and returns the answer with its body unread, to be
   * streamed by the caller (no overall timeout: large files take as long as they take; Node's
   * fetch still gives up on a body that stalls for 5 minutes).
   * @throws ApiError / UnreachableError as {@link call}
   */
  async download(path: string, signal?: AbortSignal): Promise<Response> {
    return this.open(path, {
      headers: { accept: 'application/octet-stream, application/problem+json;q=0.9' },
      ...(signal ? { signal } : {}),
    });
  }

  /** A GET whose body the caller reads: error statuses thrown as {@link ApiError}. */
  private async open(path: string, opts: CallOptions): Promise<Response> {
    const res = await this.send('GET', path, opts, undefined);
    if (res.status >= 400) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: the text is the detail */
      }
      throw problemOf(res.status, body, `GET ${path}`);
    }
    if (!res.body) throw new UnreachableError(`GET ${path}: the server sent no body`);
    return res;
  }

  private async send(method: string, path: string, opts: CallOptions, timeoutMs: number | undefined) {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.target.token}`,
      accept: 'application/json, application/problem+json;q=0.9, */*;q=0.1',
      'user-agent': USER_AGENT,
      ...opts.headers,
    };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    } else if (opts.text !== undefined) {
      headers['content-type'] = opts.contentType ?? 'text/plain; charset=utf-8';
      body = opts.text;
    }
    try {
      return await this.fetchFn(this.url(path, opts.query), {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...signalOf(opts.signal, timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if ((e as Error).name === 'TimeoutError')
        throw new UnreachableError(`${method} ${path}: no answer from ${this.target.server} within ${timeoutMs} ms`);
      const why = causeOf(e);
      throw new UnreachableError(`cannot reach ${this.target.server} (${why})${tlsHint(why)}`, { cause: e });
    }
  }
}

/** fetch's `signal`: the caller's, the timeout's, or both (whichever fires first). */
function signalOf(signal: AbortSignal | undefined, timeoutMs: number | undefined): { signal?: AbortSignal } {
  const timeout = timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined;
  if (signal && timeout) return { signal: AbortSignal.any([signal, timeout]) };
  const one = signal ?? timeout;
  return one ? { signal: one } : {};
}

/** An ApiError from an error answer: problem+json fields when present, else the text as detail. */
function problemOf(status: number, body: unknown, request: string): ApiError {
  if (body && typeof body === 'object') {
    const p = body as { title?: unknown; detail?: unknown; message?: unknown; errors?: unknown };
    const errors = Array.isArray(p.errors)
      ? (p.errors as FieldError[]).filter((e) => e && typeof e.message === 'string')
      : [];
    return new ApiError(
      status,
      typeof p.title === 'string' ? p.title : `error`,
      typeof p.detail === 'string' ? p.detail : typeof p.message === 'string' ? p.message : undefined,
      errors,
      request,
    );
  }
  const text = typeof body === 'string' ? body.trim().slice(0, 500) : undefined;
  return new ApiError(status, 'error', text || undefined, [], request);
}
