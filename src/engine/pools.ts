/**
 * Stable pool addresses: a member's VMkernel NIC addressed from an `<addressPool>` keeps the address
 * it was given, whatever happens to the order of `<members>` (store: `pool_allocations`,
 * src/store/pools.ts). Allocation order: the recorded address; else the address the NIC already
 * has on the host (state read from vCenter — keeps hosts addressed before allocations were
 * recorded where they are) when it is in the pool and no other member holds it; else the lowest
 * free address. The file's static addresses are never handed out. Allocations of members that left
 * the file, and of NICs no longer addressed from that pool, are released when the allocator is built.
 */
import type { AddressPool, DesiredCluster, MemberHost, VmkNicSpec } from '../clusters/types.js';
import type { PoolAllocationRepo } from '../store/pools.js';
import type { CurrentState } from './state.js';

/**
 * The address of `nic` on `host` from `pool` (IPv4 dotted quad), or undefined when the pool has no
 * free address. Used by the planner through PlanContext.poolAddress.
 */
export type PoolAddressFn = (host: MemberHost, nic: VmkNicSpec, pool: AddressPool) => string | undefined;

/**
 * A {@link PoolAddressFn} over the store for one cluster file; releases stale allocations first.
 * @param state the state just read (the NICs' current addresses are preferred); may lack hosts
 */
export function poolAllocator(
  repo: PoolAllocationRepo,
  desired: DesiredCluster,
  state: CurrentState | undefined,
  now = Date.now(),
): PoolAddressFn {
  const pooled = desired.vmknics.filter(
    (n): n is VmkNicSpec & { addressing: { mode: 'pool'; pool: string } } => n.addressing.mode === 'pool',
  );
  repo.releaseExcept(
    desired.name,
    desired.hosts.flatMap((h) =>
      pooled.map((n) => ({ pool: n.addressing.pool, portgroup: n.portgroup, hostUuid: h.uuid })),
    ),
  );
  const reserved = new Set(desired.hosts.flatMap((h) => Object.values(h.addresses)));
  return (host, nic, pool) => {
    const cur = state?.hosts[host.uuid]?.vmknics.find((v) => v.portgroup === nic.portgroup);
    return repo.allocate({
      cluster: desired.name,
      pool: pool.name,
      portgroup: nic.portgroup,
      hostUuid: host.uuid,
      start: pool.start,
      end: pool.end,
      reserved,
      prefer: cur && !cur.dhcp ? cur.ipAddress : undefined,
      at: now,
    });
  };
}
