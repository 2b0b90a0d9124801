/**
 * Port-bind failures of the TFTP listener turn into a {@link BindError} that names the address and
 * port that failed and the remedy: EADDRINUSE (another socket on 127.0.0.1:<port>, also when the
 * server listens on 0.0.0.0 and binds per address), and EACCES (a port below 1024 as an
 * unprivileged user: a child process under `setpriv --reuid=65534`, since the tests run as root).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createTftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { BindError, toBindError } from '../../src/net/bind-error.js';

const ROOT = join(import.meta.dirname, '../..');
const sockets: Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

/** Holds 127.0.0.1:<random port> (exclusive) and returns the port. */
async function occupy(): Promise<number> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((res) => s.bind({ address: '127.0.0.1', port: 0, exclusive: true }, res));
  return s.address().port;
}

function tftpOn(address: string, port: number) {
  return createTftpServer({
    source: directorySource(ROOT),
    address,
    port,
    limits: configSchema.parse({}).tftp,
    log: silentLogger,
  });
}

async function startError(address: string, port: number): Promise<BindError> {
  const s = tftpOn(address, port);
  const err = await s.start().then(
    async () => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BindError);
  return err as BindError;
}

describe('TFTP bind failures', () => {
  it('port in use on 127.0.0.1 → EADDRINUSE naming 127.0.0.1:<port> and --tftp-port', async () => {
    const port = await occupy();
    const e = await startError('127.0.0.1', port);
    expect(e.code).toBe('EADDRINUSE');
    expect(e.port).toBe(port);
    expect(e.message).toContain(`TFTP (udp) cannot bind 127.0.0.1:${port}`);
    expect(e.message).toContain('already in use');
    expect(e.message).toContain('--tftp-port');
  });

  it('listen address 0.0.0.0: the error names the local address that failed, not 0.0.0.0', async () => {
    const port = await occupy();
    const e = await startError('0.0.0.0', port);
    expect(e.code).toBe('EADDRINUSE');
    expect(e.message).toContain(`cannot bind 127.0.0.1:${port}`);
    expect(e.message).not.toContain('0.0.0.0');
    // Nothing stays bound: once the other socket is gone the same port can be served.
    for (const s of sockets.splice(0)) s.close();
    const s = tftpOn('0.0.0.0', port);
    await s.start();
    expect(s.addresses().map((a) => a.address)).toContain('127.0.0.1');
    await s.close();
  });

  it('port 69 as an unprivileged user → EACCES naming the port and the remedy (CAP_NET_BIND_SERVICE or --tftp-port)', async () => {
    const child = join(ROOT, 'test/helpers/bind-error-child.ts');
    const node = [process.execPath, '--import', 'tsx', child, '69'];
    const cmd =
      process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const p = spawn(cmd[0]!, cmd.slice(1), {
        cwd: ROOT,
        env: { ...process.env, HOME: '/tmp' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.out.trim()) as {
      name: string;
      isBindError: boolean;
      code: string;
      port: number;
      message: string;
    };
    expect(e).toMatchObject({ name: 'BindError', isBindError: true, code: 'EACCES', port: 69 });
    expect(e.message).toContain('TFTP (udp) cannot bind 127.0.0.1:69: permission denied');
    expect(e.message).toContain('CAP_NET_BIND_SERVICE');
    expect(e.message).toContain('choose another port with --tftp-port');
  }, 30_000);

  it('the message builder gives EACCES and EPERM the same remedy and names the flag it was given', () => {
    for (const code of ['EACCES', 'EPERM']) {
      const e = toBindError(
        Object.assign(new Error(`bind ${code}`), { code }),
        'HTTP (tcp)',
        '10.0.0.1',
        80,
        '--http-port',
      );
      expect(e.message).toMatch(
        /^HTTP \(tcp\) cannot bind 10\.0\.0\.1:80: permission denied\. Ports below 1024 need root or CAP_NET_BIND_SERVICE /,
      );
      expect(e.message).toContain('choose another port with --http-port');
      expect([e.code, e.port]).toEqual([code, 80]);
    }
  });
});
