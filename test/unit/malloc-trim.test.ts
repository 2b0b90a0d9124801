/**
 * malloc_trim (src/memory: issue 20, idle RSS): the addon gives freed malloc memory back to the
 * kernel — measured as the RssAnon of a real Node process in /proc — and the service trims on its
 * timer, or says once why it cannot.
 */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/log.js';
import { createMallocTrimService, loadMallocTrim } from '../../src/memory/trim.js';

const ADDON = fileURLToPath(new URL('../../build/Release/malloc_trim.node', import.meta.url));

/** A child that frees ~60 MiB of malloc'd 16 KiB blocks (every 64th kept, so the heap top stays in use), then trims. */
const CHILD = `
const rssAnon = () => Number(/^RssAnon:\\s+(\\d+) kB/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const addon = require(process.argv[1]);
const churn = () => {
  const blocks = Array.from({ length: 4000 }, () => Buffer.allocUnsafeSlow(16 * 1024).fill(1));
  return blocks.filter((_, i) => i % 64 === 0);
};
const kept = churn();
gc(); gc();
setTimeout(() => {
  const before = rssAnon();
  const released = addon.trim();
  const after = rssAnon();
  process.stdout.write(JSON.stringify({ before, after, released, kept: kept.length }));
}, 500);
`;

function logTo(lines: string[]) {
  return createLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString('utf8').trim().split('\n'));
        cb();
      },
    }),
  );
}

describe('malloc_trim', () => {
  it('is built, and gives freed memory back to the kernel (RssAnon of a real process)', () => {
    expect(existsSync(ADDON)).toBe(true);
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', CHILD, ADDON], { encoding: 'utf8' });
    const r = JSON.parse(out) as { before: number; after: number; released: boolean };
    expect(r.released).toBe(true);
    expect(r.before - r.after).toBeGreaterThan(30);
  });

  it('the service trims after start and on its interval, logging each trim', async () => {
    expect('trim' in loadMallocTrim()).toBe(true);
    const lines: string[] = [];
    const svc = createMallocTrimService(logTo(lines), { firstDelayMs: 10, intervalMs: 50 });
    await svc.start();
    await new Promise((r) => setTimeout(r, 400));
    await svc.close();
    const trims = lines
      .map((l) => JSON.parse(l) as { msg: string; ms?: number })
      .filter((l) => l.msg === 'malloc_trim');
    expect(trims.length).toBeGreaterThanOrEqual(3);
    expect(typeof trims[0]?.ms).toBe('number');
    const n = trims.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(lines.filter((l) => l.includes('"msg":"malloc_trim"'))).toHaveLength(n);
  });

  it('without the addon the service starts, does nothing and says why', async () => {
    const prev = process.env['STATELESX_MALLOC_TRIM_ADDON'];
    process.env['STATELESX_MALLOC_TRIM_ADDON'] = '/nonexistent/malloc_trim.node';
    try {
      const lines: string[] = [];
      const svc = createMallocTrimService(logTo(lines), { firstDelayMs: 10, intervalMs: 50 });
      await svc.start();
      await new Promise((r) => setTimeout(r, 150));
      await svc.close();
      expect(lines.some((l) => l.includes('"msg":"malloc_trim"'))).toBe(false);
      expect(lines.join('\n')).toMatch(/cannot load \/nonexistent\/malloc_trim\.node/);
    } finally {
      if (prev === undefined) delete process.env['STATELESX_MALLOC_TRIM_ADDON'];
      else process.env['STATELESX_MALLOC_TRIM_ADDON'] = prev;
    }
  });
});
