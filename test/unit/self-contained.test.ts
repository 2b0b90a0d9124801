/**
 * The repository carries its own test peers: nothing in it may reach outside the clone for the
 * vCenter simulator, the PXE harness or the firmware captures (issue: a fresh clone alone must pass
 * `scripts/install-test-deps && npm test`). Scans every file git tracks.
 */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
/** The sibling folder of the workplace that the repository must not depend on, spelled so this file does not match. */
const OUTSIDE = ['..', 'shared'].join('/');

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
}

describe('self-contained repository', () => {
  it('no tracked file refers to the shared folder beside the repository', () => {
    const offenders: string[] = [];
    for (const f of trackedFiles()) {
      const p = join(ROOT, f);
      if (!existsSync(p) || !statSync(p).isFile()) continue;
      const text = readFileSync(p, 'latin1');
      text.split('\n').forEach((line, i) => {
        if (line.includes(OUTSIDE)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('the test peers live in the repository', () => {
    for (const f of [
      'test/peers/vcsim/start',
      'test/peers/vcsim/main.go',
      'test/peers/pxe-boot-check/pxe-boot-check',
      'test/fixtures/pxe-captures/bios-seabios-ipxe.pcap',
      'test/fixtures/pxe-captures/uefi-ovmf-ipxe.pcap',
      'test/fixtures/pxe-captures/uefi-ovmf-native-pxe.pcap',
    ]) {
      expect(trackedFiles(), f).toContain(f);
    }
  });
});
