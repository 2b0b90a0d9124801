/**
 * vSphere Web Services client (vim25 SOAP): public surface.
 * `VsphereClient` (client.ts) for connections; `ops` (one function per API method), `read`
 * (planning reads), `waitForTask`, typed faults, and the data object types.
 */
export {
  VsphereClient,
  type VcenterEndpoint,
  type VsphereConnectOptions,
  type VsphereOps,
  type VsphereReads,
} from './client.js';
export * as ops from './ops.js';
export type { Caller } from './ops.js';
export * as read from './read.js';
export type { ClusterState, HostState, HostManagers } from './read.js';
export { waitForTask, type WaitForTaskOptions } from './tasks.js';
export * from './faults.js';
export type * from './types.js';
