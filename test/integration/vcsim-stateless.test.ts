/**
 * The stateless ESXi lifecycle as the vCenter simulator plays it: a host added with its root
 * password (-host-password) and configured; a stateless reboot (/vcsim-test/reboot) gives it a new
 * certificate and a blank root password, turns it notResponding and returns its configuration to
 * the image's defaults; ReconnectHost_Task with the old thumbprint answers SSLVerifyFault carrying
 * the new one, with a wrong password InvalidLogin; the host's own SDK (esx-url, host chosen by TLS
 * SNI) logs in with the blank password and UpdateUser sets root's password, with which (and the
 * new thumbprint) ReconnectHost_Task connects the host again.
 *
 * vCenter calls go through the project's SOAP client (src/vsphere); ReconnectHost_Task and the ESXi
 * endpoint's calls have no op yet, so they are sent as raw envelopes (the ESXi ones over
 * node:https with `servername`, which the client's endpoint does not set).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VcenterConfig } from '../../src/config/schema.js';
import { faultFromSoap } from '../../src/vsphere/faults.js';
import { SoapSession } from '../../src/vsphere/soap.js';
import { envelope, first, parseXml, text, type XmlNode } from '../../src/vsphere/xml.js';
import {
  InvalidLogin,
  NotAuthenticated,
  SSLVerifyFault,
  VsphereClient,
  type MoRef,
  type VsphereFault,
} from '../../src/vsphere/index.js';
import { startVcsim, type HostThumbprints, type Vcsim } from '../helpers/vcsim.js';

const HOST = 'esx-21.lab.local';
const FIRST_PASSWORD = 'Initial-Pw1!';
const NEW_PASSWORD = 'After-Boot-Pw2!';
const COLON_SHA1 = /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/;
const COLON_SHA256 = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

let sim: Vcsim;
let vc: VsphereClient;
/** A second vCenter session for the raw calls (its own cookie jar). */
let raw: SoapSession;

beforeAll(async () => {
  sim = await startVcsim(['-host-password', `${HOST}=${FIRST_PASSWORD}`]);
  const cfg = {
    name: 'vc-stateless',
    url: sim.sdkUrl,
    username: sim.username,
    thumbprint: sim.thumbprint,
    'max-sessions': 1,
    'timeout-ms': 30_000,
    'password-env': 'UNUSED',
  } as VcenterConfig;
  vc = await VsphereClient.connect(cfg, sim.password);
  raw = new SoapSession(vc.endpoint);
  await raw.invoke('Login', vc.serviceContent.sessionManager, { userName: sim.username, password: sim.password });
});
afterAll(async () => {
  await vc?.close();
  await sim?.stop();
});

/** ReconnectHost_Task with an optional HostConnectSpec (members in WSDL order); resolves to the task. */
async function reconnect(host: MoRef, spec?: { sslThumbprint?: string; userName?: string; password?: string }) {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  let cnx = '';
  if (spec) {
    cnx = '<cnxSpec>';
    if (spec.sslThumbprint !== undefined) cnx += `<sslThumbprint>${esc(spec.sslThumbprint)}</sslThumbprint>`;
    if (spec.userName !== undefined) cnx += `<userName>${esc(spec.userName)}</userName>`;
    if (spec.password !== undefined) cnx += `<password>${esc(spec.password)}</password>`;
    cnx += '<force>false</force></cnxSpec>';
  }
  const body = envelope(
    `<ReconnectHost_Task xmlns="urn:vim25"><_this type="HostSystem">${host.value}</_this>${cnx}</ReconnectHost_Task>`,
  );
  const r = await vc.endpoint.send('ReconnectHost_Task', body, raw.jar);
  const task: MoRef = { type: 'Task', value: text(r.returnval[0]) };
  return vc.waitForTask(task, { method: 'ReconnectHost_Task' });
}

/** One call on the ESXi endpoint with TLS SNI = `fqdn`; returns the response body and the peer's SHA-1. */
function esxPost(
  fqdn: string,
  method: string,
  inner: string,
  cookie?: string,
): Promise<{ status: number; body: XmlNode; sha1: string; setCookie: string | undefined }> {
  const payload = envelope(`<${method} xmlns="urn:vim25">${inner}</${method}>`);
  return new Promise((resolve, reject) => {
    const req = request(
      sim.esxSdkUrl,
      {
        method: 'POST',
        servername: fqdn,
        rejectUnauthorized: false, // self-signed: pinned by thumbprint in the assertions instead
        agent: false,
        headers: {
          'Content-Type': 'text/xml; charset=utf-8',
          SOAPAction: 'urn:vim25/6.5',
          ...(cookie ? { Cookie: cookie } : {}),
        },
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        const sha1 = createHash('sha1').update(cert.raw).digest('hex').toUpperCase().match(/../g)!.join(':');
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: parseXml(Buffer.concat(chunks).toString('utf8')),
            sha1,
            setCookie: res.headers['set-cookie']?.[0]?.split(';')[0],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The SOAP fault of an ESXi answer as the client's typed error, or undefined. */
function esxFault(body: XmlNode, method: string): VsphereFault | undefined {
  const f = first(first(first(body, 'Envelope'), 'Body'), 'Fault');
  return f === undefined ? undefined : faultFromSoap(f, method);
}

describe('stateless ESXi host lifecycle against vcsim', () => {
  let cluster: MoRef;
  let host: MoRef;
  let uuid: string;
  let boot: HostThumbprints;

  it('adds the host with its root password (a wrong one is InvalidLogin) and configures it', async () => {
    const dc = await vc.ops.CreateDatacenter(vc.serviceContent.rootFolder, 'Stateless');
    const hostFolder = (await vc.read.readCluster('Stateless', 'c1')).hostFolder!;
    expect(dc.type).toBe('Datacenter');
    cluster = await vc.ops.CreateClusterEx(hostFolder, 'c1', {});
    const spec = { hostName: HOST, userName: 'root', password: 'not-it', force: false };
    const bad = await vc.waitForTask(await vc.ops.AddHost_Task(cluster, spec)).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidLogin);
    expect((bad as Error).message).not.toContain('not-it');
    host = (await vc.waitForTask(await vc.ops.AddHost_Task(cluster, { ...spec, password: FIRST_PASSWORD }), {
      method: 'AddHost_Task',
    })) as MoRef;

    const h = await vc.read.readHost(host);
    uuid = h.uuid;
    await vc.ops.AddVirtualSwitch(h.configManager.networkSystem!, 'vSwitch1');
    await vc.ops.UpdateDateTimeConfig(h.configManager.dateTimeSystem!, { ntpConfig: { server: ['10.0.0.1'] } });
    await vc.ops.UpdateOptions(h.configManager.advancedOption!, [
      { key: 'Config.HostAgent.log.level', value: { xsdType: 'xsd:string', value: 'verbose' } },
    ]);
    const after = await vc.read.readHost(host);
    expect(after.connectionState).toBe('connected');
    expect(after.network.vswitch.map((v) => v.name)).toEqual(['vSwitch0', 'vSwitch1']);
    expect(after.ntpServers).toEqual(['10.0.0.1']);
  });

  it('reboot: new thumbprint, notResponding, configuration back to the image defaults, UUID kept', async () => {
    boot = await sim.reboot(HOST);
    expect(boot.thumbprint).toMatch(COLON_SHA1);
    expect(boot.sha256).toMatch(COLON_SHA256);
    const again = await sim.reboot(HOST);
    expect(again.thumbprint).not.toBe(boot.thumbprint); // every boot makes a new certificate
    boot = again;

    const h = await vc.read.readHost(host);
    expect(h.connectionState).toBe('notResponding');
    expect(h.uuid).toBe(uuid);
    expect(h.inMaintenanceMode).toBe(false);
    expect(h.network.vswitch.map((v) => v.name)).toEqual(['vSwitch0']);
    expect(h.network.portgroup.map((p) => p.spec.name).sort()).toEqual(['Management Network', 'VM Network']);
    expect(h.network.vnic.map((v) => v.device)).toEqual(['vmk0']);
    expect(h.ntpServers).toEqual([]);
    const opts = await vc.read.readAdvancedOptions([h.configManager.advancedOption!], ['Config.HostAgent.log.level']);
    expect(opts.get(h.configManager.advancedOption!.value)).toEqual({ 'Config.HostAgent.log.level': 'info' });
  });

  it('ReconnectHost_Task: old thumbprint → SSLVerifyFault with the new one; wrong password → InvalidLogin', async () => {
    const noSpec = await reconnect(host).catch((e: unknown) => e);
    expect(noSpec).toBeInstanceOf(SSLVerifyFault);
    const old = await reconnect(host, {
      sslThumbprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD',
      userName: 'root',
      password: FIRST_PASSWORD,
    }).catch((e: unknown) => e);
    expect(old).toBeInstanceOf(SSLVerifyFault);
    expect((old as SSLVerifyFault).thumbprint).toBe(boot.thumbprint);

    const wrong = await reconnect(host, {
      sslThumbprint: boot.thumbprint,
      userName: 'root',
      password: FIRST_PASSWORD, // the reboot blanked it
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InvalidLogin);
    expect((await vc.read.readHost(host)).connectionState).toBe('notResponding');
  });

  it('esx-url: SNI picks the host; blank Login, UpdateUser; Reconnect with the new password connects', async () => {
    const denied = await esxPost(
      HOST,
      'UpdateUser',
      `<_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><id>root</id><password>x</password></user>`,
    );
    expect(esxFault(denied.body, 'UpdateUser')).toBeInstanceOf(NotAuthenticated);
    expect(denied.sha1).toBe(boot.thumbprint);

    const sc = await esxPost(HOST, 'RetrieveServiceContent', '<_this type="ServiceInstance">ServiceInstance</_this>');
    const content = first(
      first(first(first(sc.body, 'Envelope'), 'Body'), 'RetrieveServiceContentResponse'),
      'returnval',
    );
    expect(text(first(first(content, 'about'), 'apiType'))).toBe('HostAgent');
    expect(text(first(content, 'accountManager'))).toBe('ha-localacctmgr');
    expect(text(first(content, 'sessionManager'))).toBe('ha-sessionmgr');

    const badLogin = await esxPost(
      HOST,
      'Login',
      '<_this type="SessionManager">ha-sessionmgr</_this><userName>root</userName><password>guess</password>',
    );
    expect(esxFault(badLogin.body, 'Login')).toBeInstanceOf(InvalidLogin);
    const login = await esxPost(
      HOST,
      'Login',
      '<_this type="SessionManager">ha-sessionmgr</_this><userName>root</userName><password></password>',
    );
    expect(login.status).toBe(200);
    expect(login.setCookie).toMatch(/^vmware_soap_session=/);
    const upd = await esxPost(
      HOST,
      'UpdateUser',
      `<_this type="HostLocalAccountManager">ha-localacctmgr</_this><user><id>root</id><password>${NEW_PASSWORD}</password></user>`,
      login.setCookie,
    );
    expect(upd.status).toBe(200);
    expect(esxFault(upd.body, 'UpdateUser')).toBeUndefined();

    const blank = await reconnect(host, { sslThumbprint: boot.sha256, userName: 'root', password: '' }).catch(
      (e: unknown) => e,
    );
    expect(blank).toBeInstanceOf(InvalidLogin);
    await reconnect(host, { sslThumbprint: boot.sha256, userName: 'root', password: NEW_PASSWORD });
    const h = await vc.read.readHost(host);
    expect(h.connectionState).toBe('connected');
    expect(h.network.vswitch.map((v) => v.name)).toEqual(['vSwitch0']); // reconnect keeps the defaults
  });

  it('esx-url refuses a TLS name that is no booted host', async () => {
    await expect(esxPost('esx-99.lab.local', 'RetrieveServiceContent', '')).rejects.toThrow();
  });

  it('reboot with a PEM body: the host presents that certificate; the same PEM keeps the thumbprint', async () => {
    // the test image's model (scripts/make-test-image): one certificate per image version
    const tmp = mkdtempSync(join(tmpdir(), 'sx-vcsim-pem-'));
    const pair = (v: string): { pem: string; sha1: string; sha256: string } => {
      const key = join(tmp, `${v}.key`);
      const crt = join(tmp, `${v}.crt`);
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'].concat([
          '-keyout',
          key,
          '-out',
          crt,
          '-subj',
          `/CN=statelesx-test-image-${v}`,
        ]),
        { stdio: 'ignore' },
      );
      const x = new X509Certificate(readFileSync(crt));
      return {
        pem: readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'),
        sha1: x.fingerprint.toUpperCase(),
        sha256: x.fingerprint256.toUpperCase(),
      };
    };
    try {
      const v1 = pair('v1');
      const v2 = pair('v2');
      expect(await sim.reboot(HOST, v1.pem)).toEqual({ thumbprint: v1.sha1, sha256: v1.sha256 });
      const sc = '<_this type="ServiceInstance">ServiceInstance</_this>';
      expect((await esxPost(HOST, 'RetrieveServiceContent', sc)).sha1).toBe(v1.sha1);
      expect((await vc.read.readHost(host)).connectionState).toBe('notResponding');
      await reconnect(host, { sslThumbprint: v1.sha256, userName: 'root', password: '' });
      expect(await sim.reboot(HOST, v1.pem)).toEqual({ thumbprint: v1.sha1, sha256: v1.sha256 });
      const old = await reconnect(host, { sslThumbprint: v2.sha256, userName: 'root', password: '' }).catch(
        (e: unknown) => e,
      );
      expect(old).toBeInstanceOf(SSLVerifyFault);
      expect(await sim.reboot(HOST, v2.pem)).toEqual({ thumbprint: v2.sha1, sha256: v2.sha256 });
      expect((await esxPost(HOST, 'RetrieveServiceContent', sc)).sha1).toBe(v2.sha1);
      await reconnect(host, { sslThumbprint: v2.sha256, userName: 'root', password: '' });
      expect((await vc.read.readHost(host)).connectionState).toBe('connected');
      // a certificate without its key is refused, and nothing changes
      await expect(sim.reboot(HOST, v1.pem.slice(0, v1.pem.indexOf('-----BEGIN PRIVATE KEY')))).rejects.toThrow(
        /HTTP 400 certificate: PEM body: want a CERTIFICATE block and its PRIVATE KEY/,
      );
      expect((await vc.read.readHost(host)).connectionState).toBe('connected');
      expect((await esxPost(HOST, 'RetrieveServiceContent', sc)).sha1).toBe(v2.sha1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
