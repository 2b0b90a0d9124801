/**
 * The end of a native transfer thread (src/boot/tftp/native/dataplane.c, thread_main) against the
 * main thread freeing the transfer in its "done" handler (security review, issue 16 finding 1).
 *
 * The thread's last acts are queuing "done" and releasing its threadsafe function; once "done" is
 * queued the main thread may free the transfer at any moment, so the thread must not read the
 * transfer after queuing. The race build of the addon (scripts/build-native.mjs race) pauses
 * STATELESX_DATAPLANE_RACE_US between the two acts, which lets the main thread free the transfer
 * inside that window every time, and poisons freed transfers: a thread that still reads the
 * transfer there crashes the server (it did: SIGSEGV on the first transfer). The server, a child
 * process running that build, must serve 12 transfers in a row and stop cleanly.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);
let root: string;
let addon: string;
const body = randomBytes(3000);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sx-tftp-race-'));
  writeFileSync(join(root, 'f'), body);
  const built = await run(process.execPath, ['scripts/build-native.mjs', 'race'], { maxBuffer: 16 << 20 });
  addon = built.stdout.trim().split('\n').pop() ?? '';
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts the standalone server on the race build; resolves with the process and its port. */
function startServer(): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', resolve('src/app/tftp-standalone.ts'), root, '127.0.0.1', '0'],
    {
      env: { ...process.env, STATELESX_TFTP_ADDON: addon, STATELESX_DATAPLANE_RACE_US: '20000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`server did not start: ${err}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      res({ child, port: (JSON.parse(out.split('\n')[0]!) as { port: number }).port, stderr: () => err });
    });
    child.on('exit', (code, signal) => rej(new Error(`server exited (${code ?? signal}) before listening: ${err}`)));
  });
}

describe('native data plane: the transfer thread never touches a transfer after queuing "done"', () => {
  it('serves 12 transfers in a row with a 20 ms pause after each "done", then stops cleanly', async () => {
    const { child, port, stderr } = await startServer();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    try {
      for (let i = 0; i < 12; i++) {
        const out = join(root, `out-${i}`);
        await run('curl', ['-s', '--max-time', '10', '-o', out, `tftp://127.0.0.1:${port}/f`]);
        expect(readFileSync(out).equals(body)).toBe(true);
      }
      // Every thread passed its pause (the next transfer's data came, the last one's pause ends now).
      await new Promise((r) => setTimeout(r, 100));
      expect(child.exitCode, stderr()).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
