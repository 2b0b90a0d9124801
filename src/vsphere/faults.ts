/**
 * vSphere faults as typed errors. A SOAP fault's `detail/*` element (e.g.
 * `<InvalidLoginFault xsi:type="InvalidLogin">`) and a task's `info.error.fault`
 * (`<fault xsi:type="SSLVerifyFault">`) both become a {@link VsphereFault} subclass chosen by the
 * `xsi:type`, mirroring the vim fault hierarchy where it matters (SSLVerifyFault and
 * AlreadyConnected are HostConnectFaults). Unknown fault types become a plain VsphereFault with
 * that `faultName`. Messages never contain request bodies, so no password can leak through them.
 *
 * Also the client's own errors: timeouts, TLS thumbprint mismatches, HTTP errors.
 */
import { decodeGeneric, first, list, moref, text, xsiType, type MoRef, type XmlNode } from './xml.js';

/** A fault returned by vCenter/ESXi (vim.fault.* / vmodl.fault.*). */
export class VsphereFault extends Error {
  /** The fault's vim type name, e.g. `InvalidLogin`, `SSLVerifyFault`, `InvalidRequest`. */
  readonly faultName: string;
  /** SOAP `faultstring` or the task's `localizedMessage` (may be empty). */
  readonly faultString: string;
  /** The fault's members, decoded generically (e.g. `{ thumbprint, selfSigned }`). */
  readonly details: Record<string, unknown>;
  /** The method that failed (`AddHost_Task`), when known. */
  readonly method: string | undefined;

  constructor(faultName: string, faultString: string, details: Record<string, unknown> = {}, method?: string) {
    super(`${method ? `${method}: ` : ''}${faultName}${faultString ? `: ${faultString}` : ''}`);
    this.name = faultName;
    this.faultName = faultName;
    this.faultString = faultString;
    this.details = details;
    this.method = method;
  }

  protected str(key: string): string | undefined {
    const v = this.details[key];
    return typeof v === 'string' ? v : undefined;
  }
}

/** vim.fault.InvalidLogin: wrong user name or password (Login, or AddHost_Task's ESXi credentials). */
export class InvalidLogin extends VsphereFault {}
/** vim.fault.NotAuthenticated: the session is gone (expired or logged out). */
export class NotAuthenticated extends VsphereFault {}
/** vim.fault.HostConnectFault: base of the faults of adding/connecting a host. */
export class HostConnectFault extends VsphereFault {}
/** vim.fault.SSLVerifyFault: the host's certificate is not trusted; `thumbprint` is the host's. */
export class SSLVerifyFault extends HostConnectFault {
  get thumbprint(): string {
    return this.str('thumbprint') ?? '';
  }
  get selfSigned(): boolean {
    return this.str('selfSigned') === 'true';
  }
}
/** vim.fault.AlreadyConnected: the host is already in this vCenter's inventory. */
export class AlreadyConnected extends HostConnectFault {
  get entityName(): string | undefined {
    return this.str('name');
  }
}
/** vim.fault.NoHost: the host name does not resolve / no host answers. */
export class NoHost extends HostConnectFault {}
/** vim.fault.AlreadyBeingManaged: another vCenter manages the host. */
export class AlreadyBeingManaged extends HostConnectFault {}
/** vim.fault.DuplicateName: an entity of that name exists in the folder. */
export class DuplicateName extends VsphereFault {
  get entityName(): string | undefined {
    return this.str('name');
  }
  get object(): MoRef | undefined {
    return this.details.object as MoRef | undefined;
  }
}
/** vim.fault.NotFound. */
export class NotFound extends VsphereFault {}
/** vim.fault.AlreadyExists (`name` of the existing object). */
export class AlreadyExists extends VsphereFault {
  get entityName(): string | undefined {
    return this.str('name');
  }
}
/** vmodl.fault.InvalidArgument; `invalidProperty` names the offending member path. */
export class InvalidArgument extends VsphereFault {
  get invalidProperty(): string | undefined {
    return this.str('invalidProperty');
  }
}
/** vim.fault.ResourceInUse (`type`, `name` of the resource). */
export class ResourceInUse extends VsphereFault {}
/** vmodl.fault.InvalidRequest: the request itself is malformed (e.g. out-of-order elements). */
export class InvalidRequest extends VsphereFault {}
/** Alias: the fault element is `InvalidRequestFault`, its type `InvalidRequest`. */
export const InvalidRequestFault = InvalidRequest;
/** vmodl.fault.ManagedObjectNotFound (`obj`). */
export class ManagedObjectNotFound extends VsphereFault {}
/** vim.fault.InvalidName (`name`), e.g. QueryOptions of an unknown key. */
export class InvalidName extends VsphereFault {}
/** vim.fault.InvalidState / TaskInProgress: the object is busy; worth a retry. */
export class InvalidState extends VsphereFault {}
export class TaskInProgress extends InvalidState {}
/** vmodl.fault.NotSupported. */
export class NotSupported extends VsphereFault {}
/** vmodl.fault.SystemError: a server-side error; `reason` says which. */
export class SystemError extends VsphereFault {}
/** vmodl.fault.RequestCanceled. */
export class RequestCanceled extends VsphereFault {}
/** vmodl.fault.MethodNotFound: the object does not implement the method (wrong MoRef type or API version). */
export class MethodNotFound extends VsphereFault {}
/** vim.fault.NoPermission (`privilegeId`). */
export class NoPermission extends VsphereFault {}

const FAULTS: Record<string, new (n: string, s: string, d: Record<string, unknown>, m?: string) => VsphereFault> = {
  InvalidLogin,
  NotAuthenticated,
  HostConnectFault,
  SSLVerifyFault,
  AlreadyConnected,
  NoHost,
  AlreadyBeingManaged,
  DuplicateName,
  NotFound,
  AlreadyExists,
  InvalidArgument,
  ResourceInUse,
  InvalidRequest,
  ManagedObjectNotFound,
  InvalidName,
  InvalidState,
  TaskInProgress,
  NotSupported,
  SystemError,
  RequestCanceled,
  MethodNotFound,
  NoPermission,
};

/** Faults that are worth retrying later (the engine's backoff uses this). */
export function isTransientFault(e: unknown): boolean {
  return (
    e instanceof InvalidState ||
    e instanceof SystemError ||
    e instanceof VsphereTimeoutError ||
    (e instanceof VsphereHttpError && e.status >= 502) ||
    e instanceof VsphereNetworkError
  );
}

/** Builds the typed error for a fault type name. */
export function makeFault(
  faultName: string,
  faultString: string,
  details: Record<string, unknown>,
  method?: string,
): VsphereFault {
  const C = FAULTS[faultName] ?? VsphereFault;
  return new C(faultName, faultString, details, method);
}

function faultDetails(node: XmlNode | undefined): Record<string, unknown> {
  if (node === undefined || typeof node === 'string') return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('@_') || k === '#text') continue;
    const items = list(v);
    const one = items[0];
    // a MoRef member (DuplicateName.object, ManagedObjectNotFound.obj)
    if (
      items.length === 1 &&
      one !== undefined &&
      typeof one === 'object' &&
      typeof one['@_type'] === 'string' &&
      !xsiType(one)
    ) {
      out[k] = moref(one);
    } else {
      out[k] = decodeGeneric(v);
    }
  }
  return out;
}

/**
 * A SOAP `Fault` element (`faultcode`, `faultstring`, `detail`) → typed error.
 * The fault type is the `xsi:type` of `detail`'s first child, else its element name without the
 * `Fault` suffix (`InvalidLoginFault` → `InvalidLogin`).
 */
export function faultFromSoap(fault: XmlNode, method?: string): VsphereFault {
  const faultString = text(first(fault, 'faultstring'));
  const detail = first(fault, 'detail');
  let faultName = 'SoapFault';
  let body: XmlNode | undefined;
  if (detail !== undefined && typeof detail !== 'string') {
    const k = Object.keys(detail).find((x) => !x.startsWith('@_') && x !== '#text');
    if (k) {
      body = list(detail[k])[0];
      const local = k.includes(':') ? k.slice(k.indexOf(':') + 1) : k;
      faultName = xsiType(body)?.replace(/^.*:/, '') ?? local.replace(/Fault$/, '');
    }
  }
  if (
    faultName === 'SoapFault' &&
    /ServerFaultCode/.test(text(first(fault, 'faultcode'))) &&
    /not authenticated/i.test(faultString)
  ) {
    faultName = 'NotAuthenticated';
  }
  return makeFault(faultName, faultString, faultDetails(body), method);
}

/**
 * A LocalizedMethodFault (task `info.error`, `MissingProperty.fault`) → typed error, e.g.
 * `<error><fault xsi:type="SSLVerifyFault"><selfSigned>true</selfSigned><thumbprint>AA:..</thumbprint></fault>
 * <localizedMessage>Authenticity of the host's SSL certificate is not verified.</localizedMessage></error>`.
 */
export function faultFromLocalized(error: XmlNode, method?: string): VsphereFault {
  const f = first(error, 'fault');
  const faultName = xsiType(f)?.replace(/^.*:/, '') ?? 'MethodFault';
  return makeFault(faultName, text(first(error, 'localizedMessage')), faultDetails(f), method);
}

/** A call did not finish within its deadline (HTTP request, or a task wait). */
export class VsphereTimeoutError extends Error {
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
    what = 'call',
  ) {
    super(`vSphere ${what} ${method} did not complete within ${timeoutMs} ms`);
    this.name = 'VsphereTimeoutError';
  }
}

/** vCenter's certificate does not match the pinned thumbprint (nothing was sent on that connection). */
export class ThumbprintMismatchError extends Error {
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `TLS certificate of ${host} has thumbprint ${actual}, but the configuration pins ${expected}; ` +
        `if vCenter's certificate was replaced on purpose, update the vcenter's "thumbprint"`,
    );
    this.name = 'ThumbprintMismatchError';
  }
}

/** The TLS handshake failed certificate verification (unknown CA, wrong host name, ...). */
export class VsphereTlsError extends Error {
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(
      `TLS verification of ${host} failed: ${reason}; set the vcenter's "thumbprint" to pin its certificate ` +
        `or "ca-file" to the CA that signed it`,
    );
    this.name = 'VsphereTlsError';
  }
}

/** A non-SOAP HTTP answer (proxy error page, 404 on a wrong URL, 503 while vpxd starts). */
export class VsphereHttpError extends Error {
  constructor(
    readonly method: string,
    readonly status: number,
    bodyStart: string,
  ) {
    super(`vSphere ${method}: HTTP ${status}${bodyStart ? `: ${bodyStart}` : ''}`);
    this.name = 'VsphereHttpError';
  }
}

/** Connection refused / reset / DNS failure. */
export class VsphereNetworkError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly code: string,
    message: string,
  ) {
    super(`vSphere ${method} to ${url}: ${message}`);
    this.name = 'VsphereNetworkError';
  }
}

/** A task ended in error without a usable fault, or was cancelled. */
export class TaskFailedError extends Error {
  constructor(
    readonly task: MoRef,
    readonly state: string,
    message: string,
  ) {
    super(message);
    this.name = 'TaskFailedError';
  }
}
