import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirBusyError, dataDirHolder, lockDataDir, lockFile } from '../../src/store/datadir-lock.js';

describe('store: data-dir lock', () => {
  it('is exclusive while its process lives, names the holder, and is released only by its owner', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-lock-'));
    expect(dataDirHolder(dir)).toBeUndefined();
    const lock = lockDataDir(dir, 'server');
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8'))).toMatchObject({ pid: process.pid, role: 'server' });
    expect(dataDirHolder(dir)).toMatchObject({ pid: process.pid, role: 'server' });
    expect(() => lockDataDir(dir, 'cli')).toThrow(DataDirBusyError);
    expect(() => lockDataDir(dir, 'cli')).toThrow(
      `a statelesx server (pid ${process.pid}) is using ${dir}; use the API / console, or stop it`,
    );
    lock.release();
    expect(existsSync(lockFile(dir))).toBe(false);
    const cli = lockDataDir(dir, 'cli');
    expect(() => lockDataDir(dir, 'server')).toThrow(
      /statelesx cluster apply \(pid \d+\) is using .*; wait for it to finish/,
    );
    lock.release(); // the old handle does not remove the new holder's file
    expect(dataDirHolder(dir)?.role).toBe('cli');
    cli.release();
  });

  it('takes over a stale lock (dead pid, or a half-written file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sx-lock-'));
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
    );
    writeFileSync(lockFile(dir), JSON.stringify({ pid: dead, role: 'server', hostname: hostname(), startedAt: 1 }));
    expect(dataDirHolder(dir)).toBeUndefined();
    const a = lockDataDir(dir, 'server');
    expect(a.holder.pid).toBe(process.pid);
    a.release();
    writeFileSync(lockFile(dir), '{"pid": 12');
    const b = lockDataDir(dir, 'cli');
    b.release();
    // written on another machine: cannot be checked, counts as held
    writeFileSync(
      lockFile(dir),
      JSON.stringify({ pid: dead, role: 'server', hostname: 'elsewhere.example', startedAt: 1 }),
    );
    expect(() => lockDataDir(dir, 'cli')).toThrow(/a statelesx server \(pid \d+ on elsewhere\.example\) is using/);
  });
});
