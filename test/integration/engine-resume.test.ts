/**
 * kill -9 during a job: the runner runs in a child process against the vCenter simulator (with a
 * per-call delay so the job takes a while), is killed with SIGKILL after its first AddHost_Task,
 * and a new process resumes the job from the store; the job completes without adding a host twice.
 */
import { desiredCluster, HA_OFF } from '../helpers/desired-cluster.js';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { startVcsim, vcenterConfigFor, type Vcsim } from '../helpers/vcsim.js';
import { openStore } from '../../src/store/index.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const U = [
  '4c4c4544-0031-3510-8052-c1c04f303031',
  '4c4c4544-0031-3510-8052-c1c04f303032',
  '4c4c4544-0031-3510-8052-c1c04f303033',
];
const CHILD = resolve(import.meta.dirname, '../helpers/engine-job-child.ts');

function desired(): DesiredCluster {
  return desiredCluster({
    name: 'crash',
    ha: { ...HA_OFF, enabled: true },
    vswitches: [{ name: 'vSwitch1', uplinks: ['vmnic1'], mtu: 9000, numPorts: 128, teaming: {}, security: {} }],
    portgroups: [{ name: 'vMotion', vswitch: 'vSwitch1', vlanId: 20 }],
    vmknics: [
      {
        device: 'vmk1',
        portgroup: 'vMotion',
        addressing: { mode: 'pool', pool: 'vm' },
        mtu: 9000,
        services: ['vmotion'],
      },
    ],
    pools: [{ name: 'vm', start: '10.20.0.10', end: '10.20.0.20', netmask: '255.255.255.0' }],
    ntpServers: ['ntp.example'],
    dns: { servers: ['10.0.0.53'], searchDomains: [] },
    hosts: U.map((uuid, i) => ({ fqdn: `crash${i}.lab.example`, uuid, addresses: {} })),
  });
}

function runChild(
  input: unknown,
  onLine: (line: string, child: ChildProcess) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, SX_ENGINE_CHILD: JSON.stringify(input), SX_VC_PW: 'x', SX_ESX_PW: 'y' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let buf = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl), child);
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', rej);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0 && signal === null) rej(new Error(`child exited ${code}: ${err}`));
      else res({ code, signal, out });
    });
  });
}

describe('engine: kill -9 during a job', () => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim([...U.flatMap((u, i) => ['-host-uuid', `crash${i}.lab.example=${u}`]), '-delay', '40']);
  }, 200_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('resumes on restart from fresh state and completes without repeating a finished step', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sx-engine-resume-'));
    const input = {
      dataDir,
      cluster: desired(),
      mode: 'enqueue',
      config: {
        ...vcenterConfigFor(sim),
      },
    };
    let addsBeforeKill = 0;
    const first = await runChild(input, (line, child) => {
      if (line === 'STEP done AddHost_Task' && ++addsBeforeKill === 1) child.kill('SIGKILL');
    });
    expect(first.signal).toBe('SIGKILL');
    expect(first.out).not.toMatch(/^JOB /m);

    const store = await openStore(dataDir);
    const [job] = await store.jobs.list();
    expect(job?.state).toBe('running');
    // Steps persisted but not finished when the process died (0 when it died between rounds).
    const unfinishedAtKill = (await store.jobs.steps(job!.id)).filter(
      (s) => s.state === 'pending' || s.state === 'running',
    ).length;
    store.close();

    const second = await runChild({ ...input, mode: 'resume' }, () => undefined);
    const final = JSON.parse(/^JOB (.*)$/m.exec(second.out)![1]!) as {
      id: string;
      state: string;
      error: string | null;
    };
    expect(final.id).toBe(job!.id);
    expect(final.error).toBeNull();
    expect(final.state).toBe('succeeded');

    const s2 = await openStore(dataDir);
    const steps = await s2.jobs.steps(job!.id);
    const adds = steps.filter((s) => s.name === 'AddHost_Task' && s.state === 'done');
    expect(adds.map((s) => (s.args as { hostName: string }).hostName).sort()).toEqual([
      'crash0.lab.example',
      'crash1.lab.example',
      'crash2.lab.example',
    ]);
    // Every step left unfinished by the kill is marked interrupted (and re-planned), none other.
    expect(steps.filter((s) => s.state === 'skipped' && JSON.stringify(s.result).includes('interrupted'))).toHaveLength(
      unfinishedAtKill,
    );
    expect((await s2.jobs.logs(job!.id)).map((l) => l.msg).join('\n')).toMatch(/resuming after restart/);
    s2.close();
  }, 120_000);
});
