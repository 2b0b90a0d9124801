/**
 * Shared pieces of the DHCP integration tests: our server as a process inside a namespace, the
 * raw client for crafted packets, and tool checks that fail with the install hint.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { NetnsPair } from './netns.js';
import { type DhcpPacket, Opt, decodePacket, encodePacket, ipBytes } from '../../src/boot/dhcp/packet.js';
import { createDhcpServer, type DhcpServer, type DhcpServerOptions } from '../../src/boot/dhcp/server.js';
import { silentLogger, type Logger } from '../../src/log.js';

const HERE = import.meta.dirname;

/** Throws (test fails) when a Debian tool is missing, naming the installer. */
export function requireTool(cmd: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
  } catch {
    throw new Error(`${cmd} (Debian package ${pkg}) is not installed: run scripts/install-test-deps`);
  }
}

/** Our DHCP service running in a namespace. */
export interface ServerProc {
  proc: ChildProcess;
  ready: { address: string; port: number; serverId: string };
  /** Every stderr (pino JSON) line so far, parsed (after letting pending pipe data in: tests block in execFileSync). */
  logs(): Promise<Array<Record<string, unknown>>>;
  /** The statelesx_dhcp_* metrics (prom-client JSON). */
  metrics(): Promise<Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }>>;
  stop(): Promise<void>;
}

/** Starts `dhcp-fixture-server.ts` in `ns` and waits for READY (15 s bound). */
export async function startDhcpServer(
  pair: NetnsPair,
  ns: string,
  input: Record<string, unknown>,
): Promise<ServerProc> {
  const proc = pair.spawn(
    ns,
    process.execPath,
    ['--import', 'tsx', resolve(HERE, 'dhcp-fixture-server.ts'), JSON.stringify(input)],
    { cwd: resolve(HERE, '../..') },
  );
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const waitFor = (prefix: string, ms: number) =>
    new Promise<string>((res, rej) => {
      const t = setTimeout(
        () => rej(new Error(`DHCP server: no ${prefix} within ${ms} ms; stdout: ${out} stderr: ${err.slice(-2000)}`)),
        ms,
      );
      const check = () => {
        const line = out
          .split('\n')
          .reverse()
          .find((l) => l.startsWith(prefix) || l.startsWith('FAILED'));
        if (line?.startsWith('FAILED')) {
          clearTimeout(t);
          rej(new Error(`DHCP server failed: ${line}`));
          return;
        }
        if (line) {
          clearTimeout(t);
          out = '';
          res(line.slice(prefix.length + 1));
          return;
        }
        waiters.push(check);
      };
      check();
    });
  const ready = JSON.parse(await waitFor('READY', 15_000)) as ServerProc['ready'];
  return {
    proc,
    ready,
    logs: async () => {
      await new Promise((r) => setTimeout(r, 100));
      return parseLines(err);
    },
    metrics: async () => {
      proc.kill('SIGUSR2');
      return JSON.parse(await waitFor('METRICS', 5000)) as never;
    },
    stop: () =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) {
          res();
          return;
        }
        const t = setTimeout(() => {
          proc.kill('SIGKILL');
        }, 5000);
        proc.once('exit', () => {
          clearTimeout(t);
          res();
        });
        proc.kill('SIGTERM');
      }),
  };
}

function parseLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** A datagram the raw client received. */
export interface Received {
  from: string;
  fromPort: number;
  packet: DhcpPacket;
}

/**
 * Runs `dhcp-raw-client.mjs` in `ns`: binds `bind`, sends the packets, returns what arrived
 * within `waitMs` (decoded; undecodable datagrams are skipped).
 */
export function rawExchange(
  pair: NetnsPair,
  ns: string,
  bind: { address: string; port: number },
  sends: Array<{ packet: Buffer; address: string; port: number }>,
  waitMs = 1500,
): Received[] {
  const plan = {
    bind,
    sends: sends.map((s) => ({ hex: s.packet.toString('hex'), address: s.address, port: s.port })),
    waitMs,
  };
  const out = pair.exec(ns, process.execPath, [resolve(HERE, 'dhcp-raw-client.mjs'), JSON.stringify(plan)]);
  const rows = JSON.parse(out.trim().split('\n').pop()!) as Array<{
    from: string;
    fromPort: number;
    hex?: string;
    error?: string;
  }>;
  const errors = rows.filter((r) => r.error);
  if (errors.length) throw new Error(`raw client: ${errors.map((e) => e.error).join('; ')}`);
  return rows.flatMap((r) => {
    try {
      return [{ from: r.from, fromPort: r.fromPort, packet: decodePacket(Buffer.from(r.hex!, 'hex')) }];
    } catch {
      return [];
    }
  });
}

let xid = 0x5e000000 + (process.pid & 0xffff) * 16;
/**
 * A BOOTREQUEST (RFC 2131 §2: op 1, Ethernet) from `mac`, not yet encoded: option 53 `type`
 * first, then `options`; a fresh xid, the broadcast flag set, all addresses 0.0.0.0; `fields`
 * override any header field (e.g. `{ giaddr, hops }` for a relayed request, `{ flags: 0 }`).
 */
export function bootRequest(
  type: number,
  mac: string,
  options: Array<[number, Buffer]> = [],
  fields: Partial<DhcpPacket> = {},
): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: ++xid,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.concat([Buffer.from(mac.replace(/:/g, ''), 'hex'), Buffer.alloc(10)]),
    sname: '',
    file: '',
    options: new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([type])], ...options]),
    ...fields,
  };
}

/**
 * A proxyDHCP-mode server (not started) on 127.0.0.1 for in-process tests: no DHCP listener on 67
 * (port 0), proxyDHCP on `proxyPort`, boot HTTP port 8080 in its answers, silent unless `log`.
 */
export function loopbackProxyServer(
  o: Pick<DhcpServerOptions, 'dhcp' | 'store' | 'bootsLocally'> & { proxyPort: number; log?: Logger },
): DhcpServer {
  return createDhcpServer({
    mode: 'proxy',
    log: silentLogger,
    listenAddress: '127.0.0.1',
    httpPort: 8080,
    port: 0,
    ...o,
  });
}

/** {@link bootRequest} encoded for the wire (at most 1472 bytes: one Ethernet frame's UDP payload). */
export function clientPacket(
  type: number,
  mac: string,
  options: Array<[number, Buffer]>,
  fields: Partial<DhcpPacket> = {},
): Buffer {
  return encodePacket(bootRequest(type, mac, options, fields), 1472).buffer;
}

/** Options a UEFI PXE ROM sends: 60, 93, 94, 97 (GUID of SMBIOS UUID 8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b), 55. */
export function pxeOptions(arch: number): Array<[number, Buffer]> {
  return [
    [Opt.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 60, 66, 67, 97])],
    [Opt.VENDOR_CLASS_ID, Buffer.from(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003000`)],
    [Opt.CLIENT_ARCH, Buffer.from([0, arch])],
    [Opt.CLIENT_NDI, Buffer.from([1, 3, 0])],
    [Opt.CLIENT_GUID, Buffer.concat([Buffer.from([0]), Buffer.from('2a4c0e8f1d3b5f4e9a6b7c8d9e0f1a2b', 'hex')])],
  ];
}

export const opt = {
  serverId: (a: string): [number, Buffer] => [Opt.SERVER_ID, ipBytes(a)],
  requested: (a: string): [number, Buffer] => [Opt.REQUESTED_ADDRESS, ipBytes(a)],
};
