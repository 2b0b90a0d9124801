/**
 * `statelesx host list` run as a real command (tsx src/cli/main.ts) against a store file that a
 * real listener filled from real phone-home connections.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { openStore, type Store } from '../../src/store/index.js';
import { BootTokens } from '../../src/hosts/tokens.js';
import { HostRegistry } from '../../src/hosts/registry.js';
import { createPhoneHomeListener } from '../../src/phonehome/listener.js';
import { silentLogger } from '../../src/log.js';
import { RecordingQueue, exchange } from '../helpers/initiator-fixture.js';

const exec = promisify(execFile);
const U1 = '4c4c4544-0042-4610-8053-b3c04f345433';
const U2 = '27a83042-a3f9-54cf-e2a3-101dfdb821d0';
let dir: string;

async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await exec(resolve('node_modules/.bin/tsx'), [resolve('src/cli/main.ts'), ...args], {
      cwd: dir,
      timeout: 60_000,
    });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: err.code ?? -1 };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-initiator-cli-'));
  const store: Store = await openStore(join(dir, 'data'));
  const registry = new HostRegistry({
    hosts: store.hosts,
    phoneHomes: store.phoneHomes,
    tokens: new BootTokens(store.tokens, 60_000),
    queue: new RecordingQueue(),
    declared: (u) => (u === U2 ? { cluster: 'prod', fqdn: 'esx02.lab' } : undefined),
    requireToken: true,
    log: silentLogger,
  });
  const listener = createPhoneHomeListener({ host: '127.0.0.1', port: 0, handler: registry, log: silentLogger });
  await listener.start();
  await store.hosts.addBootEvent({
    at: Date.now() - 60_000,
    hostUuid: null,
    mac: '00:50:56:aa:bb:cc',
    address: '127.0.0.1',
    protocol: 'tftp',
    file: 'pxelinux.0',
    image: null,
    firmware: 'bios',
  });
  await exchange(listener.address().port, `esx01:${U1} mac=00:50:56:aa:bb:cc vendor=Dell%20Inc. version=test/1\n`);
  await exchange(listener.address().port, `esx02:${U2}\n`); // known, no token: refused
  await store.hosts.upsertSighting({ uuid: U2, at: Date.now(), hostname: 'esx02' }, 'registered');
  await listener.close();
  store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('statelesx host list', () => {
  it('--unregistered --json lists the unregistered host with evidence, boot history and phone-homes', async () => {
    const r = await cli(['host', 'list', '--unregistered', '--json', '--data-dir', 'data']);
    expect(r.code, r.stderr).toBe(0);
    const hosts = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({
      uuid: U1,
      state: 'unregistered',
      hostname: 'esx01',
      vendor: 'Dell Inc.',
      lastAddress: '127.0.0.1',
      evidence: { claimedMacs: ['00:50:56:aa:bb:cc'], initiatorVersion: 'test/1', addresses: ['127.0.0.1'] },
      bootEvents: [{ protocol: 'tftp', file: 'pxelinux.0', mac: '00:50:56:aa:bb:cc' }],
      phoneHomes: [{ result: 'unregistered', transport: 'tcp' }],
    });
  });

  it('prints a table of every host, and refuses a directory without a store', async () => {
    const r = await cli(['host', 'list', '--data-dir', 'data']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^UUID\s+STATE\s+HOSTNAME\s+CLUSTER\s+LAST SEEN\s+ADDRESS\s+VENDOR\/MODEL\s+SERIAL$/);
    expect(r.stdout).toMatch(
      new RegExp(`${U1}\\s+unregistered\\s+esx01\\s+-\\s+\\S+Z\\s+127\\.0\\.0\\.1\\s+Dell Inc\\.`),
    );
    expect(r.stdout).toMatch(new RegExp(`${U2}\\s+registered\\s+esx02`));
    expect(r.stdout).toContain('phone-home ');
    expect(r.stdout).toContain('tcp 127.0.0.1 refused (token-missing)');
    expect(r.stdout).toContain('boot ');
    const missing = await cli(['host', 'list', '--data-dir', 'nowhere']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no store in \S*\/nowhere \(statelesx.db missing\)/);
  });
});
