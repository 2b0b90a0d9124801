/**
 * The TFTP server against real clients on 127.0.0.1 (random port): curl, atftp, tftp-hpa.
 * Files are generated here and compared by SHA-256. The 40 MB file at blksize 512 has 78 125
 * blocks, so it also covers block-number rollover past 65535.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, createReadStream } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createTftpServer, type TftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { toNetascii } from '../../src/boot/tftp/blocks.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';

/** Fails (never skips) when a Debian tool is missing. */
function requireTools(tools: string[]): void {
  for (const t of tools) {
    try {
      readFileSync(`/usr/bin/${t}`);
    } catch {
      throw new Error(`${t} is not installed: run scripts/install-test-deps`);
    }
  }
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client with a hard time limit (the process is killed at the limit). */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const code: unknown = err ? (err as { code?: unknown }).code : 0;
        res({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

function sha256(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

let root: string;
let out: string;
let server: TftpServer;
let port: number;
const sums: Record<string, string> = {};
let seq = 0;
const outFile = () => join(out, `got-${++seq}`);

beforeAll(async () => {
  requireTools(['curl', 'atftp', 'tftp']);
  root = mkdtempSync(join(tmpdir(), 'sx-tftp-root-'));
  out = mkdtempSync(join(tmpdir(), 'sx-tftp-out-'));
  writeFileSync(join(root, 'f1m'), randomBytes(1_000_000));
  // 40 MB written in 1 MB chunks (no 40 MB buffer in the test process).
  const chunks: Buffer[] = [];
  for (let i = 0; i < 40; i++) chunks.push(randomBytes(1_000_000));
  writeFileSync(join(root, 'f40m'), Buffer.concat(chunks));
  chunks.length = 0;
  writeFileSync(
    join(root, 'text.cfg'),
    'DEFAULT menu.c32\nLABEL esxi\r\n  KERNEL mboot.c32\n\n  APPEND -c boot.cfg\r\rend',
  );
  for (const f of ['f1m', 'f40m', 'text.cfg']) sums[f] = await sha256(join(root, f));
  server = createTftpServer({
    source: directorySource(root),
    address: '127.0.0.1',
    port: 0,
    limits: configSchema.parse({}).tftp,
    log: silentLogger,
  });
  await server.start();
  port = server.address().port;
});

afterAll(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('TFTP with curl', () => {
  it.each([
    ['f1m', 512],
    ['f1m', 1468],
    ['f1m', 8192],
    ['f40m', 512],
    ['f40m', 1468],
    ['f40m', 8192],
  ])('%s at blksize %i is byte-exact', async (file, blksize) => {
    const dst = outFile();
    const r = await run(
      'curl',
      ['-sS', '--tftp-blksize', String(blksize), '-o', dst, `tftp://127.0.0.1:${port}/${file}`],
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await sha256(dst)).toBe(sums[file]);
  });

  it('without options (plain RFC 1350) is byte-exact', async () => {
    const dst = outFile();
    const r = await run('curl', ['-sS', '--tftp-no-options', '-o', dst, `tftp://127.0.0.1:${port}/f1m`], out);
    expect(r.code).toBe(0);
    expect(await sha256(dst)).toBe(sums['f1m']);
  });

  it('netascii mode sends LF as CR LF and CR as CR NUL', async () => {
    const dst = outFile();
    const r = await run('curl', ['-sS', '-o', dst, `tftp://127.0.0.1:${port}/text.cfg;mode=netascii`], out);
    expect(r.code).toBe(0);
    expect(readFileSync(dst)).toEqual(toNetascii(readFileSync(join(root, 'text.cfg'))));
  });

  it('a missing file is error 1 (curl exit 68 = CURLE_TFTP_NOTFOUND)', async () => {
    const r = await run('curl', ['-sS', '-o', outFile(), `tftp://127.0.0.1:${port}/no/such/file`], out);
    expect(r.code).toBe(68);
  });

  it('a traversal is refused with error 2 (curl exit 69 = CURLE_TFTP_PERM)', async () => {
    const r = await run(
      'curl',
      ['-sS', '--path-as-is', '-o', outFile(), `tftp://127.0.0.1:${port}/../../etc/passwd`],
      out,
    );
    expect(r.code).toBe(69);
  });

  it('50 concurrent curl clients all get the file byte-exact', async () => {
    const dsts = Array.from({ length: 50 }, () => outFile());
    const results = await Promise.all(
      dsts.map((d, i) =>
        run('curl', ['-sS', '--tftp-blksize', i % 2 ? '1468' : '512', '-o', d, `tftp://127.0.0.1:${port}/f1m`], out),
      ),
    );
    expect(results.map((r) => r.code)).toEqual(Array(50).fill(0));
    const got = await Promise.all(dsts.map((d) => sha256(d)));
    expect(new Set(got)).toEqual(new Set([sums['f1m']]));
    expect(server.activeTransfers()).toBe(0);
  }, 180_000);

  it('reused transfer rings never mix data: 3 rounds of 24 concurrent clients over different files and blksizes', async () => {
    const files = ['f1m', 'text.cfg', 'f1m', 'f1m'];
    const sizes = ['512', '1468', '8192', '1024'];
    for (let round = 0; round < 3; round++) {
      const jobs = Array.from({ length: 24 }, (_, i) => ({
        file: files[i % 4]!,
        blksize: sizes[(i + round) % 4]!,
        dst: outFile(),
      }));
      const results = await Promise.all(
        jobs.map((j) =>
          run('curl', ['-sS', '--tftp-blksize', j.blksize, '-o', j.dst, `tftp://127.0.0.1:${port}/${j.file}`], out),
        ),
      );
      expect(results.map((r) => r.code)).toEqual(Array(24).fill(0));
      for (const j of jobs) expect(await sha256(j.dst)).toBe(sums[j.file]);
    }
    expect(server.activeTransfers()).toBe(0);
  }, 180_000);
});

describe('TFTP with atftp (RFC 7440 windowsize)', () => {
  const cases: Array<[string, number, number]> = [];
  for (const file of ['f1m', 'f40m'])
    for (const blksize of [512, 1468, 8192]) for (const w of [1, 16]) cases.push([file, blksize, w]);
  it.each(cases)(
    '%s at blksize %i windowsize %i is byte-exact',
    async (file, blksize, w) => {
      const dst = outFile();
      const r = await run(
        'atftp',
        [
          '--option',
          `blksize ${blksize}`,
          '--option',
          `windowsize ${w}`,
          '-g',
          '-r',
          file,
          '-l',
          dst,
          '127.0.0.1',
          String(port),
        ],
        out,
      );
      expect(r.code).toBe(0);
      // atftp prints the options the server acknowledged.
      expect(r.stderr + r.stdout).toContain(`blksize = ${blksize}`);
      expect(r.stderr + r.stdout).toContain(`windowsize = ${w}`);
      expect(await sha256(dst)).toBe(sums[file]);
    },
    180_000,
  );
});

describe("TFTP with tftp-hpa's client (lock-step, blksize 512)", () => {
  it.each(['f1m', 'f40m'])('%s binary is byte-exact', async (file) => {
    const dst = outFile();
    const r = await run('tftp', ['127.0.0.1', String(port), '-m', 'binary', '-c', 'get', file, dst], out);
    expect(r.code).toBe(0);
    expect(await sha256(dst)).toBe(sums[file]);
  });

  it('netascii round trip gives back the original text', async () => {
    const dst = outFile();
    const r = await run('tftp', ['127.0.0.1', String(port), '-m', 'ascii', '-c', 'get', 'text.cfg', dst], out);
    expect(r.code).toBe(0);
    expect(await sha256(dst)).toBe(sums['text.cfg']);
  });
});
