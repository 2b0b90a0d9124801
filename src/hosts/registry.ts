/**
 * The host registry: what happens when a host phones home (TCP 1974 or HTTP). It identifies the
 * host by its UUID in both byte orders, authenticates the message, and then either queues the
 * configure job (known host) or records the host as `unregistered` with the evidence it sent.
 *
 * Known hosts are those declared in cluster files (an injected {@link DeclaredHostLookup}, the
 * cluster loader owns the files) and those assigned in the store (`hosts.cluster` set).
 *
 * ## Authentication (anti-spoofing)
 * - A token, when the message carries one, is always checked with {@link BootTokens.verify}
 *   (single use, for this host, not expired). It is used up only when the configure job was
 *   queued: when the queue fails (`enqueue-failed`) it is released for the host's retry.
 * - `requireToken: true`: a known host without a valid token is refused
 *   (`token-missing|token-unknown|token-expired|token-replayed|token-other-host`).
 * - `requireToken: false` (legacy 2008 scripts, no token): the source address must be one the
 *   server expects for that host — the address our DHCP server leased to one of the host's
 *   known MACs (MACs recorded by DHCP/TFTP sightings and boot events, never the MACs the message
 *   claims), or the management address its cluster file declares. When none is known the
 *   phone-home is accepted and logged as unverified.
 * - Unknown hosts need no token: recording them is the point of the unregistered list. A token
 *   they send is checked and its verdict kept in the evidence (`token`).
 *
 * What a spoofer on the boot network can and cannot do:
 * - cannot get a configure job queued for a known host without that host's current, unused
 *   token (require-token mode); a stolen token is single use, so whichever of the spoofer and the
 *   real host comes second is refused as `token-replayed` — logged, counted, visible;
 * - can obtain a token by fetching the host's rendered boot config with a forged MAC/UUID
 *   before the host boots (residual PXE risk, see SECURITY.md: separate the boot network);
 * - in legacy mode, can impersonate a known host only from the address we expect for it, or
 *   for a host whose address we do not know;
 * - can add unregistered entries with invented UUIDs and claims, and add claims (hostname,
 *   MACs, vendor…) to an existing unregistered entry. Those fields are claims, not facts: the
 *   entry keeps every source address it was seen from (`evidence.addresses`) and our own DHCP/TFTP
 *   boot history, and joining an unregistered host is an authenticated operator action;
 * - cannot alter a known host's record with a refused message: refusals touch only
 *   `phone_homes` (and the log and counter).
 */
import type { Logger } from '../log.js';
import type { HostReader, HostRecord, HostSighting, HostWriter, PhoneHomeLog } from '../store/index.js';
import type { HostBootStore, HostInstallStore } from '../store/index.js';
import type { JobQueue } from '../engine/queue.js';
import type { BootTokens, TokenCheck } from './tokens.js';
import { counter } from '../metrics.js';

/** A host as a cluster file declares it. */
export interface DeclaredHost {
  /** Cluster name (DesiredCluster.name). */
  cluster: string;
  /** FQDN the engine adds to vCenter (AddHost_Task `HostConnectSpec.hostName`). */
  fqdn: string;
  /** IPv4 of the management VMkernel NIC when the file pins one (static `<address vmk="vmk0">`). */
  managementAddress?: string | undefined;
  /** The member installs ESXi to disk (its `bootMode`, else the cluster's `boot/@mode`, is `stateful`). */
  stateful?: boolean | undefined;
}

/**
 * Looks a UUID up in the cluster files. Called with each byte order of the claimed UUID
 * (lower-case, dashed); returns the declaration when the files list that exact UUID.
 */
export type DeclaredHostLookup = (uuid: string) => DeclaredHost | undefined;

/**
 * The IPv4 address our DHCP server currently leases (bound, unexpired) to `mac`
 * (`aa:bb:cc:dd:ee:ff`), or undefined. Backed by table `dhcp_leases` (src/store/leases.ts).
 */
export type LeaseLookup = (mac: string, now: number) => Promise<string | undefined>;

/** Everything a phone-home carries, normalised (see src/phonehome/parse.ts). */
export interface PhoneHomeClaim {
  uuid: { smbios: string; wire: string };
  hostname?: string | undefined;
  token?: string | undefined;
  macs: string[];
  serial?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
  version?: string | undefined;
  /** SHA-256 thumbprint of the host's certificate (upper-case colon hex), as the host reported it. */
  thumbprint?: string | undefined;
  /** SHA-1 thumbprint of the same certificate. */
  thumbprintSha1?: string | undefined;
  /** `installed`: the host says its stateful install is done (kickstart `%firstboot`). */
  stage?: 'installed' | undefined;
  /** Wire form used: `1.0`, `1.1`, `extension`, `http`. */
  form: string;
}

export interface PhoneHomeRequest {
  claim: PhoneHomeClaim;
  /** Source IP address (IPv4-mapped IPv6 is unwrapped). */
  address: string;
  transport: 'tcp' | 'http';
  /** Request id, as in the log lines. */
  requestId: string;
  /** Logger carrying `client` and `req`; defaults to the registry's. */
  log?: Logger;
}

/** Why a parsed phone-home was refused. */
export type RefusalReason =
  | 'token-missing'
  | 'token-unknown'
  | 'token-expired'
  | 'token-replayed'
  | 'token-other-host'
  | 'address-mismatch'
  | 'enqueue-failed'
  | 'rate-limited';

export type PhoneHomeOutcome =
  | { result: 'ok'; hostUuid: string; cluster: string; jobId: string; existingJob: boolean }
  | { result: 'unregistered'; hostUuid: string }
  | { result: 'refused'; hostUuid: string; reason: RefusalReason };

/** How a known host matched. */
export type HostMatch =
  | {
      source: 'cluster-file';
      uuid: string;
      cluster: string;
      fqdn: string;
      managementAddress?: string | undefined;
      stateful?: boolean | undefined;
    }
  | { source: 'store'; uuid: string; cluster: string };

/**
 * `statelesx_phone_homes_total{transport, result, reason}`: every phone-home and every rejected
 * connection. result: ok | unregistered | refused (parsed, recorded) | rejected (bad input or
 * limits, not stored). reason: '' for ok/unregistered.
 */
export const phoneHomesTotal = counter('phone_homes_total', 'Phone-home messages by transport, result and reason', [
  'transport',
  'result',
  'reason',
] as const);

/** `::ffff:10.0.0.5` → `10.0.0.5`; other addresses unchanged. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Most distinct source addresses kept in an unregistered host's evidence. */
const MAX_EVIDENCE_ADDRESSES = 8;
/** Most claimed MACs kept in evidence. */
const MAX_MACS_KEPT = 32;

export interface HostRegistryOptions {
  hosts: HostReader & HostWriter;
  phoneHomes: PhoneHomeLog;
  tokens: BootTokens;
  queue: JobQueue;
  declared: DeclaredHostLookup;
  leases?: LeaseLookup | undefined;
  /**
   * Where an accepted phone-home of a known host is recorded with the SSL thumbprints it reported
   * (the engine's "phoned home on this boot", src/store/hostboots.ts). Optional (tests).
   */
  boots?: Pick<HostBootStore, 'recordPhoneHome'> | undefined;
  /**
   * Where a stateful member's reported install is recorded (boot-once, src/store/hostinstalls.ts):
   * a verified phone-home with `stage=installed`. Optional (tests).
   */
  installs?: Pick<HostInstallStore, 'markInstalled'> | undefined;
  /** `initiator.require-token`. */
  requireToken: boolean;
  /**
   * Admits a new unregistered host from a source address (`initiator.new-hosts-per-source-per-minute`):
   * false refuses it as `rate-limited`, not stored (issue 16, finding 8). Default: every one.
   */
  admitNewHost?: ((address: string, at: number) => boolean) | undefined;
  log: Logger;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /**
   * Runs one phone-home's reads and writes as one unit (one commit instead of several):
   * `(fn) => store.transaction(fn)` (src/store/index.ts). Default: run `fn` as is. Must nest (an
   * inner call is a SAVEPOINT, rolled back alone when its `fn` rejects): the configure-job enqueue
   * runs in an inner one.
   */
  transaction?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export class HostRegistry {
  private readonly now: () => number;

  constructor(private readonly opts: HostRegistryOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Finds a known host by either byte order of its UUID: cluster files first, then hosts
   * assigned to a cluster in the store. Undefined when the host is known nowhere.
   */
  async identify(uuid: { smbios: string; wire: string }): Promise<HostMatch | undefined> {
    return (await this.lookup(uuid)).match;
  }

  /** {@link identify}, plus the store rows it read for each byte order (reused, not re-read). */
  private async lookup(uuid: { smbios: string; wire: string }): Promise<{
    match: HostMatch | undefined;
    smbiosRow?: HostRecord | undefined;
    wireRow?: HostRecord | undefined;
  }> {
    for (const u of [uuid.smbios, uuid.wire]) {
      const d = this.opts.declared(u);
      if (d)
        return {
          match: {
            source: 'cluster-file',
            uuid: u,
            cluster: d.cluster,
            fqdn: d.fqdn,
            managementAddress: d.managementAddress,
            stateful: d.stateful,
          },
        };
    }
    const smbiosRow = await this.opts.hosts.get(uuid.smbios);
    if (smbiosRow?.cluster)
      return { match: { source: 'store', uuid: uuid.smbios, cluster: smbiosRow.cluster }, smbiosRow };
    const wireRow = await this.opts.hosts.get(uuid.wire);
    if (wireRow?.cluster) return { match: { source: 'store', uuid: uuid.wire, cluster: wireRow.cluster }, wireRow };
    return { match: undefined, smbiosRow, wireRow };
  }

  /**
   * Handles one parsed phone-home: authenticate, then queue the configure job (known host) or
   * record an unregistered sighting. Every outcome is stored in `phone_homes`, logged and counted.
   * Never rejects for bad claims; rejects only when the store itself fails.
   */
  async phoneHome(req: PhoneHomeRequest): Promise<PhoneHomeOutcome> {
    return this.opts.transaction ? this.opts.transaction(() => this.handle(req)) : this.handle(req);
  }

  private async handle(req: PhoneHomeRequest): Promise<PhoneHomeOutcome> {
    const at = this.now();
    const log = req.log ?? this.opts.log;
    const { claim } = req;
    const { match, smbiosRow, wireRow } = await this.lookup(claim.uuid);
    let outcome: PhoneHomeOutcome;
    if (match) {
      outcome = await this.known(match, req, at, log);
    } else {
      // Keep an existing row under whichever byte order it was first recorded in.
      const existing = smbiosRow ?? wireRow;
      if (!existing && this.opts.admitNewHost && !this.opts.admitNewHost(req.address, at)) {
        // A new row per invented UUID is what a flood of phone-homes grows: refused, counted, not stored.
        phoneHomesTotal.inc({ transport: req.transport, result: 'rejected', reason: 'rate-limited' });
        log.debug({ host: claim.uuid.smbios, address: req.address }, 'phone-home of a new host refused: rate-limited');
        return { result: 'refused', hostUuid: claim.uuid.smbios, reason: 'rate-limited' };
      }
      outcome = await this.unregistered(req, at, existing?.uuid ?? claim.uuid.smbios, existing);
    }
    await this.opts.phoneHomes.record({
      at,
      address: req.address,
      transport: req.transport,
      hostUuid: outcome.hostUuid,
      hostname: claim.hostname ?? null,
      result: outcome.result,
      reason: outcome.result === 'refused' ? outcome.reason : null,
      jobId: outcome.result === 'ok' ? outcome.jobId : null,
    });
    phoneHomesTotal.inc({
      transport: req.transport,
      result: outcome.result,
      reason: outcome.result === 'refused' ? outcome.reason : '',
    });
    const fields = { host: outcome.hostUuid, hostname: claim.hostname, form: claim.form, result: outcome.result };
    if (outcome.result === 'refused') log.warn({ ...fields, reason: outcome.reason }, 'phone-home refused');
    else if (outcome.result === 'ok')
      log.info({ ...fields, cluster: outcome.cluster, job: outcome.jobId }, 'phone-home: configure job queued');
    else log.info(fields, 'phone-home from unregistered host');
    return outcome;
  }

  private async known(match: HostMatch, req: PhoneHomeRequest, at: number, log: Logger): Promise<PhoneHomeOutcome> {
    const { claim } = req;
    const refuse = (reason: RefusalReason): PhoneHomeOutcome => ({ result: 'refused', hostUuid: match.uuid, reason });
    let verified: string;
    if (claim.token !== undefined) {
      const check = await this.verifyToken(claim.token, claim.uuid, at);
      if (!check.ok) return refuse(`token-${check.reason}`);
      verified = 'token';
    } else if (this.opts.requireToken) {
      return refuse('token-missing');
    } else {
      const expected = await this.expectedAddresses(match, at);
      if (expected.size > 0 && !expected.has(req.address)) {
        log.warn(
          { host: match.uuid, expected: [...expected], address: req.address },
          'legacy phone-home from an unexpected address',
        );
        return refuse('address-mismatch');
      }
      verified = expected.size > 0 ? 'address' : 'none';
      if (verified === 'none')
        log.warn(
          { host: match.uuid },
          'legacy phone-home accepted unverified: no lease or expected address known for this host',
        );
    }
    await this.sight(match.uuid, req, at, 'registered', { verifiedBy: verified });
    await this.opts.boots?.recordPhoneHome(match.uuid, {
      at,
      verifiedBy: verified,
      thumbprint: claim.thumbprint,
      thumbprintSha1: claim.thumbprintSha1,
      hostname: claim.hostname,
    });
    await this.recordInstall(match, req, at, verified, log);
    let job;
    try {
      // Nested in the phone-home's transaction (a savepoint): a queue that throws half-way leaves no partial job rows.
      const enqueue = () =>
        this.opts.queue.enqueueConfigureHost(match.uuid, { source: 'initiator', actor: req.address });
      job = await (this.opts.transaction ? this.opts.transaction(enqueue) : enqueue());
    } catch (e) {
      log.error({ err: e, host: match.uuid }, 'could not queue the configure job');
      // The token authorised a job that was not queued: give it back, so the initiator's retry
      // (it retries on enqueue-failed) is accepted instead of refused as token-replayed.
      if (verified === 'token' && claim.token !== undefined) await this.opts.tokens.release(claim.token, at);
      return refuse('enqueue-failed');
    }
    await this.opts.hosts.setState(match.uuid, 'configuring');
    return { result: 'ok', hostUuid: match.uuid, cluster: match.cluster, jobId: job.id, existingJob: job.existing };
  }

  private async unregistered(
    req: PhoneHomeRequest,
    at: number,
    uuid: string,
    cur: HostRecord | undefined,
  ): Promise<PhoneHomeOutcome> {
    const { claim } = req;
    const extra: Record<string, unknown> = {};
    if (claim.token !== undefined) {
      const check = await this.verifyToken(claim.token, claim.uuid, at);
      extra['token'] = check.ok ? 'valid' : check.reason;
    }
    await this.sight(uuid, req, at, 'unregistered', extra, cur);
    // ESXi is running on this boot (the unregistered list tells it from a PXE-only sighting, and a
    // join adds it at once); the thumbprints are claims that vCenter checks against the host.
    await this.opts.boots?.recordPhoneHome(uuid, {
      at,
      verifiedBy: extra['token'] === 'valid' ? 'token' : 'none',
      thumbprint: claim.thumbprint,
      thumbprintSha1: claim.thumbprintSha1,
      hostname: claim.hostname,
    });
    return { result: 'unregistered', hostUuid: uuid };
  }

  /**
   * Boot-once: a stateful member whose verified phone-home says `stage=installed` (its kickstart's
   * `%firstboot`) has ESXi on its disk, so its later network boots boot from local disk. A claim
   * from anyone else (a stateless member, a host only assigned in the store, an unverified legacy
   * phone-home) changes nothing and is logged.
   */
  private async recordInstall(
    match: HostMatch,
    req: PhoneHomeRequest,
    at: number,
    verified: string,
    log: Logger,
  ): Promise<void> {
    if (req.claim.stage !== 'installed') return;
    const stateful = match.source === 'cluster-file' && match.stateful === true;
    if (!stateful || verified === 'none') {
      log.warn(
        { host: match.uuid, stateful, verifiedBy: verified },
        'phone-home says stage=installed, ignored: not a verified phone-home of a stateful member',
      );
      return;
    }
    await this.opts.installs?.markInstalled(match.uuid, { at, address: req.address });
    log.info({ host: match.uuid }, 'stateful install reported done: later network boots boot from local disk');
  }

  /** Checks the token against the SMBIOS form, then (when issued for the other form) the wire form. */
  private async verifyToken(token: string, uuid: { smbios: string; wire: string }, at: number): Promise<TokenCheck> {
    const first = await this.opts.tokens.verify(token, uuid.smbios, at);
    if (first.ok || first.reason !== 'other-host') return first;
    const second = await this.opts.tokens.verify(token, uuid.wire, at);
    return second.ok || second.reason !== 'other-host' ? second : first;
  }

  /** Addresses the server expects a known host to phone home from: leases of its known MACs, its declared management IP. */
  private async expectedAddresses(match: HostMatch, at: number): Promise<Set<string>> {
    const out = new Set<string>();
    if (match.source === 'cluster-file' && match.managementAddress) out.add(match.managementAddress);
    if (this.opts.leases) {
      for (const mac of await this.knownMacs(match.uuid)) {
        const a = await this.opts.leases(mac, at);
        if (a) out.add(a);
      }
    }
    return out;
  }

  /** MACs the server itself saw for this host (store sightings, boot events), never the message's claims. */
  private async knownMacs(uuid: string): Promise<string[]> {
    const macs = new Set((await this.opts.hosts.get(uuid))?.macs ?? []);
    for (const e of await this.opts.hosts.bootEvents({ uuid, limit: 50 })) if (e.mac) macs.add(e.mac);
    return [...macs];
  }

  /** Upserts the host row with the claim's fields and evidence (repeats update, never duplicate). */
  private async sight(
    uuid: string,
    req: PhoneHomeRequest,
    at: number,
    newState: 'registered' | 'unregistered',
    extra: Record<string, unknown>,
    known?: HostRecord,
  ): Promise<HostRecord> {
    const cur = known ?? (await this.opts.hosts.get(uuid));
    const { claim } = req;
    const prev = Array.isArray(cur?.evidence['addresses'])
      ? (cur.evidence['addresses'] as unknown[]).filter((a): a is string => typeof a === 'string')
      : [];
    const addresses = [...prev.filter((a) => a !== req.address), req.address].slice(-MAX_EVIDENCE_ADDRESSES);
    const evidence: Record<string, unknown> = {
      ...extra,
      uuidForms: claim.uuid,
      addresses,
      phoneHome: { at, address: req.address, transport: req.transport, form: claim.form, requestId: req.requestId },
    };
    if (claim.version !== undefined) evidence['initiatorVersion'] = claim.version;
    if (claim.macs.length > 0) {
      const prevMacs = Array.isArray(cur?.evidence['claimedMacs'])
        ? (cur.evidence['claimedMacs'] as unknown[]).filter((m): m is string => typeof m === 'string')
        : [];
      evidence['claimedMacs'] = [...new Set([...prevMacs, ...claim.macs])].slice(-MAX_MACS_KEPT);
    }
    // Claimed MACs join the host's MAC list (which the legacy address check trusts) only once the
    // host is known and the message authenticated; for unregistered hosts they stay evidence.
    const trusted = newState === 'registered' ? claim.macs : [];
    const base: HostSighting = {
      uuid,
      at,
      address: req.address,
      hostname: claim.hostname,
      serial: claim.serial,
      vendor: claim.vendor,
      model: claim.model,
      mac: trusted[0],
      evidence,
    };
    let rec = await this.opts.hosts.upsertSighting(base, newState);
    for (const mac of trusted.slice(1)) rec = await this.opts.hosts.upsertSighting({ uuid, at, mac }, newState);
    return rec;
  }
}
