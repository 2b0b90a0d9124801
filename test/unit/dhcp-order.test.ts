/**
 * The DHCP service with an asynchronous store (src/boot/dhcp/server.ts): requests are answered one
 * at a time in arrival order even when the boot-once read of one of them is slow, a malformed
 * packet is counted on arrival, and the boot events are written after the replies, in order. Over
 * 127.0.0.1 to a proxy-mode server's boot-server-discovery port (replies go back to the sender).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import type { DhcpServer } from '../../src/boot/dhcp/server.js';
import { MessageType, decodePacket } from '../../src/boot/dhcp/packet.js';
import { configSchema } from '../../src/config/schema.js';
import { metricsRegistry } from '../../src/metrics.js';
import { openStore, type Store } from '../../src/store/index.js';
import { clientPacket, loopbackProxyServer, pxeOptions } from '../helpers/dhcp-harness.js';

const UEFI_MAC = '52:54:00:00:00:07';
const BIOS_MAC = '52:54:00:00:00:00';
const INSTALLED_MAC = '52:54:00:00:00:99';

let store: Store;
let server: DhcpServer;
let client: Socket;
let proxyPort: number;
/** MACs the boot-once lookup was asked about, in order. */
const asked: string[] = [];

async function freePort(): Promise<number> {
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

async function droppedTruncated(): Promise<number> {
  const m = await metricsRegistry.getSingleMetric('statelesx_dhcp_dropped_total')!.get();
  return m.values.find((v) => v.labels['reason'] === 'truncated')?.value ?? 0;
}

beforeAll(async () => {
  store = await openStore(':memory:');
  proxyPort = await freePort();
  server = loopbackProxyServer({
    dhcp: configSchema.parse({}).dhcp,
    store,
    proxyPort,
    // A slow store: the UEFI client's read takes 150 ms; the installed host boots from its disk.
    bootsLocally: async ({ mac }) => {
      asked.push(mac);
      await new Promise((r) => setTimeout(r, mac === UEFI_MAC ? 150 : 1));
      return mac === INSTALLED_MAC;
    },
  });
  await server.start();
  client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  client?.close();
  await server?.close();
  store?.close();
});

describe('DHCP on an asynchronous store', () => {
  it('answers in arrival order past a slow boot-once read; malformed counted at once; events after, in order', async () => {
    const replies: Array<{ mac: string; type: number | undefined }> = [];
    client.on('message', (m) => {
      const p = decodePacket(m);
      replies.push({ mac: p.chaddr.subarray(0, 6).toString('hex'), type: p.options.get(53)?.[0] });
    });
    const before = await droppedTruncated();
    const send = (b: Buffer) => client.send(b, proxyPort, '127.0.0.1');
    send(clientPacket(MessageType.REQUEST, UEFI_MAC, pxeOptions(7))); // UEFI: boot-once read, 150 ms
    send(Buffer.alloc(40)); // malformed: counted on arrival, never queued behind the read
    send(clientPacket(MessageType.REQUEST, INSTALLED_MAC, pxeOptions(7))); // boots from disk: no answer
    send(clientPacket(MessageType.REQUEST, BIOS_MAC, pxeOptions(0))); // BIOS: no read, but answered after
    await new Promise((r) => setTimeout(r, 60));
    expect(await droppedTruncated()).toBe(before + 1);
    expect(replies).toEqual([]); // the UEFI client's read is still running: nothing overtook it
    await new Promise((r) => setTimeout(r, 400));
    expect(replies).toEqual([
      { mac: UEFI_MAC.replaceAll(':', ''), type: MessageType.ACK },
      { mac: BIOS_MAC.replaceAll(':', ''), type: MessageType.ACK },
    ]);
    expect(asked).toEqual([UEFI_MAC, INSTALLED_MAC]); // BIOS firmware is never asked about
    const events = await store.hosts.bootEvents();
    expect(events.map((e) => [e.mac, e.firmware])).toEqual([
      [BIOS_MAC, 'bios'],
      [UEFI_MAC, 'uefi'],
    ]);
    expect(events[0]!.id).toBeGreaterThan(events[1]!.id!);
  });
});
