/**
 * Several servers on one PostgreSQL (issue 18), on real firmware: a QEMU host PXE-boots from
 * server A and phones home to server B, and is joined.
 *
 * One private PostgreSQL cluster (test/helpers/postgres.ts, its Unix socket reachable from the
 * harness's namespace) is the store of two `statelesx serve` processes in the server namespace of
 * test/peers/pxe-boot-check (test/e2e/netns-server.sh with `E2E_SERVER_B=1`):
 *  - server A on PXE_ADDR (10.99.0.1): full DHCP, TFTP and HTTP boot, every boot setting at its
 *    default (`E2E_BOOT_DEFAULTS=1`: no dhcp.boot-files, no boot: section, no loader-dirs), and
 *    `initiator.advertise-address` naming B, so the rendered kernel line says
 *    `statelesx.server=<B>:1974`;
 *  - server B on another address of the same segment (10.99.0.3): no DHCP, its own data-dir,
 *    images-dir (a copy of A's, as `rsync -a` would make it) and an empty clusters-dir (the cluster
 *    file comes from the store).
 * The VM is OVMF with no iPXE ROM (EDK2's own PXE, as test/e2e/uefi-native-defaults.test.ts): it
 * gets ipxe.efi over TFTP from A, its script, kernel and initrd over HTTP from A; the initrd's
 * initiator (scripts/initiator.sh) phones home with the per-boot token A issued, to B.
 *
 * Asserted: A served the boot (its TFTP transfers, its per-host boot events in the shared store)
 * and B served none of it; B received and accepted the phone-home (its log; the `phone_homes` row:
 * result ok, a job); the token on the kernel line is the one A issued (the `boot_tokens` row, by its
 * SHA-256, for this host) and it was consumed; the host's job succeeded and vCenter (the simulator)
 * shows it in the cluster, configured as the file says.
 *
 * Runs under the shared lock: `flock /tmp/statelesx-netns.lock npx vitest run <this file>`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import {
  Boot,
  MAC_A,
  UUID_A,
  assertConfigured,
  clusterXml,
  need,
  needE2ePrerequisites,
  newSecrets,
  prepareDir,
  type E2eContext,
  type JobRow,
  endE2e,
} from '../helpers/e2e-boot.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const DEBIAN_IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';
const ADDR_A = '10.99.0.1'; // pxe-boot-check's server address (PXE_ADDR)
const ADDR_B = '10.99.0.3'; // netns-server.sh's default E2E_SERVER_B_ADDR
const ctx: E2eContext = { dir: '', secrets: newSecrets() };
let pgc: PgCluster | undefined;
let db: pg.Client | undefined;
let boot: Boot | undefined;

/** The JSON (pino) lines of a server log file. */
function logLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function rows<T>(sql: string, params: unknown[]): Promise<T[]> {
  return (await db!.query(sql, params)).rows as T[];
}

describe.sequential('two servers on one PostgreSQL: PXE boot from A, phone home to B', () => {
  beforeAll(async () => {
    needE2ePrerequisites();
    need(existsSync(DEBIAN_IPXE_EFI), `${DEBIAN_IPXE_EFI} (package ipxe) is missing`);
    pgc = await startPostgres();
    db = new pg.Client({ connectionString: pgc.url });
    await db.connect();
    ctx.dir = mkdtempSync(join(tmpdir(), 'sx-e2e-2pxe-'));
    prepareDir(ctx.dir, ['v1']);
    // B's own images directory, filled the way README "Running several servers" says (rsync -a).
    mkdirSync(join(ctx.dir, 'b'));
    cpSync(join(ctx.dir, 'images'), join(ctx.dir, 'b', 'images'), { recursive: true });
    // The cluster file goes to A only: B takes it from the shared store.
    writeFileSync(join(ctx.dir, 'clusters', 'e2e-cluster.xml'), clusterXml());
  }, 600_000);

  afterAll(async () => {
    await endE2e(ctx, [boot]);
    await db?.end();
    await pgc?.destroy();
  }, 120_000);

  it('the host boots from A, phones home to B with the token A issued, and is joined', async () => {
    boot = new Boot(
      ctx,
      'two-servers',
      ['--firmware', 'uefi', '--nic', 'virtio-net-pci,romfile=', '--uuid', UUID_A, '--mac', MAC_A],
      { env: { E2E_BOOT_DEFAULTS: '1', E2E_SERVER_B: '1', STATELESX_DATABASE_URL: pgc!.url } },
    );
    const m = await boot.waitSerial(/STATELESX-BOOT-OK uuid=(\S+) image=(\S+) token=(\S+)/, 420_000);
    expect(m[1]!.toLowerCase()).toBe(UUID_A);
    expect(m[2]).toBe('v1');
    const token = m[3]!;
    const cmdline = (await boot.waitSerial(/STATELESX-INITRD cmdline: ([^\r\n]*)/, 60_000))[1]!;
    // A rendered the kernel line: the boot files come from A, the phone-home target is B.
    expect(cmdline).toContain(`statelesx.token=${token}`);
    expect(cmdline).toContain(`statelesx.server=${ADDR_B}:1974`);
    await boot.waitSerial(/STATELESX-INITIATOR exit=0/, 180_000);

    // The host's job (run by whichever server holds the engine lease) succeeded; vCenter agrees.
    const job = await waitFor(
      `the configure job of ${UUID_A} to end`,
      async () => {
        const [j] = await rows<JobRow>(
          'SELECT id, state, error FROM jobs WHERE target = $1 ORDER BY created_at DESC LIMIT 1',
          [UUID_A],
        );
        return j && ['succeeded', 'failed', 'blocked', 'cancelled'].includes(j.state) ? j : undefined;
      },
      240_000,
      500,
    );
    expect(job, JSON.stringify(job)).toMatchObject({ state: 'succeeded' });
    assertConfigured(boot.readback(), UUID_A);

    const logA = logLines(join(boot.outdir, 'server.log'));
    const logB = logLines(join(boot.outdir, 'server-b.log'));
    expect(logB.length, 'server B logged nothing (did it start?)').toBeGreaterThan(0);

    // A served the boot: the firmware's TFTP transfer of ipxe.efi, whole; iPXE's per-host script
    // rendered by A (it issued the token there) and the image over A's HTTP; B served none of it.
    const starts = logA.filter((l) => l['msg'] === 'transfer starting' && l['file'] === 'ipxe.efi');
    const ids = new Set(starts.map((l) => l['transfer']));
    expect(logA.some((l) => l['msg'] === 'transfer completed' && ids.has(l['transfer']))).toBe(true);
    const rendered = logA.filter((l) => l['msg'] === 'rendered boot file' && l['host'] === UUID_A);
    expect(rendered.map((l) => l['file'])).toContain(`hosts/${UUID_A}.ipxe`);
    const fetched = logA.filter((l) => l['msg'] === 'incoming request').map((l) => (l['req'] as { url: string }).url);
    expect(fetched).toEqual(expect.arrayContaining(['/boot/v1/vmlinuz', '/boot/v1/initrd.gz']));
    const bootWork = (l: Record<string, unknown>) =>
      ['transfer starting', 'rendered boot file', 'incoming request', 'DHCP reply sent'].includes(String(l['msg']));
    expect(logB.filter(bootWork)).toEqual([]);
    // ... and the shared store has the host's boot events (written by A, the only one that served it)
    const events = await rows<{ protocol: string; file: string | null }>(
      'SELECT protocol, file FROM boot_events WHERE host_uuid = $1 ORDER BY at',
      [UUID_A],
    );
    expect(events, JSON.stringify(events)).toContainEqual({ protocol: 'http', file: `hosts/${UUID_A}.ipxe` });
    // B listened for phone-homes on its own address, A on its own.
    const listening = (log: Array<Record<string, unknown>>) =>
      log.find((l) => l['msg'] === 'initiator listening (tcp)')?.['address'];
    expect(listening(logA)).toBe(ADDR_A);
    expect(listening(logB)).toBe(ADDR_B);

    // B received the phone-home and accepted it; A received none.
    const accepted = (l: Record<string, unknown>) =>
      l['msg'] === 'phone-home: configure job queued' && l['host'] === UUID_A;
    const atB = logB.filter(accepted);
    expect(atB.length, 'no accepted phone-home of the host in server-b.log').toBeGreaterThan(0);
    expect(logA.filter((l) => typeof l['msg'] === 'string' && /phone-home/.test(l['msg']))).toEqual([]);
    const phoneHomes = await rows<{ address: string; transport: string; result: string; job_id: string | null }>(
      'SELECT address, transport, result, job_id FROM phone_homes WHERE host_uuid = $1 ORDER BY at',
      [UUID_A],
    );
    // exactly one attempt, accepted (not a second one refused as a replay: the half-close race)
    expect(phoneHomes, JSON.stringify(phoneHomes)).toHaveLength(1);
    expect(phoneHomes[0]).toMatchObject({ transport: 'tcp', result: 'ok', job_id: job.id });
    expect(phoneHomes[0]!.address).toMatch(/^10\.99\.0\.\d+$/);
    expect(atB.map((l) => l['job'])).toEqual([job.id]);

    // The token on the kernel line is the one A issued for this host (the store keeps its
    // SHA-256), and B's acceptance consumed it.
    const sha = createHash('sha256').update(token, 'utf8').digest('hex');
    const tok = await rows<{ host_uuid: string; used_at: string | null }>(
      'SELECT host_uuid, used_at FROM boot_tokens WHERE token_hash = $1',
      [sha],
    );
    expect(tok).toHaveLength(1);
    expect(tok[0]!.host_uuid).toBe(UUID_A);
    expect(tok[0]!.used_at, 'the token was not consumed').not.toBeNull();
  }, 900_000);
});
