/** Boot mode of a cluster member (`host/@bootMode` over `boot/@mode`); see {@link BootMode}. */
import type { BootMode, DesiredCluster, MemberHost } from './types.js';

/** The effective boot mode of a member: its `bootMode`, else the cluster's `boot/@mode`, else stateless. */
export function memberBootMode(cluster: Pick<DesiredCluster, 'boot'>, host: Pick<MemberHost, 'bootMode'>): BootMode {
  return host.bootMode ?? cluster.boot?.mode ?? 'stateless';
}
