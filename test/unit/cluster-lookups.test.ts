/**
 * The one adapter from cluster files to lookups (src/app/cluster-lookups.ts) answers the same over
 * the server's ClusterRepository (files on disk) and over a fixed list (CLI, tests): exact UUID
 * spelling for the policy, registry and engine, any MAC spelling for `byMac`.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { clusterLookups, fixedClusterFiles, type ClusterLookups } from '../../src/app/cluster-lookups.js';
import { swapUuidByteOrder } from '../../src/hosts/identity.js';
import { clusterRepo } from '../helpers/web.js';

const U1 = '4c4c4544-0042-3510-8052-b2c04f4e3232';
const U2 = '4c4c4544-0042-3510-8052-b2c04f4e3233';
const MAC = '52:54:00:aa:bb:01';

const XML = `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="prod">
  <datacenter>DC0</datacenter>
  <vcenter>vc-test</vcenter>
  <credentials>esxi-root</credentials>
  <defaultImage>ESXi-8</defaultImage>
  <members>
    <host fqdn="esx1.lab" uuid="${U1}" mac="${MAC.toUpperCase()}"/>
    <host fqdn="esx2.lab" uuid="${U2}" image="ESXi-7"/>
  </members>
</cluster>
`;

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));

async function bothSources(): Promise<Array<[string, ClusterLookups]>> {
  const { repo, cleanup } = await clusterRepo({ 'prod.xml': XML });
  cleanups.push(cleanup);
  expect(repo.invalid().flatMap((f) => f.diagnostics.map((d) => d.message))).toEqual([]);
  return [
    ['repository', clusterLookups(repo)],
    ['fixed list', clusterLookups(fixedClusterFiles(repo.clusters()))],
  ];
}

describe('clusterLookups', () => {
  it('matches the SMBIOS spelling the file holds, not its wire order, everywhere', async () => {
    for (const [what, l] of await bothSources()) {
      expect(l.policy(U1), what).toEqual({ cluster: 'prod', defaultImage: 'ESXi-8' });
      expect(l.policy(U2), what).toEqual({ cluster: 'prod', image: 'ESXi-7', defaultImage: 'ESXi-8' });
      expect(l.policy(swapUuidByteOrder(U1)), what).toBeUndefined();
      expect(l.declared(U1), what).toMatchObject({ cluster: 'prod', fqdn: 'esx1.lab' });
      expect(l.declared(swapUuidByteOrder(U1)), what).toBeUndefined();
      expect(l.engine.findByHost(U2)?.name, what).toBe('prod');
      expect(l.engine.findByHost(swapUuidByteOrder(U2)), what).toBeUndefined();
      expect(l.engine.get('prod')?.hosts.length, what).toBe(2);
      expect(l.kickstartTemplate('prod'), what).toBeUndefined();
    }
  });

  it('finds a member by its declared mac= in any spelling', async () => {
    for (const [what, l] of await bothSources()) {
      expect(l.policy.byMac(MAC), what).toBe(U1);
      expect(l.policy.byMac('52-54-00-AA-BB-01'), what).toBe(U1);
      expect(l.policy.byMac('52:54:00:aa:bb:02'), what).toBeUndefined();
    }
  });
});
