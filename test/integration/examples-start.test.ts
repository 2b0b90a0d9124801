/**
 * What `npm start` on a fresh clone gives a newcomer: the example `statelesx.yaml` (copied with
 * `examples/clusters` so its relative paths resolve the same way) and the synthetic `demo` image
 * that scripts/start imports. The server is started exactly as `statelesx serve` does (loadConfig,
 * then startServer; only the ports are moved to 127.0.0.1:0 by flags), and both example clusters
 * must load without a diagnostic.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { runClusterValidate } from '../../src/cli/cluster.js';
import { formatDiagnostic } from '../../src/clusters/diagnostics.js';
import { posOf } from '../fixtures/clusters/helpers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'sx-examples-'));
const yaml = join(dir, 'statelesx.yaml');
const lab = join(dir, 'examples', 'clusters', 'lab-cluster.xml');
const prod = join(dir, 'examples', 'clusters', 'prod-cluster.xml');
let server: RunningServer | undefined;
let logText = '';

beforeAll(() => {
  copyFileSync(join(ROOT, 'statelesx.yaml'), yaml);
  cpSync(join(ROOT, 'examples', 'clusters'), join(dir, 'examples', 'clusters'), { recursive: true });
  // What `scripts/make-test-image --name demo` + `image import` leave behind (a linux image).
  mkdirSync(join(dir, 'images', 'demo'), { recursive: true });
  writeFileSync(
    join(dir, 'images', 'demo', 'image.json'),
    JSON.stringify({
      name: 'demo',
      kind: 'linux',
      linux: { kernel: 'vmlinuz', initrd: [], cmdline: '' },
      source: 'scripts/make-test-image',
      importedAt: '2026-01-01T00:00:00.000Z',
      files: [],
    }),
  );
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start on a fresh clone: the example configuration and clusters', () => {
  it('the server loads every example cluster without a diagnostic', async () => {
    const { config } = loadConfig({
      configPath: yaml,
      explicit: false,
      env: {},
      flags: {
        'listen-address': '127.0.0.1',
        'tftp-port': 0,
        'http-port': 0,
        'boot-http-port': 0,
        'initiator-port': 0,
      },
    });
    expect(config['clusters-dir']).toBe(join(dir, 'examples', 'clusters'));
    // The example declares its secrets by environment variable only: nothing inline, no default.
    for (const s of [...config.vcenters, ...config.credentials]) {
      expect(s['password-env'], s.name).toMatch(/^STATELESX_[A-Z0-9_]+_PASSWORD$/);
      expect(s['password-file'], s.name).toBeUndefined();
    }
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        logText += chunk.toString('utf8');
        cb();
      },
    });
    server = await startServer(config, createLogger('info', sink));
    const files = server.clusters.files();
    expect(files.map((f) => [f.name, f.diagnostics.map(formatDiagnostic)])).toEqual([
      ['lab-cluster', []],
      ['prod-cluster', []],
    ]);
    expect(server.clusters.clusters().map((c) => [c.name, c.vcenter, c.credentials, c.hosts.length])).toEqual([
      ['lab-cluster', 'vc-lab', 'esxi-root', 2],
      ['prod-cluster', 'vc-prod', 'esxi-root', 4],
    ]);
    expect(server.clusters.get('lab-cluster')!.image).toBe('demo');
    expect(logText).not.toContain('is invalid');
    expect(logText).toMatch(/"valid":2,"invalid":0/);
  });

  it('`statelesx cluster validate examples/clusters/*.xml` passes, warning only about ESXi images not imported yet', async () => {
    const out: string[] = [];
    const err: string[] = [];
    expect(
      await runClusterValidate([lab, prod], { config: yaml }, { out: (l) => out.push(l), err: (l) => err.push(l) }),
    ).toBe(0);
    expect(out).toEqual([`${lab}: ok (cluster lab-cluster, 2 hosts)`, `${prod}: ok (cluster prod-cluster, 4 hosts)`]);
    const pin = posOf(readFileSync(lab, 'utf8'), 'image="ESXi-8.0U3c');
    const def = posOf(readFileSync(prod, 'utf8'), '<defaultImage>');
    expect(err).toEqual([
      `${lab}:${pin.line}:${pin.column}: warning: /cluster/members/host[2]/@image: image "ESXi-8.0U3c-24414501-standard" pinned for esx-lab2.lab.example.com is not imported (statelesx image import); until it is, esx-lab2.lab.example.com boots from local disk`,
      `${prod}:${def.line}:${def.column}: warning: /cluster/defaultImage: image "ESXi-8.0U3b-24280767-standard" is not imported (statelesx image import); until it is, hosts without a pin boot from local disk`,
    ]);
  });
});
