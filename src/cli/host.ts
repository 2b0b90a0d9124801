/**
 * `statelesx host list [--unregistered] [--json] [--data-dir DIR]`: hosts from the store with
 * their evidence — what they claimed when they phoned home, every source address, and the boot
 * history our DHCP/TFTP/HTTP recorded for their UUID and MACs.
 * `statelesx host reset-thumbprint <uuid|fqdn>`: forgets the SSL thumbprints recorded for a host
 * (src/hosts/thumbprint-reset.ts), audited as `host.thumbprint.reset` by `system:cli`.
 * `statelesx host reinstall <uuid>`: src/cli/host-reinstall.ts.
 * With `--server` (src/cli/remote) each goes through the REST API instead (./host-remote.ts), and
 * `host show`, `host pin` and `host join` work only so.
 */
import { storeTarget } from '../config/store-target.js';
import type { Command } from 'commander';
import { registerHostForget } from './host-forget.js';
import {
  openStore,
  type BootEvent,
  type HostReader,
  type HostRecord,
  type PhoneHomeLog,
  type PhoneHomeRecord,
} from '../store/index.js';
import { hostEvidenceHistory } from '../hosts/boot-history.js';
import { configOption, existingStoreConfig } from './common.js';
import { fixedClusterFiles, kernelOptionsOfMember, loadClusterDir } from '../app/cluster-lookups.js';
import { resetThumbprint } from '../hosts/thumbprint-reset.js';
import { registerHostReinstall } from './host-reinstall.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteHostJoin, remoteHostList, remoteHostPin, remoteHostShow, remoteThumbprintReset } from './host-remote.js';

/** One listed host: the store record plus its boot history and latest phone-homes (newest first). */
export interface HostListing extends HostRecord {
  /** Kernel boot options from its cluster file (cluster's, then the member's); absent: none. */
  kernelOptions?: string;
  bootEvents: BootEvent[];
  phoneHomes: PhoneHomeRecord[];
}

/**
 * Hosts, newest sighting first, each with up to `historyLimit` boot events (matched by UUID and by
 * every MAC the host has or claimed) and phone-homes.
 */
export async function listHosts(
  store: { hosts: HostReader; phoneHomes: Pick<PhoneHomeLog, 'list'> },
  opts: {
    unregistered?: boolean;
    historyLimit?: number;
    /** A member's kernel boot options by SMBIOS UUID (from the cluster files); undefined: none. */
    kernelOptions?: (uuid: string) => string | undefined;
  } = {},
): Promise<HostListing[]> {
  const limit = opts.historyLimit ?? 10;
  const out: HostListing[] = [];
  for (const h of await store.hosts.list(opts.unregistered ? 'unregistered' : undefined))
    out.push({
      ...h,
      ...optionsOf(opts.kernelOptions?.(h.uuid)),
      bootEvents: await hostEvidenceHistory(store.hosts, h, limit),
      phoneHomes: await store.phoneHomes.list({ hostUuid: h.uuid, limit }),
    });
  return out;
}

function optionsOf(kernelOptions: string | undefined): { kernelOptions?: string } {
  return kernelOptions ? { kernelOptions } : {};
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Human-readable listing: one row per host, then an indented evidence block per host. */
export function formatHosts(hosts: HostListing[]): string {
  if (hosts.length === 0) return 'no hosts\n';
  const rows = hosts.map((h) => [
    h.uuid,
    h.state,
    h.hostname ?? '-',
    h.cluster ?? '-',
    iso(h.lastSeen),
    h.lastAddress ?? '-',
    [h.vendor, h.model].filter(Boolean).join(' ') || '-',
    h.serial ?? '-',
  ]);
  const head = ['UUID', 'STATE', 'HOSTNAME', 'CLUSTER', 'LAST SEEN', 'ADDRESS', 'VENDOR/MODEL', 'SERIAL'];
  const widths = head.map((t, i) => Math.max(t.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n';
  let out = line(head);
  hosts.forEach((h, i) => {
    out += line(rows[i]!);
    const ev = h.evidence;
    const forms = ev['uuidForms'] as { smbios?: string; wire?: string } | undefined;
    const claimed = Array.isArray(ev['claimedMacs']) ? (ev['claimedMacs'] as string[]) : [];
    const addrs = Array.isArray(ev['addresses']) ? (ev['addresses'] as string[]) : [];
    out += `    first seen ${iso(h.firstSeen)}; MACs ${h.macs.join(', ') || '-'}${claimed.length ? `; claimed MACs ${claimed.join(', ')}` : ''}\n`;
    if (h.kernelOptions) out += `    kernel options: ${h.kernelOptions}\n`;
    if (forms?.wire) out += `    UUID forms: SMBIOS ${forms.smbios}, wire (PXE option 97) ${forms.wire}\n`;
    if (addrs.length)
      out += `    phoned home from ${addrs.join(', ')}${typeof ev['initiatorVersion'] === 'string' ? ` (${ev['initiatorVersion']})` : ''}\n`;
    for (const p of h.phoneHomes.slice(0, 3)) {
      out += `    phone-home ${iso(p.at)} ${p.transport} ${p.address} ${p.result}${p.reason ? ` (${p.reason})` : ''}${p.jobId ? ` job ${p.jobId}` : ''}\n`;
    }
    for (const e of h.bootEvents.slice(0, 3)) {
      const answer = typeof e.detail?.['answer'] === 'string' ? ` ${e.detail['answer']}` : '';
      out += `    boot ${iso(e.at)} ${e.protocol} ${e.file ?? '-'}${answer}${e.image ? ` image ${e.image}` : ''}${e.firmware ? ` ${e.firmware}` : ''}${e.mac ? ` mac ${e.mac}` : ''}\n`;
    }
  });
  return out;
}

/** Adds `host list|show|pin|join|reset-thumbprint|forget|prune-unregistered|reinstall` to the program. */
export function registerHost(program: Command): void {
  const host = program.command('host').description('hosts seen by statelesx (phone-home, boot) and their evidence');
  configOption(host.command('list').description('list hosts from the store, with their evidence and boot history'))
    .option('--unregistered', 'only hosts that phoned home but match no cluster')
    .option('--json', 'print JSON (records, evidence, boot events, phone-homes)')
    .option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)')
    .action(remoteOr(remoteHostList, listHostsCommand));

  configOption(
    host
      .command('reset-thumbprint <id>')
      .description(
        "forget the SSL thumbprints recorded for a host (by hardware UUID or FQDN): after a certificate was replaced on purpose; the next boot's phone-home is trusted again",
      ),
  )
    .option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)')
    .option('--json', 'JSON output (with --server)')
    .action(remoteOr(remoteThumbprintReset, resetHostThumbprint));
  registerHostForget(host);
  registerHostReinstall(host);
  registerServerHostCommands(host);
}

/** `host show`, `host pin` and `host join`: through a server's API (`--server`). */
function registerServerHostCommands(host: Command): void {
  host
    .command('show <uuid>')
    .description('one host: its record, last boots and jobs (needs --server)')
    .option('--json', 'JSON output: {host, boots, jobs}')
    .action(remoteOr(remoteHostShow));

  host
    .command('pin <uuid> [image]')
    .description('pin the image a host boots from its next boot, or --clear the pin (needs --server)')
    .option('--clear', 'remove the pin: the cluster file decides again')
    .option('--json', 'JSON output')
    .action(remoteOr(remoteHostPin));

  host
    .command('join <uuid>')
    .description(
      'write an unregistered host into a cluster file and queue its configure job (needs --server); the FQDN defaults to the one it phoned home with',
    )
    .requiredOption('--cluster <name>', 'the cluster to join')
    .option('--fqdn <fqdn>', 'the name vCenter adds it as (default: the FQDN it phoned home with)')
    .option('--image <name>', 'pin this image for the member')
    .option(
      '--address <vmk=ip>',
      'a static VMkernel address, e.g. vmk1=10.0.1.11 (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--watch', 'follow the configure job (exit status from its outcome)')
    .option('--json', 'JSON output')
    .action(remoteOr(remoteHostJoin));
}

/** `host reset-thumbprint <id>` (local): forgets the recorded thumbprints of a host (by UUID) or FQDN. */
export async function resetHostThumbprint(id: string, opts: { config?: string; dataDir?: string }): Promise<void> {
  const config = existingStoreConfig(opts);
  const clusters = await loadClusterDir(config['clusters-dir']);
  const members = clusters.list().flatMap((c) => c.hosts);
  const store = await openStore(storeTarget(config));
  try {
    const r = await resetThumbprint(store, id, {
      fqdnOf: (u) => members.find((m) => m.uuid.toLowerCase() === u)?.fqdn,
      uuidOf: (f) => members.find((m) => m.fqdn.toLowerCase() === f)?.uuid.toLowerCase(),
    });
    await store.audit.add({
      at: Date.now(),
      actor: 'system:cli',
      action: 'host.thumbprint.reset',
      target: r.uuid ?? r.fqdn ?? id,
      before: null,
      after: { uuid: r.uuid ?? null, fqdn: r.fqdn ?? null, changed: r.changed },
    });
    process.stdout.write(
      r.changed
        ? `forgot the recorded thumbprint(s) of ${[r.uuid, r.fqdn].filter(Boolean).join(' / ')}\n`
        : `nothing recorded for ${id}\n`,
    );
  } catch (e) {
    process.stderr.write(`statelesx: ${(e as Error).message}\n`);
    process.exitCode = 2;
  } finally {
    store.close();
  }
}

/** `host list`: hosts from the store with their evidence and boot history (or JSON). */
async function listHostsCommand(opts: {
  config?: string;
  unregistered?: boolean;
  json?: boolean;
  dataDir?: string;
}): Promise<void> {
  const config = existingStoreConfig(opts);
  const clustersDir = config['clusters-dir'];
  const store = await openStore(storeTarget(config));
  try {
    const files = fixedClusterFiles((await loadClusterDir(clustersDir)).list());
    const hosts = await listHosts(store, {
      unregistered: opts.unregistered ?? false,
      kernelOptions: (uuid) => {
        const m = files.findHostByUuid(uuid);
        return m && kernelOptionsOfMember(m);
      },
    });
    process.stdout.write(opts.json ? JSON.stringify(hosts, null, 2) + '\n' : formatHosts(hosts));
  } finally {
    store.close();
  }
}
