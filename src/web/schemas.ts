/**
 * JSON Schemas shared by API routes (registered once with `addSchema`, referenced as
 * `{ $ref: 'Name#' }`). They appear under components in the OpenAPI document at /api/docs.
 */
import type { FastifyInstance } from 'fastify';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const FQDN_PATTERN =
  '^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$';
export const IPV4_PATTERN = '^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$';
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

const nullableString = { type: ['string', 'null'] } as const;
const nullableInt = { type: ['integer', 'null'] } as const;

/** Every shared schema, by `$id`. */
export const sharedSchemas = [
  {
    $id: 'Problem',
    type: 'object',
    description:
      'RFC 9457 problem details; extension members (RFC 9457 §3.2) such as `vcenter` or `retryAfter` may follow',
    additionalProperties: true,
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      instance: { type: 'string' },
      vcenter: { type: 'string', description: 'the vCenter (vcenters: name) a plan or drift could not reach or read' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'message'],
          properties: {
            path: { type: 'string', description: 'JSON Pointer (RFC 6901) into the request, or XML element path' },
            message: { type: 'string' },
            line: { type: 'integer' },
            column: { type: 'integer' },
          },
        },
      },
    },
    required: ['type', 'title', 'status'],
  },
  {
    $id: 'Host',
    type: 'object',
    properties: {
      uuid: { type: 'string' },
      hostname: nullableString,
      macs: { type: 'array', items: { type: 'string' } },
      serial: nullableString,
      vendor: nullableString,
      model: nullableString,
      state: { type: 'string', enum: ['unregistered', 'registered', 'configuring', 'configured', 'failed'] },
      cluster: nullableString,
      imagePin: nullableString,
      firstSeen: { type: 'integer' },
      lastSeen: { type: 'integer' },
      lastAddress: nullableString,
      evidence: { type: 'object', additionalProperties: true },
      lastImage: {
        ...nullableString,
        description:
          'host lists: the image of its last boot (boot history), null when it never booted one through statelesx',
      },
      fqdn: {
        ...nullableString,
        description:
          'unregistered list: the host name it phoned home with when that is a fully qualified RFC 1123 name (what a join defaults to), else null',
      },
      currentBoot: {
        type: 'string',
        enum: ['phoned-home', 'pxe-only'],
        description:
          'unregistered list: whether the host phoned home on its current boot (ESXi runs, a join adds it at once) or was only seen by PXE (a join waits for its phone-home)',
      },
    },
    required: ['uuid', 'state', 'macs', 'firstSeen', 'lastSeen'],
  },
  {
    $id: 'BootEvent',
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: { type: 'integer' },
      hostUuid: nullableString,
      mac: nullableString,
      address: nullableString,
      protocol: { type: 'string' },
      file: nullableString,
      image: nullableString,
      firmware: nullableString,
      detail: { type: 'object', additionalProperties: true },
    },
  },
  {
    $id: 'JobRef',
    type: 'object',
    required: ['id', 'existing'],
    properties: {
      id: { type: 'string' },
      existing: { type: 'boolean', description: 'an equal job was already queued or running' },
    },
  },
  {
    $id: 'Job',
    type: 'object',
    properties: {
      id: { type: 'string' },
      kind: { type: 'string' },
      target: { type: 'string' },
      cluster: nullableString,
      vcenter: nullableString,
      state: { type: 'string' },
      createdAt: { type: 'integer' },
      startedAt: nullableInt,
      finishedAt: nullableInt,
      attempts: { type: 'integer' },
      error: nullableString,
      requestedBy: nullableString,
      queuePosition: {
        type: 'integer',
        minimum: 1,
        description: "queued jobs only: 1-based position in its vCenter's admission order (1 = next to start)",
      },
      waitReason: {
        type: 'string',
        enum: ['host', 'priority', 'cluster-limit', 'vcenter-limit', 'rate'],
        description:
          'queued jobs only: why it waits — host (another job changes one of its hosts), priority (a cluster with a lower priority number is still coming up), cluster-limit (engine.concurrency-per-cluster), vcenter-limit (engine.concurrency-per-vcenter), rate (engine.admission-rate)',
      },
      waitDetail: { type: 'string', description: 'queued jobs only: one sentence on what it waits for' },
    },
  },
  {
    $id: 'JobStep',
    type: 'object',
    properties: {
      seq: { type: 'integer' },
      name: { type: 'string' },
      target: nullableString,
      before: {},
      after: {},
      state: { type: 'string' },
      startedAt: nullableInt,
      finishedAt: nullableInt,
      result: {},
      fault: nullableString,
    },
  },
  {
    $id: 'JobLogLine',
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: { type: 'integer' },
      level: { type: 'string' },
      msg: { type: 'string' },
    },
  },
  {
    $id: 'ClusterIssue',
    type: 'object',
    required: ['message'],
    properties: {
      message: { type: 'string' },
      path: { type: 'string' },
      line: { type: 'integer' },
      column: { type: 'integer' },
      file: { type: 'string' },
    },
  },
  {
    $id: 'ClusterSummary',
    type: 'object',
    properties: {
      name: { type: 'string' },
      file: { type: 'string' },
      vcenter: { type: 'string' },
      datacenter: { type: 'string' },
      hosts: { type: 'integer' },
      errors: { type: 'array', items: { $ref: 'ClusterIssue#' } },
    },
  },
  {
    $id: 'PlanStep',
    type: 'object',
    description:
      'one change: vSphere method, target, before → after (a removal of network/@prune — RemoveVirtualNic, RemovePortGroup, RemoveVirtualSwitch — has after null)',
    properties: { name: { type: 'string' }, target: nullableString, before: {}, after: {} },
  },
  {
    $id: 'Image',
    type: 'object',
    properties: {
      name: { type: 'string' },
      kind: { type: 'string' },
      version: { type: 'string' },
      build: { type: 'string' },
      importedAt: { type: 'integer' },
      files: { type: 'integer' },
      bytes: { type: 'integer' },
    },
  },
  {
    $id: 'ImageManifest',
    type: 'object',
    description:
      "an image's image.json (src/images/image.ts): what it is and every file with its path, size in bytes and SHA-256 (hex)",
    properties: {
      schema: { type: 'integer' },
      name: { type: 'string' },
      kind: { type: 'string', enum: ['esxi', 'linux'] },
      esxi: {
        type: 'object',
        properties: {
          version: nullableString,
          build: nullableString,
          title: nullableString,
          bootCfg: { type: 'string' },
          biosLoader: nullableString,
          efiLoader: nullableString,
        },
      },
      linux: {
        type: 'object',
        properties: {
          kernel: { type: 'string' },
          initrd: { type: 'array', items: { type: 'string' } },
          cmdline: { type: 'string' },
        },
      },
      source: { type: 'string' },
      importedAt: { type: 'string', description: 'ISO 8601 UTC time of the import' },
      files: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'size', 'sha256'],
          properties: {
            path: { type: 'string', description: '/-separated path inside the image directory' },
            size: { type: 'integer', description: 'bytes' },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      },
    },
  },
  {
    $id: 'User',
    type: 'object',
    properties: {
      id: { type: 'integer' },
      username: { type: 'string' },
      role: { type: 'string', enum: ['admin', 'operator', 'viewer'] },
      createdAt: { type: 'integer' },
      disabled: { type: 'boolean' },
    },
  },
  {
    $id: 'AuditEntry',
    type: 'object',
    properties: {
      id: { type: 'integer' },
      at: { type: 'integer' },
      actor: { type: 'string' },
      action: { type: 'string' },
      target: nullableString,
      before: {},
      after: {},
    },
  },
  {
    $id: 'Vcenter',
    type: 'object',
    description: 'a configured vCenter; the password source is never returned',
    properties: {
      name: { type: 'string' },
      url: { type: 'string' },
      username: { type: 'string' },
      thumbprint: { type: 'string' },
      hasCaFile: { type: 'boolean' },
    },
  },
] as const;

/** Registers the shared schemas on `app`. */
export function addSharedSchemas(app: FastifyInstance): void {
  for (const s of sharedSchemas) app.addSchema(s);
}

/** Standard error responses for a route's `response` map. */
export const errorResponses = {
  400: { $ref: 'Problem#' },
  401: { $ref: 'Problem#' },
  403: { $ref: 'Problem#' },
  404: { $ref: 'Problem#' },
  409: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
  503: { $ref: 'Problem#' },
} as const;
