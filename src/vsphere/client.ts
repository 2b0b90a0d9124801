/**
 * VsphereClient: one vCenter, a bounded pool of logged-in sessions, typed ops and reads.
 *
 *   const vc = await VsphereClient.connect(config.vcenters[0], password, { logger });
 *   const dc = await vc.ops.CreateDatacenter(vc.serviceContent.rootFolder, 'DC1');
 *   const task = await vc.ops.AddHost_Task(cluster, { hostName, userName, password, force: false });
 *   const host = await vc.waitForTask(task, { method: 'AddHost_Task' });
 *   const state = await vc.read.readCluster('DC1', 'prod');
 *   vc.callCounts(); // { RetrievePropertiesEx: 3, AddHost_Task: 1, ... }
 *   await vc.close();
 *
 * Sessions: up to `max-sessions` logins, created when all existing ones are busy;
 * calls are spread over the least busy session. Concurrent HTTP requests are bounded by
 * `maxConcurrentRequests` (default 2 × max-sessions). A session that vCenter forgets
 * (NotAuthenticated) logs in again once and the call is retried.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import * as opsModule from './ops.js';
import * as readModule from './read.js';
import { SoapEndpoint, SoapSession, type CallOptions, type SoapResult } from './soap.js';
import { waitForTask, type WaitForTaskOptions } from './tasks.js';
import type { MoRef, ServiceContent, UserSession } from './types.js';

type Caller = opsModule.Caller;

/**
 * Where and how to reach one vCenter, as plain data. The keys are the config file's `vcenters[]`
 * entries (src/config/schema.ts), which the engine passes as they are; the password comes apart.
 */
export interface VcenterEndpoint {
  /** Our name for this vCenter (logs, metrics). */
  name: string;
  /** The SDK URL, `https://vcenter.example.com/sdk`. */
  url: string;
  /** The `SessionManager.Login` user. */
  username: string;
  /** SHA-1 or SHA-256 fingerprint of vCenter's certificate, colon-separated hex: pins TLS. */
  thumbprint?: string | undefined;
  /** PEM file of the CA that signed vCenter's certificate (read at connect; else the system store). */
  'ca-file'?: string | undefined;
  /** Most logged-in sessions (default 4). */
  'max-sessions'?: number | undefined;
  /** Per-request timeout, ms (default 60 000). */
  'timeout-ms'?: number | undefined;
}

/** Functions whose first parameter is a Caller, with that parameter bound. */
type Bound<T> = {
  [K in keyof T as T[K] extends (c: Caller, ...a: never[]) => unknown ? K : never]: T[K] extends (
    c: Caller,
    ...a: infer A
  ) => infer R
    ? (...a: A) => R
    : never;
};

/** The ops of ops.ts bound to a caller (`vc.ops.AddPortGroup(ns, spec)`). */
export type VsphereOps = Bound<typeof opsModule>;
/** The reads of read.ts bound to a caller (`vc.read.readCluster('DC0', 'C0')`). */
export type VsphereReads = Bound<typeof readModule>;

function bind<T extends object>(mod: T, c: Caller, skip: string[]): Bound<T> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(mod)) {
    if (typeof f === 'function' && !skip.includes(k) && /^[A-Za-z]/.test(k)) {
      out[k] = (...a: unknown[]) => (f as (c: Caller, ...x: unknown[]) => unknown)(c, ...a);
    }
  }
  return out as Bound<T>;
}

const OPS_SKIP = ['decodeRetrieveResult'];
const READ_SKIP = ['escapePathSegment', 'deviceOfVnicKey', 'hostStateFrom'];

/** Options of {@link VsphereClient.connect} beyond the vcenter config entry. */
export interface VsphereConnectOptions {
  logger?: Logger;
  /** Concurrent HTTP requests to this vCenter (default 2 × max-sessions). */
  maxConcurrentRequests?: number;
  /** PEM CA; default: the config's `ca-file`, else the system store. */
  ca?: string | Buffer;
  /** Overrides the config's `timeout-ms` (ms per call). */
  timeoutMs?: number;
}

/** A Caller bound to one session (for PropertyCollector filters). */
class SessionCaller implements Caller {
  constructor(
    readonly serviceContent: ServiceContent,
    private readonly session: SoapSession,
  ) {}
  invoke(method: string, thisRef: MoRef, params?: Record<string, unknown>, opts?: CallOptions): Promise<SoapResult> {
    return this.session.invoke(method, thisRef, params, opts);
  }
  withSession<T>(fn: (c: Caller) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

/** A connection to one vCenter (see the module docstring). */
export class VsphereClient implements Caller {
  readonly ops: VsphereOps;
  readonly read: VsphereReads;
  readonly log: Logger;
  private readonly sessions: SoapSession[] = [];
  private creating = 0;
  readonly #userName: string;
  readonly #password: string;
  private closed = false;

  private constructor(
    readonly name: string,
    readonly endpoint: SoapEndpoint,
    readonly serviceContent: ServiceContent,
    readonly maxSessions: number,
    userName: string,
    password: string,
    log: Logger,
  ) {
    this.#userName = userName;
    this.#password = password;
    this.log = log;
    this.ops = bind(opsModule, this, OPS_SKIP);
    this.read = bind(readModule, this, READ_SKIP);
  }

  /**
   * Connects: RetrieveServiceContent (API version for SOAPAction), then Login.
   * Throws InvalidLogin, ThumbprintMismatchError, VsphereTlsError, VsphereTimeoutError,
   * VsphereNetworkError. The password is kept only for re-login and never logged.
   */
  static async connect(
    cfg: VcenterEndpoint,
    password: string,
    opts: VsphereConnectOptions = {},
  ): Promise<VsphereClient> {
    const log = (opts.logger ?? silentLogger).child({ subsystem: 'vsphere', vcenter: cfg.name });
    const maxSessions = cfg['max-sessions'] ?? 4;
    const ca = opts.ca ?? (cfg['ca-file'] ? readFileSync(cfg['ca-file']) : undefined);
    const endpoint = new SoapEndpoint({
      url: cfg.url,
      ...(cfg.thumbprint ? { thumbprint: cfg.thumbprint } : {}),
      ...(ca ? { ca } : {}),
      timeoutMs: opts.timeoutMs ?? cfg['timeout-ms'] ?? 60_000,
      maxConcurrent: opts.maxConcurrentRequests ?? maxSessions * 2,
      logger: log,
    });
    try {
      const boot = new SoapSession(endpoint);
      const sc = await opsModule.RetrieveServiceContent(boot);
      if (sc.about?.apiVersion) endpoint.apiVersion = sc.about.apiVersion;
      const client = new VsphereClient(cfg.name, endpoint, sc, maxSessions, cfg.username, password, log);
      const first = client.newSession();
      await client.login(first);
      client.sessions.push(first);
      log.info({ apiVersion: endpoint.apiVersion, product: sc.about?.fullName }, 'connected to vCenter');
      return client;
    } catch (e) {
      endpoint.close();
      throw e;
    }
  }

  private newSession(): SoapSession {
    return new SoapSession(this.endpoint, async (s) => {
      this.log.info({ user: this.#userName }, 'vSphere session expired (NotAuthenticated): logging in again');
      await this.login(s);
    });
  }

  private async login(s: SoapSession): Promise<UserSession> {
    const us = await opsModule.Login(new SessionCaller(this.serviceContent, s), this.#userName, this.#password);
    this.log.debug({ user: this.#userName }, 'vSphere session logged in');
    return us;
  }

  private async pick(): Promise<SoapSession> {
    if (this.closed) throw new Error(`vSphere client for ${this.name} is closed`);
    const idle = this.sessions.find((s) => s.inFlight === 0);
    if (idle) return idle;
    if (this.sessions.length + this.creating < this.maxSessions) {
      this.creating++;
      try {
        const s = this.newSession();
        await this.login(s);
        this.sessions.push(s);
        return s;
      } catch (e) {
        this.log.warn(
          { err: (e as Error).message },
          'could not open another vSphere session; sharing the existing ones',
        );
      } finally {
        this.creating--;
      }
    }
    return this.sessions.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
  }

  /** Invokes a method on the least busy session (see schema.ts METHODS for parameters). */
  async invoke(
    method: string,
    thisRef: MoRef,
    params?: Record<string, unknown>,
    opts?: CallOptions,
  ): Promise<SoapResult> {
    const s = await this.pick();
    return s.invoke(method, thisRef, params, opts);
  }

  /** Runs `fn` with every call on one session (PropertyCollector filters are per session). */
  async withSession<T>(fn: (c: Caller) => Promise<T>): Promise<T> {
    const s = await this.pick();
    s.inFlight++;
    try {
      return await fn(new SessionCaller(this.serviceContent, s));
    } finally {
      s.inFlight--;
    }
  }

  /** Waits for a task (tasks.ts) and returns its result; throws its typed fault. */
  waitForTask(task: MoRef, opts?: WaitForTaskOptions): Promise<unknown> {
    return waitForTask(this, task, opts);
  }

  /** Calls sent per method name since connect (or the last reset), including Login. */
  callCounts(): Record<string, number> {
    return Object.fromEntries(this.endpoint.calls);
  }

  /** Total calls sent. */
  get totalCalls(): number {
    return this.endpoint.totalCalls;
  }

  /** Zeroes the call counters. */
  resetCallCounts(): void {
    this.endpoint.calls.clear();
  }

  /** Number of logged-in sessions. */
  get sessionCount(): number {
    return this.sessions.length;
  }

  /** Logs every session out (best effort, 5 s each) and closes the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.sessions.map((s) =>
        s.invoke('Logout', this.serviceContent.sessionManager, {}, { timeoutMs: 5000 }).catch(() => undefined),
      ),
    );
    this.sessions.length = 0;
    this.endpoint.close();
  }
}
