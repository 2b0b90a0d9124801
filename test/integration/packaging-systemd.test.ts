/**
 * packaging/statelesx.service, checked by systemd's own tools (no running systemd needed):
 * `systemd-analyze verify` (syntax, directive values, the ExecStart binary) must print nothing,
 * and `systemd-analyze security --offline` rates its sandbox. A copy with a misspelt directive
 * proves the check sees what systemd only warns about. The unit's paths are held against the
 * packaged configuration (docker/statelesx.yaml, installed as /etc/statelesx/statelesx.yaml):
 * every directory the server writes is writable, nothing else is.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parse } from 'yaml';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = readFileSync(join(ROOT, 'packaging', 'statelesx.service'), 'utf8');
const config = parse(readFileSync(join(ROOT, 'docker', 'statelesx.yaml'), 'utf8')) as Record<string, unknown>;

/** `Key=value` lines of the unit (comments dropped), each key's values in order. */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}
const d = directives(UNIT);
const one = (key: string): string | undefined => d.get(key)?.at(-1);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `unit` as `<dir>/<name>.service`, ExecStart's node pointed at this test's node when /usr/bin/node is absent. */
function unitFile(name: string, unit: string): string {
  const p = join(dir, `${name}.service`);
  writeFileSync(p, existsSync('/usr/bin/node') ? unit : unit.replaceAll('/usr/bin/node', process.execPath));
  return p;
}

/** Runs systemd-analyze; exit code and both streams. */
async function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec('systemd-analyze', args, { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT')
      throw new Error('systemd-analyze is missing: run scripts/install-test-deps', { cause: e });
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('packaging/statelesx.service', () => {
  it('systemd-analyze verify accepts it without a single warning', async () => {
    const r = await analyze(['verify', '--man=no', unitFile('statelesx', UNIT)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the check catches what systemd only warns about (a misspelt directive, a bad value)', async () => {
    const bad = UNIT.replace(/^NoNewPrivileges=yes$/m, 'NoNewPrivilege=yes').replace(
      /^ProtectSystem=strict$/m,
      'ProtectSystem=very',
    );
    const r = await analyze(['verify', '--man=no', unitFile('statelesx-bad', bad)]);
    expect(r.stderr).toContain("Unknown key 'NoNewPrivilege'");
    expect(r.stderr).toMatch(/protect ?system value/i);
  });

  it('runs as the dedicated user with CAP_NET_BIND_SERVICE only, restarts on failure', () => {
    expect(one('User')).toBe('statelesx');
    expect(one('Group')).toBe('statelesx');
    expect(one('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('Restart')).toBe('on-failure');
    expect(one('ExecStart')).toMatch(
      / \/opt\/statelesx\/dist\/cli\/main\.js serve --config \/etc\/statelesx\/statelesx\.yaml$/,
    );
  });

  it('ProtectSystem=strict with exactly the directories the packaged configuration writes made writable', () => {
    expect(one('ProtectSystem')).toBe('strict');
    const writable = [
      ...(d.get('StateDirectory') ?? []).flatMap((v) => v.split(/\s+/)).map((s) => `/var/lib/${s}`),
      ...(d.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/)).map((s) => s.replace(/^-/, '')),
    ];
    const written = ['data-dir', 'clusters-dir', 'images-dir'].map((k) => config[k] as string);
    expect(writable.sort()).toEqual(written.sort());
    // read-only inputs stay read-only
    for (const k of ['tftp-root', 'templates-dir', 'pxelinux-cfg-dir']) {
      const p = config[k] as string;
      expect(
        writable.some((w) => p === w || p.startsWith(w + '/')),
        `${k} ${p}`,
      ).toBe(false);
    }
  });

  it('systemd-analyze security rates the sandbox OK (exposure at most 2.5 of 10)', async () => {
    const r = await analyze(['security', '--offline=yes', '--no-pager', unitFile('statelesx', UNIT)]);
    const m = /Overall exposure level for statelesx\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.5);
  });
});
