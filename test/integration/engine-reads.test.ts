/**
 * The engine's vCenter adapter (src/engine/vsphere-adapter.ts) against the vCenter simulator:
 * SOAP calls per read pass (cold, warm, whole cluster) counted by the client, the same state from
 * every read path, cached identities dropped when they no longer hold, and one CreateClusterEx
 * per (folder, name) when jobs race to create the same cluster.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { connectVcenter, type VsphereVcenter } from '../../src/engine/vsphere-adapter.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { DuplicateName } from '../../src/vsphere/faults.js';
import type { ClusterSpec } from '../../src/engine/plan.js';

const U1 = '4c4c4544-0031-3510-8052-d1c04f303031';
const U2 = '4c4c4544-0031-3510-8052-d1c04f303032';
const U3 = '4c4c4544-0031-3510-8052-d1c04f303033';
const U4 = '4c4c4544-0031-3510-8052-d1c04f303034';
const KEY = 'UserVars.SuppressShellWarning';
const env = { SX_VC_PW: 'vcpass' };
const spec: ClusterSpec = { drsConfig: { enabled: true, defaultVmBehavior: 'partiallyAutomated', vmotionRate: 2 } };

function config(sim: Vcsim): Config {
  return configSchema.parse({
    ...vcenterConfigFor(sim),
  });
}

/** POSTs to a simulator test hook over TLS pinned to the simulator's thumbprint; returns the HTTP status. */
function simHook(sim: Vcsim, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${sim.baseUrl}${path}`,
      { method: 'POST', rejectUnauthorized: false, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('socket', (sock) => {
      sock.once('secureConnect', () => {
        const fp = (sock as TLSSocket).getPeerCertificate().fingerprint;
        if (fp !== sim.thumbprint)
          req.destroy(new Error(`simulator certificate ${fp} is not the pinned ${sim.thumbprint}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error('simulator hook timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Calls made by `fn`, by method (zero counts left out). */
async function callsOf(vc: VsphereVcenter, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = vc.calls().byMethod;
  await fn();
  const after = vc.calls().byMethod;
  const out: Record<string, number> = {};
  for (const [m, n] of Object.entries(after)) if (n - (before[m] ?? 0) > 0) out[m] = n - (before[m] ?? 0);
  return out;
}

describe('engine vCenter adapter: read passes and cluster creation on vcsim', () => {
  let sim: Vcsim;
  let cfg: Config;
  beforeAll(async () => {
    sim = await startVcsim([
      '-host-uuid',
      `esx1.reads.example=${U1}`,
      '-host-uuid',
      `esx2.reads.example=${U2}`,
      '-host-uuid',
      `esx3.reads.example=${U3}`,
    ]);
    cfg = config(sim);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('one host: cold read 5 calls, warm read 1 RetrievePropertiesEx, whole cluster 4 calls; all give the same state', async () => {
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    const empty = await vc.readState('DC0', 'reads', [U1], [KEY]);
    expect(empty.cluster.clusterRef).toBeUndefined();
    expect(empty.hosts[U1]).toBeUndefined();
    const clusterRef = await vc.createClusterEx(empty.cluster.hostFolderRef!, 'reads', spec);
    for (const fqdn of ['esx1.reads.example', 'esx2.reads.example'])
      await vc.addHost(clusterRef, { hostName: fqdn, userName: 'root', password: 'x' }, true);
    const h1 = (await vc.readState('DC0', 'reads', [U1], [KEY])).hosts[U1]!;
    await vc.updateOptions(h1.refs.advancedOption!, [{ key: KEY, value: 1, type: 'long' }]);

    // a fresh connection: nothing cached → FindByInventoryPath ×2, FindByUuid, one RetrievePropertiesEx, one readAdvancedOptions
    const cold = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    let first!: Awaited<ReturnType<VsphereVcenter['readState']>>;
    expect(
      await callsOf(cold, async () => {
        first = await cold.readState('DC0', 'reads', [U1], [KEY]);
      }),
    ).toEqual({ FindByInventoryPath: 2, FindByUuid: 1, RetrievePropertiesEx: 2 });
    expect(first.cluster.clusterRef).toBe(clusterRef);
    expect(first.cluster.config?.drsConfig).toEqual({
      enabled: true,
      defaultVmBehavior: 'partiallyAutomated',
      vmotionRate: 2,
    });
    expect(first.hosts[U1]).toMatchObject({ uuid: U1, parentRef: clusterRef, name: 'esx1.reads.example' });
    expect(String(first.hosts[U1]!.advanced[KEY])).toBe('1');

    // warm: datacenter, cluster, host and its option manager in ONE call, same state
    let second!: typeof first;
    expect(
      await callsOf(cold, async () => {
        second = await cold.readState('DC0', 'reads', [U1], [KEY]);
      }),
    ).toEqual({ RetrievePropertiesEx: 1 });
    expect(second).toEqual(first);

    // several hosts: read.readCluster (hosts by traversal) + one readAdvancedOptions for both
    let both!: typeof first;
    expect(
      await callsOf(cold, async () => {
        both = await cold.readState('DC0', 'reads', [U1, U2], [KEY]);
      }),
    ).toEqual({ FindByInventoryPath: 2, RetrievePropertiesEx: 2 });
    expect(both.cluster).toEqual(first.cluster);
    expect(both.hosts[U1]).toEqual(first.hosts[U1]);
    expect(both.hosts[U2]).toMatchObject({ uuid: U2, parentRef: clusterRef });

    // readHost of a host whose option manager is known: one call
    expect(await callsOf(cold, () => cold.readHost(first.hosts[U1]!.refs.host, [KEY]))).toEqual({
      RetrievePropertiesEx: 1,
    });
    await cold.close();
    await vc.close();
  }, 120_000);

  it('racing CreateClusterEx for one cluster reaches vCenter once; a cached host identity that no longer holds is dropped', async () => {
    const vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
    const dc = await vc.readState('DC0', 'race', [], []);
    expect(dc.cluster.clusterRef).toBeUndefined();
    let results!: PromiseSettledResult<string>[];
    const calls = await callsOf(vc, async () => {
      results = await Promise.allSettled(
        [0, 1, 2, 3].map(() => vc.createClusterEx(dc.cluster.hostFolderRef!, 'race', spec)),
      );
    });
    expect(calls).toEqual({ CreateClusterEx: 1 });
    const ok = results.filter((r): r is PromiseFulfilledResult<string> => r.status === 'fulfilled');
    const dup = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(dup).toHaveLength(3);
    for (const d of dup) expect(d.reason).toBeInstanceOf(DuplicateName);
    const ref = ok[0]!.value;
    expect((await vc.readState('DC0', 'race', [], [])).cluster.clusterRef).toBe(ref);

    // a cached host identity is verified in the read: the host's UUID changes behind the adapter's back
    await vc.addHost(ref, { hostName: 'esx3.reads.example', userName: 'root', password: 'x' }, true);
    const h3 = (await vc.readState('DC0', 'race', [U3], [])).hosts[U3];
    expect(h3).toMatchObject({ uuid: U3, parentRef: ref });
    expect(await simHook(sim, `/vcsim-test/host-uuid?name=esx3.reads.example&uuid=${U4}`)).toBe(200);
    expect((await vc.readState('DC0', 'race', [U3], [])).hosts[U3]).toBeUndefined();
    expect((await vc.readState('DC0', 'race', [U4], [])).hosts[U4]).toMatchObject({
      uuid: U4,
      refs: { host: h3!.refs.host },
    });
    await vc.close();
  }, 120_000);
});
