/**
 * Cluster files: `/api/v1/clusters` — list, parsed view, XML text get/put (validation issues as
 * structured data with element path, line and column), validate, plan, apply, drift; history,
 * diff, revert and delete are in ./cluster-history.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { WebContext } from '../context.js';
import { need } from '../context.js';
import { NAME_PATTERN, errorResponses } from '../schemas.js';
import { HttpProblem, problems } from '../problem.js';
import { applyCluster, issuesToFieldErrors, saveClusterXml } from '../services.js';
import { ClusterInvalidError } from '../deps.js';
import { clusterHistoryRoutes } from './cluster-history.js';

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;
const xmlBody = {
  description: 'the cluster file: raw XML (Content-Type application/xml) or JSON {"xml": "..."}',
  anyOf: [
    { type: 'string', maxLength: 4_000_000 },
    { type: 'object', required: ['xml'], properties: { xml: { type: 'string', maxLength: 4_000_000 } } },
  ],
} as const;
/** Members the plan leaves alone (engine/lifecycle HostHold). */
const heldOut = {
  type: 'array',
  description:
    'members the plan leaves alone, and why: waiting-for-phone-home (not in vCenter, its current boot has not phoned home), waiting-for-boot (not responding in vCenter, not booted since), thumbprint-mismatch (a phone-home refused as a possible spoof)',
  items: {
    type: 'object',
    required: ['uuid', 'fqdn', 'reason', 'detail'],
    properties: {
      uuid: { type: 'string' },
      fqdn: { type: 'string' },
      reason: { type: 'string', enum: ['waiting-for-phone-home', 'waiting-for-boot', 'thumbprint-mismatch'] },
      detail: { type: 'string', description: 'why, and what brings it back' },
    },
  },
} as const;
/** Members whose current boot phoned home and has not converged yet. */
const rejoinsOut = {
  type: 'array',
  description: 'members whose current boot phoned home and has not converged yet: a (re)join is due',
  items: {
    type: 'object',
    required: ['uuid', 'fqdn', 'phonedHomeAt'],
    properties: {
      uuid: { type: 'string' },
      fqdn: { type: 'string' },
      phonedHomeAt: { type: 'integer', description: "this boot's phone-home, epoch ms" },
      failedJob: {
        type: 'string',
        description: 'the job that failed for this boot for a reason a retry cannot fix (not re-queued at a restart)',
      },
    },
  },
} as const;
/** Warnings that change nothing in the plan (engine/lifecycle FqdnMismatch). */
const warningsOut = {
  type: 'array',
  description:
    "warnings that change nothing in the plan: fqdn-mismatch (the member's last phone-home named it differently from the FQDN the cluster file declares)",
  items: {
    type: 'object',
    required: ['uuid', 'fqdn', 'reason', 'reported', 'detail'],
    properties: {
      uuid: { type: 'string' },
      fqdn: { type: 'string', description: 'the FQDN the cluster file declares' },
      reason: { type: 'string', enum: ['fqdn-mismatch'] },
      reported: { type: 'string', description: 'the name the host sent in its last phone-home' },
      detail: { type: 'string' },
    },
  },
} as const;
const planOut = {
  type: 'object',
  required: ['cluster', 'steps', 'held', 'rejoins'],
  properties: {
    cluster: { type: 'string' },
    steps: { type: 'array', items: { $ref: 'PlanStep#' } },
    held: heldOut,
    rejoins: rejoinsOut,
    warnings: warningsOut,
  },
} as const;
const driftOut = {
  type: 'object',
  required: ['cluster', 'at', 'drifted', 'steps', 'driftSteps', 'missingHosts', 'held', 'rejoins'],
  description:
    'a drift check (engine DriftReport): drift is what differs for what exists; members vCenter does not know yet are listed apart, not drift',
  properties: {
    cluster: { type: 'string' },
    at: { type: 'integer', description: 'when vCenter was read, epoch ms' },
    drifted: { type: 'boolean', description: 'driftSteps is not empty (missing members alone are not drift)' },
    steps: {
      type: 'array',
      items: { $ref: 'PlanStep#' },
      description: 'what an apply would do, missing members included',
    },
    driftSteps: {
      type: 'array',
      items: { $ref: 'PlanStep#' },
      description: 'the drift: steps for the cluster and the members vCenter knows',
    },
    missingHosts: {
      type: 'array',
      items: { type: 'string' },
      description: 'SMBIOS UUIDs of members with no HostSystem in vCenter',
    },
    held: heldOut,
    rejoins: rejoinsOut,
    warnings: warningsOut,
  },
} as const;
/** Answers of the routes that read vCenter: 502 a vSphere fault, 503 vCenter not reachable. */
const vcenterErrors = { ...errorResponses, 502: { $ref: 'Problem#' } } as const;

function xmlOf(body: unknown): string {
  return typeof body === 'string' ? body : (body as { xml: string }).xml;
}

/** Registers the `/api/v1/clusters` routes. */
export function clusterRoutes(app: FastifyInstance, ctx: WebContext): void {
  fileReadRoutes(app, ctx);
  fileWriteRoutes(app, ctx);
  vcenterRoutes(app, ctx);
  clusterHistoryRoutes(app, ctx);
}

/** The list, one parsed cluster, and one file's XML text. */
function fileReadRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get(
    '/api/v1/clusters',
    {
      schema: {
        tags: ['clusters'],
        summary: 'Cluster files with their validity',
        response: { 200: { type: 'array', items: { $ref: 'ClusterSummary#' } }, ...errorResponses },
      },
    },
    async () => need(ctx, 'clusters', 'cluster files').list(),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/clusters/:name',
    {
      schema: {
        tags: ['clusters'],
        summary: 'The parsed, validated cluster (DesiredCluster)',
        params: nameParams,
        response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses },
      },
    },
    async (req) => {
      try {
        const c = await need(ctx, 'clusters', 'cluster files').get(req.params.name);
        if (!c) throw problems.notFound(`cluster ${req.params.name}`);
        return c;
      } catch (e) {
        if (e instanceof ClusterInvalidError)
          throw problems.invalid(`cluster ${req.params.name} does not validate`, issuesToFieldErrors(e.issues));
        throw e;
      }
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/clusters/:name/xml',
    {
      schema: {
        tags: ['clusters'],
        summary: 'The cluster file text',
        params: nameParams,
        produces: ['application/xml'],
        response: { 200: { type: 'string' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const xml = await need(ctx, 'clusters', 'cluster files').readXml(req.params.name);
      if (xml === undefined) throw problems.notFound(`cluster ${req.params.name}`);
      return reply.type('application/xml; charset=utf-8').send(xml);
    },
  );
}

/** Saving a file's XML (validated, atomic) and validating XML without saving. */
function fileWriteRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.put<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/clusters/:name/xml',
    {
      schema: {
        tags: ['clusters'],
        summary: 'Validate and save the cluster file atomically; 422 with the issues when invalid (nothing written)',
        params: nameParams,
        body: xmlBody,
        consumes: ['application/xml', 'application/json'],
        response: { 200: { type: 'object', properties: { saved: { type: 'boolean' } } }, ...errorResponses },
      },
    },
    async (req) => {
      const issues = await saveClusterXml(ctx, req, req.params.name, xmlOf(req.body));
      if (issues.length)
        throw new HttpProblem(
          422,
          'Unprocessable Content',
          `cluster ${req.params.name} does not validate (${issues.length} issue(s)); nothing was saved`,
          issuesToFieldErrors(issues),
        );
      return { saved: true };
    },
  );

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/clusters/:name/validate',
    {
      config: { auth: 'viewer' },
      schema: {
        tags: ['clusters'],
        summary: 'Validate cluster file text without saving',
        params: nameParams,
        body: xmlBody,
        response: {
          200: {
            type: 'object',
            properties: { valid: { type: 'boolean' }, issues: { type: 'array', items: { $ref: 'ClusterIssue#' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const issues = await need(ctx, 'clusters', 'cluster files').validateXml(req.params.name, xmlOf(req.body));
      return { valid: issues.length === 0, issues };
    },
  );
}

/** What reads vCenter: plan, apply (a queued job), drift. */
function vcenterRoutes(app: FastifyInstance, ctx: WebContext): void {
  app.get<{ Params: { name: string } }>(
    '/api/v1/clusters/:name/plan',
    {
      schema: {
        tags: ['clusters'],
        summary:
          'What an apply would change (reads vCenter, writes nothing); 503 when vCenter is not reachable, 422 when no plan can reach the file',
        params: nameParams,
        response: { 200: planOut, ...vcenterErrors },
      },
    },
    async (req) => ({
      cluster: req.params.name,
      ...(await need(ctx, 'engine', 'the cluster engine').plan(req.params.name)),
    }),
  );

  app.post<{ Params: { name: string } }>(
    '/api/v1/clusters/:name/apply',
    {
      config: { auth: 'operator' },
      schema: {
        tags: ['clusters'],
        summary: 'Queue an apply of the whole cluster',
        params: nameParams,
        response: { 202: { $ref: 'JobRef#' }, ...errorResponses },
      },
    },
    async (req, reply) => reply.code(202).send(await applyCluster(ctx, req, req.params.name)),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/clusters/:name/drift',
    {
      schema: {
        tags: ['clusters'],
        summary:
          "Differences between the cluster's hosts in vCenter and the file (a drift report); 503 when vCenter is not reachable",
        params: nameParams,
        response: { 200: driftOut, ...vcenterErrors },
      },
    },
    async (req) => need(ctx, 'engine', 'the cluster engine').drift(req.params.name),
  );
}
