/**
 * VsphereClient sessions, TLS and faults against VMware's vCenter simulator (strict mode on):
 * login good/bad, thumbprint pin (SHA-1 and SHA-256) ok / mismatch refused, no pin and no CA
 * refused, NotAuthenticated → one re-login, HTTP timeout on a slow method, an out-of-order
 * element rejected by strict parsing surfaces as InvalidRequest, session pool bound.
 */
import tls from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VcenterConfig } from '../../src/config/schema.js';
import {
  InvalidLogin,
  InvalidRequest,
  InvalidRequestFault,
  ThumbprintMismatchError,
  VsphereClient,
  VsphereFault,
  VsphereTimeoutError,
  VsphereTlsError,
} from '../../src/vsphere/index.js';
import { SoapSession } from '../../src/vsphere/soap.js';
import { envelope } from '../../src/vsphere/xml.js';
import { startVcsim, type Vcsim } from '../helpers/vcsim.js';

const PASSWORD = 'S3cret<&>"\'pw';
let sim: Vcsim;

function cfg(over: Partial<VcenterConfig> = {}): VcenterConfig {
  return {
    name: 'vc-test',
    url: sim.sdkUrl,
    username: 'administrator@vsphere.local',
    thumbprint: sim.thumbprint,
    'max-sessions': 2,
    'timeout-ms': 20_000,
    'password-env': 'UNUSED',
    ...over,
  };
}

function sha256Of(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      res(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', rej);
  });
}

beforeAll(async () => {
  sim = await startVcsim([
    '-username',
    'administrator@vsphere.local',
    '-password',
    PASSWORD,
    '-method-delay',
    'AddHost_Task:3000',
  ]);
});
afterAll(async () => {
  await sim?.stop();
});

describe('vSphere session against vcsim', () => {
  it('logs in with the right password, reads apiVersion for SOAPAction, and keeps the session cookie', async () => {
    const vc = await VsphereClient.connect(cfg(), PASSWORD);
    try {
      expect(vc.serviceContent.about.apiType).toBe('VirtualCenter');
      expect(vc.endpoint.apiVersion).toBe(vc.serviceContent.about.apiVersion);
      const dc = await vc.ops.FindByInventoryPath('DC0');
      expect(dc).toEqual({ type: 'Datacenter', value: expect.any(String) as unknown });
      expect(vc.callCounts()).toMatchObject({ RetrieveServiceContent: 1, Login: 1, FindByInventoryPath: 1 });
    } finally {
      await vc.close();
    }
  });

  it('refuses a wrong password with InvalidLogin, and the error does not contain the password', async () => {
    const wrong = 'Wrong-Pa55word!';
    const err = await VsphereClient.connect(cfg(), wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidLogin);
    expect(err).toBeInstanceOf(VsphereFault);
    expect((err as VsphereFault).faultName).toBe('InvalidLogin');
    expect(String((err as Error).message) + JSON.stringify(err)).not.toContain(wrong);
  });

  it('accepts a SHA-256 pin of the certificate too', async () => {
    const vc = await VsphereClient.connect(cfg({ thumbprint: await sha256Of(sim.sdkUrl) }), PASSWORD);
    await vc.close();
  });

  it('refuses a server whose thumbprint does not match the pin, naming both thumbprints, before sending anything', async () => {
    const pinned = '01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67';
    const err = await VsphereClient.connect(cfg({ thumbprint: pinned }), PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThumbprintMismatchError);
    expect((err as ThumbprintMismatchError).expected).toBe(pinned);
    expect((err as ThumbprintMismatchError).actual).toBe(sim.thumbprint);
    expect((err as Error).message).toContain(pinned);
    expect((err as Error).message).toContain(sim.thumbprint);
  });

  it('verifies the certificate normally when nothing is pinned (the simulator is self-signed: refused)', async () => {
    const c = cfg();
    delete (c as { thumbprint?: string }).thumbprint;
    const err = await VsphereClient.connect(c, PASSWORD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VsphereTlsError);
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
  });

  it('logs in again once when vCenter says NotAuthenticated (session logged out behind its back)', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const vc = await VsphereClient.connect(cfg({ 'max-sessions': 1 }), PASSWORD, { logger });
    try {
      await vc.ops.Logout();
      const dc = await vc.ops.FindByInventoryPath('DC0');
      expect(dc?.type).toBe('Datacenter');
      expect(vc.callCounts()).toMatchObject({ Login: 2, Logout: 1 });
      expect(vc.callCounts().FindByInventoryPath).toBe(2); // the failed call and its retry
      const relogin = lines
        .map((l) => JSON.parse(l) as { msg: string; vcenter?: string })
        .filter((l) => /logging in again/.test(l.msg));
      expect(relogin).toHaveLength(1);
      expect(relogin[0]!.vcenter).toBe('vc-test');
      expect(lines.join('\n')).not.toContain('S3cret');
    } finally {
      await vc.close();
    }
  });

  it('times out a slow call (-method-delay AddHost_Task:3000, 1 s timeout)', async () => {
    const vc = await VsphereClient.connect(cfg(), PASSWORD, { timeoutMs: 1000 });
    try {
      const cluster = await vc.ops.FindByInventoryPath('DC0/host/DC0_C0');
      const err = await vc.ops
        .AddHost_Task(cluster!, { hostName: 'slow.lab', userName: 'root', password: 'x', force: false })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VsphereTimeoutError);
      expect((err as VsphereTimeoutError).method).toBe('AddHost_Task');
      // the client still works afterwards
      expect(await vc.ops.FindByInventoryPath('DC0')).not.toBeNull();
    } finally {
      await vc.close();
    }
  });

  it('surfaces an out-of-order element rejected by strict parsing as InvalidRequest (InvalidRequestFault)', async () => {
    const vc = await VsphereClient.connect(cfg(), PASSWORD);
    try {
      const host = await vc.ops.FindByInventoryPath('DC0/host/DC0_C0/DC0_C0_H0');
      const [h] = await vc.read.readHosts([host!]);
      const ns = h!.configManager.networkSystem!;
      // a low-level session and a hand-written body with vlanId before name (WSDL order: name, vlanId, ...)
      const s = new SoapSession(vc.endpoint);
      await s.invoke('Login', vc.serviceContent.sessionManager, {
        userName: 'administrator@vsphere.local',
        password: PASSWORD,
      });
      const bad =
        `<AddPortGroup xmlns="urn:vim25"><_this type="HostNetworkSystem">${ns.value}</_this>` +
        '<portgrp><vlanId>6</vlanId><name>Swapped</name><vswitchName>vSwitch0</vswitchName><policy></policy></portgrp></AddPortGroup>';
      const err = await vc.endpoint.send('AddPortGroup', envelope(bad), s.jar).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidRequest);
      expect(err).toBeInstanceOf(InvalidRequestFault);
      expect((err as VsphereFault).faultString).toContain('Unexpected element tag "name" seen');
      // the same through the serializer is in order and accepted
      await vc.ops.AddPortGroup(ns, { name: 'InOrder', vlanId: 6, vswitchName: 'vSwitch0', policy: {} });
      await s.invoke('Logout', vc.serviceContent.sessionManager);
    } finally {
      await vc.close();
    }
  });

  it('opens at most max-sessions sessions under concurrent load', async () => {
    const vc = await VsphereClient.connect(cfg({ 'max-sessions': 2 }), PASSWORD);
    try {
      const results = await Promise.all(Array.from({ length: 12 }, () => vc.ops.FindByInventoryPath('DC0')));
      expect(results.every((r) => r?.type === 'Datacenter')).toBe(true);
      expect(vc.sessionCount).toBeLessThanOrEqual(2);
      expect(vc.callCounts().Login).toBeLessThanOrEqual(2);
    } finally {
      await vc.close();
    }
  });
});
