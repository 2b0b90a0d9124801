import { describe, it, expect } from 'vitest';
import { readAheadFor } from '../../src/boot/tftp/contract.js';

describe('TFTP read-ahead under load', () => {
  it('gives 128 KiB while few transfers run and shares an 8 MiB budget in a storm, never below 16 KiB', () => {
    expect(readAheadFor(0)).toBe(128 * 1024);
    expect(readAheadFor(63)).toBe(128 * 1024);
    expect(readAheadFor(299)).toBe(Math.floor((8 * 1024 * 1024) / 300));
    expect(300 * readAheadFor(299)).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(readAheadFor(999)).toBe(16 * 1024);
    expect(readAheadFor(10_000)).toBe(16 * 1024);
  });
});
