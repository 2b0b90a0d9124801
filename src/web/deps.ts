/**
 * What the web app needs from the rest of statelesx, as narrow interfaces ("ports").
 * `buildApp` receives an {@link AppDeps}; every member but `store` and `log` is optional, and a
 * route whose dependency is absent answers 503 problem+json "not available". The composition root
 * (src/app/server.ts) passes the real modules, adapted in src/app/web-adapters.ts when their
 * shapes differ. Of the store, the web gets only the ports of {@link WebStore}.
 */
import type { FastifyPluginAsync } from 'fastify';
import type {
  ApiTokenStore,
  AuditLog,
  HostBootStore,
  HostForgetStore,
  HostInstallStore,
  HostReader,
  HostWriter,
  JobHistory,
  SettingsStore,
  StoreHealth,
  TofuThumbprints,
  UserStore,
} from '../store/index.js';
import type { Logger } from '../log.js';
import type { Config } from '../config/schema.js';
import type { JobControl, JobQueue, QueueView, WaitReason } from '../engine/queue.js';
import type { DesiredCluster, MemberHost } from '../clusters/types.js';
import type { ImageManifest } from '../images/image.js';

/** A problem found in a cluster file: message plus where (1-based line/column, element path). */
export interface ClusterIssue {
  message: string;
  path?: string;
  line?: number;
  column?: number;
  file?: string;
}

/** One cluster file as listed. `errors` is non-empty when the file does not validate. */
export interface ClusterSummary {
  name: string;
  file: string;
  vcenter?: string;
  datacenter?: string;
  hosts: number;
  errors: ClusterIssue[];
}

/** What a join adds to a cluster file's member list (src/clusters `addMemberHost`). */
export type MemberHostInput = Pick<MemberHost, 'fqdn' | 'uuid' | 'addresses'> & { mac?: string; image?: string };

/** Thrown by cluster edits when the result would not validate; carries the issues. */
export class ClusterInvalidError extends Error {
  override name = 'ClusterInvalidError';
  constructor(
    message: string,
    readonly issues: ClusterIssue[],
  ) {
    super(message);
  }
}

/**
 * Who makes a cluster-file change and why: the git commit's author (the console user, or
 * `token:<name>` for an API token, as audited) and message (default `update|create|delete <file>`).
 */
export interface ClusterChangeBy {
  author: string;
  message?: string;
}

/** One commit that touched a cluster file (src/clusters/history ClusterVersion); `time` epoch ms. */
export interface ClusterVersionView {
  id: string;
  author: string;
  email: string;
  time: number;
  message: string;
}

/** A diff between two versions (src/clusters/history ClusterDiff); `to` may be `working`. */
export interface ClusterDiffView {
  file: string;
  from: string;
  to: string;
  unified: string;
  hunks: Array<{ oldStart: number; oldLines: number; newStart: number; newLines: number; lines: string[] }>;
  fromText: string;
  toText: string;
}

/**
 * The git history of the cluster files. Names are cluster names or file names (as the other
 * routes). Errors are HttpProblem: 404 unknown commit or file not in it.
 */
export interface ClusterHistoryService {
  /** Commits that touched the file, newest first; [] when none. */
  versions(name: string): Promise<ClusterVersionView[]>;
  /** Unified diff and hunks from `from` to `to` (a commit or `working`). */
  diff(name: string, from: string, to: string): Promise<ClusterDiffView>;
  /** The file's text at a commit and the commit's full id. */
  readAt(name: string, commit: string): Promise<{ commit: string; xml: string }>;
}

/** Cluster files (src/clusters): read, validate, write atomically, add member hosts. */
export interface ClusterService {
  list(): Promise<ClusterSummary[]>;
  /** The validated cluster, undefined when no such file. @throws ClusterInvalidError */
  get(name: string): Promise<DesiredCluster | undefined>;
  /** The file's text, undefined when no such file. */
  readXml(name: string): Promise<string | undefined>;
  /** Validates text as the cluster `name` without saving; [] = valid. */
  validateXml(name: string, xml: string): Promise<ClusterIssue[]>;
  /**
   * Validates and writes atomically (a commit by `change.author` when history is kept); returns
   * the issues and writes nothing when there are any.
   */
  writeXml(name: string, xml: string, change?: ClusterChangeBy): Promise<ClusterIssue[]>;
  /** Adds a member host, keeping the file valid and its formatting. @throws ClusterInvalidError */
  addMemberHost(name: string, member: MemberHostInput, change?: ClusterChangeBy): Promise<void>;
  /** Deletes the file (a commit when history is kept); false when there is no such file. */
  deleteXml?(name: string, change?: ClusterChangeBy): Promise<boolean>;
  /** Present when the clusters directory keeps its history in git. */
  history?: ClusterHistoryService;
}

/** One planned or executed change (engine/plan Step): vSphere method, target, before → after. */
export interface PlanStep {
  name: string;
  target?: string | null;
  before?: unknown;
  after?: unknown;
}

/**
 * A member the plan leaves alone (engine/lifecycle HostHold): `waiting-for-phone-home` (not in
 * vCenter, its current boot has not phoned home), `waiting-for-boot` (not responding in vCenter,
 * not booted since), `thumbprint-mismatch` (a phone-home refused as a possible spoof).
 */
export interface HeldMember {
  uuid: string;
  fqdn: string;
  reason: 'waiting-for-phone-home' | 'waiting-for-boot' | 'thumbprint-mismatch';
  /** One sentence: why, and what brings it back. */
  detail: string;
}

/**
 * A warning that changes nothing in the plan (engine/lifecycle FqdnMismatch): the member's last
 * phone-home named it `reported`, not the `fqdn` its cluster file declares.
 */
export interface PlanWarning {
  uuid: string;
  fqdn: string;
  reason: 'fqdn-mismatch';
  reported: string;
  /** One sentence: what differs. */
  detail: string;
}

/** A member whose current boot phoned home and has not converged yet (engine/drift RejoinDue). */
export interface DueRejoin {
  uuid: string;
  fqdn: string;
  /** Epoch ms of this boot's phone-home. */
  phonedHomeAt: number;
  /** The job that failed for this boot for a reason a retry cannot fix, if one did. */
  failedJob?: string | undefined;
}

/** A plan (what an apply would do) with the members it leaves alone and the rejoins due. */
export interface PlanView {
  /** What an apply would do, missing members' AddHost_Task and configuration included. */
  steps: PlanStep[];
  /** Members the plan leaves alone, and why (empty when the boot facts are not known). */
  held: HeldMember[];
  /** Members whose current boot phoned home and has not converged yet. */
  rejoins: DueRejoin[];
  /** Warnings that change nothing: a member phoned home with another FQDN than the file's. */
  warnings?: PlanWarning[] | undefined;
}

/**
 * A drift check (src/engine/drift.ts DriftReport) as the API returns it, step values with secrets
 * redacted. Drift is what differs for what exists; members vCenter does not know yet are not drift.
 */
export interface DriftView extends PlanView {
  cluster: string;
  /** When vCenter was read, epoch ms. */
  at: number;
  /** True when `driftSteps` is not empty (missing members alone are not drift). */
  drifted: boolean;
  /** The drift: steps for the cluster and the members vCenter knows (what remediation would do). */
  driftSteps: PlanStep[];
  /** SMBIOS UUIDs of members with no HostSystem in vCenter (SearchIndex.FindByUuid found none). */
  missingHosts: string[];
}

/**
 * Plan and drift (src/engine). Both read vCenter; neither writes.
 * @throws HttpProblem 404 unknown cluster, 422 the plan is impossible (PlanError), 502 vCenter
 *   answered with a fault, 503 vCenter not reachable (login, network, TLS, timeout)
 */
export interface EngineService {
  plan(cluster: string): Promise<PlanView>;
  drift(cluster: string): Promise<DriftView>;
}

/** A durable job as stored (table `jobs`). Times epoch ms. */
export interface JobSummary {
  id: string;
  kind: string;
  target: string;
  cluster: string | null;
  vcenter: string | null;
  state: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  error: string | null;
  requestedBy: string | null;
  /** Queued jobs only: 1-based position in its vCenter's admission order (src/engine/admission.ts). */
  queuePosition?: number;
  /** Queued jobs only: why it waits — `host`, `priority`, `cluster-limit`, `vcenter-limit` or `rate`. */
  waitReason?: WaitReason;
  /** Queued jobs only: one sentence on what it waits for. */
  waitDetail?: string;
}

/** One job step (table `job_steps`). */
export interface JobStepView {
  seq: number;
  name: string;
  target: string | null;
  before: unknown;
  after: unknown;
  state: string;
  startedAt: number | null;
  finishedAt: number | null;
  result: unknown;
  fault: string | null;
}

/** One job log line (table `job_log`); `id` increases. */
export interface JobLogLine {
  id: number;
  at: number;
  level: string;
  msg: string;
}

/** Read side of the jobs store (src/engine); each call may reject with the store's error. */
export interface JobReader {
  /** Newest first. */
  list(filter: { state?: string; target?: string; limit?: number }): Promise<JobSummary[]>;
  get(id: string): Promise<JobSummary | undefined>;
  steps(id: string): Promise<JobStepView[]>;
  /** Log lines with id > `afterId`, oldest first. */
  log(id: string, afterId?: number): Promise<JobLogLine[]>;
}

/** An image version as listed (images/<name>/image.json). */
export interface ImageInfo {
  name: string;
  kind: string;
  version?: string;
  build?: string;
  importedAt?: number;
  files?: number;
  bytes?: number;
}

/** Progress of an import: bytes or files done of total. */
export interface ImportProgress {
  done: number;
  total: number;
  file?: string;
}

/** One file of an image, checked and ready to stream (`GET /api/v1/images/{name}/files/*`). */
export interface ImageFileOnDisk {
  /** Real absolute path, inside the image's directory (symlinks resolved). */
  path: string;
  /** Size in bytes and hex SHA-256 the manifest records. */
  size: number;
  sha256: string;
}

/** Images (src/images). */
export interface ImageService {
  list(): Promise<ImageInfo[]>;
  /**
   * The full manifest (`image.json`) of image `name`, or null when there is no such image.
   * @throws HttpProblem 409 when its image.json is broken (the message says what and where)
   */
  manifest(name: string): Promise<ImageManifest | null>;
  /**
   * A raw file of image `name` as stored on disk (never the per-host rendered boot.cfg of `/boot/`).
   * @param path `/`-separated path inside the image, as the manifest lists it
   * @returns null when there is no such image or `path` is not one of its manifest's files (or is
   *   missing on disk)
   * @throws HttpProblem 403 when `path` breaks the boot tree's path rules (src/boot/files/path.ts:
   *   `..`, absolute, control characters …) or a symlink leads out of the image directory
   */
  file(name: string, path: string): Promise<ImageFileOnDisk | null>;
  /** Imports an ISO or directory path on the server. @throws Error with a message saying what is wrong */
  import(source: string, opts: { name?: string; onProgress?: (p: ImportProgress) => void }): Promise<ImageInfo>;
  /** @throws Error when pinned or unknown */
  remove(name: string): Promise<void>;
}

/** vCenter connection check (src/vsphere): logs in and out; never returns the password. */
export interface VcenterTester {
  test(name: string): Promise<{ ok: boolean; message: string; apiVersion?: string }>;
}

/**
 * The store ports the web reads and writes (src/store/ports.ts): hosts (state and image pins are
 * the only host writes), console users and sessions, the audit log, settings (the setup token),
 * job history, and the health ping of `/readyz`.
 */
export interface WebStore extends StoreHealth {
  hosts: HostReader & Pick<HostWriter, 'setState' | 'setImagePin'>;
  users: UserStore;
  /** API bearer tokens (`/api/v1/tokens`, the `Authorization: Bearer` check). */
  apiTokens: ApiTokenStore;
  /** Forget a host, delete stale unregistered sightings. */
  hostForget: HostForgetStore;
  audit: AuditLog;
  settings: SettingsStore;
  jobs: JobHistory & TofuThumbprints;
  /** Members' current boots: the unregistered list's phone-home/PXE flag, the thumbprint reset. */
  hostBoots: Pick<HostBootStore, 'get' | 'getMany' | 'resetThumbprint'>;
  /** Stateful members' installs (boot-once): the install state and the reinstall request. */
  hostInstalls: Pick<HostInstallStore, 'get' | 'requestReinstall'>;
}

/** Everything the web app may use. */
export interface AppDeps {
  store: WebStore;
  log: Logger;
  /** Server config: `http`, `vcenters` (listed without secrets). */
  config?: Config;
  queue?: JobQueue;
  /** Cancel and retry jobs (the job runner). */
  jobControl?: JobControl;
  /** Queued jobs' place in the admission order (the job runner); used when `jobs` is not given. */
  queueView?: QueueView;
  clusters?: ClusterService;
  engine?: EngineService;
  jobs?: JobReader;
  images?: ImageService;
  vcenters?: VcenterTester;
  /** HTTP boot files (src/boot/http/plugin.ts, which routes its own `/boot/*` prefix), unauthenticated. */
  bootPlugin?: FastifyPluginAsync;
  /** Phone-home routes (src/phonehome/http.ts), registered at the root with prefix `/api/v1`, unauthenticated. */
  phoneHomePlugin?: FastifyPluginAsync;
  /** True once every service has started (`/readyz`). Default: true. */
  ready?: () => boolean;
  /**
   * `/readyz`'s `images` check: `ok`, or the pinned images of the shared image catalog this server
   * cannot serve (src/app/image-catalog.ts); absent: not checked.
   */
  imagesReadiness?: () => string;
  /** Session cookie `Secure` flag; default: true when TLS is configured. */
  secureCookies?: boolean;
  /** Login rate limit per client address; default 10 per minute. */
  loginRateLimit?: { max: number; timeWindowMs: number };
  /** Session lifetime in ms; default 12 hours. */
  sessionTtlMs?: number;
  /** Clock (epoch ms). */
  now?: () => number;
}
