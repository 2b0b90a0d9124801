/**
 * The `statelesx host ...` commands against a server (src/cli/remote): list, show, pin, join,
 * forget (optionally removing the host from vCenter as a job, followed like `job watch`),
 * prune-unregistered, reinstall, reset-thumbprint. Each is one or two REST calls through
 * {@link ApiClient}; the local data-directory variants are in ./host.ts and ./host-forget.ts.
 */
import type { HostRecord } from '../store/index.js';
import type { ApiClient } from './remote/client.js';
import { UsageError } from './remote/errors.js';
import { cell, printJson, table, when } from './remote/format.js';
import { formatHosts } from './host.js';
import { followJob, formatJobs } from './job.js';
import type { JobView } from './remote/watch.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const enc = encodeURIComponent;

/** @throws UsageError unless `uuid` is a hardware UUID (8-4-4-4-12 hex digits) */
function checkUuid(uuid: string): string {
  if (!UUID.test(uuid)) throw new UsageError(`${uuid} is not a hardware UUID (8-4-4-4-12 hex digits)`);
  return uuid.toLowerCase();
}

/** A host as the API lists it (Host schema). */
type ApiHost = HostRecord & { lastImage?: string | null; fqdn?: string | null; currentBoot?: string };

/** The URL of the `rel="next"` page of a `Link` header (RFC 8288), or undefined. */
function nextLink(link: string | null): string | undefined {
  return link ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
}

/** `host list`: every page of `GET /api/v1/hosts` (or `/api/v1/unregistered`), as a table or JSON. */
export async function remoteHostList(api: ApiClient, opts: { unregistered?: boolean; json?: boolean }): Promise<void> {
  const hosts: ApiHost[] = [];
  let path: string | undefined = `${opts.unregistered ? '/api/v1/unregistered' : '/api/v1/hosts'}?limit=1000`;
  while (path) {
    const page: { body: ApiHost[]; headers: Headers } = await api.call<ApiHost[]>('GET', path);
    hosts.push(...page.body);
    path = nextLink(page.headers.get('link'));
  }
  if (opts.json) printJson(hosts);
  else process.stdout.write(formatHosts(hosts.map((h) => ({ ...h, bootEvents: [], phoneHomes: [] }))));
}

/** `host show UUID`: the host, its last boots and its jobs. */
export async function remoteHostShow(api: ApiClient, uuid: string, opts: { json?: boolean }): Promise<void> {
  const u = enc(checkUuid(uuid));
  const host = await api.json<ApiHost>('GET', `/api/v1/hosts/${u}`);
  const [boots, jobs] = await Promise.all([
    api.json<Array<Record<string, unknown>>>('GET', `/api/v1/hosts/${u}/boots`, { query: { limit: 10 } }),
    api.json<JobView[]>('GET', `/api/v1/hosts/${u}/jobs`),
  ]);
  if (opts.json) return printJson({ host, boots, jobs });
  const ev = host.evidence ?? {};
  const lines: Array<[string, unknown]> = [
    ['uuid', host.uuid],
    ['state', host.state],
    ['hostname', host.hostname],
    ['cluster', host.cluster],
    ['image pin', host.imagePin],
    ['vendor/model', [host.vendor, host.model].filter(Boolean).join(' ') || null],
    ['serial', host.serial],
    ['MACs', host.macs.join(', ') || null],
    ['first seen', when(host.firstSeen)],
    ['last seen', when(host.lastSeen)],
    ['last address', host.lastAddress],
    ['initiator', typeof ev['initiatorVersion'] === 'string' ? ev['initiatorVersion'] : null],
  ];
  let out = lines
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${`${k}:`.padEnd(14)}${String(v)}\n`)
    .join('');
  out += boots.length
    ? '\nboots:\n' +
      table(
        ['AT', 'PROTOCOL', 'FILE', 'IMAGE'],
        boots.map((b) => [when(b['at'] as number), cell(b['protocol']), cell(b['file']), cell(b['image'])]),
      )
    : '\nno boots recorded\n';
  out += jobs.length ? '\njobs:\n' + formatJobs(jobs) : 'no jobs\n';
  process.stdout.write(out);
}

/** `host pin UUID IMAGE` / `host pin UUID --clear`: the image the host boots next. */
export async function remoteHostPin(
  api: ApiClient,
  uuid: string,
  image: string | undefined,
  opts: { clear?: boolean; json?: boolean },
): Promise<void> {
  const u = checkUuid(uuid);
  if ((image === undefined) === !opts.clear) throw new UsageError('give an IMAGE or --clear (not both)');
  if (opts.clear) await api.call('DELETE', `/api/v1/boot-assignments/${enc(u)}`);
  else await api.call('PUT', `/api/v1/boot-assignments/${enc(u)}`, { body: { image } });
  if (opts.json) printJson({ uuid: u, image: image ?? null });
  else process.stdout.write(opts.clear ? `pin of ${u} cleared\n` : `${u} boots ${image} from its next boot\n`);
}

/** The answer of a join (src/web/api/hosts.ts joinResult). */
interface JoinResult {
  uuid: string;
  ok: boolean;
  cluster: string;
  fqdn?: string;
  job?: { id: string; existing: boolean };
  error?: string;
  waitsForPhoneHome?: boolean;
}

/** Parses `--address vmk1=10.0.1.11` values. @throws UsageError for another form */
function addressesOf(list: string[] | undefined): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  for (const a of list) {
    const m = /^(vmk\d{1,2})=(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (!m) throw new UsageError(`--address ${a}: expected DEVICE=IPv4, e.g. vmk1=10.0.1.11`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** `host join UUID --cluster C [--fqdn F]`: writes the host into the cluster file and queues its configure job. */
export async function remoteHostJoin(
  api: ApiClient,
  uuid: string,
  opts: { cluster: string; fqdn?: string; image?: string; address?: string[]; watch?: boolean; json?: boolean },
): Promise<void> {
  const u = checkUuid(uuid);
  const addresses = addressesOf(opts.address);
  const r = await api.json<JoinResult>('POST', `/api/v1/unregistered/${enc(u)}/join`, {
    body: {
      cluster: opts.cluster,
      ...(opts.fqdn ? { fqdn: opts.fqdn } : {}),
      ...(opts.image ? { image: opts.image } : {}),
      ...(addresses ? { addresses } : {}),
    },
  });
  if (opts.watch && r.job) return followJob(api, r.job.id, opts);
  if (opts.json) return printJson(r);
  process.stdout.write(
    `${u} joined cluster ${r.cluster}${r.fqdn ? ` as ${r.fqdn} (the name it phoned home with)` : ''}` +
      (r.job ? `; job ${r.job.id} (statelesx job watch ${r.job.id})` : '') +
      (r.waitsForPhoneHome ? '; it is added to vCenter once ESXi phones home' : '') +
      '\n',
  );
}

/**
 * `host forget UUID [--remove-from-vcenter]`: without the flag the store forgets the host at once
 * (200); with it the server queues a `remove-host` job (202 `{jobId}`: maintenance mode, removal
 * from vCenter, then the forget), which is followed unless `--no-wait`.
 */
export async function remoteHostForget(
  api: ApiClient,
  uuid: string,
  opts: { removeFromVcenter?: boolean; wait?: boolean; json?: boolean },
): Promise<void> {
  const u = checkUuid(uuid);
  const r = await api.call<Record<string, unknown>>('DELETE', `/api/v1/hosts/${enc(u)}`, {
    query: { removeFromVcenter: opts.removeFromVcenter ? 'true' : undefined },
  });
  const jobId = typeof r.body?.['jobId'] === 'string' ? r.body['jobId'] : undefined;
  if (jobId) {
    if (opts.wait !== false) return followJob(api, jobId, opts);
    if (opts.json) return printJson(r.body);
    process.stdout.write(`removing ${u} from vCenter: job ${jobId} (statelesx job watch ${jobId})\n`);
    return;
  }
  if (opts.json) return printJson(r.body ?? {});
  const b = (r.body ?? {}) as { bootEvents?: number; bootTokens?: number; hostBoots?: number };
  process.stdout.write(
    `forgot host ${u} (${b.bootEvents ?? 0} sighting(s), ${b.bootTokens ?? 0} boot token(s)${b.hostBoots ? ', its boot record' : ''})\n`,
  );
}

/** `host prune-unregistered --older-than-days N | --uuid U`. */
export async function remotePruneUnregistered(
  api: ApiClient,
  opts: { olderThanDays?: string; uuid?: string; json?: boolean },
): Promise<void> {
  if ((opts.olderThanDays === undefined) === (opts.uuid === undefined))
    throw new UsageError('give one of --older-than-days N and --uuid UUID');
  if (opts.uuid !== undefined) {
    const u = checkUuid(opts.uuid);
    await api.call('DELETE', `/api/v1/unregistered/${enc(u)}`);
    if (opts.json) printJson({ deleted: [u] });
    else process.stdout.write(`deleted unregistered host ${u}\n`);
    return;
  }
  const days = Number(opts.olderThanDays);
  if (!Number.isInteger(days) || days < 1)
    throw new UsageError(`--older-than-days ${opts.olderThanDays}: a whole number ≥ 1`);
  const r = await api.json<{ deleted: string[] }>('DELETE', '/api/v1/unregistered', { query: { olderThanDays: days } });
  if (opts.json) printJson(r);
  else process.stdout.write(`deleted ${r.deleted.length} unregistered host(s) not seen for ${days} days\n`);
}

/** `host reinstall UUID`: the stateful member's next network boot installs again. */
export async function remoteHostReinstall(api: ApiClient, uuid: string, opts: { json?: boolean }): Promise<void> {
  const u = checkUuid(uuid);
  const r = await api.json<{ uuid: string; cluster: string | null; installedAt: number | null }>(
    'POST',
    `/api/v1/hosts/${enc(u)}/reinstall`,
  );
  if (opts.json) return printJson(r);
  process.stdout.write(
    `reinstall requested for ${r.uuid} (cluster ${cell(r.cluster)}): its next network boot installs\n`,
  );
}

/** `host reset-thumbprint ID` / `thumbprint reset ID`: forget the recorded SSL thumbprints (UUID or FQDN). */
export async function remoteThumbprintReset(api: ApiClient, id: string, opts: { json?: boolean }): Promise<void> {
  const r = await api.json<{ uuid: string | null; fqdn: string | null; changed: boolean }>(
    'DELETE',
    `/api/v1/hosts/${enc(id)}/thumbprint`,
  );
  if (opts.json) return printJson(r);
  process.stdout.write(
    r.changed
      ? `forgot the recorded thumbprint(s) of ${[r.uuid, r.fqdn].filter(Boolean).join(' / ')}\n`
      : `nothing recorded for ${id}\n`,
  );
}
