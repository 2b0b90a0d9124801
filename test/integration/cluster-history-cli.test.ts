/**
 * `statelesx cluster history|diff|revert` as real processes (node + tsx on src/cli/main.ts) on
 * the clusters directory of a configuration, checked with the git command: the versions with their
 * authors, the unified diff and its exit code, revert as a new commit by `cli:<login>`, revert of
 * a version that does not validate refused (exit 1, nothing written), and revert refused while a
 * server holds the data-dir.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tmpdir, userInfo } from 'node:os';
import { promisify } from 'node:util';
import { ClusterRepository } from '../../src/clusters/repository.js';
import { lockDataDir } from '../../src/store/datadir-lock.js';
import { clusterXml } from '../helpers/web.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const UUID_A = '4c4c4544-0033-4810-8052-b4c04f4e3432';

/** `statelesx ARGS --config CONFIG` as a process; resolves with the exit code, never rejects on one. */
async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  try {
    const r = await run(
      process.execPath,
      ['--import', tsx, join(ROOT, 'src/cli/main.ts'), ...args, '--config', join(cwd, 'statelesx.yaml')],
      { cwd, timeout: 60_000, env: { ...process.env, STATELESX_CONFIG: '' } },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    if (typeof x.code !== 'number') throw e;
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await run('git', ['-C', dir, ...args], { timeout: 30_000 })).stdout.trim();
}

describe('statelesx cluster history, diff, revert (processes, local clusters directory)', { timeout: 300_000 }, () => {
  let dir: string;
  let clusters: string;
  const v1 = clusterXml('lab');
  const v2 = clusterXml('lab', [{ fqdn: 'esx1.example.com', uuid: UUID_A }]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-cluster-history-cli-'));
    clusters = join(dir, 'clusters');
    mkdirSync(clusters);
    writeFileSync(
      join(dir, 'statelesx.yaml'),
      [
        'clusters-dir: ./clusters',
        'data-dir: ./data',
        'images-dir: ./images',
        'vcenters:',
        '  - { name: vc-test, url: "https://vc.example.com/sdk", username: svc, password-env: VC_TEST_PASSWORD }',
        'credentials:',
        '  - { name: esxi-root, username: root, password-env: ESXI_ROOT_PASSWORD }',
        '',
      ].join('\n'),
    );
    writeFileSync(join(clusters, 'lab.xml'), v1);
    // A save as the server makes it: the first use creates the repository.
    const repo = new ClusterRepository({
      dir: clusters,
      context: { vcenters: ['vc-test'], credentials: ['esxi-root'] },
      history: true,
    });
    await repo.reload();
    await repo.putText('lab', v2, { change: { author: { name: 'alice' } } });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the versions and diffs them', async () => {
    const ids = (await git(clusters, 'log', '--format=%H')).split('\n');
    const json = await cli(dir, 'cluster', 'history', 'lab', '--json');
    expect(json.code, json.stderr).toBe(0);
    const versions = JSON.parse(json.stdout) as Array<{ id: string; author: string; message: string }>;
    expect(versions.map((v) => [v.id, v.author, v.message])).toEqual([
      [ids[0], 'alice', 'update lab.xml'],
      [ids[1], 'statelesx', 'on-disk change detected: lab.xml'],
    ]);
    const table = await cli(dir, 'cluster', 'history', 'lab');
    expect(table.stdout.split('\n')[0]).toMatch(
      new RegExp(`^${ids[0]!.slice(0, 12)}  \\S+ \\S+Z  alice +update lab.xml$`),
    );

    const diff = await cli(dir, 'cluster', 'diff', 'lab', ids[1]!.slice(0, 7), ids[0]!);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain(`--- a/lab.xml\t${ids[1]}\n+++ b/lab.xml\t${ids[0]}\n`);
    expect(diff.stdout).toContain('-  <members/>\n+  <members>\n+    <host fqdn="esx1.example.com"');
    const same = await cli(dir, 'cluster', 'diff', 'lab', ids[0]!);
    expect(same.code, same.stderr).toBe(0);
    const unknown = await cli(dir, 'cluster', 'diff', 'lab', 'abcdef12');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('"abcdef12" is not a commit of the cluster history');
  });

  it('reverts as a new commit by cli:<login>; refuses an invalid version and while a server runs', async () => {
    const first = await git(clusters, 'rev-list', '--max-parents=0', 'HEAD');
    const ok = await cli(dir, 'cluster', 'revert', 'lab', first);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`cluster lab reverted to ${first.slice(0, 12)} (a new commit)\n`);
    expect(readFileSync(join(clusters, 'lab.xml'), 'utf8')).toBe(v1);
    expect(await git(clusters, 'log', '-1', '--format=%an|%s')).toBe(
      `cli:${userInfo().username}|revert cluster lab to ${first.slice(0, 12)}`,
    );

    // A hand edit that does not validate is committed when the directory is next loaded.
    writeFileSync(join(clusters, 'lab.xml'), v1.replace('vc-test', 'vc-nowhere'));
    expect((await cli(dir, 'cluster', 'history', 'lab')).code).toBe(0);
    const bad = await git(clusters, 'rev-parse', 'HEAD');
    expect(await git(clusters, 'log', '-1', '--format=%an|%s')).toBe('statelesx|on-disk change detected: lab.xml');
    writeFileSync(join(clusters, 'lab.xml'), v2);
    expect((await cli(dir, 'cluster', 'history', 'lab')).code).toBe(0);
    const head = await git(clusters, 'rev-parse', 'HEAD');
    const refused = await cli(dir, 'cluster', 'revert', 'lab', bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`does not validate; nothing was saved`);
    expect(refused.stderr).toMatch(/lab\.xml:4:\d+: \/cluster\/vcenter: .*vc-nowhere/);
    expect(await git(clusters, 'rev-parse', 'HEAD')).toBe(head);
    expect(readFileSync(join(clusters, 'lab.xml'), 'utf8')).toBe(v2);

    const lock = lockDataDir(join(dir, 'data'), 'server');
    try {
      const busy = await cli(dir, 'cluster', 'revert', 'lab', first);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/a statelesx server \(pid \d+\) is using/);
      expect(await git(clusters, 'rev-parse', 'HEAD')).toBe(head);
    } finally {
      lock.release();
    }
  });
});
