/**
 * Connectors of the vSphere engine: {@link connectVcenter} / {@link vcenterConnector} open a
 * {@link VsphereVcenter} for a configured vCenter (`vcenters:` in statelesx.yaml), and
 * {@link esxiConnector} opens a direct ESXi host session (src/vsphere/host-session.ts).
 */
import type { VcenterConfig } from '../config/schema.js';
import { readSecret } from '../config/secrets.js';
import type { Logger } from '../log.js';
import { VsphereClient } from '../vsphere/client.js';
import { HostSession } from '../vsphere/host-session.js';
import type { EsxiConnector, VcenterConnector } from './vcenter.js';
import { VsphereVcenter } from './vsphere-vcenter.js';

/**
 * Connects to a configured vCenter (URL, username, password source, thumbprint pin or CA file)
 * through {@link VsphereClient}: a pool of up to `max-sessions` sessions, `timeout-ms` per call.
 * @param maxConcurrent concurrent HTTP requests (default: the client's, 2 × max-sessions)
 * @throws Error for an unreadable secret; InvalidLogin, ThumbprintMismatchError, VsphereNetworkError, … from connect
 */
export async function connectVcenter(
  vc: VcenterConfig,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  maxConcurrent?: number,
): Promise<VsphereVcenter> {
  const password = readSecret(vc, `vcenters[${vc.name}]`, env);
  const client = await VsphereClient.connect(vc, password, {
    logger: log,
    ...(maxConcurrent ? { maxConcurrentRequests: maxConcurrent } : {}),
  });
  return new VsphereVcenter(client, Math.max(vc['timeout-ms'] * 10, 60_000));
}

/**
 * An {@link EsxiConnector} over src/vsphere/host-session.ts (certificate pinned to the given
 * thumbprint, SNI = the FQDN).
 */
export function esxiConnector(log: Logger, timeoutMs = 30_000): EsxiConnector {
  return async (o) => {
    const s = await HostSession.connect({ ...o, timeoutMs, logger: log });
    return {
      login: async (user, password) => {
        await s.login(user, password);
      },
      updateUser: (id, password) => s.updateUser({ id, password }),
      close: () => s.close(),
    };
  };
}

/** A {@link VcenterConnector} over the `vcenters:` list. */
export function vcenterConnector(
  vcenters: VcenterConfig[],
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): VcenterConnector {
  return async (name) => {
    const vc = vcenters.find((v) => v.name === name);
    if (!vc) throw new Error(`vCenter "${name}" is not configured (vcenters: in statelesx.yaml)`);
    return connectVcenter(vc, log, env);
  };
}
