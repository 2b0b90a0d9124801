/**
 * Cluster files shared by several servers (issue 18, item 6): two clusters directories (servers A
 * and B, each with its git history) follow one real PostgreSQL (`cluster_files`, the source of
 * truth) through src/clusters/shared.ts. A save on A is the file B loads; a deletion travels; two
 * servers saving one file at once cannot both win (the loser gets ClusterFileConflictError and
 * the winner's text); a hand edit is published; the store's repository runs on both dialects.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterFileConflictError, ClusterRepository } from '../../src/clusters/repository.js';
import { ClusterFileSync, textSha256 } from '../../src/clusters/shared.js';
import { ClusterFileRepo } from '../../src/store/cluster-files.js';
import { silentLogger } from '../../src/log.js';
import { EXAMPLES_DIR } from '../fixtures/clusters/helpers.js';
import { STORE_DIALECTS, useStores } from '../helpers/stores.js';

const CONTEXT = { vcenters: ['vc-prod', 'vc-lab', 'vc-test'], credentials: ['esxi-root'] };
const fresh = useStores();
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sx-shared-clusters-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** One server: its clusters directory, repository (with history) and sync. */
async function server(
  name: string,
  store: ClusterFileRepo,
): Promise<{ repo: ClusterRepository; sync: ClusterFileSync }> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const ref: { sync?: ClusterFileSync } = {};
  const repo = new ClusterRepository({
    dir,
    context: CONTEXT,
    history: true,
    afterWrite: async (file, author) => ref.sync?.published(file, author),
  });
  await repo.reload();
  const sync = (ref.sync = new ClusterFileSync(repo, store, name, silentLogger));
  await sync.syncOnce();
  return { repo, sync };
}

const prod = () => readFileSync(join(EXAMPLES_DIR, 'prod-cluster.xml'), 'utf8');
const alice = { author: { name: 'alice' } };
const bob = { author: { name: 'bob' } };

describe.each(STORE_DIALECTS)('ClusterFileRepo on %s', (dialect) => {
  it('compare-and-set: a write from a stale version is a conflict and changes nothing', async () => {
    const repo = new ClusterFileRepo(await fresh(dialect));
    const w = (xml: string | null, by = 'alice') => ({
      name: 'prod',
      xml,
      sha256: textSha256(xml),
      updatedAt: 1,
      updatedBy: by,
      origin: 'a',
    });
    expect(await repo.put(w('<one/>'), undefined)).toBe('ok');
    expect(await repo.put(w('<two/>'), undefined)).toBe('conflict');
    expect(await repo.put(w('<two/>'), textSha256('<one/>'))).toBe('ok');
    expect(await repo.put(w('<three/>', 'bob'), textSha256('<one/>'))).toBe('conflict');
    expect(await repo.put(w(null), textSha256('<two/>'))).toBe('ok');
    expect(await repo.heads()).toEqual([
      { name: 'prod', sha256: '', deleted: true, updatedAt: 1, updatedBy: 'alice', origin: 'a' },
    ]);
    expect((await repo.get('prod'))?.xml).toBeNull();
  });
});

describe('two servers, one PostgreSQL', () => {
  it('a save on A is the file B loads, with A’s author in B’s history; a deletion travels', async () => {
    const sql = await fresh('postgres');
    const a = await server('a', new ClusterFileRepo(sql));
    const b = await server('b', new ClusterFileRepo(fresh.peer(sql)));
    await a.repo.putText('prod-cluster', prod(), { change: alice });
    expect(b.repo.get('prod-cluster')).toBeUndefined();
    expect((await b.sync.syncOnce()).pulled).toEqual(['prod-cluster']);
    expect(b.repo.get('prod-cluster')?.hosts).toHaveLength(4);
    expect(readFileSync(join(root, 'b', 'prod-cluster.xml'), 'utf8')).toBe(prod());
    const versions = await b.repo.history!.versions('prod-cluster.xml');
    expect(versions[0]).toMatchObject({ author: 'alice', message: 'update prod-cluster.xml (from the shared store)' });

    await a.repo.remove('prod-cluster', alice);
    await b.sync.syncOnce();
    expect(existsSync(join(root, 'b', 'prod-cluster.xml'))).toBe(false);
    expect(b.repo.get('prod-cluster')).toBeUndefined();
  });

  it('saving one file on both servers at once: one wins, the other gets a conflict and the winner’s text', async () => {
    const sql = await fresh('postgres');
    const a = await server('a', new ClusterFileRepo(sql));
    const b = await server('b', new ClusterFileRepo(fresh.peer(sql)));
    await a.repo.putText('prod-cluster', prod(), { change: alice });
    await b.sync.syncOnce();
    const fromA = prod().replace('esx03.prod.example.com', 'esx03a.prod.example.com');
    const fromB = prod().replace('esx03.prod.example.com', 'esx03b.prod.example.com');
    await a.repo.putText('prod-cluster', fromA, { change: alice });
    await expect(b.repo.putText('prod-cluster', fromB, { change: bob })).rejects.toBeInstanceOf(
      ClusterFileConflictError,
    );
    // B now holds A's text (its own save stays in its git history), and so does the store.
    expect(readFileSync(join(root, 'b', 'prod-cluster.xml'), 'utf8')).toBe(fromA);
    expect((await new ClusterFileRepo(sql).get('prod-cluster'))?.xml).toBe(fromA);
    const bHistory = await b.repo.history!.versions('prod-cluster.xml');
    expect(bHistory.map((v) => v.author).slice(0, 2)).toEqual(['alice', 'bob']);
  });

  it('a hand edit on one server is published; a new server with an empty directory gets every file', async () => {
    const sql = await fresh('postgres');
    const a = await server('a', new ClusterFileRepo(sql));
    copyFileSync(join(EXAMPLES_DIR, 'lab-cluster.xml'), join(root, 'a', 'lab-cluster.xml'));
    await a.repo.reload();
    expect((await a.sync.syncOnce()).pushed).toEqual(['lab-cluster']);
    const c = await server('c', new ClusterFileRepo(fresh.peer(sql)));
    expect(c.repo.clusters().map((x) => x.name)).toEqual(['lab-cluster']);
    // An edit made on A's disk while C was told nothing: C follows at its next pass.
    writeFileSync(join(root, 'a', 'lab-cluster.xml'), readFileSync(join(root, 'a', 'lab-cluster.xml'), 'utf8') + '\n');
    await a.sync.syncOnce();
    await c.sync.syncOnce();
    expect(readFileSync(join(root, 'c', 'lab-cluster.xml'), 'utf8')).toBe(
      readFileSync(join(root, 'a', 'lab-cluster.xml'), 'utf8'),
    );
  });
});
