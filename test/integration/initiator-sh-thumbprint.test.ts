/**
 * scripts/initiator.sh sends the SHA-256 (`thumbprint=`) and SHA-1 (`thumbprint-sha1=`) thumbprints
 * of the host's certificate, the keys scripts/initiator.py sends. It runs under `busybox sh` with
 * ONLY busybox applets on PATH (as in the test image's initrd), against a TCP listener that records
 * the line; the expected values come from Node's X509Certificate over an openssl-made certificate.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync, symlinkSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';

const exec = promisify(execFile);
const SH = resolve('scripts/initiator.sh');
const U = '8a0f7b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b';

let dir: string;
let bin: string;
let busybox: string;
let server: Server;
let port: number;
const lines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-initiator-tp-'));
  // PATH = busybox applets only: what the test image's initrd has.
  bin = join(dir, 'bin');
  mkdirSync(bin);
  busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    symlinkSync(busybox, join(bin, applet));
  }
  mkdirSync(join(dir, 'sys/class/dmi/id'), { recursive: true });
  writeFileSync(join(dir, 'sys/class/dmi/id/product_uuid'), `${U}\n`);
  writeFileSync(join(dir, 'cmdline'), 'console=ttyS0 quiet\n');
  server = createServer((s) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      if (got.includes('\n')) {
        lines.push(got.trim());
        s.end('UNREGISTERED\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Runs initiator.sh with `cert` as STATELESX_CERT; returns the line the listener received. */
async function phoneHome(cert: string): Promise<{ line: string; stderr: string }> {
  const before = lines.length;
  const r = await exec(busybox, ['sh', SH], {
    env: {
      PATH: bin,
      STATELESX_SERVER: `127.0.0.1:${port}`,
      STATELESX_CMDLINE: join(dir, 'cmdline'),
      STATELESX_SYSFS: dir,
      STATELESX_HOSTNAME: 'sx-test-01',
      STATELESX_RETRIES: '1',
      STATELESX_CERT: cert,
    },
    timeout: 30_000,
  });
  expect(lines.length).toBe(before + 1);
  return { line: lines[before]!, stderr: r.stderr };
}

const colonHex = (alg: string, der: Buffer): string =>
  createHash(alg).update(der).digest('hex').toUpperCase().match(/../g)!.join(':');

describe('scripts/initiator.sh: thumbprints of /etc/vmware/ssl/rui.crt', () => {
  it('sends thumbprint= (SHA-256) and thumbprint-sha1= of the certificate, colon hex upper case', async () => {
    const crt = join(dir, 'rui.crt');
    await exec('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'rui.key'),
      '-out',
      crt,
      '-days',
      '2',
      '-subj',
      '/CN=sx-test-01.lab',
    ]);
    // a chain file: only the first certificate counts
    const other = join(dir, 'other.crt');
    await exec(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'o.key')].concat([
        '-out',
        other,
        '-days',
        '2',
        '-subj',
        '/CN=other',
      ]),
    );
    writeFileSync(join(dir, 'chain.crt'), readFileSync(crt, 'utf8') + readFileSync(other, 'utf8'));
    const der = new X509Certificate(readFileSync(crt)).raw;
    for (const file of [crt, join(dir, 'chain.crt')]) {
      const { line } = await phoneHome(file);
      expect(line).toMatch(new RegExp(`^sx-test-01:${U} `));
      expect(line).toContain(` thumbprint=${colonHex('sha256', der)} thumbprint-sha1=${colonHex('sha1', der)}`);
    }
  });

  it('leaves both keys out when there is no certificate, or no certificate in the file', async () => {
    writeFileSync(join(dir, 'empty.crt'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'key-only.pem'), readFileSync(join(dir, 'rui.key')));
    for (const file of [join(dir, 'missing.crt'), join(dir, 'empty.crt'), join(dir, 'key-only.pem')]) {
      const { line, stderr } = await phoneHome(file);
      expect(line).not.toContain('thumbprint');
      expect(stderr).toMatch(/phoning home without thumbprint/);
    }
  });
});
