/**
 * `statelesx serve` (dist/, as an operator runs it) logs human-readable lines when stdout is a
 * terminal and JSON lines otherwise. The terminal is a real pty: util-linux `script` runs the
 * server with its stdout on one; the other run has a pipe, as under systemd or Docker.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'cli', 'main.js');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-logfmt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A configuration of its own (data, clusters, images under `name`), every port on 127.0.0.1:0. */
function configFor(name: string): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'clusters'), { recursive: true });
  mkdirSync(join(d, 'images'), { recursive: true });
  const file = join(d, 'statelesx.yaml');
  writeFileSync(
    file,
    [
      `data-dir: ${join(d, 'data')}`,
      `images-dir: ${join(d, 'images')}`,
      `clusters-dir: ${join(d, 'clusters')}`,
      'listen-address: 127.0.0.1',
      ...['tftp', 'http', 'boot-http', 'initiator'].map((s) => `${s}:\n  port: 0`),
    ].join('\n') + '\n',
  );
  return file;
}

/**
 * Runs `cmd args` in its own process group until its stdout shows `ready` (or 90 s pass), then
 * stops the group; returns what stdout carried.
 */
async function runUntil(cmd: string, args: string[], ready: RegExp): Promise<string> {
  const child = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  try {
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`not ready after 90 s:\n${out}\n${err}`)), 90_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        if (ready.test(out)) {
          clearTimeout(timer);
          res();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`${cmd} exited (${code}) before ready:\n${out}\n${err}`));
      });
    });
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* already gone */
    }
    await exited;
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

describe('log format of statelesx serve', () => {
  it('stdout on a terminal (a pty from `script`): human-readable lines, not JSON', async () => {
    const cmd = `${process.execPath} ${MAIN} serve --config ${configFor('tty')}`;
    const out = await runUntil('script', ['-qfec', cmd, '/dev/null'], /statelesx is serving/);
    const lines = out.replace(ANSI, '').split(/\r?\n/);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
    const ts = String.raw`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]`;
    expect(lines.some((l) => new RegExp(`^${ts} INFO: starting statelesx$`).test(l))).toBe(true);
    expect(lines.some((l) => new RegExp(`^${ts} INFO: initiator: initiator listening \\(tcp\\)$`).test(l))).toBe(true);
    // On a terminal, where the console is comes as one plain line among the log lines.
    expect(lines.some((l) => /^statelesx: console at http:\/\/\S+\/$/.test(l))).toBe(true);
    // the fields follow the message, one per line
    expect(out.replace(ANSI, '')).toMatch(/initiator listening \(tcp\)\r?\n\s+address: "127\.0\.0\.1"/);
  }, 120_000);

  it('stdout a pipe (systemd, Docker): one JSON object per line', async () => {
    const out = await runUntil(
      process.execPath,
      [MAIN, 'serve', '--config', configFor('pipe')],
      /"msg":"statelesx is serving"/,
    );
    // Every stdout line is a JSON log line: where the console is goes to stderr when stdout is a pipe.
    const lines = out.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) {
      const o = JSON.parse(l) as Record<string, unknown>;
      expect(o).toMatchObject({
        app: 'statelesx',
        level: expect.any(Number) as number,
        msg: expect.any(String) as string,
      });
    }
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('initiator listening (tcp)');
  }, 120_000);
});
