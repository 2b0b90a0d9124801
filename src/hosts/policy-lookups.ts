/**
 * Runs the boot policy (./policy.ts), which is pure and synchronous, on the store, whose reads are
 * asynchronous (src/store/sql.ts: SQLite or PostgreSQL): {@link withStoreLookups} gives the policy
 * synchronous lookups served from a snapshot of what was read, and reads what the policy asks for
 * that the snapshot does not hold yet, then runs it again.
 *
 * So the policy makes exactly the store reads it made when the store was synchronous (a known host
 * by UUID costs one read, no MAC scan), decided by the policy's own order rather than a copy of it
 * here; and its tests keep passing plain synchronous lookups.
 */
import type { HostRecord } from '../store/hosts.js';
import type { HostLookup, PolicyInputs } from './policy.js';

/** The asynchronous store reads behind the policy's lookups (HostReader, HostInstallStore). */
export interface PolicyStore {
  hosts: {
    get(uuid: string): Promise<HostRecord | undefined>;
    findByMac(mac: string): Promise<HostRecord[]>;
  };
  /** When a stateful member's install was reported done (epoch ms); absent: never on record. */
  installedAt?: ((uuid: string) => Promise<number | undefined>) | undefined;
}

/** The synchronous lookups handed to the policy. */
export type PolicyLookups = Pick<PolicyInputs, 'hosts' | 'installedAt'>;

/** Thrown by a lookup for a key the snapshot lacks: `load` reads it into the snapshot. */
class NotLoaded extends Error {
  constructor(readonly load: () => Promise<void>) {
    super('boot policy lookup not read from the store yet');
  }
}

/** More rounds than any policy decision needs (UUID both orders, declared member, MAC, install). */
const MAX_ROUNDS = 16;

/**
 * Runs `decide` with synchronous lookups over `store`: each lookup it makes of a key not read yet
 * stops the run, the key is read (one store call), and `decide` runs again from the start with
 * the snapshot grown by that answer, until it returns.
 * @param decide must be pure (it may run several times) and must not catch the lookups' throws —
 *   the policy's `decideBoot`, `resolveHost` and `bootsFromInstalledDisk` are such
 * @returns what `decide` returned on its complete run
 * @throws what a store read rejects with; what `decide` throws; Error after {@link MAX_ROUNDS}
 *   rounds (a `decide` that asks for new keys without end)
 */
export async function withStoreLookups<T>(store: PolicyStore, decide: (lookups: PolicyLookups) => T): Promise<T> {
  const byUuid = new Map<string, HostRecord | undefined>();
  const byMac = new Map<string, HostRecord[]>();
  const installed = new Map<string, number | undefined>();
  const hosts: HostLookup = {
    get: (uuid) => {
      if (byUuid.has(uuid)) return byUuid.get(uuid);
      throw new NotLoaded(async () => void byUuid.set(uuid, await store.hosts.get(uuid)));
    },
    findByMac: (mac) => {
      const got = byMac.get(mac);
      if (got) return got;
      throw new NotLoaded(async () => void byMac.set(mac, await store.hosts.findByMac(mac)));
    },
  };
  const installedAt = store.installedAt;
  const lookups: PolicyLookups = {
    hosts,
    installedAt:
      installedAt &&
      ((uuid) => {
        if (installed.has(uuid)) return installed.get(uuid);
        throw new NotLoaded(async () => void installed.set(uuid, await installedAt(uuid)));
      }),
  };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      return decide(lookups);
    } catch (e) {
      if (!(e instanceof NotLoaded)) throw e;
      await e.load();
    }
  }
  throw new Error(`boot policy asked for more than ${MAX_ROUNDS} store reads`);
}
