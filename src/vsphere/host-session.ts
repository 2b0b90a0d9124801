/**
 * A session on one ESXi host's own SDK (vim25 at `https://<host>/sdk`), not through vCenter: used
 * to set the root password of a freshly booted stateless host (HostLocalAccountManager.UpdateUser)
 * before vCenter adds or reconnects it with that password.
 *
 * Trust: the host's certificate is self-signed and new at every stateless boot, so it is never
 * checked against a CA store. It is pinned to the thumbprint the host itself reported in its
 * token-authenticated phone-home (SHA-256 preferred, else SHA-1): no byte, and so no password, is
 * sent to a server presenting another certificate (ThumbprintMismatchError). TLS SNI is always
 * the host's FQDN (RFC 6066 §3), also when the URL names an address.
 *
 *   const s = await HostSession.connect({ url: 'https://10.0.0.5/sdk', fqdn: 'esx1.lab', thumbprint });
 *   await s.login('root', '');                 // InvalidLogin when the password is not blank
 *   await s.updateUser({ id: 'root', password });
 *   await s.close();                           // Logout (best effort) and close the socket
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import * as ops from './ops.js';
import { SoapEndpoint, SoapSession, type CallOptions, type SoapResult } from './soap.js';
import type { HostAccountSpec, MoRef, ServiceContent, UserSession } from './types.js';

/** Where and how to reach one host's SDK. */
export interface HostSessionOptions {
  /** `https://<host or address>[:port]/sdk`. */
  url: string;
  /** The host's FQDN, sent as TLS SNI. */
  fqdn: string;
  /** The certificate thumbprint to pin (SHA-1 or SHA-256 colon hex, from the host's phone-home). */
  thumbprint: string;
  /** Per-call deadline in ms (default 30 000). */
  timeoutMs?: number;
  logger?: Logger;
}

/** One session on an ESXi host's SDK (see the module docstring). */
export class HostSession implements ops.Caller {
  private loggedIn = false;
  private closed = false;

  private constructor(
    private readonly endpoint: SoapEndpoint,
    private readonly session: SoapSession,
    readonly serviceContent: ServiceContent,
  ) {}

  /**
   * Opens the connection and reads the ServiceContent (no login yet).
   * @throws ThumbprintMismatchError (another certificate), VsphereNetworkError, VsphereTimeoutError
   */
  static async connect(o: HostSessionOptions): Promise<HostSession> {
    const endpoint = new SoapEndpoint({
      url: o.url,
      thumbprint: o.thumbprint,
      servername: o.fqdn,
      timeoutMs: o.timeoutMs ?? 30_000,
      maxConcurrent: 1,
      logger: (o.logger ?? silentLogger).child({ esxi: o.fqdn }),
    });
    try {
      const session = new SoapSession(endpoint);
      const sc = await ops.RetrieveServiceContent(session);
      if (sc.about?.apiVersion) endpoint.apiVersion = sc.about.apiVersion;
      return new HostSession(endpoint, session, sc);
    } catch (e) {
      endpoint.close();
      throw e;
    }
  }

  invoke(method: string, thisRef: MoRef, params?: Record<string, unknown>, opts?: CallOptions): Promise<SoapResult> {
    return this.session.invoke(method, thisRef, params, opts);
  }

  withSession<T>(fn: (c: ops.Caller) => Promise<T>): Promise<T> {
    return fn(this);
  }

  /** SessionManager.Login. @throws InvalidLogin for a wrong password. The password is never logged. */
  async login(userName: string, password: string): Promise<UserSession> {
    const us = await ops.Login(this, userName, password);
    this.loggedIn = true;
    return us;
  }

  /** HostLocalAccountManager.UpdateUser on ServiceContent.accountManager. */
  async updateUser(user: HostAccountSpec): Promise<void> {
    await ops.UpdateUser(this, user);
  }

  /** Logs out when logged in (best effort, 5 s) and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.loggedIn)
      await this.invoke('Logout', this.serviceContent.sessionManager, {}, { timeoutMs: 5000 }).catch(() => undefined);
    this.endpoint.close();
  }
}
