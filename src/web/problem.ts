/**
 * RFC 9457 "Problem Details for HTTP APIs": every API error is `application/problem+json` with
 * `type`, `title`, `status`, `detail`, `instance`, and — for invalid input — `errors`, a list of
 * `{ path, message }` where `path` is a JSON Pointer (RFC 6901) into the request part, e.g.
 * `/body/hosts/0/fqdn`.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** One invalid field: JSON Pointer into `body`, `querystring`, `params` or `headers`, plus a message. */
export interface FieldError {
  path: string;
  message: string;
  /** Cluster-file position, when the error is in XML (file line and column, 1-based). */
  line?: number;
  column?: number;
}

/** An error a route throws to answer with a given status as problem+json. */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly errors?: FieldError[],
    readonly extra?: Record<string, unknown>,
  ) {
    super(detail ?? title);
  }
}

/** Problem `type` URIs: relative references documented in the OpenAPI document. */
const TYPES: Record<number, string> = {
  400: 'validation-error',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
  422: 'invalid-content',
  429: 'rate-limited',
  502: 'vcenter-fault',
  503: 'not-available',
};

/** Shortcuts for the common answers. */
export const problems = {
  notFound: (what: string) => new HttpProblem(404, 'Not Found', `${what} not found`),
  forbidden: (detail: string) => new HttpProblem(403, 'Forbidden', detail),
  unauthenticated: () => new HttpProblem(401, 'Unauthenticated', 'log in first (POST /api/v1/session)'),
  conflict: (detail: string) => new HttpProblem(409, 'Conflict', detail),
  notAvailable: (what: string) =>
    new HttpProblem(
      503,
      'Service Unavailable',
      `${what} is not available on this server (the subsystem is not running)`,
    ),
  invalid: (detail: string, errors: FieldError[]) => new HttpProblem(422, 'Unprocessable Content', detail, errors),
};

/** JSON Pointer segment escaping (RFC 6901 §3). */
function ptr(seg: string): string {
  return seg.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Maps fastify/ajv validation errors to field errors with JSON Pointer paths.
 * `required` errors point at the missing property; `additionalProperties` at the extra one.
 */
export function fieldErrorsOf(err: FastifyError): FieldError[] {
  const ctx = err.validationContext ?? 'body';
  return (err.validation ?? []).map((v) => {
    let path = `/${ctx}${v.instancePath}`;
    const params = v.params;
    if (v.keyword === 'required' && typeof params['missingProperty'] === 'string')
      path += `/${ptr(params['missingProperty'])}`;
    if (v.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string')
      path += `/${ptr(params['additionalProperty'])}`;
    return { path, message: v.message ?? v.keyword };
  });
}

/** Writes a problem document. */
export function sendProblem(
  reply: FastifyReply,
  req: FastifyRequest,
  status: number,
  title: string,
  detail: string,
  errors?: FieldError[],
  extra?: Record<string, unknown>,
): FastifyReply {
  const body: Record<string, unknown> = {
    type: `/api/docs#problem-${TYPES[status] ?? 'error'}`,
    title,
    status,
    detail,
    instance: req.url,
    ...(extra ?? {}),
  };
  if (errors) body['errors'] = errors;
  return reply.code(status).type('application/problem+json').send(body);
}

/**
 * The fastify error handler: HttpProblem → its status; validation → 400 with field paths;
 * fastify errors with a 4xx status → that status, titled with its reason phrase (413 "Payload Too
 * Large", 415 "Unsupported Media Type"); anything else → 500 with no internals.
 */
export function problemErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof HttpProblem) {
    if (err.status === 429 && err.extra?.['retryAfter']) reply.header('retry-after', err.extra['retryAfter']);
    return sendProblem(reply, req, err.status, err.title, err.message, err.errors, err.extra);
  }
  if (err.validation) {
    const errors = fieldErrorsOf(err);
    return sendProblem(
      reply,
      req,
      400,
      'Bad Request',
      `invalid request: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
      errors,
    );
  }
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) {
    req.log.error({ err }, 'unhandled error');
    return sendProblem(
      reply,
      req,
      500,
      'Internal Server Error',
      'the server failed to handle this request; see the server log for request ' + req.id,
    );
  }
  let detail = err.message;
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    detail =
      `Content-Type ${JSON.stringify(String(req.headers['content-type'] ?? '').slice(0, 100))} is not accepted here` +
      ' (send application/json; cluster files also as application/xml; console forms as application/x-www-form-urlencoded)';
  }
  return sendProblem(reply, req, status, reasonPhrase(status), detail);
}

/** The standard reason phrase of an HTTP status (RFC 9110 §15, node:http STATUS_CODES), e.g. 413 → "Payload Too Large". */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}
