/**
 * The ESXi host-direct session (src/vsphere/host-session.ts) against a local HTTPS peer with a
 * self-signed certificate (made here with openssl) that replays recorded vim25 answers: the
 * certificate is pinned to the phone-home thumbprint (SHA-256 or SHA-1), SNI is the host's FQDN
 * even though the URL names 127.0.0.1, a wrong thumbprint sends no byte (no password leaves),
 * and UpdateUser carries HostAccountSpec{id, password} to `ha-localacctmgr`.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostSession } from '../../src/vsphere/host-session.js';
import { InvalidLogin, ThumbprintMismatchError } from '../../src/vsphere/faults.js';

const fixture = (f: string): string => readFileSync(resolve(import.meta.dirname, '../fixtures/vsphere', f), 'utf8');
const envelope = (body: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

let dir: string;
let srv: https.Server;
let url: string;
let sha1: string;
let sha256: string;
/** What the peer received: [SNI, SOAP method, body]. */
const seen: Array<{ sni: string | false | null; method: string; body: string }> = [];
/** The peer's current root password ('' = blank, a fresh stateless boot). */
let rootPassword = '';

const colon = (hex: string) => hex.toUpperCase().match(/../g)!.join(':');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-host-session-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'c.pem',
      '-days',
      '2',
      '-subj',
      '/CN=esx1.lab',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  const cert = readFileSync(join(dir, 'c.pem'), 'utf8');
  const der = new X509Certificate(cert).raw;
  sha1 = colon(createHash('sha1').update(der).digest('hex'));
  sha256 = colon(createHash('sha256').update(der).digest('hex'));
  srv = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const method = /<soapenv:Body><(\w+) xmlns="urn:vim25">/.exec(body)?.[1] ?? '';
      seen.push({ sni: (req.socket as TLSSocket).servername, method, body });
      const ok = (xml: string) => res.writeHead(200, { 'Content-Type': 'text/xml' }).end(xml);
      if (method === 'RetrieveServiceContent')
        return ok(
          fixture('retrieveservicecontent.xml').replace(
            '<sessionManager type="SessionManager">SessionManager</sessionManager>',
            '<sessionManager type="SessionManager">ha-sessionmgr</sessionManager><accountManager type="HostLocalAccountManager">ha-localacctmgr</accountManager>',
          ),
        );
      if (method === 'Login') {
        const pw = /<password>([^<]*)<\/password>/.exec(body)?.[1] ?? '';
        if (pw !== rootPassword)
          return res.writeHead(500, { 'Content-Type': 'text/xml' }).end(fixture('fault-invalidlogin.xml'));
        return ok(fixture('login.xml'));
      }
      if (method === 'UpdateUser') {
        rootPassword = /<password>([^<]*)<\/password>/.exec(body)?.[1] ?? '';
        return ok(envelope('<UpdateUserResponse xmlns="urn:vim25"></UpdateUserResponse>'));
      }
      if (method === 'Logout') return ok(fixture('logout.xml'));
      res.writeHead(500).end('unexpected');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/sdk`;
});

afterAll(async () => {
  await new Promise<void>((r) => srv.close(() => r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('HostSession (ESXi host SDK, certificate pinned to the phone-home thumbprint)', () => {
  it('logs in with the blank password of a fresh boot, sets root, logs out; SNI is the FQDN', async () => {
    seen.length = 0;
    rootPassword = '';
    const s = await HostSession.connect({ url, fqdn: 'esx1.lab', thumbprint: sha256 });
    expect(s.serviceContent.accountManager).toEqual({ type: 'HostLocalAccountManager', value: 'ha-localacctmgr' });
    await expect(s.login('root', 'Wrong-1')).rejects.toBeInstanceOf(InvalidLogin);
    await s.login('root', '');
    await s.updateUser({ id: 'root', password: 'Configured-Pa55' });
    await s.close();
    expect(rootPassword).toBe('Configured-Pa55');
    expect(seen.map((x) => x.method)).toEqual(['RetrieveServiceContent', 'Login', 'Login', 'UpdateUser', 'Logout']);
    expect(new Set(seen.map((x) => x.sni))).toEqual(new Set(['esx1.lab']));
    const update = seen.find((x) => x.method === 'UpdateUser')!.body;
    expect(update).toContain('<_this type="HostLocalAccountManager">ha-localacctmgr</_this>');
    expect(update).toMatch(
      /<user xsi:type="HostAccountSpec"><id>root<\/id><password>Configured-Pa55<\/password><\/user>/,
    );
  });

  it('accepts the SHA-1 thumbprint too', async () => {
    const s = await HostSession.connect({ url, fqdn: 'esx1.lab', thumbprint: sha1.toLowerCase() });
    await s.close();
  });

  it('refuses another certificate before sending anything', async () => {
    seen.length = 0;
    const other = sha256.replace(/^../, sha256.startsWith('00') ? '11' : '00');
    const err = await HostSession.connect({ url, fqdn: 'esx1.lab', thumbprint: other }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThumbprintMismatchError);
    expect(seen).toEqual([]);
  });
});
