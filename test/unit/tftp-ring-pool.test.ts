import { describe, it, expect } from 'vitest';
import { RingPool } from '../../src/boot/tftp/ring-pool.js';

describe('TFTP ring pool', () => {
  it('rounds up to powers of two (at least 4 KiB) and reuses a returned ring of the same size', () => {
    const p = new RingPool(1024 * 1024);
    const a = p.acquire(89 * 1472);
    expect(a.length).toBe(131072);
    expect(p.acquire(1).length).toBe(4096);
    p.release(a);
    expect(p.idleBytes).toBe(131072);
    expect(p.acquire(100_000)).toBe(a);
    expect(p.idleBytes).toBe(0);
  });

  it('keeps no more than its free cap; beyond it rings are dropped', () => {
    const p = new RingPool(256 * 1024);
    const rings = [p.acquire(131072), p.acquire(131072), p.acquire(131072)];
    for (const r of rings) p.release(r);
    expect(p.idleBytes).toBe(256 * 1024);
    const again = [p.acquire(131072), p.acquire(131072), p.acquire(131072)];
    expect(again.filter((r) => rings.includes(r))).toHaveLength(2);
  });
});
