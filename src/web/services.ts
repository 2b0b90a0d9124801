/**
 * The operations behind the API and the console (both call these; routes only translate HTTP).
 * Each change is audited. Errors are HttpProblem so either front end can render them.
 */
import type { FastifyRequest } from 'fastify';
import { seenByPxeOnly } from '../engine/lifecycle.js';
import { swapUuidByteOrder } from '../hosts/identity.js';
import type { WebContext } from './context.js';
import { need } from './context.js';
import { auditChange } from './audit.js';
import { ClusterInvalidError, type ClusterIssue, type MemberHostInput } from './deps.js';
import { HttpProblem, problems, type FieldError } from './problem.js';
import type { JobRef } from '../engine/queue.js';
import type { ImportStatus, ImportTracker } from './imports.js';
import { FQDN_PATTERN } from './schemas.js';

/**
 * One host to join: its SMBIOS UUID, the FQDN vCenter will use (default: the one the host phoned
 * home with, {@link phonedHomeFqdn}), optional per-host addresses and image.
 */
export interface JoinRequest {
  uuid: string;
  fqdn?: string | undefined;
  addresses?: Record<string, string>;
  image?: string;
}

/** The outcome of one host's join. */
export interface JoinResult {
  uuid: string;
  ok: boolean;
  cluster: string;
  /** The FQDN written into the cluster file when it was not given: the one the host phoned home with. */
  fqdn?: string;
  job?: JobRef;
  error?: string;
  errors?: FieldError[];
  /** The host was only seen by PXE on its current boot: its job adds it once ESXi phones home. */
  waitsForPhoneHome?: boolean;
}

/** Cluster-file issues as field errors (`path` = element path, plus line/column). */
export function issuesToFieldErrors(issues: ClusterIssue[], prefix = ''): FieldError[] {
  return issues.map((i) => ({
    path: prefix + (i.path ?? ''),
    message: i.message,
    ...(i.line !== undefined ? { line: i.line } : {}),
    ...(i.column !== undefined ? { column: i.column } : {}),
  }));
}

const FQDN_RE = new RegExp(FQDN_PATTERN);

/**
 * The name a host phoned home with (`hosts.hostname`, lower case; current initiators send the
 * FQDN from `esxcli system hostname get`) when it is a fully qualified RFC 1123 name: at least
 * two labels of letters, digits and `-`, at most 253 characters. Null for a short name, one with
 * `_` (the phone-home parser tolerates it from 2008 scripts), or none: vCenter must be able to
 * resolve what the cluster file declares.
 */
export function phonedHomeFqdn(hostname: string | null | undefined): string | null {
  return hostname && hostname.includes('.') && FQDN_RE.test(hostname) ? hostname : null;
}

/**
 * Joins one unregistered host to a cluster: writes it into the cluster file (validated, atomic,
 * formatting kept — src/clusters addMemberHost), marks it registered, queues its configure job.
 * @throws HttpProblem 404 unknown host, 409 not unregistered, 422 no FQDN given and none phoned
 *   home, or the file would not validate,
 *   503 cluster files or the engine queue not available
 */
export async function joinHost(
  ctx: WebContext,
  req: FastifyRequest,
  cluster: string,
  j: JoinRequest,
): Promise<JoinResult> {
  const clusters = need(ctx, 'clusters', 'cluster files');
  const queue = need(ctx, 'queue', 'the job engine');
  const { store } = ctx.deps;
  const uuid = j.uuid.toLowerCase();
  const host = await store.hosts.get(uuid);
  if (!host) throw problems.notFound(`host ${uuid}`);
  if (host.state !== 'unregistered')
    throw problems.conflict(
      `host ${uuid} is ${host.state}${host.cluster ? ` in cluster ${host.cluster}` : ''}, not unregistered`,
    );
  const fqdn = j.fqdn ?? phonedHomeFqdn(host.hostname);
  if (!fqdn)
    throw problems.invalid(
      `host ${uuid} phoned home without a fully qualified name${host.hostname ? ` (it sent "${host.hostname}")` : ''}: give the FQDN vCenter will use`,
      [{ path: '/fqdn', message: 'required: the host sent no FQDN to default to' }],
    );
  const member: MemberHostInput = { uuid, fqdn, addresses: j.addresses ?? {} };
  if (host.macs[0]) member.mac = host.macs[0];
  if (j.image) member.image = j.image;
  try {
    await clusters.addMemberHost(cluster, member, { author: actorOf(req) });
  } catch (e) {
    if (e instanceof ClusterInvalidError) {
      throw new HttpProblem(
        422,
        'Unprocessable Content',
        `host ${uuid} cannot be added to cluster ${cluster}: ${e.message}`,
        issuesToFieldErrors(e.issues),
      );
    }
    const msg = (e as Error).message;
    if (/not found|no such|unknown cluster/i.test(msg)) throw problems.notFound(`cluster ${cluster}`);
    throw new HttpProblem(422, 'Unprocessable Content', msg);
  }
  await store.hosts.setState(uuid, 'registered', cluster);
  const job = await queue.enqueueConfigureHost(uuid, { source: 'api', actor: req.user?.username ?? 'unknown' });
  await auditChange(
    store.audit,
    req,
    'host.join',
    uuid,
    { state: host.state, cluster: host.cluster },
    { state: 'registered', cluster, fqdn, addresses: member.addresses, image: j.image ?? null, job: job.id },
    ctx.now(),
  );
  const waits = seenByPxeOnly(await store.hostBoots.get(uuid, swapUuidByteOrder(uuid)));
  const defaulted = j.fqdn === undefined ? { fqdn } : {};
  return { uuid, ok: true, cluster, ...defaulted, job, ...(waits ? { waitsForPhoneHome: true } : {}) };
}

/** Joins several hosts; each result says ok or why not (one failing host does not stop the others). */
export async function joinHosts(
  ctx: WebContext,
  req: FastifyRequest,
  cluster: string,
  hosts: JoinRequest[],
  image?: string,
): Promise<JoinResult[]> {
  need(ctx, 'clusters', 'cluster files');
  need(ctx, 'queue', 'the job engine');
  const out: JoinResult[] = [];
  for (const h of hosts) {
    try {
      out.push(
        await joinHost(ctx, req, cluster, { ...h, ...(h.image || image ? { image: (h.image ?? image)! } : {}) }),
      );
    } catch (e) {
      const p = e instanceof HttpProblem ? e : new HttpProblem(500, 'Error', (e as Error).message);
      out.push({ uuid: h.uuid, ok: false, cluster, error: p.message, ...(p.errors ? { errors: p.errors } : {}) });
    }
  }
  return out;
}

/**
 * Sets (or with null clears) a host's boot assignment (image pin); takes effect on its next boot.
 * @throws HttpProblem 422 when the image is not imported (checked when the image service is present)
 */
export async function setPin(ctx: WebContext, req: FastifyRequest, uuid: string, image: string | null): Promise<void> {
  const { store } = ctx.deps;
  uuid = uuid.toLowerCase();
  if (image !== null && ctx.deps.images) {
    const names = (await ctx.deps.images.list()).map((i) => i.name);
    if (!names.includes(image)) {
      throw problems.invalid(`image ${image} is not imported`, [
        { path: '/body/image', message: `unknown image; known: ${names.join(', ') || '(none)'}` },
      ]);
    }
  }
  const before = (await store.hosts.get(uuid))?.imagePin ?? null;
  await store.hosts.setImagePin(uuid, image, ctx.now());
  await auditChange(
    store.audit,
    req,
    image === null ? 'pin.clear' : 'pin.set',
    uuid,
    { image: before },
    { image },
    ctx.now(),
  );
}

/** Queues an apply of a whole cluster. @throws HttpProblem 503 without the engine, 404 unknown cluster */
export async function applyCluster(ctx: WebContext, req: FastifyRequest, name: string): Promise<JobRef> {
  const queue = need(ctx, 'queue', 'the job engine');
  if (ctx.deps.clusters && (await ctx.deps.clusters.readXml(name)) === undefined)
    throw problems.notFound(`cluster ${name}`);
  const job = await queue.enqueueApplyCluster(name, { source: 'api', actor: req.user?.username ?? 'unknown' });
  await auditChange(ctx.deps.store.audit, req, 'cluster.apply', name, null, { job: job.id }, ctx.now());
  return job;
}

/** The name a change is audited and committed under: the user, or `token:<name>` for an API token. */
export function actorOf(req: FastifyRequest): string {
  return req.user?.username ?? 'anonymous';
}

/**
 * Validates and saves a cluster file's text (with history kept: a commit by the caller).
 * @param opts.message the commit message (default `update|create <file>`)
 * @param opts.action the audit action (default `cluster.update` / `cluster.create`)
 * @param opts.audit more to record in the audit entry's after-state (e.g. the reverted commit)
 * @returns [] when saved, else the issues (nothing written)
 */
export async function saveClusterXml(
  ctx: WebContext,
  req: FastifyRequest,
  name: string,
  xml: string,
  opts: { message?: string; action?: string; audit?: Record<string, unknown> } = {},
): Promise<ClusterIssue[]> {
  const clusters = need(ctx, 'clusters', 'cluster files');
  const before = await clusters.readXml(name);
  const issues = await clusters.writeXml(name, xml, {
    author: actorOf(req),
    ...(opts.message ? { message: opts.message } : {}),
  });
  if (issues.length === 0) {
    await auditChange(
      ctx.deps.store.audit,
      req,
      opts.action ?? (before === undefined ? 'cluster.create' : 'cluster.update'),
      name,
      before === undefined ? null : { xml: before },
      { xml, ...opts.audit },
      ctx.now(),
    );
  }
  return issues;
}

/**
 * Deletes a cluster file (with history kept: a commit by the caller), audited as `cluster.delete`.
 * @throws HttpProblem 404 when there is no such file, 503 without cluster files
 */
export async function deleteClusterXml(ctx: WebContext, req: FastifyRequest, name: string): Promise<void> {
  const clusters = need(ctx, 'clusters', 'cluster files');
  const before = await clusters.readXml(name);
  if (before === undefined || !clusters.deleteXml) throw problems.notFound(`cluster ${name}`);
  if (!(await clusters.deleteXml(name, { author: actorOf(req) }))) throw problems.notFound(`cluster ${name}`);
  await auditChange(ctx.deps.store.audit, req, 'cluster.delete', name, { xml: before }, null, ctx.now());
}

/**
 * Writes the version of a cluster file from `commit` as a new save: the same validation and the
 * same path as {@link saveClusterXml}, audited as `cluster.revert`.
 * @returns the full commit id reverted to and the issues ([] when saved; else nothing written)
 * @throws HttpProblem 404 unknown commit or the file is not in it, 503 without history
 */
export async function revertClusterXml(
  ctx: WebContext,
  req: FastifyRequest,
  name: string,
  commit: string,
): Promise<{ commit: string; issues: ClusterIssue[] }> {
  const history = need(ctx, 'clusters', 'cluster files').history;
  if (!history) throw new HttpProblem(503, 'Service Unavailable', 'the cluster files keep no history on this server');
  const old = await history.readAt(name, commit);
  const issues = await saveClusterXml(ctx, req, name, old.xml, {
    message: `revert cluster ${name} to ${old.commit.slice(0, 12)}`,
    action: 'cluster.revert',
    audit: { revertedTo: old.commit },
  });
  return { commit: old.commit, issues };
}

/**
 * Starts an image import in the background (API and console); when it ends, the outcome is audited
 * as `image.import` (target: the image name, else the requested name, else the source path).
 * @returns the import's status (state `running`); poll it through the tracker
 * @throws HttpProblem 503 without the image library
 */
export function startImport(
  ctx: WebContext,
  req: FastifyRequest,
  tracker: ImportTracker,
  source: string,
  name?: string,
): ImportStatus {
  const images = need(ctx, 'images', 'the image library');
  return tracker.start(images, source, name, ctx.now, async (end) => {
    await auditChange(
      ctx.deps.store.audit,
      req,
      'image.import',
      end.image?.name ?? end.name ?? end.source,
      null,
      { source: end.source, state: end.state, error: end.error },
      ctx.now(),
    ).catch((e: unknown) =>
      req.log.error({ err: (e as Error).message, importId: end.id }, 'image import: audit failed'),
    );
  });
}
