/**
 * proxyDHCP beside a real DHCP server: dnsmasq hands out addresses on the segment, our proxy on the
 * same interface (its own address, 10.78.0.2) answers PXE clients with the boot file and no
 * address, ignores requests naming dnsmasq, and answers boot server discovery on port 4011.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { canUseNetns, createNetnsPair, type NetnsPair } from '../helpers/netns.js';
import { MessageType, Opt } from '../../src/boot/dhcp/packet.js';
import {
  clientPacket,
  opt,
  pxeOptions,
  rawExchange,
  requireTool,
  startDhcpServer,
  type Received,
  type ServerProc,
} from '../helpers/dhcp-harness.js';

const DNSMASQ = '10.78.0.1';
const OURS = '10.78.0.2';
let pair: NetnsPair;
let dir: string;
let server: ServerProc;
let dnsmasq: ChildProcess;
let dnsmasqLog = '';

const sid = (r: Received) => [...(r.packet.options.get(Opt.SERVER_ID) ?? [])].join('.');
const type = (r: Received) => r.packet.options.get(Opt.MESSAGE_TYPE)?.[0];

beforeAll(async () => {
  if (!canUseNetns())
    throw new Error(
      'these tests need root and iproute2 (network namespaces): run as root after scripts/install-test-deps',
    );
  requireTool('dnsmasq', 'dnsmasq-base');
  dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-proxy-'));
  pair = createNetnsPair('sx-dhcpp', { addrA: `${DNSMASQ}/24` });
  pair.exec(pair.a, 'ip', ['addr', 'add', `${OURS}/24`, 'dev', 'veth0']);
  pair.exec(pair.b, 'ip', ['route', 'add', 'default', 'dev', 'veth1']);
  dnsmasq = pair.spawn(pair.a, 'dnsmasq', [
    '--keep-in-foreground',
    '--port=0',
    '--interface=veth0',
    '--bind-interfaces',
    '--dhcp-range=10.78.0.100,10.78.0.150,255.255.255.0,1h',
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
    '--no-ping',
    '--pid-file=',
    '--user=root',
    '--log-dhcp',
    '--log-facility=-',
    '--conf-file=/dev/null',
  ]);
  dnsmasq.stdout!.on('data', (d: Buffer) => {
    dnsmasqLog += d.toString();
  });
  dnsmasq.stderr!.on('data', (d: Buffer) => {
    dnsmasqLog += d.toString();
  });
  for (let i = 0; i < 50 && !/DHCP, IP range/.test(dnsmasqLog); i++) await new Promise((r) => setTimeout(r, 100));
  if (dnsmasq.exitCode !== null || !/DHCP, IP range/.test(dnsmasqLog))
    throw new Error(`dnsmasq did not start: ${dnsmasqLog}`);
  server = await startDhcpServer(pair, pair.a, {
    mode: 'proxy',
    dataDir: join(dir, 'data'),
    listenAddress: OURS,
    httpPort: 8080,
    dhcp: {},
  });
});

afterAll(async () => {
  await server?.stop();
  dnsmasq?.kill('SIGTERM');
  pair?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('proxy mode beside dnsmasq', () => {
  const mac = '52:54:00:bb:00:07';
  let address = '';

  it('both servers share port 67; a PXE DISCOVER gets an address from dnsmasq and the boot file, no address, from us', () => {
    expect(server.ready.serverId).toBe(OURS);
    const got = rawExchange(
      pair,
      pair.b,
      { address: '0.0.0.0', port: 68 },
      [{ packet: clientPacket(MessageType.DISCOVER, mac, pxeOptions(7)), address: '255.255.255.255', port: 67 }],
      2000,
    );
    const fromDnsmasq = got.filter((r) => sid(r) === DNSMASQ);
    const fromUs = got.filter((r) => sid(r) === OURS);
    expect(fromDnsmasq.map(type)).toEqual([MessageType.OFFER]);
    address = fromDnsmasq[0]!.packet.yiaddr;
    expect(address).toMatch(/^10\.78\.0\.1[0-5]\d$/);
    expect(fromUs.map(type)).toEqual([MessageType.OFFER]);
    const o = fromUs[0]!.packet;
    expect(o.yiaddr).toBe('0.0.0.0');
    expect(o.siaddr).toBe(OURS);
    expect(o.file).toBe('ipxe.efi');
    expect(o.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('ipxe.efi\0');
    expect(o.options.get(Opt.VENDOR_CLASS_ID)?.toString()).toBe('PXEClient');
    expect([...o.options.get(Opt.VENDOR_SPECIFIC)!]).toEqual([6, 1, 8, 255]);
    expect(o.options.get(Opt.CLIENT_GUID)?.toString('hex')).toBe('002a4c0e8f1d3b5f4e9a6b7c8d9e0f1a2b');
    expect(o.options.has(Opt.LEASE_TIME)).toBe(false);
  });

  it('a plain (non-PXE) DISCOVER is left to dnsmasq', () => {
    const got = rawExchange(
      pair,
      pair.b,
      { address: '0.0.0.0', port: 68 },
      [{ packet: clientPacket(MessageType.DISCOVER, '52:54:00:bb:00:08', []), address: '255.255.255.255', port: 67 }],
      1500,
    );
    expect(got.map(sid)).toEqual([DNSMASQ]);
  });

  it('a REQUEST naming dnsmasq is ACKed by dnsmasq and ignored by us', async () => {
    const got = rawExchange(
      pair,
      pair.b,
      { address: '0.0.0.0', port: 68 },
      [
        {
          packet: clientPacket(MessageType.REQUEST, mac, [
            ...pxeOptions(7),
            opt.serverId(DNSMASQ),
            opt.requested(address),
          ]),
          address: '255.255.255.255',
          port: 67,
        },
      ],
      1500,
    );
    expect(got.map((r) => [sid(r), type(r), r.packet.yiaddr])).toEqual([[DNSMASQ, MessageType.ACK, address]]);
    const logs = await server.logs();
    expect(
      logs.some((l) => l.reason === 'other-server' && l.client === mac),
      JSON.stringify(logs.slice(-5)),
    ).toBe(true);
  });

  it('boot server discovery on port 4011 gets an ACK with the boot file', () => {
    pair.exec(pair.b, 'ip', ['addr', 'add', `${address}/24`, 'dev', 'veth1']);
    try {
      const got = rawExchange(
        pair,
        pair.b,
        { address, port: 4011 },
        [
          {
            packet: clientPacket(
              MessageType.REQUEST,
              mac,
              [...pxeOptions(7), [Opt.VENDOR_SPECIFIC, Buffer.from([71, 4, 0x80, 0x00, 0x00, 0x00, 255])]],
              { ciaddr: address, flags: 0 },
            ),
            address: OURS,
            port: 4011,
          },
        ],
        1500,
      );
      expect(got.map((r) => [r.from, r.fromPort, type(r)])).toEqual([[OURS, 4011, MessageType.ACK]]);
      const a = got[0]!.packet;
      // as dnsmasq answers boot server discovery: the client's own address echoed in yiaddr
      expect(a.yiaddr).toBe(address);
      expect(a.ciaddr).toBe('0.0.0.0');
      expect(a.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('ipxe.efi\0');
      expect([...a.options.get(Opt.VENDOR_SPECIFIC)!]).toEqual([6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255]);
    } finally {
      pair.exec(pair.b, 'ip', ['addr', 'del', `${address}/24`, 'dev', 'veth1']);
      // removing the last address flushes the device's routes: restore the route for broadcasts
      pair.exec(pair.b, 'ip', ['route', 'replace', 'default', 'dev', 'veth1']);
    }
  });

  it('boot server discovery from an address on no served segment gets no reply (4011 is no reflector)', async () => {
    const far = '192.168.77.7';
    pair.exec(pair.b, 'ip', ['addr', 'add', `${far}/24`, 'dev', 'veth1']);
    // the server's namespace can route to it: only the policy keeps the reply from going out
    pair.exec(pair.a, 'ip', ['route', 'add', '192.168.77.0/24', 'dev', 'veth0']);
    try {
      const got = rawExchange(pair, pair.b, { address: far, port: 4011 }, [
        {
          packet: clientPacket(MessageType.REQUEST, '52:54:00:bb:00:41', pxeOptions(7), { ciaddr: far, flags: 0 }),
          address: OURS,
          port: 4011,
        },
      ]);
      expect(got).toEqual([]);
      const dropped = (await server.metrics()).find((m) => m.name === 'statelesx_dhcp_dropped_total')!;
      expect(
        dropped.values.find((v) => v.labels['reason'] === 'reply-target-not-served')?.value,
      ).toBeGreaterThanOrEqual(1);
    } finally {
      pair.exec(pair.a, 'ip', ['route', 'del', '192.168.77.0/24', 'dev', 'veth0']);
      pair.exec(pair.b, 'ip', ['addr', 'del', `${far}/24`, 'dev', 'veth1']);
      pair.exec(pair.b, 'ip', ['route', 'replace', 'default', 'dev', 'veth1']);
    }
  });

  it('UEFI HTTP boot (arch 16, HTTPClient) gets HTTPClient and a URL; iPXE gets its script URL', () => {
    const http = rawExchange(
      pair,
      pair.b,
      { address: '0.0.0.0', port: 68 },
      [
        {
          packet: clientPacket(MessageType.DISCOVER, '52:54:00:bb:00:16', [
            [Opt.VENDOR_CLASS_ID, Buffer.from('HTTPClient:Arch:00016:UNDI:003000')],
            [Opt.CLIENT_ARCH, Buffer.from([0, 16])],
          ]),
          address: '255.255.255.255',
          port: 67,
        },
      ],
      1500,
    ).filter((r) => sid(r) === OURS);
    expect(http.length).toBe(1);
    expect(http[0]!.packet.options.get(Opt.VENDOR_CLASS_ID)?.toString()).toBe('HTTPClient');
    expect(http[0]!.packet.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe(`http://${OURS}:8080/boot/ipxe.efi`);
    const ipxe = rawExchange(
      pair,
      pair.b,
      { address: '0.0.0.0', port: 68 },
      [
        {
          packet: clientPacket(MessageType.DISCOVER, '52:54:00:bb:00:17', [
            ...pxeOptions(0),
            [Opt.USER_CLASS, Buffer.from('iPXE')],
          ]),
          address: '255.255.255.255',
          port: 67,
        },
      ],
      1500,
    ).filter((r) => sid(r) === OURS);
    expect(ipxe.map((r) => r.packet.options.get(Opt.BOOTFILE_NAME)?.toString())).toEqual([
      `http://${OURS}:8080/boot/boot.ipxe`,
    ]);
  });
});
