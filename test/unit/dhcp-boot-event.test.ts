/**
 * Boot events recorded by the DHCP service for real firmware requests (test/fixtures/
 * pxe-captures), sent over 127.0.0.1 to a proxy-mode server's boot-server-discovery port (the
 * reply goes back to the sender, so nothing leaves 127.0.0.0/8): option 175 (iPXE encapsulated
 * options) is summarised in the detail beside 60, 61, 77, 93, 94, 97.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DhcpServer } from '../../src/boot/dhcp/server.js';
import { MAX_STORED_CLAIM, clientInfoOf } from '../../src/boot/dhcp/client-info.js';
import { ipxeSummary } from '../../src/boot/dhcp/ipxe-options.js';
import { MessageType, Opt, decodePacket, encodePacket } from '../../src/boot/dhcp/packet.js';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { configSchema } from '../../src/config/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { CAPTURES, readPcapUdp } from '../helpers/pxe-captures.js';
import { bootRequest, loopbackProxyServer } from '../helpers/dhcp-harness.js';

const MAC = '52:54:00:12:34:56';

/** Raw payload of the first client DHCPREQUEST in capture `name`. */
function captureRequest(name: string): Buffer {
  const r = readPcapUdp(resolve(CAPTURES, name)).find(
    (u) => u.dstPort === 67 && clientInfoOf(decodePacket(u.payload)).messageType === MessageType.REQUEST,
  );
  if (!r) throw new Error(`${name}: no DHCPREQUEST`);
  return r.payload;
}

let dir: string;
let store: Store;
let server: DhcpServer;
let proxyPort: number;
let client: Socket;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-dhcp-event-'));
  store = await openStore(dir);
  proxyPort = await freePort();
  server = loopbackProxyServer({ dhcp: configSchema.parse({}).dhcp, store, proxyPort });
  await server.start();
  client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  client?.close();
  await server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `payload` to `port` (default: the proxy port) and returns the decoded reply (or fails after `ms`). */
async function exchange(payload: Buffer, port = proxyPort, ms = 3000) {
  const reply = new Promise<Buffer>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no DHCP reply within ${ms} ms`)), ms);
    client.once('message', (m) => {
      clearTimeout(t);
      res(m);
    });
  });
  client.send(payload, port, '127.0.0.1');
  return decodePacket(await reply);
}

async function freePort(): Promise<number> {
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

describe('DHCP boot event detail', () => {
  it('SeaBIOS + iPXE: option 175 features, version and bus id are recorded (with 60, 61, 77, 93, 94)', async () => {
    const reply = await exchange(captureRequest('bios-seabios-ipxe.pcap'));
    expect(reply.options.get(53)?.[0]).toBe(MessageType.ACK);
    const ev = (await store.hosts.bootEvents({ mac: MAC })).find(
      (e) => e.detail?.['vendorClass'] === 'PXEClient:Arch:00000:UNDI:002001',
    );
    expect(ev).toMatchObject({ protocol: 'dhcp', firmware: 'ipxe', hostUuid: '8f0e4c2a-3b1d-4e5f-9a6b-7c8d9e0f1a2b' });
    expect(ev!.detail!).toMatchObject({ arch: 0, ndi: '2.1', userClass: ['iPXE'], clientId: '01525400123456' });
    expect(ev!.detail!['ipxe']).toEqual({
      version: '1.0.0',
      busId: 'pci:8086:100e',
      features: {
        'pxe-ext': 2,
        iscsi: 1,
        aoe: 1,
        http: 1,
        tftp: 1,
        dns: 1,
        bzimage: 1,
        multiboot: 1,
        pxe: 1,
        elf: 1,
        menu: 1,
        nfs: 1,
      },
    });
  });

  it('OVMF + iPXE: the EFI build says efi (and no pxe/bzimage)', async () => {
    await exchange(captureRequest('uefi-ovmf-ipxe.pcap'));
    const ev = (await store.hosts.bootEvents({ mac: MAC })).find(
      (e) => e.detail?.['vendorClass'] === 'PXEClient:Arch:00007:UNDI:003010',
    );
    expect(ev!.detail!['ipxe']).toEqual({
      version: '1.0.0',
      busId: 'pci:8086:100e',
      features: { iscsi: 1, aoe: 1, http: 1, tftp: 1, dns: 1, efi: 1, menu: 1, nfs: 1 },
    });
  });

  it('OVMF native PXE sends no option 175: no ipxe in the detail', async () => {
    await exchange(captureRequest('uefi-ovmf-native-pxe.pcap'));
    const ev = (await store.hosts.bootEvents({ mac: MAC })).find(
      (e) => e.detail?.['vendorClass'] === 'PXEClient:Arch:00007:UNDI:003000',
    );
    expect(ev).toMatchObject({ firmware: 'uefi' });
    expect(ev!.detail!).not.toHaveProperty('ipxe');
  });
});

describe('hostile claims (issue 16, finding 8)', () => {
  it('stores 60, 77 and 61 cut to MAX_STORED_CLAIM characters; the answer still matches the whole vendor class', async () => {
    const vc = `PXEClient:Arch:00007:UNDI:003010:${'v'.repeat(700)}`;
    const request = encodePacket(
      bootRequest(
        MessageType.REQUEST,
        '52:54:00:00:00:aa',
        [
          [Opt.MAX_MESSAGE_SIZE, Buffer.from([0x10, 0x00])],
          [Opt.VENDOR_CLASS_ID, Buffer.from(vc, 'latin1')],
          [Opt.USER_CLASS, Buffer.from(`iPXE${'\u0001'.repeat(400)}`, 'latin1')],
          [Opt.CLIENT_ID, Buffer.alloc(500, 0xab)],
        ],
        { flags: 0 },
      ),
      4096,
    ).buffer;
    const reply = await exchange(request);
    expect(reply.options.get(Opt.VENDOR_CLASS_ID)?.toString()).toBe('PXEClient');
    const ev = (await store.hosts.bootEvents({ mac: '52:54:00:00:00:aa' }))[0]!;
    const d = ev.detail!;
    expect(d['vendorClass']).toBe(`${vc.slice(0, MAX_STORED_CLAIM)}…(+${vc.length - MAX_STORED_CLAIM})`);
    expect(String(d['clientId'])).toMatch(new RegExp(`^(ab){${MAX_STORED_CLAIM / 2}}…\\(\\+744\\)$`));
    expect((d['userClass'] as string[])[0]!.length).toBeLessThanOrEqual(MAX_STORED_CLAIM + 12);
    expect(JSON.stringify(d).length).toBeLessThan(3 * 1024);
  });
});

describe('new hosts from DHCP per source (issue 16, finding 8)', () => {
  it('over dhcp.new-hosts-per-source-per-minute, the client is answered and its boot event kept, but no host row is made', async () => {
    const port = await freePort();
    const s = loopbackProxyServer({
      dhcp: configSchema.parse({ dhcp: { 'new-hosts-per-source-per-minute': 1 } }).dhcp,
      store,
      proxyPort: port,
    });
    await s.start();
    try {
      const guid = (n: number) => Buffer.concat([Buffer.from([0]), Buffer.alloc(15, 0x5a), Buffer.from([n])]);
      const request = (n: number) =>
        encodePacket(
          bootRequest(
            MessageType.REQUEST,
            `52:54:00:00:99:${n.toString(16).padStart(2, '0')}`,
            [
              [Opt.VENDOR_CLASS_ID, Buffer.from('PXEClient:Arch:00007:UNDI:003010')],
              [Opt.CLIENT_GUID, guid(n)],
            ],
            { flags: 0 },
          ),
        ).buffer;
      const uuids: string[] = [];
      for (const n of [1, 2, 3]) {
        const reply = await exchange(request(n), port);
        expect(reply.options.get(Opt.MESSAGE_TYPE)?.[0]).toBe(MessageType.ACK);
        uuids.push(clientInfoOf(decodePacket(request(n))).uuid!);
      }
      const events = await Promise.all(uuids.map((u) => store.hosts.bootEvents({ uuid: u })));
      expect(events.map((e) => e.length)).toEqual([1, 1, 1]);
      const hosts = await Promise.all(uuids.map((u) => store.hosts.get(u)));
      expect(hosts.map((h) => h !== undefined)).toEqual([true, false, false]);
    } finally {
      await s.close();
    }
  });
});

describe('architectures without a configured loader', () => {
  it('arch 6 (EFI IA32) gets no answer by default and an info line says which dhcp.boot-files key to set; configured, it gets that file', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const request = (arch: number) =>
      encodePacket(
        bootRequest(
          MessageType.REQUEST,
          '52:54:00:00:00:06',
          [
            [Opt.VENDOR_CLASS_ID, Buffer.from(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003010`)],
            [Opt.CLIENT_ARCH, Buffer.from([0, arch])],
          ],
          { flags: 0 },
        ),
        1500,
      ).buffer;
    for (const [files, want] of [
      [{}, null],
      [{ 'uefi-ia32': 'i386/ipxe.efi' }, 'i386/ipxe.efi'],
    ] as const) {
      const port = await freePort();
      const s = loopbackProxyServer({
        dhcp: configSchema.parse({ dhcp: { 'boot-files': files } }).dhcp,
        store,
        log: pino({ level: 'info' }, sink),
        proxyPort: port,
      });
      await s.start();
      try {
        lines.length = 0;
        if (want === null) {
          // The info line below says the server decided not to answer; a reply on 127.0.0.1 would
          // come within milliseconds (the configured case does), so 1 s of silence is enough.
          await expect(exchange(request(6), port, 1000)).rejects.toThrow(/no DHCP reply/);
          const info = lines.filter((l) => l['level'] === 30 && String(l['msg']).includes('dhcp.boot-files.uefi-ia32'));
          expect(info.length).toBe(1);
          expect(info[0]).toMatchObject({ subsystem: 'dhcp', client: '52:54:00:00:00:06', arch: 6 });
          expect(String(info[0]!['msg'])).toMatch(/^no boot file for option 93 arch 6 \(EFI IA32/);
        } else {
          const r = await exchange(request(6), port);
          expect(r.options.get(Opt.BOOTFILE_NAME)?.toString()).toBe(`${want}\0`);
          expect(lines.some((l) => String(l['msg']).includes('no boot file'))).toBe(false);
          expect((await store.hosts.bootEvents({ mac: '52:54:00:00:00:06' }))[0]).toMatchObject({
            firmware: 'uefi-ia32',
            file: want,
          });
        }
      } finally {
        await s.close();
      }
    }
  });
});

describe('ipxeSummary', () => {
  it('keeps only version, bus id and feature indicators; unknown features by code; bad values left out', () => {
    const sub = new Map<number, Buffer>([
      [235, Buffer.from([1, 21, 1])],
      [177, Buffer.from([1, 0x1a, 0xf4, 0x10, 0x00])],
      [0x13, Buffer.from([1])],
      [0x7f, Buffer.from([3])],
      [190, Buffer.from('iscsi-user')],
      [191, Buffer.from('iscsi-secret')],
      [1, Buffer.from([5])],
      [0x14, Buffer.from([1, 2])],
    ]);
    const s = ipxeSummary(sub);
    expect(s).toEqual({ version: '1.21.1', busId: 'pci:1af4:1000', features: { http: 1, 'feature-0x7f': 3 } });
    expect(JSON.stringify(s)).not.toContain('secret');
    expect(
      ipxeSummary(
        new Map([
          [235, Buffer.from([1, 2])],
          [177, Buffer.from([1])],
        ]),
      ),
    ).toBeNull();
    expect(ipxeSummary(undefined)).toBeNull();
  });
});
