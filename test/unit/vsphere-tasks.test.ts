/**
 * The asynchronous task path that the simulator cannot show (its tasks finish before their MoRef
 * is returned): a local HTTP peer on 127.0.0.1 replays vCenter responses from
 * test/fixtures/vsphere (hand-written from the API reference; see its README) — a task that is
 * queued, then running at 40 %, then a WaitForUpdatesEx that expires without changes, then
 * success. The real client connects, adds a host and waits; the test checks what the client sent
 * (SOAPAction with vCenter's apiVersion, the session cookie verbatim, WaitForUpdatesEx versions
 * and maxWaitSeconds) and what it returned.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VcenterConfig } from '../../src/config/schema.js';
import { VsphereClient, VsphereTimeoutError, type MoRef, type TaskInfo } from '../../src/vsphere/index.js';

const fixture = (f: string): string => readFileSync(resolve(import.meta.dirname, '../fixtures/vsphere', f), 'utf8');
const COOKIE = 'vmware_soap_session="52a8f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7"';

interface Seen {
  method: string;
  soapAction: string;
  cookie: string;
  body: string;
}
let server: http.Server;
let url: string;
let seen: Seen[] = [];
let script: Record<string, string[]> = {};

function reset(): void {
  seen = [];
  script = {
    RetrieveServiceContent: ['retrieveservicecontent.xml'],
    Login: ['login.xml'],
    AddHost_Task: ['addhost-task.xml'],
    RetrievePropertiesEx: ['retrievepropertiesex-task-queued.xml'],
    CreatePropertyCollector: ['createpropertycollector.xml'],
    CreateFilter: ['createfilter.xml'],
    WaitForUpdatesEx: [
      'waitforupdatesex-1-queued.xml',
      'waitforupdatesex-2-running.xml',
      'waitforupdatesex-3-nochange.xml',
      'waitforupdatesex-4-success.xml',
    ],
    DestroyPropertyCollector: ['destroypropertycollector.xml'],
    Logout: ['logout.xml'],
  };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const method = /<soapenv:Body><(\w+) xmlns="urn:vim25">/.exec(body)?.[1] ?? '?';
      seen.push({
        method,
        soapAction: String(req.headers.soapaction ?? ''),
        cookie: String(req.headers.cookie ?? ''),
        body,
      });
      const next = script[method]?.shift();
      if (!next) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`no scripted answer for ${method}`);
        return;
      }
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/xml; charset=utf-8' };
      if (method === 'Login') headers['Set-Cookie'] = `${COOKIE}; Path=/; HttpOnly; Secure;`;
      const hold = method === 'WaitForUpdatesEx' && next.includes('nochange') ? 1100 : 0; // a maxWaitSeconds expiry
      setTimeout(() => res.writeHead(200, headers).end(fixture(next)), hold);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sdk`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

const cfg = (): VcenterConfig => ({
  name: 'replay',
  url,
  username: 'administrator@vsphere.local',
  'max-sessions': 1,
  'timeout-ms': 10_000,
  'password-env': 'UNUSED',
});

describe('task wait through WaitForUpdatesEx (replayed vCenter responses)', () => {
  it('follows queued → running → (no change) → success and returns the task result', async () => {
    reset();
    const vc = await VsphereClient.connect(cfg(), 'pw');
    const states: string[] = [];
    try {
      const task = await vc.ops.AddHost_Task(
        { type: 'ClusterComputeResource', value: 'domain-c7' },
        { hostName: 'esx-01.lab.local', userName: 'root', password: 'esx-pw', force: false, sslThumbprint: 'AA:BB' },
      );
      expect(task).toEqual({ type: 'Task', value: 'task-1042' });
      const result = await vc.waitForTask(task, {
        method: 'AddHost_Task',
        maxWaitSeconds: 1,
        timeoutMs: 20_000,
        onProgress: (i: TaskInfo) => states.push(i.progress !== undefined ? `${i.state}:${i.progress}` : i.state),
      });
      expect(result).toEqual({ type: 'HostSystem', value: 'host-2011' } satisfies MoRef);
    } finally {
      await vc.close();
    }
    expect(states).toEqual(['queued', 'queued', 'running:40', 'success']);
    expect(seen.map((s) => s.method)).toEqual([
      'RetrieveServiceContent',
      'Login',
      'AddHost_Task',
      'RetrievePropertiesEx',
      'CreatePropertyCollector',
      'CreateFilter',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'WaitForUpdatesEx',
      'DestroyPropertyCollector',
      'Logout',
    ]);
    // SOAPAction: bootstrap version first, then vCenter's about.apiVersion
    expect(seen[0]!.soapAction).toBe('urn:vim25/6.5');
    expect(seen.slice(1).every((s) => s.soapAction === 'urn:vim25/8.0.2.0')).toBe(true);
    // the cookie comes back verbatim (quotes included) on every call after Login
    expect(seen.slice(2).every((s) => s.cookie === COOKIE)).toBe(true);
    // WaitForUpdatesEx versions follow the UpdateSets; options carry maxWaitSeconds
    const waits = seen
      .filter((s) => s.method === 'WaitForUpdatesEx')
      .map((s) => /<version>([^<]*)<\/version>/.exec(s.body)?.[1] ?? '(none)');
    expect(waits).toEqual(['(none)', '1', '2', '2']);
    expect(seen.find((s) => s.method === 'WaitForUpdatesEx')!.body).toContain(
      '<options><maxWaitSeconds>1</maxWaitSeconds></options>',
    );
    // the filter watches the task's info on the private collector
    const cf = seen.find((s) => s.method === 'CreateFilter')!.body;
    expect(cf).toContain(
      '<_this type="PropertyCollector">session[52e0c3f4-1d2b-7a6e-8c9f-0a1b2c3d4e5f]52a1d9c0-3b7e-4f1d-a2c6-9e8b7d6c5a4f</_this>',
    );
    expect(cf).toContain(
      '<propSet><type>Task</type><pathSet>info</pathSet></propSet><objectSet><obj type="Task">task-1042</obj></objectSet>',
    );
  });

  it('gives up with a timeout error when the task does not finish in time (and cleans up the collector)', async () => {
    reset();
    script.WaitForUpdatesEx = [
      'waitforupdatesex-1-queued.xml',
      'waitforupdatesex-3-nochange.xml',
      'waitforupdatesex-3-nochange.xml',
    ];
    const vc = await VsphereClient.connect(cfg(), 'pw');
    try {
      const err = await vc
        .waitForTask(
          { type: 'Task', value: 'task-1042' },
          { method: 'AddHost_Task', maxWaitSeconds: 1, timeoutMs: 2000 },
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VsphereTimeoutError);
      expect((err as Error).message).toContain('AddHost_Task');
    } finally {
      await vc.close();
    }
    expect(seen.map((s) => s.method)).toContain('DestroyPropertyCollector');
  });
});
