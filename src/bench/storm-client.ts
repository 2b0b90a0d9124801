/**
 * Boot-storm clients: one process simulating many PXE hosts, run inside the client network
 * namespace by storm.ts (`ip netns exec <ns> node storm-client.js '<StormClientJob JSON>'`).
 *
 * Each simulated host does what a BIOS PXE ROM and pxelinux do:
 *  1. DHCP (RFC 2131 §3.1): DISCOVER (broadcast, option 93 arch 0, 94 UNDI, 97 UUID, 60
 *     `PXEClient:…`), OFFER, REQUEST (options 50 + 54), ACK; retransmits after 2/4/8/16 s;
 *  2. TFTP (RFC 1350 + 2347/2348/2349) from the leased address: the boot file named by the offer,
 *     then `pxelinux.cfg/01-<mac>` (not found for these unknown hosts) and `pxelinux.cfg/default`
 *     (rendered by the server), blksize 1468, lock-step;
 *  3. the payload: HTTP GET from the leased address, or TFTP (the TFTP-only variant).
 * Hosts start at `startAt + i * spreadMs / total` (all within the spread). Every host stops at
 * the deadline. The DHCP client is our own encoder (not the server's codec), so a codec bug on
 * the server side is not mirrored here.
 *
 * Prints one JSON line: `{ "hosts": StormHostResult[] }`.
 *
 * Long on purpose (over the ~400-line / ~80-line guide): a benchmark reads as one measurement from
 * setup to teardown, and its figures are compared across commits (docs/benchmarks.md), so it is
 * changed only for a measurement reason, not restructured.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createHash, type Hash } from 'node:crypto';
import { get as httpGet } from 'node:http';

/** The job one client process is given. */
export interface StormClientJob {
  /** Host indexes this process simulates. */
  hosts: number[];
  /** Total hosts in the storm (for the start spread). */
  total: number;
  /** Epoch ms of the storm start; host i starts at startAt + i * spreadMs / total. */
  startAt: number;
  spreadMs: number;
  /** Epoch ms after which every unfinished host gives up. */
  deadlineAt: number;
  server: string;
  tftpPort: number;
  httpPort: number;
  /** Payload path (after `/boot/` for HTTP; the TFTP file name otherwise) and its size and SHA-256. */
  payload: { path: string; size: number; sha256: string; via: 'http' | 'tftp' };
  /** Check the payload's SHA-256 on every n-th host (1 = all). */
  verifyEvery: number;
}

/** What happened to one simulated host; times are ms since the host's own start. */
export interface StormHostResult {
  i: number;
  ok: boolean;
  error?: string;
  address?: string;
  /** Start offset from the storm start, ms. */
  startMs: number;
  dhcpMs?: number;
  loaderMs?: number;
  payloadMs?: number;
  totalMs?: number;
  /** Epoch ms of the last byte. */
  endAt?: number;
  dhcpRetries: number;
  tftpRetries: number;
}

/** The MAC of host i: locally administered `02:53:58:xx:xx:xx`. */
export function stormMac(i: number): Buffer {
  return Buffer.from([0x02, 0x53, 0x58, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff]);
}

const DHCP_MAGIC = Buffer.from([99, 130, 83, 99]);

function ipBuf(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

/** Encodes a BOOTREQUEST with the given DHCP message type and extra options (RFC 2131 §2, RFC 2132). */
function dhcpRequest(i: number, xid: number, type: 1 | 3, extra: Array<[number, Buffer]>): Buffer {
  const b = Buffer.alloc(548);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(xid, 4);
  b.writeUInt16BE(0x8000, 10); // BROADCAST: no address yet (RFC 2131 §4.1)
  stormMac(i).copy(b, 28);
  DHCP_MAGIC.copy(b, 236);
  const uuid = Buffer.alloc(16);
  uuid.writeUInt32BE(0x53580000 + i, 0);
  uuid.writeUInt32BE(0xb0071e55, 12);
  const opts: Array<[number, Buffer]> = [
    [53, Buffer.from([type])],
    [57, Buffer.from([0x05, 0xc0])], // max message 1472
    [93, Buffer.from([0, 0])], // client arch: x86 BIOS (RFC 4578)
    [94, Buffer.from([1, 2, 1])], // UNDI 2.1
    [97, Buffer.concat([Buffer.from([0]), uuid])],
    [60, Buffer.from('PXEClient:Arch:00000:UNDI:002001', 'latin1')],
    [
      55,
      Buffer.from([
        1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129,
        130, 131, 132, 133, 134, 135,
      ]),
    ],
    ...extra,
  ];
  let o = 240;
  for (const [code, v] of opts) {
    b[o++] = code;
    b[o++] = v.length;
    v.copy(b, o);
    o += v.length;
  }
  b[o++] = 255;
  return b.subarray(0, Math.max(300, o));
}

interface DhcpReply {
  xid: number;
  type: number;
  yiaddr: string;
  serverId?: string;
  file?: string;
  siaddr: string;
}

/** Decodes the fields of a BOOTREPLY the client needs; null when not a DHCP reply. */
function decodeReply(m: Buffer): DhcpReply | null {
  if (m.length < 240 || m[0] !== 2 || !m.subarray(236, 240).equals(DHCP_MAGIC)) return null;
  const ip = (off: number) => `${m[off]}.${m[off + 1]}.${m[off + 2]}.${m[off + 3]}`;
  const r: DhcpReply = { xid: m.readUInt32BE(4), type: 0, yiaddr: ip(16), siaddr: ip(20) };
  const fileField = m.subarray(108, 236);
  const nul = fileField.indexOf(0);
  const f = fileField.subarray(0, nul < 0 ? 128 : nul).toString('latin1');
  if (f) r.file = f;
  for (let o = 240; o < m.length;) {
    const code = m[o]!;
    if (code === 255) break;
    if (code === 0) {
      o++;
      continue;
    }
    const len = m[o + 1] ?? 0;
    const v = m.subarray(o + 2, o + 2 + len);
    if (code === 53) r.type = v[0] ?? 0;
    else if (code === 54 && len === 4) r.serverId = ip(o + 2);
    else if (code === 67) r.file = v.toString('latin1').replace(/\0.*$/, '');
    o += 2 + len;
  }
  return r;
}

/** One UDP socket on :68 shared by every host of this process; replies are matched by xid. */
class DhcpPort {
  private readonly waiting = new Map<number, (r: DhcpReply) => void>();
  constructor(readonly sock: Socket) {
    sock.on('message', (m) => {
      const r = decodeReply(m);
      if (r) this.waiting.get(r.xid)?.(r);
    });
  }

  static open(): Promise<DhcpPort> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      s.once('error', reject);
      s.bind(68, '0.0.0.0', () => {
        s.setBroadcast(true);
        s.setRecvBufferSize(8 << 20);
        resolve(new DhcpPort(s));
      });
    });
  }

  /** Sends `pkt` until a reply of `want` type (or NAK) arrives; backoff 2, 4, 8, 16 s. */
  async exchange(
    xid: number,
    pkt: Buffer,
    want: number,
    deadlineAt: number,
  ): Promise<{ reply: DhcpReply; retries: number }> {
    let retries = 0;
    try {
      for (const wait of [2000, 4000, 8000, 16000]) {
        const left = deadlineAt - Date.now();
        if (left <= 0) break;
        const reply = await new Promise<DhcpReply | null>((resolve) => {
          const t = setTimeout(() => resolve(null), Math.min(wait, left));
          this.waiting.set(xid, (r) => {
            if (r.type === want || r.type === 6) {
              clearTimeout(t);
              resolve(r);
            }
          });
          this.sock.send(pkt, 67, '255.255.255.255');
        });
        if (reply) {
          if (reply.type === 6) throw new Error('DHCPNAK');
          return { reply, retries };
        }
        retries++;
      }
    } finally {
      this.waiting.delete(xid);
    }
    throw new Error(`no DHCP ${want === 2 ? 'OFFER' : 'ACK'} after ${retries} tries`);
  }
}

/**
 * Downloads `file` by TFTP from `localAddress` (RFC 1350 lock-step, RFC 2348 blksize 1468,
 * RFC 2349 tsize). Retransmits the last packet after 1 s of silence, at most 6 times in a row.
 * @returns bytes received and retransmissions; hashes into `hash` when given
 * @throws Error on a TFTP ERROR packet, a timeout or a size mismatch
 */
// eslint-disable-next-line max-lines-per-function -- the TFTP client of one simulated host: one lock-step loop, read whole
function tftpGet(
  localAddress: string,
  server: string,
  port: number,
  file: string,
  hash: Hash | undefined,
  deadlineAt: number,
): Promise<{ bytes: number; retries: number }> {
  const blksize = 1468;
  // eslint-disable-next-line max-lines-per-function -- the loop above
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    let expected = 1;
    let bytes = 0;
    let retries = 0;
    let streak = 0;
    let peerPort = 0;
    let tsize: number | undefined;
    let last: Buffer = Buffer.concat([
      Buffer.from([0, 1]),
      Buffer.from([file, 'octet', 'blksize', String(blksize), 'tsize', '0', ''].join('\0'), 'latin1'),
    ]);
    let lastPort = port;
    let timer: NodeJS.Timeout | undefined;
    const done = (e?: Error) => {
      clearTimeout(timer);
      s.close();
      if (e) reject(e);
      else resolve({ bytes, retries });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (Date.now() > deadlineAt) return done(new Error(`TFTP ${file}: deadline`));
        if (++streak > 6) return done(new Error(`TFTP ${file}: timeout at block ${expected}`));
        retries++;
        s.send(last, lastPort, server);
        arm();
      }, 1000);
    };
    const ack = (n: number) => {
      const a = Buffer.alloc(4);
      a[1] = 4;
      a.writeUInt16BE(n & 0xffff, 2);
      last = a;
      lastPort = peerPort;
      s.send(a, peerPort, server);
    };
    s.on('error', (e) => done(e));
    s.on('message', (m, r) => {
      if (r.address !== server) return;
      if (peerPort === 0) peerPort = r.port;
      else if (r.port !== peerPort) return;
      const op = m.readUInt16BE(0);
      if (op === 5)
        return done(
          new Error(
            `TFTP ${file}: error ${m.readUInt16BE(2)} ${m.subarray(4).toString('latin1').replace(/\0.*$/, '')}`,
          ),
        );
      if (op === 6) {
        // OACK
        const parts = m.subarray(2).toString('latin1').split('\0');
        for (let k = 0; k + 1 < parts.length; k += 2)
          if (parts[k]!.toLowerCase() === 'tsize') tsize = Number(parts[k + 1]);
        streak = 0;
        ack(0);
        arm();
        return;
      }
      if (op !== 3) return;
      const n = m.readUInt16BE(2);
      if (n === (expected & 0xffff)) {
        const data = m.subarray(4);
        bytes += data.length;
        hash?.update(data);
        streak = 0;
        ack(n);
        expected++;
        if (data.length < blksize) {
          if (tsize !== undefined && tsize !== bytes)
            return done(new Error(`TFTP ${file}: ${bytes} bytes, tsize said ${tsize}`));
          return done();
        }
        arm();
      } else if (n === ((expected - 1) & 0xffff)) {
        ack(n); // the server timed out waiting for our ACK (lost): repeat it
      }
    });
    s.bind(0, localAddress, () => {
      s.send(last, port, server);
      arm();
    });
  });
}

/** HTTP GET of `path` from `localAddress`; bytes and optional hash. */
function httpFetch(
  localAddress: string,
  server: string,
  port: number,
  path: string,
  hash: Hash | undefined,
  deadlineAt: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(
      { host: server, port, path, localAddress, headers: { 'user-agent': 'iPXE/1.21.1 (statelesx storm)' } },
      (res) => {
        let n = 0;
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${path}: ${res.statusCode}`));
          return;
        }
        res.on('data', (c: Buffer) => {
          n += c.length;
          hash?.update(c);
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      },
    );
    const left = deadlineAt - Date.now();
    const t = setTimeout(() => req.destroy(new Error(`HTTP ${path}: deadline`)), Math.max(0, left));
    req.on('close', () => clearTimeout(t));
    req.on('error', reject);
  });
}

async function host(job: StormClientJob, i: number, dhcp: DhcpPort): Promise<StormHostResult> {
  const startOffset = (i * job.spreadMs) / job.total;
  const wait = job.startAt + startOffset - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const t0 = performance.now();
  const res: StormHostResult = { i, ok: false, startMs: Date.now() - job.startAt, dhcpRetries: 0, tftpRetries: 0 };
  try {
    const xid = ((0x5358 << 16) ^ (i * 2654435761)) >>> 0;
    const offer = await dhcp.exchange(xid, dhcpRequest(i, xid, 1, []), 2, job.deadlineAt);
    const serverId = offer.reply.serverId ?? job.server;
    const ack = await dhcp.exchange(
      xid,
      dhcpRequest(i, xid, 3, [
        [50, ipBuf(offer.reply.yiaddr)],
        [54, ipBuf(serverId)],
      ]),
      5,
      job.deadlineAt,
    );
    res.dhcpRetries = offer.retries + ack.retries;
    const address = ack.reply.yiaddr;
    res.address = address;
    res.dhcpMs = performance.now() - t0;
    const bootFile = ack.reply.file ?? offer.reply.file;
    if (!bootFile) throw new Error('no boot file in the DHCP answer');
    const tftpServer = ack.reply.siaddr !== '0.0.0.0' ? ack.reply.siaddr : serverId;
    const mac = [...stormMac(i)].map((x) => x.toString(16).padStart(2, '0')).join('-');
    const t1 = performance.now();
    const loader = await tftpGet(address, tftpServer, job.tftpPort, bootFile, undefined, job.deadlineAt);
    // pxelinux's search: 01-<mac> is not found for an unknown host, which then gets `default`.
    const cfg = await tftpGet(
      address,
      tftpServer,
      job.tftpPort,
      `pxelinux.cfg/01-${mac}`,
      undefined,
      job.deadlineAt,
    ).catch((e: unknown) => {
      if (!/: error 1 /.test((e as Error).message)) throw e;
      return tftpGet(address, tftpServer, job.tftpPort, 'pxelinux.cfg/default', undefined, job.deadlineAt);
    });
    res.tftpRetries += loader.retries + cfg.retries;
    if (loader.bytes === 0 || cfg.bytes === 0) throw new Error('empty loader or config');
    res.loaderMs = performance.now() - t1;
    const t2 = performance.now();
    const h = i % job.verifyEvery === 0 ? createHash('sha256') : undefined;
    let bytes: number;
    if (job.payload.via === 'http') {
      bytes = await httpFetch(address, job.server, job.httpPort, `/boot/${job.payload.path}`, h, job.deadlineAt);
    } else {
      const r = await tftpGet(address, tftpServer, job.tftpPort, job.payload.path, h, job.deadlineAt);
      res.tftpRetries += r.retries;
      bytes = r.bytes;
    }
    if (bytes !== job.payload.size) throw new Error(`payload: ${bytes} bytes, expected ${job.payload.size}`);
    if (h && h.digest('hex') !== job.payload.sha256) throw new Error('payload SHA-256 mismatch');
    res.payloadMs = performance.now() - t2;
    res.totalMs = performance.now() - t0;
    res.endAt = Date.now();
    res.ok = true;
  } catch (e) {
    res.error = (e as Error).message;
    res.totalMs = performance.now() - t0;
  }
  return res;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as StormClientJob;
  const dhcp = await DhcpPort.open();
  const hosts = await Promise.all(job.hosts.map((i) => host(job, i, dhcp)));
  dhcp.sock.close();
  process.stdout.write(JSON.stringify({ hosts }) + '\n');
}

if (process.argv[1]?.endsWith('storm-client.js')) {
  const hard = setTimeout(() => {
    process.stderr.write('storm-client: hard deadline\n');
    process.exit(3);
  }, 30 * 60_000);
  hard.unref();
  main().catch((e: unknown) => {
    process.stderr.write(`storm-client: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
