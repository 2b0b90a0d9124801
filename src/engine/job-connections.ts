/**
 * The engine's vCenter connections: one logged-in {@link VcenterApi} per vCenter, opened on first
 * use through the runner's {@link VcenterConnector} and shared by all its jobs. A failed connect is
 * forgotten, so the next job tries again.
 */
import type { VcenterApi, VcenterConnector } from './vcenter.js';

/** Shared connections by vCenter name (see the module docstring). */
export class VcenterConnections {
  private readonly connections = new Map<string, Promise<VcenterApi>>();

  constructor(private readonly connect: VcenterConnector) {}

  /** The shared connection to a configured vCenter, connecting on first use. */
  get(name: string): Promise<VcenterApi> {
    let c = this.connections.get(name);
    if (!c) {
      c = this.connect(name);
      this.connections.set(name, c);
      c.catch(() => this.connections.delete(name));
    }
    return c;
  }

  /** SOAP call counts of the connection to a vCenter (undefined if not connected). */
  async calls(vcenter: string): Promise<ReturnType<VcenterApi['calls']> | undefined> {
    const c = this.connections.get(vcenter);
    return c ? (await c).calls() : undefined;
  }

  /** Closes every connection (errors ignored) and forgets them. */
  async closeAll(): Promise<void> {
    for (const c of this.connections.values()) {
      await c.then((vc) => vc.close()).catch(() => undefined);
    }
    this.connections.clear();
  }
}
