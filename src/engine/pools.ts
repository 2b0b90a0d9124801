/**
 * Stable pool addresses: a member's VMkernel NIC addressed from an `<addressPool>` keeps the address
 * it was given, whatever happens to the order of `<members>` (store: `pool_allocations`,
 * src/store/pools.ts). Allocation order: the recorded address; else the address the NIC already
 * has on the host (state read from vCenter — keeps hosts addressed before allocations were
 * recorded where they are) when it is in the pool and no other member holds it; else the lowest
 * free address. The file's static addresses are never handed out. Allocations of members that left
 * the file, and of NICs no longer addressed from that pool, are released before each plan.
 */
import type { AddressPool, DesiredCluster, MemberHost, VmkNicSpec } from '../clusters/types.js';
import type { PoolAllocationRepo } from '../store/pools.js';
import type { CurrentState } from './state.js';

/**
 * The address of `nic` on `host` from `pool` (IPv4 dotted quad), or undefined when the pool has no
 * free address. Used by the planner through PlanContext.poolAddress.
 */
export type PoolAddressFn = (host: MemberHost, nic: VmkNicSpec, pool: AddressPool) => string | undefined;

/** The address a pass answers before the real one is allocated (that pass's plan is discarded). */
const PLACEHOLDER = '0.0.0.0';

/** A dotted quad as a number, or undefined. */
function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  return o.some((x) => x > 255) ? undefined : o.reduce((n, x) => n * 256 + x, 0);
}

/**
 * Plans with pool addresses from the store for one cluster file: releases stale allocations
 * first, then runs `plan` (the pure planner) with a {@link PoolAddressFn} answering from the
 * allocations already recorded (read once). An address the planner asks for that is not recorded
 * (or no longer usable) is answered with a placeholder (`0.0.0.0`) for the rest of that pass, and
 * after the pass those addresses are allocated in the store in the order the planner asked and
 * `plan` runs again; the plan of a pass with placeholders is discarded. So exactly the NICs the
 * planner addresses are allocated, in its order, as when the store answered synchronously.
 * @param state the state just read (the NICs' current addresses are preferred); may lack hosts
 * @returns what `plan` returned on its first pass that asked for no unrecorded address
 * @throws what `plan` throws on such a pass; the store's errors
 */
export async function planWithPools<T>(
  repo: PoolAllocationRepo,
  desired: DesiredCluster,
  state: CurrentState | undefined,
  plan: (poolAddress: PoolAddressFn) => T,
  now = Date.now(),
): Promise<T> {
  const pooled = desired.vmknics.filter(
    (n): n is VmkNicSpec & { addressing: { mode: 'pool'; pool: string } } => n.addressing.mode === 'pool',
  );
  await repo.releaseExcept(
    desired.name,
    desired.hosts.flatMap((h) =>
      pooled.map((n) => ({ pool: n.addressing.pool, portgroup: n.portgroup, hostUuid: h.uuid })),
    ),
  );
  const reserved = new Set(desired.hosts.flatMap((h) => Object.values(h.addresses)));
  const keyOf = (pool: string, portgroup: string, uuid: string) => `${pool}\n${portgroup}\n${uuid.toLowerCase()}`;
  const known = new Map<string, string | undefined>();
  // What allocate() would answer without writing: a recorded address inside its pool, not reserved.
  for (const a of await repo.list(desired.name)) {
    const pool = desired.pools.find((p) => p.name === a.pool);
    const n = ipToInt(a.address);
    if (pool && n !== undefined && n >= ipToInt(pool.start)! && n <= ipToInt(pool.end)! && !reserved.has(a.address))
      known.set(keyOf(a.pool, a.portgroup, a.hostUuid), a.address);
  }
  for (;;) {
    const missing = new Map<string, () => Promise<string | undefined>>();
    const fn: PoolAddressFn = (host, nic, pool) => {
      const key = keyOf(pool.name, nic.portgroup, host.uuid);
      if (known.has(key)) return known.get(key);
      if (!missing.has(key)) {
        const cur = state?.hosts[host.uuid]?.vmknics.find((v) => v.portgroup === nic.portgroup);
        missing.set(key, () =>
          repo.allocate({
            cluster: desired.name,
            pool: pool.name,
            portgroup: nic.portgroup,
            hostUuid: host.uuid,
            start: pool.start,
            end: pool.end,
            reserved,
            prefer: cur && !cur.dhcp ? cur.ipAddress : undefined,
            at: now,
          }),
        );
      }
      return PLACEHOLDER;
    };
    let out: T;
    try {
      out = plan(fn);
    } catch (e) {
      if (missing.size === 0) throw e;
    }
    if (missing.size === 0) return out!;
    for (const [key, allocate] of missing) known.set(key, await allocate());
  }
}
