/**
 * What the wire-level TFTP tests share: servers on 127.0.0.1 (random port) over one temporary root
 * directory, and raw peers ({@link RawPeer}) to talk to them. One rig a test file:
 *
 *   const rig = new TftpRig('sx-tftp-proto-');
 *   const { startServer, peer } = rig;
 *   beforeAll(() => writeFileSync(join(rig.open(), 'small'), 'hello\n'));
 *   afterAll(() => rig.close());
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTftpServer, type TftpServer, type TftpServerOptions } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { RawPeer } from './tftp-peer.js';

/** TFTP servers and raw peers of one test file over one temporary root; `close()` ends them all. */
export class TftpRig {
  private dir: string | undefined;
  private readonly servers: TftpServer[] = [];
  private readonly peers: RawPeer[] = [];

  /** @param prefix the temporary root's name prefix under the OS temp directory, e.g. `sx-tftp-proto-` */
  constructor(private readonly prefix: string) {}

  /** Creates the root directory (call in beforeAll) and returns its path. */
  open(): string {
    this.dir = mkdtempSync(join(tmpdir(), this.prefix));
    return this.dir;
  }

  /** The root directory the servers serve. Throws before {@link open}. */
  get root(): string {
    if (this.dir === undefined) throw new Error(`TftpRig ${this.prefix}: open() it first (in beforeAll)`);
    return this.dir;
  }

  /**
   * Starts a server over the root on 127.0.0.1, port 0, silent: the default `tftp` limits with
   * `over` on top, and `extra` server options (e.g. `minRtoMs`, another `log`).
   */
  readonly startServer = async (
    over: Partial<Config['tftp']> = {},
    extra: Partial<Omit<TftpServerOptions, 'limits'>> = {},
  ): Promise<TftpServer> => {
    const s = createTftpServer({
      source: directorySource(this.root),
      address: '127.0.0.1',
      port: 0,
      limits: { ...configSchema.parse({}).tftp, ...over },
      log: silentLogger,
      ...extra,
    });
    await s.start();
    this.servers.push(s);
    return s;
  };

  /** A raw peer bound to 127.0.0.1 (closed by {@link close}). */
  readonly peer = async (): Promise<RawPeer> => {
    const p = await new RawPeer().open();
    this.peers.push(p);
    return p;
  };

  /** Closes every peer and server, then removes the root (call in afterAll; safe if open() never ran). */
  async close(): Promise<void> {
    for (const p of this.peers.splice(0)) p.close();
    for (const s of this.servers.splice(0)) await s.close();
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}
