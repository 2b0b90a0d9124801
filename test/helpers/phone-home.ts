/**
 * Phone-homes recorded the way a running server records them, for tests that then run the engine
 * on the same data-dir (`statelesx cluster apply`, which needs the server stopped): the real
 * {@link HostRegistry} over the data-dir's store, with a boot token issued as a PXE answer issues
 * it, so `host_boots` is written by the production path. The configure requests the registry
 * makes go to a {@link RecordingQueue}: the server's engine is not what runs the change here.
 */
import { openStore } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { HostRegistry, type PhoneHomeRequest } from '../../src/hosts/registry.js';
import { silentLogger } from '../../src/log.js';
import { RecordingQueue } from './initiator-fixture.js';
import type { HostThumbprints } from './vcsim.js';

/** A member as its cluster file declares it. */
export interface PhoningHost {
  uuid: string;
  fqdn: string;
}

/**
 * The phone-home initiator.py sends over TCP (extension form) from 127.0.0.1 for `h` on its
 * current boot: its SMBIOS UUID (same on the wire), its short hostname, the boot `token`, and its
 * certificate's thumbprints `t` (none: an initiator that does not send them).
 * @param requestId as in the log lines
 */
export function initiatorPhoneHome(
  h: PhoningHost,
  token: string,
  t?: HostThumbprints,
  requestId = 't',
): PhoneHomeRequest {
  return {
    claim: {
      uuid: { smbios: h.uuid, wire: h.uuid },
      hostname: h.fqdn.split('.')[0],
      token,
      macs: [],
      thumbprint: t?.sha256,
      thumbprintSha1: t?.thumbprint,
      form: 'extension',
    },
    address: '127.0.0.1',
    transport: 'tcp',
    requestId,
  };
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
      const r = await registry.phoneHome(initiatorPhoneHome(h, await tokens.issue(h.uuid), undefined, 'test'));
      if (r.result !== 'ok') throw new Error(`phone-home of ${h.fqdn} not accepted: ${JSON.stringify(r)}`);
    }
  } finally {
    store.close();
  }
}
