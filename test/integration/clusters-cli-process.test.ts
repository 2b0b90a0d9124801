/**
 * `statelesx cluster validate` as a real process (node + tsx on src/cli/main.ts): the exit code,
 * the diagnostic on stderr and the ok line on stdout. The command's cases are in
 * test/unit/clusters-cli.test.ts, through its command function.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { EXAMPLES_DIR, fixture, mutate, writeExamplesConfig } from '../fixtures/clusters/helpers.js';

const ROOT = resolve(EXAMPLES_DIR, '..', '..');
const PROD = join(EXAMPLES_DIR, 'prod-cluster.xml');
const tmp = mkdtempSync(join(tmpdir(), 'sx-cluster-cli-process-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('statelesx cluster validate (process)', () => {
  it('runs as a real process: exit code 1 and the diagnostic on stderr', async () => {
    const bad = join(tmp, 'cli-bad.xml');
    writeFileSync(
      bad,
      mutate(fixture('minimal.xml'), '<datacenter>DC0</datacenter>', '<datacenter>&xxe;</datacenter>'),
    );
    const OK_YAML = writeExamplesConfig(tmp);
    const run = promisify(execFile);
    const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    const err = (await run(
      process.execPath,
      ['--import', tsx, join(ROOT, 'src/cli/main.ts'), 'cluster', 'validate', bad],
      {
        cwd: tmp,
        timeout: 60_000,
        env: { ...process.env, STATELESX_CONFIG: '' },
      },
    ).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain(`${bad}:3:15: /cluster/datacenter: entity reference &xxe; is not allowed`);
    const ok = await run(
      process.execPath,
      ['--import', tsx, join(ROOT, 'src/cli/main.ts'), 'cluster', 'validate', '--config', OK_YAML, PROD],
      { cwd: tmp, timeout: 60_000 },
    );
    expect(ok.stdout).toBe(`${PROD}: ok (cluster prod-cluster, 4 hosts)\n`);
  });
});
