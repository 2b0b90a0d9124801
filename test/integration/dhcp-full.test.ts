/**
 * Full (lab) mode against real clients in a private namespace pair: busybox udhcpc and ISC
 * dhclient get a lease, get the same lease again and after a server restart; a crafted PXE client
 * gets an address and the boot file; a relay agent (giaddr) is answered on port 67; truncated,
 * oversized and random packets are dropped and counted while the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetnsPair, type NetnsPair } from '../helpers/netns.js';
import { MessageType, Opt } from '../../src/boot/dhcp/packet.js';
import { openStore } from '../../src/store/index.js';
import {
  clientPacket,
  opt,
  pxeOptions,
  rawExchange,
  requireTool,
  startDhcpServer,
  type ServerProc,
} from '../helpers/dhcp-harness.js';

const SERVER = '10.77.0.1';
let pair: NetnsPair;
let dir: string;
let server: ServerProc;
let clientMac: string;

const serverInput = () => ({
  mode: 'full',
  dataDir: join(dir, 'data'),
  interface: 'veth0',
  httpPort: 8080,
  dhcp: {
    'range-start': '10.77.0.100',
    'range-end': '10.77.0.120',
    netmask: '255.255.255.0',
    router: SERVER,
    'dns-servers': [SERVER],
    'domain-name': 'lab.test',
    'lease-time-s': 600,
    reservations: [{ mac: '52:54:00:aa:00:99', address: '10.77.0.50' }],
    // 172.16.9.1 is listed so that the pool-subnet check, not the relay list, is what refuses it
    relays: ['10.77.0.2', '172.16.9.1'],
  },
});

function udhcpc(): Record<string, string> {
  const out = pair.exec(pair.b, 'busybox', [
    'udhcpc',
    '-i',
    'veth1',
    '-n',
    '-q',
    '-f',
    '-t',
    '4',
    '-T',
    '2',
    '-s',
    join(dir, 'udhcpc.sh'),
  ]);
  const line = out.split('\n').find((l) => l.startsWith('UDHCPC bound'));
  if (!line) throw new Error(`udhcpc got no lease: ${out}`);
  return Object.fromEntries(
    line
      .split(' ')
      .slice(2)
      .map((kv) => kv.split('=') as [string, string]),
  );
}

async function dhclient(leaseFile: string): Promise<string> {
  const log = join(dir, 'dhclient.out');
  writeFileSync(log, '');
  const p = pair.spawn(pair.b, 'dhclient', [
    '-1',
    '-d',
    '-v',
    '-sf',
    join(dir, 'dhclient.sh'),
    '-lf',
    leaseFile,
    '-pf',
    join(dir, 'dhclient.pid'),
    'veth1',
  ]);
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    for (let i = 0; i < 100; i++) {
      const m = /^(BOUND|REBOOT|RENEW) (\S+)$/m.exec(readFileSync(log, 'utf8'));
      if (m) return m[2]!;
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`dhclient got no lease: ${readFileSync(log, 'utf8')} ${stderr}`);
  } finally {
    p.kill('SIGKILL');
  }
}

beforeAll(async () => {
  if (!canUseNetns())
    throw new Error(
      'these tests need root and iproute2 (network namespaces): run as root after scripts/install-test-deps',
    );
  requireTool('busybox', 'busybox');
  requireTool('dhclient', 'isc-dhcp-client');
  dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-full-'));
  writeFileSync(
    join(dir, 'udhcpc.sh'),
    '#!/bin/sh\necho "UDHCPC $1 ip=$ip mask=$mask router=$router serverid=$serverid lease=$lease domain=$domain"\n',
    { mode: 0o755 },
  );
  writeFileSync(
    join(dir, 'dhclient.sh'),
    `#!/bin/sh\ncase "$reason" in BOUND|REBOOT|RENEW) echo "$reason $new_ip_address" >> ${join(dir, 'dhclient.out')};; esac\nexit 0\n`,
    { mode: 0o755 },
  );
  pair = createNetnsPair('sx-dhcp', { addrA: `${SERVER}/24` });
  // The crafted client sends to 255.255.255.255 without an address: give its namespace a route out.
  pair.exec(pair.b, 'ip', ['route', 'add', 'default', 'dev', 'veth1']);
  clientMac = pair.exec(pair.b, 'cat', ['/sys/class/net/veth1/address']).trim();
  server = await startDhcpServer(pair, pair.a, serverInput());
});

afterAll(async () => {
  await server?.stop();
  pair?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('full mode with real clients', () => {
  it('busybox udhcpc gets a lease with the pool options, and the same lease again', () => {
    expect(server.ready.serverId).toBe(SERVER);
    const first = udhcpc();
    expect(first).toMatchObject({
      ip: '10.77.0.100',
      mask: '24',
      router: SERVER,
      serverid: SERVER,
      lease: '600',
      domain: 'lab.test',
    });
    expect(udhcpc().ip).toBe(first.ip);
  });

  it('ISC dhclient gets the same lease for the same MAC, and again from its lease file (INIT-REBOOT)', async () => {
    const lf = join(dir, 'dhclient.leases');
    expect(await dhclient(lf)).toBe('10.77.0.100');
    expect(await dhclient(lf)).toBe('10.77.0.100');
  });

  it('leases survive a server restart', async () => {
    await server.stop();
    const store = await openStore(join(dir, 'data'));
    try {
      expect((await store.leases.byMac(clientMac))[0]).toMatchObject({ address: '10.77.0.100', state: 'bound' });
    } finally {
      store.close();
    }
    server = await startDhcpServer(pair, pair.a, serverInput());
    expect(udhcpc().ip).toBe('10.77.0.100');
    // a new client does not get the remembered address
    const other = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      { packet: clientPacket(MessageType.DISCOVER, '52:54:00:aa:00:01', []), address: '255.255.255.255', port: 67 },
    ]);
    expect(other.map((r) => r.packet.yiaddr)).toEqual(['10.77.0.101']);
  });

  it('a PXE client gets an address and its boot file; the same MAC re-DHCPing without PXE options keeps the address', async () => {
    const mac = '52:54:00:aa:00:07';
    const offer = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      { packet: clientPacket(MessageType.DISCOVER, mac, pxeOptions(7)), address: '255.255.255.255', port: 67 },
    ]);
    expect(offer.length).toBe(1);
    const o = offer[0]!.packet;
    expect(offer[0]!.from).toBe(SERVER);
    expect(o.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.OFFER);
    expect(o.yiaddr).toMatch(/^10\.77\.0\.1\d\d$/);
    expect(o.siaddr).toBe(SERVER);
    expect(o.file).toBe('ipxe.efi');
    expect(o.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('ipxe.efi\0');
    const ack = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      {
        packet: clientPacket(MessageType.REQUEST, mac, [
          ...pxeOptions(7),
          opt.serverId(SERVER),
          opt.requested(o.yiaddr),
        ]),
        address: '255.255.255.255',
        port: 67,
      },
    ]);
    expect(ack.map((r) => [r.packet.options.get(Opt.MESSAGE_TYPE)?.[0], r.packet.yiaddr])).toEqual([
      [MessageType.ACK, o.yiaddr],
    ]);
    const again = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, [
      {
        packet: clientPacket(MessageType.DISCOVER, mac, [[Opt.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6])]]),
        address: '255.255.255.255',
        port: 67,
      },
    ]);
    expect(again.map((r) => r.packet.yiaddr)).toEqual([o.yiaddr]);
    expect(again[0]!.packet.options.has(Opt.BOOTFILE_NAME)).toBe(false);
    // the PXE answers were recorded as boot events with the host UUID, and the host was sighted
    const store = await openStore(join(dir, 'data'));
    try {
      const events = await store.hosts.bootEvents({ mac });
      expect(events.length).toBe(2);
      expect(events[0]).toMatchObject({
        protocol: 'dhcp',
        hostUuid: '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b',
        file: 'ipxe.efi',
        firmware: 'uefi',
      });
      expect((await store.hosts.get('8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b'))?.macs).toContain(mac);
    } finally {
      store.close();
    }
  });

  it('bad input is dropped with a debug log and a counter; the server keeps serving', async () => {
    const good = clientPacket(MessageType.DISCOVER, '52:54:00:aa:00:02', []);
    const badCookie = Buffer.from(good);
    badCookie[236] = 0x42;
    const oversized = Buffer.concat([good.subarray(0, good.length - 1), Buffer.alloc(1400, 0), Buffer.from([255])]);
    const random = Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 131 + 7) & 0xff));
    const sends = [good.subarray(0, 100), badCookie, oversized, random, good].map((packet) => ({
      packet,
      address: '255.255.255.255',
      port: 67,
    }));
    const got = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 68 }, sends);
    expect(got.map((r) => r.packet.options.get(Opt.MESSAGE_TYPE)?.[0])).toEqual([MessageType.OFFER]);
    const dropped = (await server.metrics()).find((m) => m.name === 'statelesx_dhcp_dropped_total')!;
    const byReason = Object.fromEntries(
      dropped.values.map((v): [string, number] => [v.labels['reason'] ?? '', v.value]),
    );
    expect(byReason.truncated).toBeGreaterThanOrEqual(1);
    expect(byReason['bad-magic-cookie']).toBeGreaterThanOrEqual(2); // the bad cookie and the random bytes
    expect(byReason.oversized).toBeGreaterThanOrEqual(1);
    const logged = (await server.logs())
      .filter((l) => l.msg === 'undecodable DHCP packet dropped')
      .map((l) => l.reason);
    expect(logged).toEqual(expect.arrayContaining(['truncated', 'bad-magic-cookie', 'oversized']));
  });

  it('a relay agent (giaddr) inside the pool subnet is answered on port 67; one outside is not', () => {
    pair.exec(pair.b, 'ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'veth1']);
    try {
      const relayed = rawExchange(pair, pair.b, { address: '10.77.0.2', port: 67 }, [
        {
          packet: clientPacket(
            MessageType.DISCOVER,
            '52:54:00:aa:00:30',
            [[Opt.RELAY_AGENT_INFO, Buffer.from([1, 2, 0x61, 0x62])]],
            { giaddr: '10.77.0.2', hops: 1, flags: 0 },
          ),
          address: SERVER,
          port: 67,
        },
        {
          packet: clientPacket(MessageType.DISCOVER, '52:54:00:aa:00:31', [], {
            giaddr: '172.16.9.1',
            hops: 1,
            flags: 0,
          }),
          address: SERVER,
          port: 67,
        },
      ]);
      expect(relayed.length).toBe(1);
      const r = relayed[0]!;
      expect(r.fromPort).toBe(67);
      expect(r.packet.giaddr).toBe('10.77.0.2');
      expect(r.packet.yiaddr).toMatch(/^10\.77\.0\.1\d\d$/);
      expect([...r.packet.options.get(Opt.RELAY_AGENT_INFO)!]).toEqual([1, 2, 0x61, 0x62]);
    } finally {
      pair.exec(pair.b, 'ip', ['addr', 'del', '10.77.0.2/24', 'dev', 'veth1']);
      pair.exec(pair.b, 'ip', ['route', 'replace', 'default', 'dev', 'veth1']);
    }
    expect(existsSync(join(dir, 'data', 'statelesx.db'))).toBe(true);
  });

  it('a relay not in dhcp.relays gets no reply, even inside the pool subnet (no reflection to any giaddr)', async () => {
    pair.exec(pair.b, 'ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'veth1']);
    pair.exec(pair.b, 'ip', ['addr', 'add', '10.77.0.3/24', 'dev', 'veth1']);
    try {
      const relayed = (giaddr: string, mac: string) => ({
        packet: clientPacket(MessageType.DISCOVER, mac, [], { giaddr, hops: 1, flags: 0 }),
        address: SERVER,
        port: 67,
      });
      const got = rawExchange(pair, pair.b, { address: '0.0.0.0', port: 67 }, [
        relayed('10.77.0.3', '52:54:00:aa:00:32'),
        relayed('10.77.0.2', '52:54:00:aa:00:33'),
      ]);
      expect(got.map((r) => r.packet.giaddr)).toEqual(['10.77.0.2']);
      const dropped = (await server.metrics()).find((m) => m.name === 'statelesx_dhcp_dropped_total')!;
      expect(dropped.values.find((v) => v.labels['reason'] === 'relay-not-configured')?.value).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      pair.exec(pair.b, 'ip', ['addr', 'del', '10.77.0.3/24', 'dev', 'veth1']);
      pair.exec(pair.b, 'ip', ['addr', 'del', '10.77.0.2/24', 'dev', 'veth1']);
      pair.exec(pair.b, 'ip', ['route', 'replace', 'default', 'dev', 'veth1']);
    }
  });
});
