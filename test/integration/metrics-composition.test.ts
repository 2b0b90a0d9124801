/**
 * The Prometheus metrics of the real server composition, end to end: `statelesx serve` (DHCP full
 * mode, TFTP, HTTP boot, phone-home, console/API) runs in a private network namespace (a) on its
 * protocol ports; from the other namespace (b) a crafted PXE client gets an OFFER and ACK as UEFI
 * x86-64 and an OFFER as BIOS, curl downloads a file over TFTP, downloads one over HTTP `/boot/`
 * in full and aborts another mid-body, and two hosts phone home (one unregistered, one malformed).
 * Then `/metrics` is scraped and the exact deltas asserted: DHCP replies by type, firmware and arch,
 * TFTP bytes equal to the file size, HTTP boot bytes equal to the complete file plus only the part
 * of the aborted one that was sent, downloads by result, phone-homes by result, and every active
 * gauge back to 0.
 * Needs root and iproute2 (network namespaces) and curl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { canUseNetns, createNetnsPair, type NetnsPair } from '../helpers/netns.js';
import { MessageType, Opt } from '../../src/boot/dhcp/packet.js';
import { archLabel } from '../../src/boot/dhcp/server.js';
import { clientPacket, opt, pxeOptions, rawExchange, requireTool } from '../helpers/dhcp-harness.js';
import { configDirs } from '../helpers/serve.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SERVER = '10.88.0.1';
/** The administration listener (console, API, /metrics). */
const HTTP = `http://${SERVER}:8080`;
/** The boot listener on its default port 80 (/boot/, HTTP phone-home). */
const BOOT = `http://${SERVER}`;
const TFTP_SIZE = 300_000 + 123;
const HTTP_SIZE = 3 * 1024 * 1024 + 7;
const BIG_SIZE = 64 * 1024 * 1024;

let pair: NetnsPair;
let dir: string;
let proc: ChildProcess;
let out = '';

/** Runs `cmd` in namespace b; returns its exit status and stdout (never throws on a non-zero exit). */
function inB(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', pair.b, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One `/metrics` scrape: the exposition text and every sample keyed `name{labels}` (labels sorted by name). */
interface Scrape {
  text: string;
  samples: Map<string, number>;
}

/** Scrapes `/metrics` from namespace b. */
function scrape(): Scrape {
  // spawnSync blocks this process; the server is another process, so that is fine.
  const r = inB('curl', ['-sS', '--fail', `${HTTP}/metrics`]);
  if (r.status !== 0) throw new Error(`scrape failed: ${r.stderr}`);
  const m = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const x = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!x) continue;
    const labels =
      (x[2] ?? '')
        .match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g)
        ?.sort()
        .join(',') ?? '';
    m.set(`${x[1]}{${labels}}`, Number(x[3]));
  }
  return { text: r.stdout, samples: m };
}

/** Sample value (0 when the series is absent); `labels` like `a="x",b="y"` in alphabetical order. */
const v = (m: Scrape, name: string, labels = '') => m.samples.get(`statelesx_${name}{${labels}}`) ?? 0;

/** Scrapes until `ok(scrape)` holds (the server sees a closed socket or the last ACK a moment later). */
async function scrapeUntil(ok: (m: Scrape) => boolean, ms = 10_000): Promise<Scrape> {
  const end = Date.now() + ms;
  for (;;) {
    const m = scrape();
    if (ok(m) || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!canUseNetns())
    throw new Error(
      'this test needs root and iproute2 (network namespaces): run as root after scripts/install-test-deps',
    );
  requireTool('curl', 'curl');
  dir = mkdtempSync(join(tmpdir(), 'sx-metrics-'));
  const dirs = configDirs(dir);
  writeFileSync(join(dir, 'tftp', 'tftp.bin'), randomBytes(TFTP_SIZE));
  writeFileSync(join(dir, 'tftp', 'http.bin'), randomBytes(HTTP_SIZE));
  writeFileSync(join(dir, 'tftp', 'big.bin'), Buffer.alloc(BIG_SIZE, 0x5a));
  writeFileSync(
    join(dir, 'statelesx.yaml'),
    JSON.stringify({
      ...dirs,
      'log-level': 'info',
      interface: 'veth0',
      dhcp: {
        mode: 'full',
        'range-start': '10.88.0.100',
        'range-end': '10.88.0.120',
        netmask: '255.255.255.0',
        router: SERVER,
        'lease-time-s': 600,
      },
      tftp: { port: 69 },
      http: { port: 8080 },
      initiator: { port: 1974 },
    }),
  );
  pair = createNetnsPair('sx-mx', { addrA: `${SERVER}/24`, addrB: '10.88.0.2/24' });
  // The crafted DHCP client sends to 255.255.255.255: give its namespace a route out of veth1.
  pair.exec(pair.b, 'ip', ['route', 'add', 'default', 'dev', 'veth1']);
  const env = { ...process.env };
  delete env['STATELESX_CONFIG'];
  proc = pair.spawn(
    pair.a,
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--config', join(dir, 'statelesx.yaml')],
    { cwd: ROOT, env },
  );
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const end = Date.now() + 60_000;
  while (!/"msg":"statelesx is serving"/.test(out)) {
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`statelesx serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  pair?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('metrics of the whole server (namespace, real clients)', () => {
  it('DHCP by type and firmware, TFTP and HTTP boot bytes and transfers, phone-homes by result, active gauges back to 0', async () => {
    const before = scrape();

    // DHCP: UEFI x86-64 PXE client (arch 7) DISCOVER → OFFER, REQUEST → ACK; a BIOS client (arch 0) DISCOVER → OFFER.
    const uefiMac = '52:54:00:88:00:07';
    const offer = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      { packet: clientPacket(MessageType.DISCOVER, uefiMac, pxeOptions(7)), address: '255.255.255.255', port: 67 },
    ]);
    expect(offer.map((r) => r.packet.options.get(Opt.MESSAGE_TYPE)?.[0])).toEqual([MessageType.OFFER]);
    const ack = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      {
        packet: clientPacket(MessageType.REQUEST, uefiMac, [
          ...pxeOptions(7),
          opt.serverId(SERVER),
          opt.requested(offer[0]!.packet.yiaddr),
        ]),
        address: '255.255.255.255',
        port: 67,
      },
    ]);
    expect(ack.map((r) => r.packet.options.get(Opt.MESSAGE_TYPE)?.[0])).toEqual([MessageType.ACK]);
    const bios = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      {
        packet: clientPacket(MessageType.DISCOVER, '52:54:00:88:00:00', pxeOptions(0)),
        address: '255.255.255.255',
        port: 67,
      },
    ]);
    expect(bios.map((r) => r.packet.options.get(Opt.MESSAGE_TYPE)?.[0])).toEqual([MessageType.OFFER]);

    // TFTP: one whole file with curl.
    const tftp = inB('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', `tftp://${SERVER}/tftp.bin`]);
    expect(tftp.status, tftp.stderr).toBe(0);
    expect(Number(tftp.stdout)).toBe(TFTP_SIZE);

    // HTTP boot: one complete download, one cut short (100 kB/s for 1 s of a 64 MiB file: the socket buffers hold far less).
    const http = inB('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', `${BOOT}/boot/http.bin`]);
    expect(http.status, http.stderr).toBe(0);
    expect(Number(http.stdout)).toBe(HTTP_SIZE);
    const cut = inB('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '--limit-rate',
      '100k',
      '--max-time',
      '1',
      '-w',
      '%{size_download}',
      `${BOOT}/boot/big.bin`,
    ]);
    expect(cut.status).toBe(28); // curl: operation timed out
    expect(Number(cut.stdout)).toBeGreaterThan(0);
    expect(Number(cut.stdout)).toBeLessThan(BIG_SIZE);

    // Phone-home over HTTP: an unregistered host (recorded) and a malformed message (rejected).
    const ph = (body: unknown) =>
      inB('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify(body),
        `${BOOT}/api/v1/phone-home`,
      ]).stdout;
    expect(ph({ uuid: '4c4c4544-0031-3510-8088-b1c04f303031', hostname: 'esx88' })).toBe('200');
    expect(ph({ uuid: 'not-a-uuid' })).toBe('400');

    const after = await scrapeUntil(
      (m) =>
        v(m, 'tftp_active_transfers') === 0 &&
        v(m, 'http_boot_active_downloads') === 0 &&
        v(m, 'tftp_transfers_completed_total') > v(before, 'tftp_transfers_completed_total'),
    );
    const d = (name: string, labels = '') => v(after, name, labels) - v(before, name, labels);

    expect(d('dhcp_replies_total', 'arch="7",firmware="uefi",mode="full",type="offer"')).toBe(1);
    expect(d('dhcp_replies_total', 'arch="7",firmware="uefi",mode="full",type="ack"')).toBe(1);
    expect(d('dhcp_replies_total', 'arch="0",firmware="bios",mode="full",type="offer"')).toBe(1);
    expect(d('dhcp_replies_total', 'arch="0",firmware="bios",mode="full",type="ack"')).toBe(0);

    expect(d('tftp_transfers_started_total')).toBe(1);
    expect(d('tftp_transfers_completed_total')).toBe(1);
    expect(d('tftp_retransmitted_blocks_total')).toBe(0);
    expect(d('tftp_bytes_sent_total')).toBe(TFTP_SIZE);
    expect(v(after, 'tftp_active_transfers')).toBe(0);

    expect(d('http_boot_downloads_total', 'result="complete"')).toBe(1);
    expect(d('http_boot_downloads_total', 'result="aborted"')).toBe(1);
    expect(d('http_boot_downloads_total', 'result="error"')).toBe(0);
    const partial = d('http_boot_bytes_sent_total') - HTTP_SIZE;
    expect(partial).toBeGreaterThanOrEqual(Number(cut.stdout)); // at least what curl received was written
    expect(partial).toBeLessThan(BIG_SIZE); // not the whole file: only the bytes actually sent count
    expect(v(after, 'http_boot_active_downloads')).toBe(0);
    // The per-route byte counter counts only the body sent in full.
    expect(d('http_response_bytes_total', 'route="/boot/*"')).toBe(HTTP_SIZE);

    expect(d('phone_homes_total', 'reason="",result="unregistered",transport="http"')).toBe(1);
    expect(d('phone_homes_total', 'reason="bad-uuid",result="rejected",transport="http"')).toBe(1);

    const text = after.text;
    for (const name of ['jobs', 'jobs_finished_total', 'job_duration_seconds', 'vcenter_call_duration_seconds']) {
      expect(text, name).toContain(`# TYPE statelesx_${name} `);
    }
  }, 120_000);

  it('the DHCP arch label is bounded: RFC 4578 types 0-63 by number, above that "other", absent "none"', () => {
    expect([0, 7, 16, 63, 64, 0xffff, undefined].map(archLabel)).toEqual([
      '0',
      '7',
      '16',
      '63',
      'other',
      'other',
      'none',
    ]);
  });
});
