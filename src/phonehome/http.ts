/**
 * The HTTP phone-home, for iPXE and new scripts: the same message as TCP 1974 (see ./parse.ts)
 * as a JSON body or a query string. Unauthenticated (hosts have no session); the per-boot token
 * is the credential. The web app registers {@link phoneHomePlugin} with prefix `/api/v1`.
 *
 * - `POST /api/v1/phone-home` — JSON `{uuid, hostname?, mac?: string|string[], token?, serial?,
 *   vendor?, model?, version?}`. 200 `{result: "ok", jobId, existingJob}` | 200
 *   `{result: "unregistered"}` | 403 problem+json (RFC 9457) with `reason` | 400 problem+json.
 * - `GET /api/v1/phone-home?uuid=…&hostname=…&mac=…&token=…` — for iPXE `chain`/`imgfetch`:
 *   text/plain `OK <job-id>` / `UNREGISTERED` (200), `ERR <reason>` (403 refused, 400 bad input).
 *   With `format=ipxe` the answer is always 200 and an iPXE script (`#!ipxe`) that echoes the
 *   result and `exit 1`s on a refusal, so `chain …&format=ipxe || goto failed` works.
 *   Empty parameters (iPXE expands unset settings to "") count as absent.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { phoneHomeFromFields, type PhoneHomeFields } from './parse.js';
import { normalizeAddress, phoneHomesTotal, type PhoneHomeOutcome } from '../hosts/registry.js';
import type { PhoneHomeHandler } from './connection.js';
import { replyLine } from './reply.js';

export interface PhoneHomePluginOptions {
  handler: PhoneHomeHandler;
  log: Logger;
}

const text256 = { type: 'string', maxLength: 256 } as const;
const macs = {
  anyOf: [
    { type: 'string', maxLength: 64 },
    { type: 'array', maxItems: 16, items: { type: 'string', maxLength: 64 } },
  ],
} as const;

/** JSON Schema of the POST body (also used for the GET query string). */
export const phoneHomeBodySchema = {
  type: 'object',
  required: ['uuid'],
  additionalProperties: false,
  properties: {
    uuid: { type: 'string', minLength: 1, maxLength: 64, description: 'SMBIOS system UUID (either byte order)' },
    hostname: { type: 'string', maxLength: 253 },
    mac: macs,
    token: text256,
    serial: text256,
    vendor: text256,
    model: text256,
    version: text256,
    thumbprint: {
      type: 'string',
      maxLength: 95,
      description: "SHA-256 thumbprint of the host's certificate (/etc/vmware/ssl/rui.crt), colon hex",
    },
    'thumbprint-sha1': {
      type: 'string',
      maxLength: 59,
      description: 'SHA-1 thumbprint of the same certificate, colon hex (older vCenters)',
    },
    stage: {
      type: 'string',
      enum: ['installed'],
      description:
        "`installed`: the stateful install to disk is done (a kickstart's %firstboot); the host's later network boots boot from local disk",
    },
  },
} as const;

const querySchema = {
  ...phoneHomeBodySchema,
  properties: { ...phoneHomeBodySchema.properties, format: { type: 'string', enum: ['text', 'ipxe'] } },
} as const;

/** JSON Schema of the POST 200 answer (a recorded phone-home: job queued, or host unregistered). */
export const phoneHomeResultSchema = {
  type: 'object',
  required: ['result'],
  additionalProperties: false,
  description:
    '`ok`: the host is known and a configure-host job is queued (or already active); `unregistered`: recorded, waiting for a cluster file',
  properties: {
    result: { type: 'string', enum: ['ok', 'unregistered'] },
    jobId: { type: 'string', description: 'the configure-host job (result ok only)' },
    existingJob: {
      type: 'boolean',
      description: 'true when a queued or running job of this host was returned instead of a new one',
    },
  },
} as const;

/** JSON Schema of a POST refusal (403) or bad input (400): RFC 9457 problem details with `reason`. */
export const phoneHomeProblemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'reason'],
  additionalProperties: true,
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string', enum: ['forbidden', 'validation-error', 'too-many-requests'] },
    title: { type: 'string' },
    status: { type: 'integer', enum: [400, 403, 429] },
    detail: { type: 'string' },
    reason: {
      type: 'string',
      description:
        "403: the refusal (token-missing, token-invalid, ...); 400: schema or the parser's reason (bad-uuid, bad-mac, ...); 429: rate-limited (new hosts from one address)",
    },
  },
} as const;

/** The GET answer: a text line (`OK <job-id>`, `UNREGISTERED`, `ERR <reason>`) or, with format=ipxe, an iPXE script. */
const textAnswer = (description: string) => ({ type: 'string', description }) as const;

type Query = PhoneHomeFields & { format?: 'text' | 'ipxe' };

/** Drops empty strings (iPXE expands unset settings to ""). */
function clean(fields: Record<string, unknown>): PhoneHomeFields {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === '' || v === undefined) continue;
    if (Array.isArray(v)) {
      const kept = v.filter((x) => x !== '');
      if (kept.length > 0) out[k] = kept;
    } else out[k] = v;
  }
  return out as unknown as PhoneHomeFields;
}

function problem(
  reply: FastifyReply,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: status === 403 ? 'forbidden' : status === 429 ? 'too-many-requests' : 'validation-error',
      title,
      status,
      detail,
      ...extra,
    });
}

function ipxeScript(o: PhoneHomeOutcome | { result: 'rejected'; reason: string }): string {
  const line = o.result === 'ok' ? `OK ${o.jobId}` : o.result === 'unregistered' ? 'UNREGISTERED' : `ERR ${o.reason}`;
  return `#!ipxe\necho statelesx phone-home: ${line}\n${o.result === 'ok' || o.result === 'unregistered' ? 'exit 0' : 'exit 1'}\n`;
}

/**
 * The intake of one HTTP phone-home: validates (the schema's error, then the parser shared with
 * TCP), hands it to the registry; returns the outcome or the rejection reason, detail and status.
 */
function intake(handler: PhoneHomeHandler, log: Logger) {
  return async (request: FastifyRequest, fields: Record<string, unknown>, validationError: Error | undefined) => {
    const address = normalizeAddress(request.ip);
    const clog = log.child({
      client: `${address}:${request.socket.remotePort ?? 0}`,
      req: request.id,
      transport: 'http',
    });
    if (validationError) {
      phoneHomesTotal.inc({ transport: 'http', result: 'rejected', reason: 'schema' });
      clog.info({ reason: 'schema', detail: validationError.message }, 'phone-home rejected');
      return { result: 'rejected' as const, reason: 'schema', detail: validationError.message, status: 400 };
    }
    const parsed = phoneHomeFromFields(clean(fields), 'http');
    if (!parsed.ok) {
      phoneHomesTotal.inc({ transport: 'http', result: 'rejected', reason: parsed.reason });
      clog.info({ reason: parsed.reason, detail: parsed.detail }, 'phone-home rejected');
      return { result: 'rejected' as const, reason: parsed.reason, detail: parsed.detail, status: 400 };
    }
    return await handler.phoneHome({
      claim: parsed.message,
      address,
      transport: 'http',
      requestId: String(request.id),
      log: clog,
    });
  };
}

/**
 * fastify's Ajv drops properties a schema does not list (removeAdditional) instead of failing:
 * `noteUnknown` (a preValidation hook) notes unknown keys before validation, and `validationOf`
 * turns them into the request's validation error, so they are refused as the TCP parser refuses them.
 */
function unknownKeyCheck() {
  const unknownKeys = new WeakMap<FastifyRequest, string[]>();
  const allowed = new Set([...Object.keys(phoneHomeBodySchema.properties), 'format']);
  // eslint-disable-next-line @typescript-eslint/require-await -- an async hook (no done callback); the check itself is synchronous
  const noteUnknown = async (request: FastifyRequest) => {
    const src = request.method === 'GET' ? request.query : request.body;
    if (src && typeof src === 'object' && !Array.isArray(src)) {
      const extra = Object.keys(src).filter((k) => !allowed.has(k) || (request.method !== 'GET' && k === 'format'));
      if (extra.length > 0) unknownKeys.set(request, extra);
    }
  };
  const validationOf = (request: FastifyRequest): Error | undefined => {
    const extra = unknownKeys.get(request);
    if (extra)
      return new Error(
        `unknown key(s) ${extra.map((k) => JSON.stringify(k.slice(0, 32))).join(', ')} (known: ${[...allowed].join(', ')})`,
      );
    return request.validationError;
  };
  return { noteUnknown, validationOf };
}

/** Answers of `POST /api/v1/phone-home`, for the OpenAPI document. */
const postResponses = {
  200: phoneHomeResultSchema,
  400: {
    description: 'Invalid phone-home (nothing recorded)',
    content: { 'application/problem+json': { schema: phoneHomeProblemSchema } },
  },
  403: {
    description: 'Phone-home refused (recorded)',
    content: { 'application/problem+json': { schema: phoneHomeProblemSchema } },
  },
  429: {
    description: 'Too many new hosts from this address (initiator.new-hosts-per-source-per-minute; not recorded)',
    content: { 'application/problem+json': { schema: phoneHomeProblemSchema } },
  },
} as const;

/**
 * The fastify plugin (register with `{ prefix: '/api/v1' }`).
 * @param opts the registry (as a {@link PhoneHomeHandler}) and the logger
 */
export function phoneHomePlugin(opts: PhoneHomePluginOptions): FastifyPluginAsync {
  const log = opts.log.child({ subsystem: 'initiator' });

  const run = intake(opts.handler, log);
  const { noteUnknown, validationOf } = unknownKeyCheck();

  // eslint-disable-next-line @typescript-eslint/require-await -- FastifyPluginAsync: fastify awaits the plugin; its route registers synchronously
  return async (app) => {
    app.post(
      '/phone-home',
      {
        bodyLimit: 8192,
        attachValidation: true,
        preValidation: noteUnknown,
        schema: {
          tags: ['phone-home'],
          summary: 'A booted host announces itself (JSON form of the TCP 1974 message)',
          body: phoneHomeBodySchema,
          response: postResponses,
        },
      },
      async (request, reply) => {
        const o = await run(request, (request.body ?? {}) as Record<string, unknown>, validationOf(request));
        switch (o.result) {
          case 'ok':
            return reply.send({ result: 'ok', jobId: o.jobId, existingJob: o.existingJob });
          case 'unregistered':
            return reply.send({ result: 'unregistered' });
          case 'refused':
            if (o.reason === 'rate-limited')
              return problem(reply, 429, 'Too many new hosts', 'too many new hosts from this address: retry later', {
                reason: o.reason,
              });
            return problem(reply, 403, 'Phone-home refused', `refused: ${o.reason}`, { reason: o.reason });
          case 'rejected':
            return problem(reply, 400, 'Invalid phone-home', o.detail, { reason: o.reason });
        }
      },
    );

    app.get(
      '/phone-home',
      {
        attachValidation: true,
        preValidation: noteUnknown,
        schema: {
          tags: ['phone-home'],
          summary: 'A booted host announces itself (query-string form for iPXE chain)',
          querystring: querySchema,
          produces: ['text/plain'],
          response: {
            200: textAnswer(
              '`OK <job-id>` or `UNREGISTERED` (one line); with format=ipxe always 200: an iPXE script (`#!ipxe`) that echoes the result and exits 1 on a refusal',
            ),
            400: textAnswer('`ERR <reason>`: invalid input, nothing recorded'),
            403: textAnswer('`ERR <reason>`: refused (recorded)'),
            429: textAnswer('`ERR rate-limited`: too many new hosts from this address (not recorded)'),
          },
        },
      },
      async (request, reply) => {
        const q = (request.query ?? {}) as Query;
        const { format, ...fields } = q;
        const o = await run(request, fields, validationOf(request));
        if (format === 'ipxe') return reply.type('text/plain; charset=utf-8').send(ipxeScript(o));
        reply.type('text/plain; charset=utf-8');
        switch (o.result) {
          case 'ok':
          case 'unregistered':
            return reply.send(replyLine(o));
          case 'refused':
            return reply.code(o.reason === 'rate-limited' ? 429 : 403).send(replyLine(o));
          case 'rejected':
            return reply.code(400).send(`ERR ${o.reason}\n`);
        }
      },
    );
  };
}
