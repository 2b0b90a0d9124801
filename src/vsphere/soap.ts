/**
 * vim25 SOAP over HTTPS, wire only: envelopes from xml.ts, `SOAPAction: urn:vim25/<apiVersion>`,
 * the `vmware_soap_session` cookie kept and returned verbatim, HTTP timeouts, a bound on
 * concurrent requests per vCenter, fault → typed error (faults.ts), and one re-login on
 * `NotAuthenticated`.
 *
 * TLS: vCenter's certificate is verified normally (system CAs or `ca`), or — when a thumbprint is
 * configured — pinned: that connection skips chain verification and instead compares the
 * certificate's SHA-1/SHA-256 fingerprint with the pin *before* the socket is handed to the HTTP
 * request, so no byte (and no password) is sent to a server that does not match. Verification is
 * never turned off for the process (NODE_TLS_REJECT_UNAUTHORIZED is not touched).
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { histogram } from '../metrics.js';

const callSeconds = histogram(
  'vcenter_call_duration_seconds',
  'vSphere SOAP call latency in seconds, by vCenter host and method',
  ['vcenter', 'method'],
  [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
import {
  faultFromSoap,
  NotAuthenticated,
  ThumbprintMismatchError,
  VsphereHttpError,
  VsphereNetworkError,
  VsphereTimeoutError,
  VsphereTlsError,
} from './faults.js';
import { child, envelope, first, list, parseXml, serializeCall, text, type MoRef, type XmlNode } from './xml.js';

/** API version used for the very first call (RetrieveServiceContent) before vCenter's is known. */
export const BOOTSTRAP_API_VERSION = '6.5';

/** Options of one vCenter endpoint. */
export interface SoapEndpointOptions {
  /** `https://vcenter.example.com/sdk` (http: only for local test replays). */
  url: string;
  /** SHA-1 (20 bytes) or SHA-256 (32 bytes) thumbprint, colon hex, any case: pins the certificate. */
  thumbprint?: string;
  /** PEM CA certificate(s) to verify vCenter's certificate with (instead of the system store). */
  ca?: string | Buffer;
  /**
   * TLS SNI server name to send instead of the URL's host (RFC 6066 §3): an ESXi host's own SDK
   * reached by address, or through a test peer that picks the certificate by SNI. Pinned
   * endpoints only (the thumbprint, not the name, authenticates the server).
   */
  servername?: string;
  /** Default per-call HTTP deadline in ms. */
  timeoutMs: number;
  /** Maximum concurrent HTTP requests to this vCenter (WaitForUpdatesEx long polls excepted). */
  maxConcurrent: number;
  logger?: Logger;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline of this call in ms (default: the endpoint's). */
  timeoutMs?: number;
}

/** A counting semaphore (FIFO). */
export class Limiter {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(readonly max: number) {}
  /** Runs `fn` when a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Normalizes a colon-hex thumbprint to upper-case hex without separators. */
export function normalizeThumbprint(tp: string): string {
  return tp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** Upper-case colon hex (`AA:BB:...`). */
function colonHex(hex: string): string {
  return hex.match(/../g)?.join(':') ?? hex;
}

/**
 * An https.Agent that pins the server certificate by thumbprint. The chain is not verified
 * (self-signed vCenter certificates are the norm); the fingerprint is, before use.
 */
class PinnedAgent extends https.Agent {
  private readonly pinHex: string;
  private readonly algorithm: 'sha1' | 'sha256';
  constructor(
    thumbprint: string,
    opts: https.AgentOptions,
    private readonly servername?: string,
  ) {
    super({ ...opts, maxCachedSessions: 0 });
    this.pinHex = normalizeThumbprint(thumbprint);
    if (this.pinHex.length === 40) this.algorithm = 'sha1';
    else if (this.pinHex.length === 64) this.algorithm = 'sha256';
    else throw new Error(`thumbprint must be SHA-1 (20 bytes) or SHA-256 (32 bytes) colon hex, got ${thumbprint}`);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, s: Duplex) => void,
  ): Duplex | null | undefined {
    const opts = {
      ...(options as tls.ConnectionOptions),
      rejectUnauthorized: false,
      ...(this.servername ? { servername: this.servername } : {}),
    };
    const sock = tls.connect(opts);
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      sock.removeListener('error', onError);
      if (err) sock.destroy();
      callback?.(err, sock);
    };
    const onError = (e: Error): void => finish(e);
    sock.once('error', onError);
    sock.once('secureConnect', () => {
      const cert = sock.getPeerCertificate();
      const actual = normalizeThumbprint((this.algorithm === 'sha1' ? cert?.fingerprint : cert?.fingerprint256) ?? '');
      if (actual !== this.pinHex) {
        finish(
          new ThumbprintMismatchError(
            `${String(options.host)}:${String(options.port)}`,
            colonHex(this.pinHex),
            colonHex(actual),
          ),
        );
      } else {
        finish(null);
      }
    });
    return undefined;
  }
}

const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

/** Methods that block server-side until something changes (not counted against maxConcurrent). */
const LONG_POLLS = new Set(['WaitForUpdatesEx', 'WaitForUpdates']);

/** A raw SOAP answer: the `returnval` elements of `<MethodResponse>`. */
export interface SoapResult {
  returnval: XmlNode[];
}

/**
 * One vCenter endpoint: TLS agent, request limiter, API version, call counters.
 * Sessions ({@link SoapSession}) share it.
 */
export class SoapEndpoint {
  readonly url: URL;
  /** API version sent in SOAPAction; set from `about.apiVersion` after RetrieveServiceContent. */
  apiVersion = BOOTSTRAP_API_VERSION;
  /** Number of calls per method name (sent requests, including retries). */
  readonly calls = new Map<string, number>();
  private readonly agent: http.Agent;
  private readonly limiter: Limiter;
  private readonly log: Logger;

  constructor(readonly options: SoapEndpointOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:') {
      throw new Error(`vCenter url must be https://…/sdk, got ${options.url}`);
    }
    this.log = (options.logger ?? silentLogger).child({ subsystem: 'vsphere', vcenter: this.url.host });
    // sockets are not capped here: the Limiter bounds ordinary calls, long polls come on top
    const common = { keepAlive: true };
    if (this.url.protocol === 'http:') this.agent = new http.Agent(common);
    else if (options.thumbprint) this.agent = new PinnedAgent(options.thumbprint, common, options.servername);
    else this.agent = new https.Agent({ ...common, ...(options.ca ? { ca: options.ca } : {}) });
    this.limiter = new Limiter(options.maxConcurrent);
  }

  /** Total calls sent. */
  get totalCalls(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * POSTs one envelope and returns the `returnval`s, or throws: a {@link VsphereFault} subclass
   * for SOAP faults, {@link VsphereTimeoutError}, {@link ThumbprintMismatchError},
   * {@link VsphereTlsError}, {@link VsphereHttpError}, {@link VsphereNetworkError}.
   * `jar` is the session's cookie jar (updated from Set-Cookie).
   */
  async send(method: string, body: string, jar: Map<string, string>, opts: CallOptions = {}): Promise<SoapResult> {
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs;
    const run = async (): Promise<SoapResult> => {
      this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
      const started = Date.now();
      const res = await this.post(method, body, jar, timeoutMs);
      callSeconds.observe({ vcenter: this.url.host, method }, (Date.now() - started) / 1000);
      this.log.debug({ method, status: res.status, ms: Date.now() - started }, 'vsphere call');
      return this.interpret(method, res.status, res.body);
    };
    // long polls hold a connection for up to maxWaitSeconds while costing vCenter nothing: they
    // do not take a request slot (there is one per task being awaited)
    return LONG_POLLS.has(method) ? run() : this.limiter.run(run);
  }

  private post(
    method: string,
    body: string,
    jar: Map<string, string>,
    timeoutMs: number,
  ): Promise<{ status: number; body: string }> {
    const lib = this.url.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = {
      'Content-Type': 'text/xml; charset=utf-8',
      SOAPAction: `urn:vim25/${this.apiVersion}`,
      'Content-Length': Buffer.byteLength(body),
      'User-Agent': 'statelesx',
    };
    if (jar.size) headers.Cookie = [...jar.values()].join('; ');
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      };
      const req = lib.request(this.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const nv = c.split(';')[0]!.trim();
          const eq = nv.indexOf('=');
          if (eq > 0) jar.set(nv.slice(0, eq), nv);
        }
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', (e) => fail(new VsphereNetworkError(method, this.url.href, 'ERESPONSE', e.message)));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      const timer = setTimeout(() => {
        const e = new VsphereTimeoutError(method, timeoutMs);
        fail(e);
        req.destroy(e);
      }, timeoutMs);
      req.on('error', (e: Error & { code?: string }) => {
        if (e instanceof ThumbprintMismatchError || e instanceof VsphereTimeoutError) return fail(e);
        if (e.code && TLS_VERIFY_CODES.has(e.code))
          return fail(new VsphereTlsError(this.url.host, `${e.code}: ${e.message}`));
        fail(new VsphereNetworkError(method, this.url.href, e.code ?? 'ERROR', e.message));
      });
      req.end(body);
    });
  }

  private interpret(method: string, status: number, body: string): SoapResult {
    let doc: XmlNode | undefined;
    if (body.trimStart().startsWith('<')) {
      try {
        doc = parseXml(body);
      } catch {
        doc = undefined;
      }
    }
    const bodyEl = first(first(doc, 'Envelope'), 'Body');
    if (bodyEl === undefined) throw new VsphereHttpError(method, status, body.slice(0, 200).replace(/\s+/g, ' '));
    const fault = first(bodyEl, 'Fault');
    if (fault !== undefined) throw faultFromSoap(fault, method);
    if (status !== 200) throw new VsphereHttpError(method, status, body.slice(0, 200).replace(/\s+/g, ' '));
    const resp = first(bodyEl, `${method}Response`);
    return { returnval: list(child(resp, 'returnval')) };
  }
}

/**
 * One logged-in session (its own cookie jar) on an endpoint. `relogin` is what to do when vCenter
 * answers NotAuthenticated: log in again (single flight), then retry the call once.
 */
export class SoapSession {
  readonly jar = new Map<string, string>();
  /** Calls in flight on this session (the pool picks the least busy session). */
  inFlight = 0;
  private relogging: Promise<void> | undefined;

  constructor(
    readonly endpoint: SoapEndpoint,
    private readonly relogin?: (s: SoapSession) => Promise<void>,
  ) {}

  /** The `vmware_soap_session` cookie as received (`vmware_soap_session="52b1…"`), if any. */
  get sessionCookie(): string | undefined {
    return this.jar.get('vmware_soap_session');
  }

  /** Invokes `method` on `thisRef` with `params` (see schema.ts METHODS for names and order). */
  async invoke(
    method: string,
    thisRef: MoRef,
    params: Record<string, unknown> = {},
    opts: CallOptions = {},
  ): Promise<SoapResult> {
    const body = envelope(serializeCall(method, thisRef, params));
    this.inFlight++;
    try {
      const cookieBefore = this.sessionCookie;
      try {
        return await this.endpoint.send(method, body, this.jar, opts);
      } catch (e) {
        if (!(e instanceof NotAuthenticated) || !this.relogin || method === 'Login' || method === 'Logout') throw e;
        // another call may already have logged in again while this one was in flight
        if (this.relogging || this.sessionCookie === cookieBefore) await this.reloginOnce();
        return await this.endpoint.send(method, body, this.jar, opts);
      }
    } finally {
      this.inFlight--;
    }
  }

  private reloginOnce(): Promise<void> {
    this.relogging ??= (async () => {
      try {
        this.jar.clear();
        await this.relogin!(this);
      } finally {
        this.relogging = undefined;
      }
    })();
    return this.relogging;
  }
}

/** The text of the first returnval (string-returning methods such as AddVirtualNic). */
export function returnText(r: SoapResult): string {
  return text(r.returnval[0]);
}
