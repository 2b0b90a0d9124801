/**
 * Issue 21: "The simulator restarted during a rejoin (same hosts): the job resumes and finishes."
 *
 * The vCenter simulator runs with `-state DIR` (test/peers/vcsim/extend_state.go: every change
 * journaled before its answer, replayed at start; what vpxd does with the VCDB). A member joins
 * and converges; it reboots (the simulator's stateless reboot hook) and phones home through the
 * real HostRegistry, which queues its rejoin. `-method-delay UpdateDateTimeConfig:3000` holds the
 * rejoin at a known point — after ReconnectHost_Task and the networking, in the NTP step — and the
 * test kills the simulator there (SIGKILL: the call in flight is never answered). The job sees
 * vCenter gone and retries (src/engine/job-faults.ts); the simulator starts again on the same ports
 * with the same state; the job resumes from what vCenter has (no second ReconnectHost_Task, no
 * AddHost_Task, the networking not redone) and ends succeeded, the host connected under its old
 * MoRef, the networking read back equal to the cluster file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { networkedCluster } from '../helpers/desired-cluster.js';
import { lifecycleRegistry, lifecycleRunner } from '../helpers/lifecycle-rig.js';
import { initiatorPhoneHome } from '../helpers/phone-home.js';
import { startVcsim, vcenterConfigFor, type HostThumbprints, type Vcsim } from '../helpers/vcsim.js';
import { waitFor } from '../helpers/wait.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { ClusterSource, JobRunner } from '../../src/engine/jobs.js';
import { connectVcenter } from '../../src/engine/vsphere-adapter.js';
import type { VsphereVcenter } from '../../src/engine/vsphere-adapter.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import type { HostRegistry } from '../../src/hosts/registry.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { planCluster } from '../../src/engine/plan.js';
import type { DesiredCluster, MemberHost } from '../../src/clusters/types.js';

const H: MemberHost = {
  fqdn: 'esx-r1.lab.local',
  uuid: '4c4c4544-0021-3510-8052-e1c04f3030a1',
  addresses: { vmk1: '10.0.20.41' },
};
const D: DesiredCluster = networkedCluster({ name: 'restart', hosts: [H] });
/** The step the simulator holds for 3 s: the test stops vCenter while it is in flight. */
const SLOW = 'UpdateDateTimeConfig';

let stateDir: string;
let sim: Vcsim;
let store: Store;
let runner: JobRunner;
let registry: HostRegistry;
let tokens: BootTokens;
let vc: VsphereVcenter;
const env = { SX_VC_PW: 'unused', SX_ESX_PW: 'Configured-Root-Pw1!' };

/** The simulator's flags: the same at every start, only the ports are pinned after the first. */
function simArgs(ports?: { sdk: string; esx: string }): string[] {
  return [
    '-state',
    stateDir,
    '-host-uuid',
    `${H.fqdn}=${H.uuid}`,
    '-method-delay',
    `${SLOW}:3000`,
    ...(ports ? ['-l', `127.0.0.1:${ports.sdk}`, '-esx-listen', `127.0.0.1:${ports.esx}`] : []),
  ];
}

/** The host phones home as initiator.py does: its UUID, a fresh boot token, its certificate's thumbprints. */
async function phoneHome(t: HostThumbprints): Promise<string> {
  const r = await registry.phoneHome(initiatorPhoneHome(H, await tokens.issue(H.uuid), t));
  expect(r.result).toBe('ok');
  return (r as { jobId: string }).jobId;
}

/** Reads the member back from vCenter and plans it against the file: [] = converged. */
async function readBack() {
  const state = await vc.readState(D.datacenter, D.name, [H.uuid], ['UserVars.SuppressShellWarning']);
  return { host: state.hosts[H.uuid]!, steps: planCluster(D, state) };
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'sx-vcsim-state-'));
  sim = await startVcsim(simArgs());
  const cfg = configSchema.parse({
    ...vcenterConfigFor(sim),
    engine: { 'max-attempts': 8, 'esxi-sdk-url': sim.esxSdkUrl },
  });
  env.SX_VC_PW = sim.password;
  store = await openStore(':memory:');
  const source: ClusterSource = {
    get: (n) => (n === D.name ? D : undefined),
    findByHost: (u) => (u === H.uuid ? D : undefined),
  };
  runner = await lifecycleRunner({ store, config: cfg, clusters: source, env, retryBaseMs: 250 });
  tokens = new BootTokens(store.tokens, 3_600_000);
  registry = lifecycleRegistry(store, tokens, runner, source);
  vc = await connectVcenter(cfg.vcenters[0]!, silentLogger, env);
}, 200_000);

afterAll(async () => {
  await runner?.close();
  await vc?.close();
  store?.close();
  await sim?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('vCenter restarted during a rejoin (simulator -state: same hosts)', () => {
  it('the rejoin sees vCenter down, resumes once it is back and finishes: connected, networking equal to the file', async () => {
    // first boot: joined and converged
    const first = await runner.wait(await phoneHome(await sim.boot(H.fqdn)));
    expect(first.error).toBeNull();
    expect(first.state).toBe('succeeded');
    const joined = await readBack();
    expect(joined).toMatchObject({ steps: [], host: { connectionState: 'connected' } });
    const moref = joined.host.refs.host;

    // reboot; the phone-home of the new boot queues the rejoin
    const t = await sim.reboot(H.fqdn);
    expect((await readBack()).host.connectionState).toBe('notResponding');
    const id = await phoneHome(t);
    const steps = () => store.jobs.steps(id);
    await waitFor(
      `the rejoin to reach ${SLOW}`,
      async () => (await steps()).some((s) => s.name === SLOW && s.state === 'running'),
      60_000,
    );
    const beforeStop = (await steps()).filter((s) => s.state === 'done').map((s) => s.name);
    expect(beforeStop).toContain('ReconnectHost_Task');
    expect(beforeStop).toContain('AddVirtualSwitch');

    // vCenter stops with the NTP step in flight
    await sim.kill();
    await waitFor(
      'the job to see vCenter down and schedule a retry',
      async () => (await store.jobs.logs(id)).some((l) => l.level === 'warn' && /retrying in \d+ ms/.test(l.msg)),
      10_000,
    );
    expect((await store.jobs.get(id))?.state).toBe('running');

    // the same vCenter comes back: same ports, same state directory
    const ports = { sdk: new URL(sim.sdkUrl).port, esx: new URL(sim.esxSdkUrl).port };
    sim = await startVcsim(simArgs(ports));
    expect(sim.sdkUrl).toBe(`https://127.0.0.1:${ports.sdk}/sdk`);

    const job = await runner.wait(id);
    expect(job.error).toBeNull();
    expect(job.state).toBe('succeeded');
    const all = await store.jobs.steps(id);
    const done = all.filter((s) => s.state === 'done').map((s) => s.name);
    // resumed from what vCenter kept: reconnected once, never re-added, the networking not redone
    expect(done.filter((n) => n === 'ReconnectHost_Task')).toHaveLength(1);
    expect(done).not.toContain('AddHost_Task');
    expect(done.filter((n) => n === 'AddVirtualSwitch')).toHaveLength(1);
    expect(all.some((s) => s.name === SLOW && s.state === 'failed')).toBe(true);
    expect(done).toContain(SLOW);

    const back = await readBack();
    expect(back.steps).toEqual([]);
    expect(back.host.connectionState).toBe('connected');
    expect(back.host.refs.host).toBe(moref);
    expect(back.host.vswitches.find((v) => v.name === 'vSwitch1')).toMatchObject({ mtu: 9000, numPorts: 256 });
    expect(back.host.vmknics.find((n) => n.portgroup === 'vMotion')).toMatchObject({ ipAddress: '10.0.20.41' });
    expect(back.host.ntpServers).toEqual(['0.pool.ntp.example']);
    expect((await store.hostBoots.get(H.uuid))?.joinedThumbprint).toBe(t.thumbprint);
    expect(await store.hostBoots.pendingRejoins()).not.toContain(H.uuid);
  }, 180_000);
});
