/**
 * The native TFTP data plane is optional at install time and strict at load time:
 * - `npm install` on a machine without a compiler still installs: scripts/build-native.mjs (the
 *   install script) warns once and exits 0; under CI it fails instead;
 * - a server whose addon is absent says so in ONE warning and serves every transfer on the JS
 *   data plane;
 * - an addon whose exported done codes or counter names differ from what native.ts handles (a
 *   stale build) is refused loudly at load, never used with mismatched meanings.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { createTftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { loadDataPlane, wrapAddon, DONE_CODES, STAT_NAMES } from '../../src/boot/tftp/native.js';
import { encodeAck, encodeRequest, Opcode } from '../../src/boot/tftp/packet.js';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { RawPeer } from '../helpers/tftp-peer.js';

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sx-tftp-fallback-'));
  writeFileSync(join(root, 'small'), 'hello\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('install without a compiler', () => {
  /** Runs the install script with no usable compiler, building into a scratch directory. */
  function installWithoutCompiler(extraEnv: Record<string, string>) {
    const out = mkdtempSync(join(tmpdir(), 'sx-native-out-'));
    const env: NodeJS.ProcessEnv = { ...process.env, STATELESX_NATIVE_OUT: out, CC: '/nonexistent/cc', ...extraEnv };
    delete env['CI'];
    delete env['STATELESX_REQUIRE_NATIVE'];
    Object.assign(env, extraEnv);
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], { env, encoding: 'utf8', timeout: 120_000 });
    const built = existsSync(join(out, 'build/Release/tftp_dataplane.node'));
    rmSync(out, { recursive: true, force: true });
    return { status: r.status, stderr: r.stderr, built };
  }

  it('the install script warns once and exits 0; under CI it exits 1', () => {
    const plain = installWithoutCompiler({});
    expect(plain.built).toBe(false);
    expect(plain.status, plain.stderr).toBe(0);
    const warnings = plain.stderr.split('\n').filter((l) => l.startsWith('statelesx: WARNING'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('TFTP transfers will run on the JavaScript data plane');
    const ci = installWithoutCompiler({ CI: 'true' });
    expect(ci.status).toBe(1);
    expect(ci.stderr).toContain('build of the TFTP data plane failed');
  }, 240_000);
});

describe('server with the addon absent', () => {
  it('logs one warning, runs transfers on the JS data plane', async () => {
    const saved = process.env['STATELESX_TFTP_ADDON'];
    process.env['STATELESX_TFTP_ADDON'] = join(root, 'missing/tftp_dataplane.node');
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(c: Buffer, _e, cb) {
        for (const l of c.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const s = createTftpServer({
      source: directorySource(root),
      address: '127.0.0.1',
      port: 0,
      limits: configSchema.parse({}).tftp,
      log: createLogger('info', stream),
    });
    try {
      expect('error' in loadDataPlane()).toBe(true);
      await s.start();
      const p = await new RawPeer().open();
      p.send(encodeRequest(Opcode.RRQ, 'small', 'octet'), s.address().port);
      const d = await p.recv();
      expect(d?.packet).toMatchObject({ op: Opcode.DATA, block: 1 });
      p.send(encodeAck(1), d!.from.port);
      p.close();
      const warnings = lines.filter((l) => l['level'] === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        msg: 'native TFTP data plane unavailable: transfers run on the JS data plane',
      });
      expect(String(warnings[0]!['reason'])).toContain('missing/tftp_dataplane.node');
      expect(lines.find((l) => l['msg'] === 'TFTP server listening')).toMatchObject({ dataPlane: 'js' });
      expect(lines.find((l) => l['msg'] === 'transfer starting')).toMatchObject({ dataPlane: 'js' });
    } finally {
      await s.close();
      if (saved === undefined) delete process.env['STATELESX_TFTP_ADDON'];
      else process.env['STATELESX_TFTP_ADDON'] = saved;
    }
  });
});

describe('addon names checked at load', () => {
  const fake = (doneCodes: unknown, statNames: unknown) => ({
    doneCodes,
    statNames,
    start: () => {
      throw new Error('not used');
    },
    abort: () => undefined,
    stats: () => statNames as number[],
    bufferedBytes: () => 0,
  });

  it('refuses an addon missing a done code or with an unknown counter, naming them', () => {
    expect(() => wrapAddon(fake(DONE_CODES.slice(1), [...STAT_NAMES]), '/x.node')).toThrow(
      /\/x\.node does not match.*doneCodes: missing \[ok\].*npm run build:native/,
    );
    expect(() => wrapAddon(fake([...DONE_CODES], [...STAT_NAMES, 'new-counter']), '/x.node')).toThrow(
      /statNames: missing \[\], unexpected \[new-counter\]/,
    );
  });

  it('maps counters by the names the addon exports, in its order', () => {
    const order = [...STAT_NAMES].reverse();
    const plane = wrapAddon({ ...fake([...DONE_CODES], order), stats: () => order.map((_, i) => i) }, '/x.node');
    const s = plane.stats({} as never);
    expect(s['spin-hits']).toBe(0);
    expect(s.bytes).toBe(STAT_NAMES.length - 1);
  });
});
