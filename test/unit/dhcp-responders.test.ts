/**
 * Boot answer by client, proxyDHCP replies and the full-mode lease engine (with a real SQLite
 * store), driven by encoded/decoded packets like the server does.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseBootAnswer, noBootFileReason, type BootAnswerContext } from '../../src/boot/dhcp/boot-answer.js';
import { clientInfoOf } from '../../src/boot/dhcp/client-info.js';
import { FullModeResponder, type FullModeConfig } from '../../src/boot/dhcp/full.js';
import { MessageType, Opt, decodePacket, encodePacket, ipBytes, type DhcpPacket } from '../../src/boot/dhcp/packet.js';
import { ProxyResponder } from '../../src/boot/dhcp/proxy.js';
import { openStore, type Store } from '../../src/store/index.js';
import { createDhcpServer, dhcpBindError } from '../../src/boot/dhcp/server.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { BindError } from '../../src/net/bind-error.js';
import { bootRequest, loopbackProxyServer } from '../helpers/dhcp-harness.js';

const ctx: BootAnswerContext = {
  bootFiles: { bios: 'undionly.kpxe', uefi: 'ipxe.efi', 'uefi-arm64': 'arm64/ipxe.efi', ipxe: 'boot.ipxe' },
  advertiseAddress: '10.9.0.1',
  httpPort: 8080,
};
const flags = { isPxeClient: true, isHttpClient: false, isIpxe: false };

describe('boot answer', () => {
  it('picks the loader by architecture (RFC 4578)', () => {
    expect(chooseBootAnswer({ ...flags, arch: 0 }, ctx)).toMatchObject({
      firmware: 'bios',
      bootFile: 'undionly.kpxe',
      nextServer: '10.9.0.1',
      http: false,
    });
    for (const arch of [7, 9])
      expect(chooseBootAnswer({ ...flags, arch }, ctx)).toMatchObject({ firmware: 'uefi', bootFile: 'ipxe.efi' });
    expect(chooseBootAnswer({ ...flags, arch: 11 }, ctx)).toMatchObject({
      firmware: 'uefi-arm64',
      bootFile: 'arm64/ipxe.efi',
    });
    expect(
      chooseBootAnswer({ ...flags, arch: 11 }, { ...ctx, bootFiles: { ...ctx.bootFiles, 'uefi-arm64': undefined } }),
    ).toBeNull();
    expect(chooseBootAnswer({ ...flags, arch: 2 }, ctx)).toBeNull();
  });
  it('arch 6 (EFI IA32) and 10 (ARM 32-bit UEFI) get their own loader, never the x86-64 or arm64 one', () => {
    // Not configured: no answer (an x86-64 ipxe.efi cannot run on IA32, an arm64 one not on ARM32).
    expect(chooseBootAnswer({ ...flags, arch: 6 }, ctx)).toBeNull();
    expect(chooseBootAnswer({ ...flags, arch: 10 }, ctx)).toBeNull();
    const all = {
      ...ctx,
      bootFiles: { ...ctx.bootFiles, 'uefi-ia32': 'i386/ipxe.efi', 'uefi-arm32': 'arm32/ipxe.efi' },
    };
    expect(chooseBootAnswer({ ...flags, arch: 6 }, all)).toMatchObject({
      firmware: 'uefi-ia32',
      bootFile: 'i386/ipxe.efi',
      vendorClass: 'PXEClient',
      http: false,
    });
    expect(chooseBootAnswer({ ...flags, arch: 10 }, all)).toMatchObject({
      firmware: 'uefi-arm32',
      bootFile: 'arm32/ipxe.efi',
      http: false,
    });
    expect(chooseBootAnswer({ ...flags, arch: 7 }, all)?.bootFile).toBe('ipxe.efi');
    expect(chooseBootAnswer({ ...flags, arch: 11 }, all)?.bootFile).toBe('arm64/ipxe.efi');
    // The config keys exist (and are optional, no default).
    const files = configSchema.parse({ dhcp: { 'boot-files': { 'uefi-ia32': 'a.efi', 'uefi-arm32': 'b.efi' } } }).dhcp[
      'boot-files'
    ];
    expect([files['uefi-ia32'], files['uefi-arm32']]).toEqual(['a.efi', 'b.efi']);
    expect(configSchema.parse({}).dhcp['boot-files']).not.toHaveProperty('uefi-ia32');
  });
  it('noBootFileReason names the arch and the config key to set, only when there is no answer', () => {
    expect(noBootFileReason({ ...flags, arch: 6 }, ctx.bootFiles)).toMatch(
      /^no boot file for option 93 arch 6 \(EFI IA32 \(32-bit x86 UEFI\)\): set dhcp\.boot-files\.uefi-ia32 /,
    );
    expect(noBootFileReason({ ...flags, arch: 10 }, ctx.bootFiles)).toContain('set dhcp.boot-files.uefi-arm32');
    expect(noBootFileReason({ ...flags, arch: 11 }, { ...ctx.bootFiles, 'uefi-arm64': undefined })).toContain(
      'dhcp.boot-files.uefi-arm64',
    );
    expect(noBootFileReason({ ...flags, arch: 11 }, ctx.bootFiles)).toBeUndefined();
    expect(noBootFileReason({ ...flags, arch: 6 }, { ...ctx.bootFiles, 'uefi-ia32': 'x' })).toBeUndefined();
    for (const arch of [0, 7, 9, 2, undefined])
      expect(noBootFileReason({ ...flags, arch }, ctx.bootFiles)).toBeUndefined();
    expect(noBootFileReason({ ...flags, arch: 6, isIpxe: true }, ctx.bootFiles)).toBeUndefined(); // iPXE gets its script
  });
  it('UEFI HTTP boot gets HTTPClient and an http URL; iPXE gets its script URL', () => {
    expect(chooseBootAnswer({ ...flags, isPxeClient: false, isHttpClient: true, arch: 16 }, ctx)).toMatchObject({
      firmware: 'uefi-http',
      vendorClass: 'HTTPClient',
      bootFile: 'http://10.9.0.1:8080/boot/ipxe.efi',
      http: true,
    });
    expect(chooseBootAnswer({ ...flags, arch: 7, isIpxe: true }, ctx)).toMatchObject({
      firmware: 'ipxe',
      bootFile: 'http://10.9.0.1:8080/boot/boot.ipxe',
    });
  });
  it('gives nothing to a plain DHCP client', () => {
    expect(
      chooseBootAnswer({ isPxeClient: false, isHttpClient: false, isIpxe: false, arch: undefined }, ctx),
    ).toBeNull();
  });
});

/** A client request as it would come off the wire (encoded then decoded), without the broadcast flag. */
function req(
  type: number,
  mac: string,
  extra: Array<[number, Buffer]> = [],
  fields: Partial<DhcpPacket> = {},
): DhcpPacket {
  return decodePacket(encodePacket(bootRequest(type, mac, extra, { flags: 0, ...fields }), 1500).buffer);
}
const pxe = (arch: number): Array<[number, Buffer]> => [
  [Opt.VENDOR_CLASS_ID, Buffer.from(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003010`)],
  [Opt.CLIENT_ARCH, Buffer.from([0, arch])],
  [Opt.CLIENT_GUID, Buffer.concat([Buffer.from([0]), Buffer.from('2a4c0e8f1d3b5f4e9a6b7c8d9e0f1a2b', 'hex')])],
];
const ip = (a: string): [number, Buffer] => [Opt.REQUESTED_ADDRESS, ipBytes(a)];
const sid = (a: string): [number, Buffer] => [Opt.SERVER_ID, ipBytes(a)];

describe('proxyDHCP responder', () => {
  const proxy = new ProxyResponder('10.9.0.1', ctx);
  it('offers boot info without an address to PXE clients only', () => {
    const d = req(MessageType.DISCOVER, '52:54:00:00:00:01', pxe(7));
    const r = proxy.respond(d, clientInfoOf(d), 'dhcp');
    expect(r.reply).not.toBeNull();
    const o = decodePacket(encodePacket(r.reply!).buffer);
    expect(o.yiaddr).toBe('0.0.0.0');
    expect(o.siaddr).toBe('10.9.0.1');
    expect(o.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.OFFER);
    expect(o.options.get(Opt.VENDOR_CLASS_ID)?.toString()).toBe('PXEClient');
    expect([...o.options.get(Opt.VENDOR_SPECIFIC)!]).toEqual([6, 1, 8, 255]);
    expect(o.options.get(Opt.CLIENT_GUID)!.equals(d.options.get(Opt.CLIENT_GUID)!)).toBe(true);
    expect(o.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('ipxe.efi\0');
    const plain = req(MessageType.DISCOVER, '52:54:00:00:00:02');
    expect(proxy.respond(plain, clientInfoOf(plain), 'dhcp')).toEqual({ reply: null, reason: 'not-pxe' });
  });
  it('ignores a REQUEST for another server and ACKs boot server discovery on 4011', () => {
    const r1 = req(MessageType.REQUEST, '52:54:00:00:00:01', [...pxe(0), sid('10.9.0.254'), ip('10.9.0.77')]);
    expect(proxy.respond(r1, clientInfoOf(r1), 'dhcp')).toEqual({ reply: null, reason: 'other-server' });
    const r2 = req(
      MessageType.REQUEST,
      '52:54:00:00:00:01',
      [...pxe(0), [Opt.VENDOR_SPECIFIC, Buffer.from([71, 4, 0x80, 0, 0, 0, 255])]],
      { ciaddr: '10.9.0.77' },
    );
    const a = proxy.respond(r2, clientInfoOf(r2), 'pxe');
    expect(a.reply?.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.ACK);
    // like dnsmasq: the client's own address in yiaddr, ciaddr zero
    expect(a.reply?.yiaddr).toBe('10.9.0.77');
    expect(a.reply?.ciaddr).toBe('0.0.0.0');
    expect([...a.reply!.options.get(Opt.VENDOR_SPECIFIC)!]).toEqual([6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255]);
  });
});

describe('full mode lease engine', () => {
  let dir: string;
  let store: Store;
  const cfg: FullModeConfig = {
    serverId: '10.9.0.1',
    rangeStart: '10.9.0.100',
    rangeEnd: '10.9.0.103',
    netmask: '255.255.255.0',
    router: '10.9.0.1',
    dnsServers: ['10.9.0.53'],
    domainName: 'lab.test',
    leaseTimeS: 600,
    reservations: [{ mac: '52:54:00:00:00:99', address: '10.9.0.50', hostname: 'esx99' }],
  };
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-unit-'));
    store = await openStore(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (f: FullModeResponder, p: DhcpPacket, now = 1_000_000) => f.respond(p, clientInfoOf(p), now);
  const bindOne = async (f: FullModeResponder, mac: string, extra: Array<[number, Buffer]> = []) => {
    const o = await run(f, req(MessageType.DISCOVER, mac, extra));
    if (!o.reply) throw new Error(o.reason);
    const a = await run(f, req(MessageType.REQUEST, mac, [...extra, sid('10.9.0.1'), ip(o.reply.yiaddr)]));
    if (!a.reply) throw new Error(a.reason);
    return a.reply;
  };

  it('DISCOVER → OFFER → REQUEST → ACK with pool options, persisted, same lease again and after a restart', async () => {
    const f = await FullModeResponder.create(cfg, store.leases, ctx);
    const ack = await bindOne(f, '52:54:00:00:00:01');
    expect(ack.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('10.9.0.100');
    expect(ack.options.get(Opt.LEASE_TIME)?.readUInt32BE(0)).toBe(600);
    expect([...ack.options.get(Opt.SUBNET_MASK)!]).toEqual([255, 255, 255, 0]);
    expect(ack.options.get(Opt.DOMAIN_NAME)?.toString()).toBe('lab.test');
    expect(await store.leases.get('10.9.0.100')).toMatchObject({ mac: '52:54:00:00:00:01', state: 'bound' });
    expect((await bindOne(f, '52:54:00:00:00:02')).yiaddr).toBe('10.9.0.101');
    expect((await bindOne(f, '52:54:00:00:00:01')).yiaddr).toBe('10.9.0.100');
    const again = await FullModeResponder.create(cfg, store.leases, ctx);
    expect((await bindOne(again, '52:54:00:00:00:02')).yiaddr).toBe('10.9.0.101');
    expect((await bindOne(again, '52:54:00:00:00:03')).yiaddr).toBe('10.9.0.102');
  });

  it('PXE clients get the boot answer; the same MAC without PXE options keeps its lease', async () => {
    const f = await FullModeResponder.create(cfg, store.leases, ctx);
    const ack = await bindOne(f, '52:54:00:00:00:07', pxe(7));
    expect(ack.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe('ipxe.efi\0');
    expect(ack.siaddr).toBe('10.9.0.1');
    expect(ack.file).toBe('ipxe.efi');
    const plain = await bindOne(f, '52:54:00:00:00:07');
    expect(plain.yiaddr).toBe(ack.yiaddr);
    expect(plain.options.has(Opt.BOOTFILE_NAME)).toBe(false);
  });

  it('reservations, requested addresses, NAKs, other servers, DECLINE, RELEASE, INFORM', async () => {
    const f = await FullModeResponder.create(cfg, store.leases, ctx);
    const r = await bindOne(f, '52:54:00:00:00:99');
    expect(r.yiaddr).toBe('10.9.0.50');
    expect(r.options.get(Opt.HOST_NAME)?.toString()).toBe('esx99');
    // requested address honoured when free
    const o = await run(f, req(MessageType.DISCOVER, '52:54:00:00:00:10', [ip('10.9.0.103')]));
    expect(o.reply?.yiaddr).toBe('10.9.0.103');
    // REQUEST naming another server: ignored, our offer withdrawn (the address is free again)
    const other = await run(f, req(MessageType.REQUEST, '52:54:00:00:00:10', [sid('10.9.0.254'), ip('10.9.0.103')]));
    expect(other).toEqual({ reply: null, reason: 'other-server' });
    expect((await run(f, req(MessageType.DISCOVER, '52:54:00:00:00:11', [ip('10.9.0.103')]))).reply?.yiaddr).toBe(
      '10.9.0.103',
    );
    // INIT-REBOOT (no option 54, ciaddr 0) from a client we have no record of: silence, whether the
    // address is leased to someone else or free — it may be another server's lease (RFC 2131 §4.3.2)
    expect(await run(f, req(MessageType.REQUEST, '52:54:00:00:00:12', [ip('10.9.0.50')]))).toEqual({
      reply: null,
      reason: 'init-reboot-unknown-client',
      address: '10.9.0.50',
    });
    expect(await run(f, req(MessageType.REQUEST, '52:54:00:00:00:12', [ip('10.9.0.110')]))).toEqual({
      reply: null,
      reason: 'init-reboot-unknown-client',
      address: '10.9.0.110',
    });
    expect(await store.leases.get('10.9.0.110')).toBeUndefined();
    // INIT-REBOOT from a client with a lease, asking for an address that is not its own (here one
    // leased to someone else): NAK; asking for its own: ACK. A reservation is a record too.
    const own = await bindOne(f, '52:54:00:00:00:13');
    const wrongAddr = await run(f, req(MessageType.REQUEST, '52:54:00:00:00:13', [ip('10.9.0.50')]));
    expect(wrongAddr.reply?.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.NAK);
    expect(wrongAddr.reply?.options.get(Opt.MESSAGE)?.toString()).toBe(
      `requested address 10.9.0.50 is not the address of this client (${own.yiaddr})`,
    );
    const reboot = await run(f, req(MessageType.REQUEST, '52:54:00:00:00:13', [ip(own.yiaddr)]));
    expect([reboot.reply?.options.get(Opt.MESSAGE_TYPE)?.[0], reboot.reply?.yiaddr]).toEqual([
      MessageType.ACK,
      own.yiaddr,
    ]);
    expect((await run(f, req(MessageType.REQUEST, '52:54:00:00:00:99', [ip('10.9.0.50')]))).reply?.yiaddr).toBe(
      '10.9.0.50',
    );
    expect(
      (await run(f, req(MessageType.REQUEST, '52:54:00:00:00:99', [ip('10.9.0.111')]))).reply?.options.get(
        Opt.MESSAGE_TYPE,
      )?.[0],
    ).toBe(MessageType.NAK);
    // INIT-REBOOT on the wrong network: NAK, record or not (§4.3.2 "SHOULD send a DHCPNAK")
    const wrong = await run(f, req(MessageType.REQUEST, '52:54:00:00:00:12', [ip('192.168.1.5')]));
    expect(wrong.reply?.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.NAK);
    // renewing (ciaddr) our own lease: ACK
    const renew = await run(f, req(MessageType.REQUEST, '52:54:00:00:00:99', [], { ciaddr: '10.9.0.50' }));
    expect(renew.reply?.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.ACK);
    // DECLINE quarantines the address: the next client gets another one
    const a = await bindOne(f, '52:54:00:00:00:20');
    expect(await run(f, req(MessageType.DECLINE, '52:54:00:00:00:20', [sid('10.9.0.1'), ip(a.yiaddr)]))).toMatchObject({
      reply: null,
      reason: 'declined',
    });
    expect((await store.leases.get(a.yiaddr))?.state).toBe('declined');
    const b = await bindOne(f, '52:54:00:00:00:20');
    expect(b.yiaddr).not.toBe(a.yiaddr);
    // RELEASE then the same client comes back to the same address
    expect(
      (await run(f, req(MessageType.RELEASE, '52:54:00:00:00:20', [sid('10.9.0.1')], { ciaddr: b.yiaddr }))).reply,
    ).toBeNull();
    expect((await store.leases.get(b.yiaddr))?.state).toBe('released');
    expect((await bindOne(f, '52:54:00:00:00:20')).yiaddr).toBe(b.yiaddr);
    // INFORM: ACK with options, no address, no lease time
    const inf = await run(f, req(MessageType.INFORM, '52:54:00:00:00:30', [], { ciaddr: '10.9.0.7' }));
    expect(inf.reply?.yiaddr).toBe('0.0.0.0');
    expect(inf.reply?.ciaddr).toBe('10.9.0.7');
    expect(inf.reply?.options.has(Opt.LEASE_TIME)).toBe(false);
    expect(inf.reply?.options.has(Opt.SUBNET_MASK)).toBe(true);
  });

  it('a full pool gives no offer and never an address leased to someone else', async () => {
    const f = await FullModeResponder.create(cfg, store.leases, ctx);
    const got = new Set<string>();
    for (let i = 0; i < 4; i++) got.add((await bindOne(f, `52:54:00:00:01:0${i}`)).yiaddr);
    expect(got.size).toBe(4);
    expect(await run(f, req(MessageType.DISCOVER, '52:54:00:00:02:00'))).toEqual({
      reply: null,
      reason: 'pool-exhausted',
    });
    expect(await run(f, req(MessageType.DISCOVER, '52:54:00:00:02:00'))).toEqual({
      reply: null,
      reason: 'pool-exhausted',
    });
    // once a lease expires the address can be reused
    const later = await run(f, req(MessageType.DISCOVER, '52:54:00:00:02:00'), 1_000_000 + 601_000);
    expect(later.reply && got.has(later.reply.yiaddr)).toBe(true);
  });

  it('relay agents: serves a giaddr inside the pool subnet, echoes option 82, ignores other subnets', async () => {
    const f = await FullModeResponder.create(cfg, store.leases, ctx);
    const agent: [number, Buffer] = [Opt.RELAY_AGENT_INFO, Buffer.from([1, 3, 0x65, 0x74, 0x68])];
    const ok = await run(f, req(MessageType.DISCOVER, '52:54:00:00:03:00', [agent], { giaddr: '10.9.0.2', hops: 1 }));
    expect(ok.reply?.giaddr).toBe('10.9.0.2');
    expect(ok.reply?.options.get(Opt.RELAY_AGENT_INFO)?.equals(agent[1])).toBe(true);
    expect(await run(f, req(MessageType.DISCOVER, '52:54:00:00:03:01', [], { giaddr: '172.16.0.1' }))).toEqual({
      reply: null,
      reason: 'relay-subnet-mismatch',
    });
  });
});

describe('DHCP bind errors name a true remedy', () => {
  // A socket without SO_REUSEADDR on 127.0.0.1:<port> keeps our 0.0.0.0:<port> socket out, as a
  // DHCP server on the same machine does with udp/67 (nothing is sent).
  const hold = async (): Promise<Socket> => {
    const s = createSocket({ type: 'udp4' });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return s;
  };
  const dhcpConfig = configSchema.parse({
    dhcp: { mode: 'full', 'range-start': '127.0.0.100', 'range-end': '127.0.0.120', netmask: '255.0.0.0' },
  }).dhcp;
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-bind-'));
    store = await openStore(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('port in use, full mode: another DHCP server holds it; stop it or use --dhcp-mode off; no flag moves the port', async () => {
    const held = await hold();
    const port = held.address().port;
    try {
      const server = createDhcpServer({
        mode: 'full',
        dhcp: dhcpConfig,
        store,
        log: silentLogger,
        listenAddress: '127.0.0.1',
        httpPort: 8080,
        port,
      });
      const err = (await server.start().catch((e: unknown) => e)) as BindError;
      expect(err).toBeInstanceOf(BindError);
      expect(err.code).toBe('EADDRINUSE');
      expect(err.message).toBe(
        `DHCP (udp) cannot bind 0.0.0.0:${port}: another DHCP server on this machine (ISC dhcpd, Kea, dnsmasq, a router daemon ...) holds the port without sharing it ` +
          `(find it with: ss -ulnp 'sport = :${port}'). Stop it; full mode hands out addresses, so no other DHCP server should serve that LAN; ` +
          `or keep your DHCP server, set --dhcp-mode off and point it at statelesx (options 66/67: README, 'External DHCP server snippets'). ` +
          'DHCP ports are fixed by the protocol; no flag moves them.',
      );
    } finally {
      held.close();
    }
  });

  it('port 4011 in use, proxy mode: a PXE service holds it; proxy mode needs 67 and 4011 on this machine', async () => {
    const held = await hold();
    const proxyPort = held.address().port;
    try {
      const server = loopbackProxyServer({ dhcp: dhcpConfig, store, proxyPort });
      const err = (await server.start().catch((e: unknown) => e)) as BindError;
      expect(err).toBeInstanceOf(BindError);
      expect(err.message).toMatch(
        new RegExp(
          `^proxyDHCP \\(udp\\) cannot bind 0\\.0\\.0\\.0:${proxyPort}: another PXE boot server or proxyDHCP on this machine`,
        ),
      );
      expect(err.message).toContain(
        'proxy mode needs udp/67 and udp/4011 on this machine, so run it beside your DHCP server from another machine of the boot LAN',
      );
      expect(err.message).not.toMatch(/choose another port/);
      await server.close();
    } finally {
      held.close();
    }
  });

  it('permission denied: CAP_NET_BIND_SERVICE (or root), not another port', () => {
    const e = Object.assign(new Error('bind EACCES 0.0.0.0:67'), { code: 'EACCES' });
    const err = dhcpBindError(e, 'dhcp', 'proxy', '0.0.0.0', 67);
    expect(err.message).toBe(
      'DHCP (udp) cannot bind 0.0.0.0:67: permission denied. udp/67 is below 1024: run with CAP_NET_BIND_SERVICE ' +
        '(sudo setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")", systemd AmbientCapabilities=CAP_NET_BIND_SERVICE, or the Docker image) ' +
        'or as root; DHCP ports are fixed by the protocol, so there is no other port to choose ' +
        "(or keep your DHCP server, set --dhcp-mode off and point it at statelesx (options 66/67: README, 'External DHCP server snippets')).",
    );
    expect([err.code, err.port]).toEqual(['EACCES', 67]);
    expect(
      dhcpBindError(Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL' }), 'pxe', 'proxy', '10.1.2.3', 4011).message,
    ).toBe(
      'proxyDHCP (udp) cannot bind 10.1.2.3:4011: the address is not on this machine; fix --listen-address or --interface.',
    );
  });
});
