/**
 * `statelesx host reinstall <uuid>`: boot-once for stateful installs (src/hosts/reinstall.ts).
 * Forgets a stateful member's install in the data-dir's store, so its next network boot gets the
 * installer and its kickstart again; audited as `host.reinstall` by `system:cli`. Works beside a
 * running server (the store is SQLite in WAL mode), like `host reset-thumbprint`. With `--server`
 * it goes through `POST /api/v1/hosts/{uuid}/reinstall` (./host-remote.ts).
 */
import { storeTarget } from '../config/store-target.js';
import type { Command } from 'commander';
import { openStore } from '../store/index.js';
import { configOption, existingStoreConfig } from './common.js';
import { loadClusterDir } from '../app/cluster-lookups.js';
import { NotStatefulError, installMembership, requestReinstall } from '../hosts/reinstall.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteHostReinstall } from './host-remote.js';

/** Adds `host reinstall <uuid>` to the `host` command. */
export function registerHostReinstall(host: Command): void {
  configOption(
    host
      .command('reinstall <uuid>')
      .description(
        "install a stateful member again (by hardware UUID): its next network boot gets the ESXi installer and kickstart; after that install's %firstboot phone-home it boots from local disk again",
      ),
  )
    .option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)')
    .option('--json', 'JSON output (with --server)')
    .action(remoteOr(remoteHostReinstall, reinstallCommand));
}

async function reinstallCommand(uuid: string, opts: { config?: string; dataDir?: string }): Promise<void> {
  const config = existingStoreConfig(opts);
  const clusters = await loadClusterDir(config['clusters-dir']);
  let member;
  try {
    member = installMembership(clusters.list(), uuid);
  } catch (e) {
    process.stderr.write(`statelesx: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const store = await openStore(storeTarget(config));
  try {
    const at = Date.now();
    const r = await requestReinstall(store.hostInstalls, uuid, member, { at, actor: 'system:cli' });
    await store.audit.add({
      at,
      actor: 'system:cli',
      action: 'host.reinstall',
      target: r.after.uuid,
      before: r.before,
      after: r.after,
    });
    const was =
      r.before.installedAt === null
        ? 'no install was on record'
        : `installed ${new Date(r.before.installedAt).toISOString()}`;
    process.stdout.write(
      `reinstall requested for ${r.after.uuid} (cluster ${r.after.cluster}; ${was}): its next network boot installs\n`,
    );
  } catch (e) {
    process.stderr.write(`statelesx: ${(e as Error).message}\n`);
    process.exitCode = e instanceof NotStatefulError ? 3 : 2;
  } finally {
    store.close();
  }
}
