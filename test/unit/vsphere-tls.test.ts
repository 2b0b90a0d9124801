/**
 * TLS verification without a pin: a local HTTPS peer on 127.0.0.1 with a CA-signed certificate
 * (CA and leaf made here with openssl) replays vCenter's RetrieveServiceContent and Login.
 * With the CA configured (`ca-file`) the client connects; without it the connection is refused
 * with VsphereTlsError; a certificate for another name is refused too. Also: nothing the client
 * logs (trace level) contains the password or the session cookie.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VcenterConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { VsphereClient, VsphereTlsError } from '../../src/vsphere/index.js';

const fixture = (f: string): string => readFileSync(resolve(import.meta.dirname, '../fixtures/vsphere', f), 'utf8');
const PASSWORD = 'Tls-Secret-Pa55!';
const COOKIE = 'vmware_soap_session="52aa00bb11cc22dd33ee44ff5566778899aabbcc"';
let dir: string;
const servers: https.Server[] = [];

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  } catch (e) {
    throw new Error(`openssl ${args[0]} failed (${(e as Error).message}); run scripts/install-test-deps`, { cause: e });
  }
}

/** A CA and a leaf for `san` signed by it. */
function makeCerts(san: string, prefix: string): { ca: string; key: string; cert: string } {
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${prefix}-ca.key`,
    '-out',
    `${prefix}-ca.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=statelesx test CA ${prefix}`,
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${prefix}.key`,
    '-out',
    `${prefix}.csr`,
    '-subj',
    '/CN=vcenter.test',
  ]);
  writeFileSync(join(dir, `${prefix}.ext`), `subjectAltName=${san}\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    `${prefix}.csr`,
    '-CA',
    `${prefix}-ca.pem`,
    '-CAkey',
    `${prefix}-ca.key`,
    '-CAcreateserial',
    '-out',
    `${prefix}.pem`,
    '-days',
    '2',
    '-extfile',
    `${prefix}.ext`,
  ]);
  return {
    ca: join(dir, `${prefix}-ca.pem`),
    key: readFileSync(join(dir, `${prefix}.key`), 'utf8'),
    cert: readFileSync(join(dir, `${prefix}.pem`), 'utf8'),
  };
}

async function serve(key: string, cert: string): Promise<string> {
  const srv = https.createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const method = /<soapenv:Body><(\w+) xmlns="urn:vim25">/.exec(Buffer.concat(chunks).toString())?.[1];
      const file = { RetrieveServiceContent: 'retrieveservicecontent.xml', Login: 'login.xml', Logout: 'logout.xml' }[
        method ?? ''
      ];
      if (!file) return void res.writeHead(500).end('unexpected');
      const headers: Record<string, string> = { 'Content-Type': 'text/xml; charset=utf-8' };
      if (method === 'Login') headers['Set-Cookie'] = `${COOKIE}; Path=/; HttpOnly; Secure;`;
      res.writeHead(200, headers).end(fixture(file));
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `https://127.0.0.1:${(srv.address() as AddressInfo).port}/sdk`;
}

let good: { url: string; ca: string };
let wrongName: { url: string; ca: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-vsphere-tls-'));
  const a = makeCerts('IP:127.0.0.1', 'good');
  good = { url: await serve(a.key, a.cert), ca: a.ca };
  const b = makeCerts('DNS:other.example', 'wrong');
  wrongName = { url: await serve(b.key, b.cert), ca: b.ca };
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const cfg = (url: string, caFile?: string): VcenterConfig => ({
  name: 'tls',
  url,
  username: 'administrator@vsphere.local',
  'max-sessions': 1,
  'timeout-ms': 10_000,
  'password-env': 'UNUSED',
  ...(caFile ? { 'ca-file': caFile } : {}),
});

describe('vCenter certificate verification without a pin', () => {
  it('connects when the certificate chains to the configured CA, and logs neither password nor cookie', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const vc = await VsphereClient.connect(cfg(good.url, good.ca), PASSWORD, { logger: createLogger('trace', sink) });
    expect(vc.serviceContent.about.apiVersion).toBe('8.0.2.0');
    await vc.close();
    const log = lines.join('');
    expect(log).toContain('connected to vCenter');
    expect(log).toContain('"method":"Login"');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain('52aa00bb11cc22dd33ee44ff5566778899aabbcc');
  });

  it('refuses the same server when the CA is not configured (system store only)', async () => {
    const err = await VsphereClient.connect(cfg(good.url), PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VsphereTlsError);
    expect((err as Error).message).toMatch(/thumbprint|ca-file/);
  });

  it('refuses a certificate issued for another name even with its CA configured', async () => {
    const err = await VsphereClient.connect(cfg(wrongName.url, wrongName.ca), PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VsphereTlsError);
    expect((err as Error).message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
