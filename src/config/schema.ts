/**
 * The typed shape of `statelesx.yaml`, validated with zod.
 *
 * Owns: key names, defaults and value ranges. Everything else receives a parsed {@link Config}.
 * Keys are kebab-case in YAML (as the CLI flags are); the parsed object keeps the same names.
 * Every key is documented in README "Configuration reference"; keep the two in step.
 */
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const ipv4 = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'an IPv4 address (a.b.c.d)');
const mac = z.string().regex(/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/, 'a MAC address (aa:bb:cc:dd:ee:ff)');

/**
 * The keys of an account's secret. A secret is never inline: it comes from a file
 * (`password-file`) or an environment variable (`password-env`), exactly one of them; an inline
 * `password:` key is refused with a message saying so (it would sit in the file, and in its
 * backups, in clear text).
 */
const secretKeys = {
  'password-file': z.string().min(1).optional(),
  'password-env': z.string().min(1).optional(),
  password: z
    .never({
      error:
        'inline passwords are not accepted: put the secret in a file (password-file: PATH, readable by statelesx only) ' +
        'or in an environment variable (password-env: NAME)',
    })
    .optional(),
};

/** Adds the issue "exactly one of password-file or password-env" (runs only when the keys parsed). */
function exactlyOneSecret(
  s: { 'password-file'?: string | undefined; 'password-env'?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((s['password-file'] ? 1 : 0) + (s['password-env'] ? 1 : 0) !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: 'exactly one of password-file or password-env is required (inline passwords are not accepted)',
    });
  }
}

/** A secret source on its own: `{password-file}` or `{password-env}`. */
export const secretSource = z.object(secretKeys).strict().superRefine(exactlyOneSecret);

/** SHA-1 (20 bytes) or SHA-256 (32 bytes) certificate fingerprint, colon-separated hex, any case. */
const thumbprint = z
  .string()
  .regex(
    /^(?:(?:[0-9A-Fa-f]{2}:){19}|(?:[0-9A-Fa-f]{2}:){31})[0-9A-Fa-f]{2}$/,
    'a SHA-1 (20 bytes) or SHA-256 (32 bytes) fingerprint in colon-separated hex (AA:BB:...:FF)',
  );

export const vcenterSchema = z
  .object({
    name: z.string().min(1),
    /** The SDK endpoint, https only: the SessionManager.Login call carries the password. */
    url: z
      .string()
      .url()
      .refine((u) => !URL.canParse(u) || new URL(u).protocol === 'https:', {
        message:
          'must be an https:// URL (https://vcenter.example.com/sdk): over http:// the Login call would send the password in clear text',
      }),
    username: z.string().min(1),
    /** SHA-1 or SHA-256 thumbprint of vCenter's certificate, colon-separated hex; pins TLS. */
    thumbprint: thumbprint.optional(),
    /** PEM file with the CA that signed vCenter's certificate (otherwise the system store). */
    'ca-file': z.string().optional(),
    'max-sessions': z.number().int().min(1).max(32).default(4),
    'timeout-ms': z.number().int().min(1000).default(60_000),
    ...secretKeys,
  })
  .strict()
  .superRefine(exactlyOneSecret);

export const credentialSchema = z
  .object({ name: z.string().min(1), username: z.string().min(1), ...secretKeys })
  .strict()
  .superRefine(exactlyOneSecret);

/** A PostgreSQL connection URL's scheme (node-postgres accepts both spellings). */
export const POSTGRES_URL_RE = /^postgres(ql)?:\/\//;

/**
 * Whether a connection URL carries a password in its userinfo (`user:password@`, RFC 3986 §3.2.1)
 * or a `password=` query parameter. Up to the last `@`, as src/store/pg.ts redacts it.
 */
export function hasInlinePassword(url: string): boolean {
  const start = url.indexOf('://');
  const at = url.lastIndexOf('@');
  if (start >= 0 && at > start && url.slice(start + 3, at).includes(':')) return true;
  return /[?&]password=/i.test(url);
}

export const configSchema = z
  .object({
    'data-dir': z.string().default('./data'),
    'images-dir': z.string().default('./images'),
    /** Static TFTP/HTTP boot root: loaders (pxelinux.0, ldlinux.c32, mboot.c32, ipxe.efi ...). */
    'tftp-root': z.string().default('./tftp'),
    /** Extra read-only directories searched for loaders after tftp-root (Debian package paths). */
    'loader-dirs': z
      .array(z.string())
      .default(['/usr/lib/PXELINUX', '/usr/lib/syslinux/modules/bios', '/usr/lib/ipxe']),
    /** Hand-written pxelinux configs that win over rendered ones (the 2008 layout). */
    'pxelinux-cfg-dir': z.string().default('./pxelinux.cfg'),
    'clusters-dir': z.string().default('./clusters'),
    /** Kickstart templates (`boot/@kickstartTemplate` is relative to it); never written by the server. */
    'templates-dir': z.string().default('./templates'),
    'listen-address': ipv4.default('0.0.0.0'),
    /** Address given to clients as next-server and in URLs; default: the interface's or listen address. */
    'advertise-address': ipv4.optional(),
    interface: z.string().optional(),
    'log-level': z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    tftp: z
      .object({
        port: port.default(69),
        'max-transfers': z.number().int().min(1).default(2048),
        'max-transfers-per-client': z.number().int().min(1).default(256),
        /** Initial retransmission timeout in ms; adapts to the measured round trip. */
        'timeout-ms': z.number().int().min(50).max(10_000).default(1000),
        retries: z.number().int().min(1).max(20).default(6),
        /** Most silence a transfer may hold its slot, ms, whatever timeout the client negotiated (RFC 2349 allows 255 s). */
        'max-silence-ms': z.number().int().min(1000).max(300_000).default(30_000),
        /** Most wait for the client's first ACK (of the OACK or of DATA 1), ms. */
        'first-ack-timeout-ms': z.number().int().min(500).max(60_000).default(10_000),
        /** Transfers whose client has not ACKed yet (unproven source address), all clients; requests beyond are dropped. */
        'max-unverified-transfers': z.number().int().min(1).default(256),
        'max-blksize': z.number().int().min(512).max(65464).default(65464),
        'max-windowsize': z.number().int().min(1).max(64).default(64),
        /** Largest window in bytes (windowsize × blksize); the windowsize granted shrinks to fit. */
        'max-window-bytes': z
          .number()
          .int()
          .min(512)
          .max(4 * 1024 * 1024)
          .default(256 * 1024),
        /** Where DATA phases run: `native` (a thread per transfer, built at npm install; falls back to js when missing) or `js`. */
        'data-plane': z.enum(['native', 'js']).default('native'),
        /** Native data plane: spin this many µs for an ACK before sleeping (0: off); auto-off when transfers ≥ CPUs. */
        'busy-poll-us': z.number().int().min(0).max(1000).default(50),
      })
      .strict()
      .prefault({}),
    /**
     * The administration listener: console, REST API, OpenAPI, `/metrics`, `/healthz`, `/readyz`.
     * Keep it off the boot LAN (issue 16, finding 4): bind it to the management network's address
     * or firewall its port; hosts never need it.
     */
    http: z
      .object({
        /** Address the administration listener binds; default `listen-address`. */
        address: ipv4.optional(),
        port: port.default(8080),
        'tls-cert': z.string().optional(),
        'tls-key': z.string().optional(),
        /** A whole request (headers and body) must arrive within this (responses are not limited). */
        'request-timeout-ms': z.number().int().min(1000).max(3_600_000).default(30_000),
        /** The request headers must arrive within this (at most request-timeout-ms). */
        'headers-timeout-ms': z.number().int().min(1000).max(3_600_000).default(10_000),
        /** Open connections in all; more are closed at once. */
        'max-connections': z.number().int().min(1).default(2048),
        /** Open connections from one client address; more are closed at once. */
        'max-connections-per-source': z.number().int().min(1).default(256),
        /**
         * Bearer token `/metrics` requires (`Authorization: Bearer <token>`), from a file or an
         * environment variable, never inline; unset: `/metrics` is open on the administration listener.
         */
        'metrics-token-file': z.string().min(1).optional(),
        'metrics-token-env': z.string().min(1).optional(),
        'metrics-token': z
          .never({
            error:
              'an inline metrics token is not accepted: put it in a file (metrics-token-file: PATH, readable by statelesx only) ' +
              'or in an environment variable (metrics-token-env: NAME)',
          })
          .optional(),
      })
      .strict()
      .superRefine((h, ctx) => {
        if (h['metrics-token-file'] && h['metrics-token-env'])
          ctx.addIssue({ code: 'custom', message: 'at most one of metrics-token-file or metrics-token-env' });
      })
      .prefault({}),
    /**
     * The boot listener: `/boot/` (iPXE scripts, boot.cfg, kickstart, image files), the HTTP
     * phone-home and `/healthz`/`/readyz`: everything a booting host needs, nothing an admin uses.
     * Every URL handed to hosts names this port. The same address and port as `http` (e.g. both
     * 8080) serve both from one listener, the single-port layout of earlier versions.
     */
    'boot-http': z
      .object({
        /** Address the boot listener binds; default `listen-address`. */
        address: ipv4.optional(),
        port: port.default(80),
        /** Port named in the URLs handed to hosts, when a cache/proxy in front listens there; default `port`. */
        'advertise-port': port.min(1).optional(),
        /** Peers whose `X-Forwarded-For` names the client (a cache in front of /boot/): IPv4 or CIDR. */
        'trusted-proxies': z
          .array(
            z
              .string()
              .regex(
                /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/([0-9]|[12][0-9]|3[0-2]))?$/,
                'an IPv4 address or CIDR (a.b.c.d or a.b.c.d/nn)',
              ),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    initiator: z
      .object({
        port: port.default(1974),
        /**
         * Address hosts are told to phone home to (`statelesx.server=<addr>:<port>` on the kernel
         * command line, the kickstart's server): another statelesx server on the same store, or a
         * load balancer in front of several; default `advertise-address`. The port is `port`.
         */
        'advertise-address': ipv4.optional(),
        'require-token': z.boolean().default(true),
        'token-ttl-s': z.number().int().min(60).default(86_400),
        'max-connections-per-source': z.number().int().min(1).default(16),
        'read-timeout-ms': z.number().int().min(100).default(10_000),
        /** New unregistered hosts one source address may add per minute (and in a burst); more are refused. */
        'new-hosts-per-source-per-minute': z.number().int().min(0).default(30),
      })
      .strict()
      .prefault({}),
    dhcp: z
      .object({
        mode: z.enum(['off', 'proxy', 'full']).default('off'),
        /** full mode: the pool and options handed out. */
        'range-start': ipv4.optional(),
        'range-end': ipv4.optional(),
        netmask: ipv4.optional(),
        router: ipv4.optional(),
        'dns-servers': z.array(ipv4).default([]),
        'domain-name': z.string().optional(),
        'lease-time-s': z.number().int().min(60).default(3600),
        reservations: z.array(z.object({ mac, address: ipv4, hostname: z.string().optional() }).strict()).default([]),
        /**
         * Relay agents (their giaddr) whose relayed requests are answered; none by default, since
         * giaddr is whatever a request says and a reply to it would reflect our traffic anywhere.
         */
        relays: z.array(ipv4).default([]),
        /**
         * New unregistered hosts DHCP sightings may add per minute per source address (the relay, or
         * 0.0.0.0 for the local segment: effectively per segment); beyond, the boot is answered but no host row is made.
         */
        'new-hosts-per-source-per-minute': z.number().int().min(0).default(120),
        /** Boot file per client architecture (option 93); `ipxe` is what iPXE (user class 77) gets. */
        'boot-files': z
          .object({
            bios: z.string().default('undionly.kpxe'),
            uefi: z.string().default('ipxe.efi'),
            'uefi-arm64': z.string().optional(),
            /** Option 93 = 6 (EFI IA32, 32-bit x86 UEFI): no answer when unset. */
            'uefi-ia32': z.string().optional(),
            /** Option 93 = 10 (ARM 32-bit UEFI): no answer when unset. */
            'uefi-arm32': z.string().optional(),
            ipxe: z.string().default('boot.ipxe'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /**
     * Where the store lives. Absent `url`: SQLite in `data-dir` (the embedded default, one server).
     * `url`: PostgreSQL (node-postgres connection string, `postgres://user@host:5432/db` or the socket
     * form `postgres://user@/db?host=/run/postgresql`), shared by every statelesx server of a site
     * (issue 18). The password is never inline in this file: `password-file` / `password-env`, the
     * environment variable `STATELESX_DATABASE_URL` (which replaces `url`), or libpq's `~/.pgpass`.
     */
    store: z
      .object({
        url: z
          .string()
          .regex(POSTGRES_URL_RE, 'a PostgreSQL URL (postgres://user@host:port/database)')
          .refine((u) => !hasInlinePassword(u), {
            message:
              'inline passwords are not accepted in store.url: use store.password-file or store.password-env, ' +
              'the environment variable STATELESX_DATABASE_URL, or ~/.pgpass',
          })
          .optional(),
        'password-file': z.string().min(1).optional(),
        'password-env': z.string().min(1).optional(),
        /** Connections each server keeps open to PostgreSQL. */
        'pool-size': z.number().int().min(2).max(200).default(10),
      })
      .strict()
      .refine((s) => !(s['password-file'] && s['password-env']), {
        message: 'at most one of password-file or password-env',
      })
      .prefault({}),
    /** How long the store keeps what unauthenticated traffic adds (issue 16, finding 8); 0 = no limit of that kind. */
    retention: z
      .object({
        /** How often the retention runs (it also runs once at start). */
        'interval-s': z.number().int().min(60).default(3600),
        'boot-events-days': z.number().int().min(0).default(30),
        'boot-events-max-rows': z.number().int().min(0).default(200_000),
        'phone-homes-days': z.number().int().min(0).default(90),
        'phone-homes-max-rows': z.number().int().min(0).default(100_000),
        /** Unregistered hosts (never assigned, pinned or joined) not seen for this long are deleted. */
        'unregistered-hosts-days': z.number().int().min(0).default(30),
        'unregistered-hosts-max-rows': z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    boot: z
      .object({
        'default-image': z.string().optional(),
        /** What a host that matches nothing gets: a menu of images, the default image, or local disk. */
        'unknown-hosts': z.enum(['menu', 'default-image', 'local']).default('menu'),
        /** Append the initiator bundle `sxinit.tgz` to every rendered ESXi boot.cfg and serve it. */
        'initiator-module': z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    engine: z
      .object({
        'concurrency-per-vcenter': z.number().int().min(1).max(64).default(8),
        /**
         * Running jobs allowed per cluster (any kind; a join, rejoin or apply); unset = only the
         * vCenter's limit applies. Never lets a vCenter run more than `concurrency-per-vcenter`.
         */
        'concurrency-per-cluster': z.number().int().min(1).max(64).optional(),
        /** Jobs started per second per vCenter (a start at most every 1/rate s); 0 = no limit. */
        'admission-rate': z.number().min(0).max(1000).default(0),
        /**
         * Seconds a cluster of a higher bring-up priority (`cluster/@priority`) counts as still
         * arriving after one of its members phoned home (its join was queued), and a join of a lower
         * priority waits after its own phone-home when any cluster file declares a higher priority
         * (src/engine/admission.ts). 0 = only queued and running joins hold lower priorities back.
         */
        'priority-settle-s': z.number().min(0).max(3600).default(30),
        /**
         * How a host's SSL thumbprint is trusted when the cluster file does not pin it: `phone-home`
         * (the thumbprint the host reported in its token-authenticated phone-home, new at every
         * stateless boot), `trust-on-first-use` (the first one vCenter reports, recorded) or `pinned`.
         */
        'thumbprint-policy': z.enum(['phone-home', 'pinned', 'trust-on-first-use']).default('phone-home'),
        /**
         * An ESXi host's own SDK (vim25), where the engine sets the root password of a fresh boot;
         * `{fqdn}` is replaced by the member's FQDN. TLS SNI is always the FQDN; the certificate is
         * pinned to the phone-home thumbprint.
         */
        'esxi-sdk-url': z
          .string()
          .regex(/^https:\/\/[^\s]+$/, 'must be an https:// URL (may contain {fqdn})')
          .default('https://{fqdn}/sdk'),
        'drift-interval-s': z.number().int().min(0).default(0),
        /** Scheduled drift checks queue a remediation job (cluster + members already in vCenter; never adds hosts). */
        'drift-remediate': z.boolean().default(false),
        'max-attempts': z.number().int().min(1).default(3),
        /**
         * Removing a host from vCenter (`remove-host` job): the EnterMaintenanceMode_Task timeout in
         * seconds — how long DRS may take to evacuate the host's powered-on VMs before the job fails
         * and nothing is removed.
         */
        'maintenance-timeout-s': z.number().int().min(1).max(86_400).default(600),
        /**
         * Several servers on PostgreSQL: the engine lease's length in seconds — how long after a
         * server dies another one takes over its jobs (renewed every third of it).
         */
        'lease-s': z.number().int().min(3).max(600).default(15),
      })
      .strict()
      .prefault({}),
    vcenters: z.array(vcenterSchema).default([]),
    credentials: z.array(credentialSchema).default([]),
  })
  .strict();

/** The validated server configuration. Paths are as written; {@link loadConfig} resolves them. */
export type Config = z.infer<typeof configSchema>;
export type VcenterConfig = z.infer<typeof vcenterSchema>;
export type CredentialConfig = z.infer<typeof credentialSchema>;
