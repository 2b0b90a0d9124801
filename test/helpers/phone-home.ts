/**
 * Phone-homes recorded the way a running server records them, for tests that then run the engine
 * on the same data-dir (`statelesx cluster apply`, which needs the server stopped): the real
 * {@link HostRegistry} over the data-dir's store, with a boot token issued as a PXE answer issues
 * it, so `host_boots` is written by the production path. The configure requests the registry
 * makes go to a {@link RecordingQueue}: the server's engine is not what runs the change here.
 */
import { openStore } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { HostRegistry } from '../../src/hosts/registry.js';
import { silentLogger } from '../../src/log.js';
import { RecordingQueue } from './initiator-fixture.js';

/** A member as its cluster file declares it. */
export interface PhoningHost {
  uuid: string;
  fqdn: string;
}

/**
 * Each host phones home once (token-authenticated, no thumbprints: an initiator that does not
 * send them) into the store at `dataDir`. @throws Error when the registry does not accept one
 */
export async function phoneHomeInto(dataDir: string, cluster: string, hosts: PhoningHost[]): Promise<void> {
  const store = await openStore(dataDir);
  try {
    const tokens = new BootTokens(store.tokens, 3_600_000);
    const registry = new HostRegistry({
      hosts: store.hosts,
      phoneHomes: store.phoneHomes,
      tokens,
      queue: new RecordingQueue(),
      boots: store.hostBoots,
      declared: (u) => {
        const h = hosts.find((x) => x.uuid === u);
        return h && { cluster, fqdn: h.fqdn };
      },
      requireToken: true,
      log: silentLogger,
    });
    for (const h of hosts) {
      const r = registry.phoneHome({
        claim: {
          uuid: { smbios: h.uuid, wire: h.uuid },
          hostname: h.fqdn.split('.')[0],
          token: tokens.issue(h.uuid),
          macs: [],
          form: 'extension',
        },
        address: '127.0.0.1',
        transport: 'tcp',
        requestId: 'test',
      });
      if (r.result !== 'ok') throw new Error(`phone-home of ${h.fqdn} not accepted: ${JSON.stringify(r)}`);
    }
  } finally {
    store.close();
  }
}
