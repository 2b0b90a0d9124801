/**
 * Loaders are never modified (issue 17, part 4): signed loaders (ESXi's mboot.efi, shim, GRUB)
 * must reach the firmware byte for byte, or UEFI Secure Boot refuses them. On the default
 * configuration (`loader-dirs` at its default: Debian's pxelinux, syslinux BIOS modules and iPXE
 * directories, symlinks included, e.g. /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi), every file
 * statelesx finds there, and the loaders of an imported (synthetic) ESXi image — mboot.c32,
 * efi/boot/bootx64.efi (VMware's mboot.efi) and its companions — are fetched through the real
 * `statelesx serve` composition with real curl, over TFTP and over HTTP `/boot/`, and compared
 * with the source files (SHA-256 and size).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { importImage } from '../../src/images/import.js';
import type { TftpServer } from '../../src/boot/tftp/server.js';
import { freePort } from '../helpers/hardening-server.js';

/** What the default `loader-dirs` must serve at least (Debian packages pxelinux, syslinux-common, ipxe). */
const EXPECTED = ['pxelinux.0', 'ldlinux.c32', 'menu.c32', 'undionly.kpxe', 'ipxe.efi', 'snponly.efi'];
/** The synthetic ESXi image's loaders: source path (ISO spelling) → the name hosts request. */
const ESXI_LOADERS: Record<string, string> = {
  'MBOOT.C32': 'esx1/mboot.c32',
  'EFI/BOOT/BOOTX64.EFI': 'esx1/efi/boot/bootx64.efi',
  'EFI/BOOT/SAFEBOOT.EFI': 'esx1/efi/boot/safeboot.efi',
  'EFI/BOOT/CRYPTO64.EFI': 'esx1/efi/boot/crypto64.efi',
};

let dir: string;
let server: RunningServer;
let bootPort: number;
let tftpPort: number;
/** Request name → source file, first hit in tftp-root (empty) then each loader dir, like the server. */
const loaders = new Map<string, string>();

/** Real curl, asynchronously (the server runs in this process). */
function curl(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sS', '--fail', '--max-time', '60', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (status) =>
      status === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`curl ${url} failed (${status}): ${err}`)),
    );
  });
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-loaders-'));
  for (const d of ['data', 'tftp', 'pxelinux.cfg', 'clusters', 'e/EFI/BOOT'])
    mkdirSync(join(dir, d), { recursive: true });
  const e = join(dir, 'e');
  writeFileSync(
    join(e, 'BOOT.CFG'),
    'bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\nkernelopt=runweasel cdromBoot\nmodules=/jumpstrt.gz --- /k.b00\nbuild=8.0.2-0.0.22380479\nupdated=0\n',
  );
  for (const f of ['B.B00', 'JUMPSTRT.GZ', 'K.B00']) writeFileSync(join(e, f), `synthetic ${f}`);
  // Stand-ins for signed binaries: arbitrary bytes, including CR/LF and NUL, any size.
  for (const f of Object.keys(ESXI_LOADERS)) writeFileSync(join(e, f), randomBytes(100_000 + f.length * 977));
  await importImage({ source: e, imagesDir: join(dir, 'images'), name: 'esx1' });

  bootPort = await freePort();
  const config = configSchema.parse({
    'data-dir': join(dir, 'data'),
    'images-dir': join(dir, 'images'),
    'tftp-root': join(dir, 'tftp'),
    'pxelinux-cfg-dir': join(dir, 'pxelinux.cfg'),
    'clusters-dir': join(dir, 'clusters'),
    'listen-address': '127.0.0.1',
    tftp: { port: 0 },
    http: { port: 0 },
    'boot-http': { port: bootPort },
    initiator: { port: 0 },
  });
  for (const root of [config['tftp-root'], ...config['loader-dirs']]) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root)) {
      const path = join(root, name);
      if (!loaders.has(name) && statSync(path).isFile()) loaders.set(name, path); // symlinks followed
    }
  }
  for (const name of EXPECTED)
    if (!loaders.has(name))
      throw new Error(`${name} is in none of ${config['loader-dirs'].join(', ')}: run scripts/install-test-deps`);
  server = await startServer(config, silentLogger);
  tftpPort = (server.services.find((s) => s.name === 'tftp') as unknown as TftpServer).addresses()[0]!.port;
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('loaders are served byte for byte', () => {
  it('the default loader-dirs are the ones searched (Debian layout)', () => {
    expect(configSchema.parse({})['loader-dirs']).toEqual([
      '/usr/lib/PXELINUX',
      '/usr/lib/syslinux/modules/bios',
      '/usr/lib/ipxe',
    ]);
    expect(readdirSync(join(dir, 'tftp'))).toEqual([]); // nothing copied
  });

  it('every file of the default loader directories, over TFTP and HTTP', async () => {
    expect(loaders.size).toBeGreaterThanOrEqual(EXPECTED.length);
    for (const [name, path] of loaders) {
      const want = readFileSync(path);
      for (const url of [`tftp://127.0.0.1:${tftpPort}/${name}`, `http://127.0.0.1:${bootPort}/boot/${name}`]) {
        const got = await curl(url);
        expect({ url, size: got.length, sha: sha(got) }).toEqual({ url, size: want.length, sha: sha(want) });
      }
    }
  }, 300_000);

  it("the ESXi image's mboot.c32, mboot.efi (efi/boot/bootx64.efi) and companions, over TFTP and HTTP", async () => {
    for (const [src, name] of Object.entries(ESXI_LOADERS)) {
      const want = readFileSync(join(dir, 'e', src));
      for (const url of [`tftp://127.0.0.1:${tftpPort}/${name}`, `http://127.0.0.1:${bootPort}/boot/${name}`]) {
        const got = await curl(url);
        expect({ url, size: got.length, sha: sha(got) }).toEqual({ url, size: want.length, sha: sha(want) });
      }
    }
  }, 120_000);
});
