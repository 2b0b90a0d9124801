/**
 * Adapters from the real modules (cluster files, images, engine, vCenter login) to the web app's
 * ports (src/web/deps.ts), so routes depend on a narrow interface and the composition root
 * (./server.ts) passes the modules unchanged. The job history's adapter is the web's own
 * (src/web/job-reader.ts): it only redacts.
 */
import {
  ClusterInvalidError,
  type ClusterIssue,
  type ClusterService,
  type DriftView,
  type EngineService,
  type PlanStep,
  type ImageInfo,
  type ImageService,
  type VcenterTester,
} from '../web/deps.js';
import type { VcenterConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { connectVcenter } from '../engine/vsphere-adapter.js';
import { redactSecrets } from '../web/audit.js';
import { HttpProblem, problems } from '../web/problem.js';
import type { ClusterRepository } from '../clusters/repository.js';
import { ClusterValidationError, type ClusterDiagnostic } from '../clusters/diagnostics.js';
import { MemberEditError } from '../clusters/edit.js';
import { changeOf, clusterHistoryService } from './cluster-history-adapter.js';
import { ImageError, ImageLibrary, type ImageManifest, type PinCheck } from '../images/image.js';
import { PathRejectedError, checkBootPath, resolveInside } from '../boot/files/path.js';
import { importImage } from '../images/import.js';
import type { VcenterApi } from '../engine/vcenter.js';
import { checkDrift } from '../engine/drift.js';
import type { BootsReader } from '../engine/job-lifecycle.js';
import type { PoolAllocationRepo } from '../store/pools.js';
import { PlanError, type Step } from '../engine/plan.js';
import {
  ThumbprintMismatchError,
  VsphereFault,
  VsphereHttpError,
  VsphereNetworkError,
  VsphereTimeoutError,
  VsphereTlsError,
} from '../vsphere/faults.js';

// ---- cluster files (src/clusters/repository.ts) ----

/** Diagnostics of src/clusters as the API's issue shape. */
function toIssues(list: ClusterDiagnostic[]): ClusterIssue[] {
  return list.map((d) => ({ message: d.message, path: d.path, line: d.line, column: d.column, file: d.file }));
}

/**
 * A {@link ClusterRepository} as a {@link ClusterService}. Names in the API are cluster names;
 * a file is found by its cluster's name or, for an invalid file, by its file name.
 */
export function clusterService(repo: ClusterRepository): ClusterService {
  const fileOf = (name: string) =>
    repo.files().find((s) => s.cluster?.name === name) ?? repo.files().find((s) => s.name === name);
  return {
    // eslint-disable-next-line @typescript-eslint/require-await -- ClusterService.list is async (other sources read files); the repository is in memory
    list: async () =>
      repo.files().map((s) => ({
        name: s.cluster?.name ?? s.name,
        file: s.file,
        hosts: s.cluster?.hosts.length ?? 0,
        errors: toIssues(s.diagnostics),
        ...(s.cluster ? { vcenter: s.cluster.vcenter, datacenter: s.cluster.datacenter } : {}),
      })),
    // eslint-disable-next-line @typescript-eslint/require-await -- ClusterService.get is async (other sources read files); the repository is in memory
    get: async (name) => {
      const s = fileOf(name);
      if (!s) return undefined;
      if (!s.cluster) throw new ClusterInvalidError(`cluster file ${s.file} is invalid`, toIssues(s.diagnostics));
      return s.cluster;
    },
    readXml: async (name) => {
      const s = fileOf(name);
      if (!s) return undefined;
      return repo.getText(s.name);
    },
    validateXml: async (name, xml) => toIssues((await repo.check(fileOf(name)?.name ?? name, xml)).diagnostics),
    writeXml: async (name, xml, change) => {
      try {
        await repo.putText(fileOf(name)?.name ?? name, xml, change ? { change: changeOf(change) } : {});
        return [];
      } catch (e) {
        if (e instanceof ClusterValidationError) return toIssues(e.diagnostics);
        throw e;
      }
    },
    addMemberHost: async (name, m, change) => {
      if (!repo.get(name)) throw new Error(`cluster ${name} not found (or its file is invalid)`);
      try {
        await repo.addHost(
          name,
          {
            uuid: m.uuid,
            fqdn: m.fqdn,
            addresses: m.addresses,
            ...(m.mac ? { mac: m.mac } : {}),
            ...(m.image ? { image: m.image } : {}),
          },
          change ? changeOf(change) : undefined,
        );
      } catch (e) {
        if (e instanceof ClusterValidationError)
          throw new ClusterInvalidError('the cluster file would not validate', toIssues(e.diagnostics));
        if (e instanceof MemberEditError)
          throw new ClusterInvalidError(e.message, [{ message: e.message, path: '/cluster/members' }]);
        throw e;
      }
    },
    deleteXml: (name, change) => repo.remove(fileOf(name)?.name ?? name, change ? changeOf(change) : undefined),
    ...(repo.history ? { history: clusterHistoryService(repo, (name) => fileOf(name)?.name ?? name) } : {}),
  };
}

// ---- images (src/images) ----

/**
 * The images directory as an {@link ImageService}; removal is refused while hosts are pinned; image
 * files are looked up under the boot tree's path rules (src/boot/files/path.ts), confined to the
 * image's directory and limited to its manifest's files.
 */
export function imageService(
  imagesDir: string,
  pins: PinCheck,
  catalog?: { imported(name: string): Promise<unknown>; removed(name: string): Promise<unknown> },
): ImageService {
  const lib = new ImageLibrary(imagesDir);
  const info = (m: ImageManifest): ImageInfo => ({
    name: m.name,
    kind: m.kind,
    files: m.files.length,
    bytes: m.files.reduce((n, f) => n + f.size, 0),
    importedAt: Date.parse(m.importedAt),
    ...(m.esxi?.version ? { version: m.esxi.version } : {}),
    ...(m.esxi?.build ? { build: m.esxi.build } : {}),
  });
  return {
    list: async () => (await lib.list()).images.map(info),
    import: async (source, opts) => {
      const m = await importImage({
        source,
        imagesDir,
        ...(opts.name ? { name: opts.name } : {}),
        onProgress: (p) =>
          opts.onProgress?.({
            done: p.bytesTotal ? p.bytes : p.done,
            total: p.bytesTotal || p.total,
            file: `${p.phase}: ${p.file}`,
          }),
      });
      await catalog?.imported(m.name);
      return info(m);
    },
    remove: async (name) => {
      await lib.remove(name, pins);
      await catalog?.removed(name);
    },
    manifest: async (name) => {
      try {
        return await lib.get(name);
      } catch (e) {
        if (e instanceof ImageError) throw problems.conflict(`image ${name} cannot be read: ${e.message}`);
        throw e;
      }
    },
    file: async (name, path) => {
      try {
        // The boot tree's rules first: a refused path is refused whatever image it names.
        const segments = checkBootPath(path);
        const m = await lib.get(name);
        const entry = m?.files.find((f) => f.path === path);
        if (!m || !entry) return null;
        const real = await resolveInside(lib.pathOf(name), segments, path);
        return real === null ? null : { path: real, size: entry.size, sha256: entry.sha256 };
      } catch (e) {
        if (e instanceof PathRejectedError) throw problems.forbidden(`${e.message}: ${JSON.stringify(path)}`);
        if (e instanceof ImageError) throw problems.conflict(`image ${name} cannot be read: ${e.message}`);
        throw e;
      }
    },
  };
}

// ---- engine plan and drift (src/engine) ----

/** Where plan and drift get a logged-in vCenter (vim.SessionManager session). */
export interface VcenterSource {
  /** A logged-in vCenter by its `vcenters:` name. */
  connect: (name: string) => Promise<VcenterApi>;
  /**
   * True when the connections belong to their source (the job runner's one connection per
   * vCenter, JobRunner.vcenter) and are not closed here. False: every call logs in and is logged
   * out again when it ends (SessionManager.Logout), whatever the outcome.
   */
  shared: boolean;
}

/** Errors that mean no usable connection to vCenter (as opposed to a fault vCenter answered with). */
function isUnreachable(e: unknown): boolean {
  return (
    e instanceof VsphereNetworkError ||
    e instanceof VsphereTimeoutError ||
    e instanceof VsphereTlsError ||
    e instanceof ThumbprintMismatchError ||
    e instanceof VsphereHttpError
  );
}

/**
 * A failed plan/drift as the HTTP answer: 422 PlanError (the file or vCenter must change), 503 when
 * vCenter cannot be reached or logged in to, 502 for another vSphere fault; anything else is rethrown
 * (500). Messages name the vCenter and never contain a password (src/vsphere/faults.ts).
 */
export function engineProblem(vcenter: string, cluster: string, phase: 'connect' | 'read', e: unknown): unknown {
  if (e instanceof HttpProblem) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof PlanError)
    return new HttpProblem(422, 'Unprocessable Content', `cluster ${cluster} cannot be planned: ${msg}`, undefined, {
      vcenter,
    });
  if (phase === 'connect' || isUnreachable(e))
    return new HttpProblem(503, 'Service Unavailable', `vCenter not reachable: ${vcenter}: ${msg}`, undefined, {
      vcenter,
    });
  if (e instanceof VsphereFault)
    return new HttpProblem(502, 'Bad Gateway', `vCenter ${vcenter} answered with a fault: ${msg}`, undefined, {
      vcenter,
    });
  return e;
}

/**
 * Plan and drift over the cluster repository and a vCenter source. A per-call source's session is
 * logged out in `finally`; a shared one is left to its owner. With `pools` (JobRepo.pools), pool
 * addresses are planned from the store's stable allocations, as apply does; with `boot` (the
 * store's host boots, engine/job-lifecycle bootLookup), members are held and rejoins shown as the
 * job runner plans them (without it every member counts as phoned home).
 * @throws HttpProblem (see {@link EngineService}) — 404 for a cluster no valid file defines
 */
export function engineService(
  repo: ClusterRepository,
  source: VcenterSource,
  now: () => number = Date.now,
  pools?: PoolAllocationRepo,
  boot?: BootsReader,
): EngineService {
  const report = async (name: string): Promise<DriftView> => {
    const desired = repo.get(name);
    if (!desired) throw problems.notFound(`cluster ${name}`);
    let vc: VcenterApi;
    try {
      vc = await source.connect(desired.vcenter);
    } catch (e) {
      throw engineProblem(desired.vcenter, name, 'connect', e);
    }
    try {
      const r = await checkDrift(vc, desired, now(), pools, boot);
      const view = (steps: Step[]): PlanStep[] =>
        steps.map((s) => ({
          name: s.name,
          target: s.target,
          before: redactSecrets(s.before),
          after: redactSecrets(s.after),
        }));
      return {
        cluster: r.cluster,
        at: r.at,
        drifted: r.drifted,
        steps: view(r.steps),
        driftSteps: view(r.driftSteps),
        missingHosts: r.missingHosts,
        held: r.held.map(({ uuid, fqdn, reason, detail }) => ({ uuid, fqdn, reason, detail })),
        rejoins: r.rejoins,
        // only when there are some: the answer's shape is unchanged for clusters without warnings
        ...(r.warnings.length
          ? {
              warnings: r.warnings.map(({ uuid, fqdn, reason, reported, detail }) => ({
                uuid,
                fqdn,
                reason,
                reported,
                detail,
              })),
            }
          : {}),
      };
    } catch (e) {
      throw engineProblem(desired.vcenter, name, 'read', e);
    } finally {
      if (!source.shared) await vc.close().catch(() => undefined);
    }
  };
  return {
    plan: async (name) => {
      const { steps, held, rejoins, warnings } = await report(name);
      return { steps, held, rejoins, ...(warnings ? { warnings } : {}) };
    },
    drift: report,
  };
}

// ---- vCenter connection test (src/engine/vsphere-adapter.ts) ----

/** Logs in to a configured vCenter and out again; the message never contains the password. */
export function vcenterTester(vcenters: VcenterConfig[], log: Logger): VcenterTester {
  return {
    test: async (name) => {
      const vc = vcenters.find((v) => v.name === name);
      if (!vc) return { ok: false, message: `vCenter ${name} is not configured` };
      try {
        const api = await connectVcenter(vc, log);
        await api.close();
        return { ok: true, message: `logged in to ${vc.url} as ${vc.username} and out again` };
      } catch (e) {
        return { ok: false, message: (e as Error).message };
      }
    },
  };
}
