/**
 * A transfer that ends while a disk read is in flight (client ERROR, socket error, shutdown) must
 * not hand its ring back to the shared pool, nor close its file, before the read settles: the
 * read still writes into the ring, and a new transfer may already hold a ring taken from the pool.
 */
import { describe, it, expect } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { JsTransfer } from '../../src/boot/tftp/js-transfer.js';
import type { TransferOutcome } from '../../src/boot/tftp/contract.js';
import { RingPool } from '../../src/boot/tftp/ring-pool.js';
import { tftpMetrics } from '../../src/boot/tftp/metrics.js';
import type { BlockSource } from '../../src/boot/tftp/blocks.js';
import type { Negotiated } from '../../src/boot/tftp/options.js';
import { encodeError, ErrorCode } from '../../src/boot/tftp/packet.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';

/** A source whose reads take `delayMs` and then fill every slot with 0xaa. */
class SlowSource implements BlockSource {
  readonly events: string[] = [];
  release: (() => void) | null = null;
  fill(_first: number, slots: Buffer[]): Promise<number> {
    this.events.push('fill-start');
    return new Promise((res) => {
      this.release = () => {
        for (const s of slots) s.fill(0xaa);
        this.events.push('fill-end');
        res(slots.length * slots[0]!.length);
      };
    });
  }
  close(): void {
    this.events.push('close');
  }
}

/** A transfer to `client` over a SlowSource, its ring from `pool`; `ended()` is its outcome so far. */
function slowTransfer(client: Socket, pool: RingPool, source: SlowSource, oack: Negotiated['oack']) {
  let outcome: TransferOutcome | null = null;
  const t = new JsTransfer({
    id: 't',
    clientAddress: '127.0.0.1',
    clientPort: client.address().port,
    localAddress: '127.0.0.1',
    source,
    negotiated: { blksize: 1024, windowsize: 1, timeoutMs: 1000, timeoutNegotiated: false, oack },
    maxRetries: 3,
    minRtoMs: 20,
    maxRtoMs: 1000,
    readAheadBytes: 64 * 1024,
    transferSize: 10 * 1024 * 1024,
    rings: pool,
    maxSilenceMs: 30_000,
    firstAckTimeoutMs: 10_000,
    log: silentLogger,
    metrics: tftpMetrics(),
    onEnd: (_t, o) => {
      outcome = o;
    },
  });
  return { t, ended: () => outcome };
}

describe('TFTP transfer ending mid-read', () => {
  it('keeps the ring out of the pool and the file open until the read settles', async () => {
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const pool = new RingPool(1024 * 1024);
    const source = new SlowSource();
    const { t, ended } = slowTransfer(client, pool, source, null);
    try {
      await t.start();
      // No OACK: data starts at once, so the first fill is in flight now.
      expect(source.events).toEqual(['fill-start']);
      t.abort('shutdown', 'test: server stopping');
      expect(ended()).toMatchObject({ ok: false, reason: 'shutdown' });
      // Nothing released yet: a ring acquired now must be a different buffer, the file still open.
      const other = pool.acquire(64 * 1024);
      expect(pool.idleBytes).toBe(0);
      expect(source.events).toEqual(['fill-start']);
      other.fill(0x55);
      source.release!();
      await new Promise((r) => setImmediate(r));
      expect(source.events).toEqual(['fill-start', 'fill-end', 'close']);
      // The late read wrote into the aborted transfer's own ring, never into `other`.
      expect(other.every((b) => b === 0x55)).toBe(true);
      expect(pool.idleBytes).toBeGreaterThan(0); // the ring went back once the read settled
    } finally {
      client.close();
    }
  });

  it('a client ERROR mid-read ends the transfer and releases only after the read', async () => {
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const pool = new RingPool(1024 * 1024);
    const source = new SlowSource();
    // With an OACK the server's transfer socket speaks first: learn its port from the OACK.
    const oackFrom = new Promise<number>((r) => client.once('message', (_m, rinfo) => r(rinfo.port)));
    const { t, ended } = slowTransfer(client, pool, source, [['blksize', '1024']]);
    try {
      await t.start();
      const port = await oackFrom;
      client.send(Buffer.from([0, 4, 0, 0]), port, '127.0.0.1'); // ACK 0 → first fill starts
      await waitFor('the first fill', () => source.events.length === 1, 2000, 5);
      client.send(encodeError(ErrorCode.DISK_FULL, 'client gave up'), port, '127.0.0.1');
      await waitFor('the transfer to end', () => ended() !== null, 2000, 5);
      expect(ended()).toMatchObject({ ok: false, reason: 'client-error' });
      expect(pool.idleBytes).toBe(0);
      expect(source.events).toEqual(['fill-start']);
      source.release!();
      await waitFor('three source events', () => source.events.length === 3, 2000, 5);
      expect(source.events).toEqual(['fill-start', 'fill-end', 'close']);
      expect(pool.idleBytes).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });
});
