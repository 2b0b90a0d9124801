/**
 * `statelesx host forget <uuid>` and `statelesx host prune-unregistered --older-than-days N | --uuid U`:
 * the lifecycle verbs on the local data directory (like `statelesx user`), audited as `system:cli`.
 * `--remove-from-vcenter` (the host leaves vCenter first, as a job) is src/cli/host-remove.ts
 * locally; with `--server` both verbs go through the REST API (./host-remote.ts), where
 * `--remove-from-vcenter` queues the removal on the server and follows it.
 */
import type { Command } from 'commander';
import type { Store } from '../store/index.js';
import { configOption } from './common.js';
import { withStore } from './user.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteHostForget, remotePruneUnregistered } from './host-remote.js';
import { forgetWithRemoval } from './host-remove.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Forgets a host; @returns the line to print. @throws Error for a malformed UUID or an unknown host */
export async function forgetHost(store: Store, uuid: string, now = Date.now()): Promise<string> {
  if (!UUID.test(uuid)) throw new Error(`${uuid} is not a hardware UUID (8-4-4-4-12 hex digits)`);
  const r = await store.hostForget.forget(uuid);
  if (!r.host && !r.bootEvents && !r.bootTokens && !r.hostBoots) throw new Error(`the store knows no host ${uuid}`);
  await store.audit.add({
    at: now,
    actor: 'system:cli',
    action: 'host.forget',
    target: uuid.toLowerCase(),
    before: null,
    after: r,
  });
  return `forgot host ${uuid.toLowerCase()} (${r.bootEvents} sighting(s), ${r.bootTokens} boot token(s)${r.hostBoots ? ', its boot record' : ''})`;
}

/**
 * Deletes unregistered sightings by age or UUID; @returns the line to print.
 * @throws Error for a bad option, or a UUID that is unknown or not unregistered
 */
export async function pruneUnregistered(
  store: Store,
  opts: { olderThanDays?: string; uuid?: string },
  now = Date.now(),
): Promise<string> {
  if ((opts.olderThanDays === undefined) === (opts.uuid === undefined))
    throw new Error('give one of --older-than-days N and --uuid UUID');
  if (opts.uuid !== undefined) {
    const r = await store.hostForget.deleteUnregistered(opts.uuid);
    if (r === 'missing') throw new Error(`no unregistered host ${opts.uuid}`);
    if (r === 'registered') throw new Error(`host ${opts.uuid} is assigned or pinned: use statelesx host forget`);
    await store.audit.add({
      at: now,
      actor: 'system:cli',
      action: 'unregistered.delete',
      target: opts.uuid.toLowerCase(),
      before: null,
      after: null,
    });
    return `deleted unregistered host ${opts.uuid.toLowerCase()}`;
  }
  const days = Number(opts.olderThanDays);
  if (!Number.isInteger(days) || days < 1)
    throw new Error(`--older-than-days ${opts.olderThanDays}: a whole number ≥ 1`);
  const deleted = await store.hostForget.deleteStaleUnregistered(days, now);
  await store.audit.add({
    at: now,
    actor: 'system:cli',
    action: 'unregistered.delete',
    target: `older than ${days} days`,
    before: null,
    after: { deleted },
  });
  return `deleted ${deleted.length} unregistered host(s) not seen for ${days} days`;
}

/** Registers `host forget` and `host prune-unregistered` on the `host` command. */
export function registerHostForget(host: Command): void {
  const dataDir = (c: Command) =>
    configOption(c).option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)');
  dataDir(
    host
      .command('forget <uuid>')
      .description(
        "forget a host: its record, image pin, sightings, boot tokens and boot record (vCenter's only with --remove-from-vcenter)",
      )
      .option(
        '--remove-from-vcenter',
        'first remove it from vCenter (maintenance mode, then Destroy_Task) as a job: on the server with --server, else run here (refused while a server runs)',
      )
      .option('--no-wait', 'with --remove-from-vcenter and --server: print the job id instead of following the job')
      .option('--json', 'JSON output (with --server)'),
  ).action(
    remoteOr(
      remoteHostForget,
      async (uuid: string, opts: { config?: string; dataDir?: string; removeFromVcenter?: boolean }) => {
        if (opts.removeFromVcenter) {
          const job = await forgetWithRemoval(uuid, opts, (l) => process.stdout.write(`${l}\n`));
          process.stdout.write(`job ${job.id}: ${job.state}${job.error ? `: ${job.error}` : ''}\n`);
          if (job.state !== 'succeeded') process.exitCode = 1;
          return;
        }
        process.stdout.write((await withStore(opts, (s) => forgetHost(s, uuid))) + '\n');
      },
    ),
  );
  dataDir(
    host
      .command('prune-unregistered')
      .description('delete unregistered hosts (never assigned or pinned) by age or by UUID')
      .option('--older-than-days <n>', 'not seen for this many days')
      .option('--uuid <uuid>', 'this one host')
      .option('--json', 'JSON output (with --server)'),
  ).action(
    remoteOr(
      remotePruneUnregistered,
      async (opts: { olderThanDays?: string; uuid?: string; config?: string; dataDir?: string }) => {
        process.stdout.write((await withStore(opts, (s) => pruneUnregistered(s, opts))) + '\n');
      },
    ),
  );
}
