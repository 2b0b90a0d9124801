import { describe, it, expect } from 'vitest';
import { readAheadFor } from '../../src/boot/tftp/transfer.js';

describe('TFTP read-ahead under load', () => {
  it('gives 128 KiB while few transfers run and shares a 16 MiB budget in a storm, never below 16 KiB', () => {
    expect(readAheadFor(0)).toBe(128 * 1024);
    expect(readAheadFor(127)).toBe(128 * 1024);
    expect(readAheadFor(499)).toBe(Math.floor((16 * 1024 * 1024) / 500));
    expect(500 * readAheadFor(499)).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(readAheadFor(10_000)).toBe(16 * 1024);
  });
});
