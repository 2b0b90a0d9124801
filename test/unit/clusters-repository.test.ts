import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ClusterRepository, ClusterFileConflictError } from '../../src/clusters/repository.js';
import { ClusterValidationError } from '../../src/clusters/diagnostics.js';
import { MemberEditError } from '../../src/clusters/edit.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { EXAMPLES_DIR, fixture, mutate } from '../fixtures/clusters/helpers.js';

const CONTEXT = { vcenters: ['vc-prod', 'vc-lab', 'vc-test'], credentials: ['esxi-root'] };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-clusters-'));
  copyFileSync(join(EXAMPLES_DIR, 'prod-cluster.xml'), join(dir, 'prod-cluster.xml'));
  copyFileSync(join(EXAMPLES_DIR, 'lab-cluster.xml'), join(dir, 'lab-cluster.xml'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ClusterRepository', () => {
  it('loads the valid files and keeps the errors of an invalid one without losing the others', async () => {
    writeFileSync(join(dir, 'broken.xml'), mutate(fixture('minimal.xml'), '<members/>', '<members>'));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    writeFileSync(join(dir, '.hidden.xml'), 'ignored');
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    expect(
      repo
        .clusters()
        .map((c) => c.name)
        .sort(),
    ).toEqual(['lab-cluster', 'prod-cluster']);
    expect(repo.get('prod-cluster')!.hosts).toHaveLength(4);
    const invalid = repo.invalid();
    expect(invalid.map((f) => f.name)).toEqual(['broken']);
    expect(invalid[0]!.diagnostics[0]).toMatchObject({ file: join(dir, 'broken.xml'), line: 7 });
    expect(repo.files().map((f) => f.name)).toEqual(['broken', 'lab-cluster', 'prod-cluster']);
  });

  it('checks vCenter and credential names from the configuration', async () => {
    const repo = new ClusterRepository({ dir, context: { vcenters: ['vc-prod'], credentials: ['esxi-root'] } });
    await repo.reload();
    expect(repo.clusters().map((c) => c.name)).toEqual(['prod-cluster']);
    expect(repo.invalid()[0]!.diagnostics[0]!.message).toMatch(/vCenter "vc-lab" is not declared/);
  });

  it('finds a host by UUID in both byte orders', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const smbios = '4c4c4544-0042-3510-8052-b3c04f4e3233';
    const hit = repo.findHostByUuid(smbios.toUpperCase());
    expect(hit?.cluster.name).toBe('prod-cluster');
    expect(hit?.host.fqdn).toBe('esx03.prod.example.com');
    expect(repo.findHostByUuid(swapUuidByteOrder(smbios))?.host.fqdn).toBe('esx03.prod.example.com');
    expect(repo.findHostByUuid('564d7a2e1b3c4d5e8f607a8b9c0d1e02')?.cluster.name).toBe('lab-cluster');
    expect(repo.findHostByUuid('4c4c4544-0042-3510-8052-b3c04f4e9999')).toBeUndefined();
    expect(repo.findHostByUuid('garbage')).toBeUndefined();
  });

  it('marks both files invalid when a UUID is a member of two clusters', async () => {
    const lab = readFileSync(join(dir, 'lab-cluster.xml'), 'utf8');
    writeFileSync(
      join(dir, 'lab-cluster.xml'),
      lab.replace('564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e01', '4c4c4544-0042-3510-8052-b3c04f4e3231'),
    );
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    expect(repo.clusters()).toEqual([]);
    expect(repo.findHostByUuid('4c4c4544-0042-3510-8052-b3c04f4e3231')).toBeUndefined();
    for (const f of repo.invalid())
      expect(f.diagnostics[0]!.message).toMatch(
        /UUID 4c4c4544-0042-3510-8052-b3c04f4e3231 is also a member of cluster/,
      );
  });

  it('putText refuses invalid text and leaves the file untouched', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const original = await repo.getText('lab-cluster');
    const bad = original.replace('<uplink>vmnic0</uplink>', '<uplink>eth0</uplink>');
    const err = await repo.putText('lab-cluster', bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterValidationError);
    expect((err as ClusterValidationError).diagnostics[0]).toMatchObject({
      file: join(dir, 'lab-cluster.xml'),
      line: 17,
      column: 7,
      path: '/cluster/network/vswitch[1]/uplink[1]',
    });
    expect(readFileSync(join(dir, 'lab-cluster.xml'), 'utf8')).toBe(original);
    expect(readdirSync(dir).sort()).toEqual(['lab-cluster.xml', 'prod-cluster.xml']);
  });

  it('putText refuses a file that would conflict with another cluster', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const text = mutate(
      fixture('minimal.xml'),
      '<members/>',
      '<members><host fqdn="dup.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e3231"/></members>',
    );
    await expect(repo.putText('new-cluster', text)).rejects.toThrow(/also a member of cluster "prod-cluster"/);
    expect(readdirSync(dir)).not.toContain('new-cluster.xml');
  });

  it('putText writes valid text atomically and reloads', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const text = mutate(
      fixture('minimal.xml'),
      '<members/>',
      '<members><host fqdn="n1.example.com" uuid="4c4c4544-0042-3510-8052-b3c04f4e4001"/></members>',
    );
    const c = await repo.putText('new-cluster', text);
    expect(c.name).toBe('fx-minimal');
    expect(readFileSync(join(dir, 'new-cluster.xml'), 'utf8')).toBe(text);
    expect(readdirSync(dir).sort()).toEqual(['lab-cluster.xml', 'new-cluster.xml', 'prod-cluster.xml']);
    expect(repo.findHostByUuid('4c4c4544-0042-3510-8052-b3c04f4e4001')?.cluster.name).toBe('fx-minimal');
    expect(await repo.getText('new-cluster.xml')).toBe(text);
  });

  it('putText with ifUnchanged refuses when the file changed underneath', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const seen = await repo.getText('lab-cluster');
    writeFileSync(join(dir, 'lab-cluster.xml'), seen.replace('<!-- Nested', '<!-- edited by hand. Nested'));
    await expect(repo.putText('lab-cluster', seen, { ifUnchanged: seen })).rejects.toBeInstanceOf(
      ClusterFileConflictError,
    );
    expect(readFileSync(join(dir, 'lab-cluster.xml'), 'utf8')).toContain('edited by hand');
  });

  it('refuses file names that are not plain names', async () => {
    const repo = new ClusterRepository({ dir });
    await expect(repo.getText('../etc/passwd')).rejects.toThrow(/not a cluster file name/);
    await expect(repo.putText('a/b', '<x/>')).rejects.toThrow(/not a cluster file name/);
  });

  it('addHost joins a host into a cluster file (one-click join) and finds it afterwards', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const before = await repo.getText('lab-cluster');
    const c = await repo.addHost('lab-cluster', {
      fqdn: 'esx-lab3.lab.example.com',
      uuid: '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e03',
    });
    expect(c.hosts.map((h) => h.fqdn)).toContain('esx-lab3.lab.example.com');
    const after = await repo.getText('lab-cluster');
    expect(after).toBe(
      before.replace(
        'image="ESXi-8.0U3c-24414501-standard"/>',
        'image="ESXi-8.0U3c-24414501-standard"/>\n    <host fqdn="esx-lab3.lab.example.com" uuid="564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e03"/>',
      ),
    );
    expect(repo.findHostByUuid(swapUuidByteOrder('564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e03'))?.cluster.name).toBe(
      'lab-cluster',
    );
    await expect(
      repo.addHost('lab-cluster', { fqdn: 'other.lab.example.com', uuid: '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e03' }),
    ).rejects.toBeInstanceOf(MemberEditError);
    await expect(
      repo.addHost('lab-cluster', { fqdn: 'x.lab.example.com', uuid: '4c4c4544-0042-3510-8052-b3c04f4e3231' }),
    ).rejects.toThrow(/also a member of cluster "prod-cluster"/);
    await expect(
      repo.addHost('nope', { fqdn: 'x.example.com', uuid: '564d7a2e-1b3c-4d5e-8f60-7a8b9c0d1e09' }),
    ).rejects.toThrow(/no valid cluster named "nope"/);
  });

  it('watch reloads when a file changes on disk', async () => {
    const repo = new ClusterRepository({ dir, context: CONTEXT });
    await repo.reload();
    const stop = repo.watch(50);
    try {
      const text = mutate(fixture('minimal.xml'), 'name="fx-minimal"', 'name="watched"');
      writeFileSync(join(dir, 'watched.xml'), text);
      await vi.waitFor(() => expect(repo.get('watched')).toBeDefined(), { timeout: 10_000, interval: 100 });
    } finally {
      stop();
    }
  });

  it('treats a missing directory as empty', async () => {
    const repo = new ClusterRepository({ dir: join(dir, 'missing') });
    await repo.reload();
    expect(repo.files()).toEqual([]);
  });
});
