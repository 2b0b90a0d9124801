/**
 * The ESXi kickstart grammar oracle (test/helpers/esxi-ks.ts) refuses what VMware's documented
 * command set refuses, so a rendered ks.cfg passing it means something; and sha512Crypt
 * (src/app/kickstart-install.ts) matches OpenSSL's crypt(3) `$6$`.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { parseEsxiKickstart, KickstartSyntaxError } from '../helpers/esxi-ks.js';
import { kickstartInstallLookup, sha512Crypt } from '../../src/app/kickstart-install.js';
import type { DesiredCluster } from '../../src/clusters/types.js';

const GOOD = `# comment
vmaccepteula
rootpw --iscrypted $6$salt$hash
install --firstdisk=local --overwritevmfs
network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.0 --addvmportgroup=0
reboot --noeject

%post --interpreter=python --ignorefailure=true --timeout=60
anything goes here --unknown
%firstboot --interpreter=busybox
echo hi
`;

describe('ESXi kickstart grammar', () => {
  it('accepts a script of documented commands and splits the sections off', () => {
    const k = parseEsxiKickstart(GOOD);
    expect(k.commands.map((c) => c.name)).toEqual(['vmaccepteula', 'rootpw', 'install', 'network', 'reboot']);
    expect(k.sections.map((s) => s.kind)).toEqual(['post', 'firstboot']);
    expect(k.sections[0]!.body).toContain('--unknown');
  });

  it.each([
    [
      'install --firstdisk --overwritevmfs',
      'vmaccepteula\nrootpw x\ninstall --firstdisk --overwritevmfs --bogus\n',
      /:3: install: unknown option --bogus/,
    ],
    ['no disk selection', 'vmaccepteula\nrootpw x\ninstall --overwritevmfs\n', /:3: install: exactly one of/],
    ['two disk selections', 'vmaccepteula\nrootpw x\ninstall --disk=a --firstdisk\n', /exactly one of/],
    ['overwrite + preserve', 'vmaccepteula\nrootpw x\ninstall --firstdisk --overwritevmfs --preservevmfs\n', /exclude/],
    ['no rootpw', 'vmaccepteula\ninstall --firstdisk\n', /install needs rootpw/],
    ['rootpw without a password', 'vmaccepteula\nrootpw --iscrypted\ninstall --firstdisk\n', /:2: rootpw: 0 arguments/],
    ['rootpw with spaces', 'vmaccepteula\nrootpw a b\ninstall --firstdisk\n', /:2: rootpw: 2 arguments/],
    ['no EULA', 'rootpw x\ninstall --firstdisk\n', /accepteula/],
    ['an unknown command', 'vmaccepteula\nrootpw x\ninstall --firstdisk\nformat c:\n', /:4: unknown command "format"/],
    ['a flag with a value', 'vmaccepteula\nrootpw --iscrypted=yes x\ninstall --firstdisk\n', /takes no value/],
    ['a value option without one', 'vmaccepteula\nrootpw x\ninstall --disk\n', /--disk needs =<value>/],
    ['bad bootproto', 'vmaccepteula\nrootpw x\ninstall --firstdisk\nnetwork --bootproto=bootp\n', /dhcp or static/],
    ['static without ip', 'vmaccepteula\nrootpw x\ninstall --firstdisk\nnetwork --bootproto=static\n', /--ip=/],
    [
      'bad interpreter',
      'vmaccepteula\nrootpw x\ninstall --firstdisk\n%firstboot --interpreter=bash\n',
      /python or busybox/,
    ],
    [
      '%firstboot --timeout',
      'vmaccepteula\nrootpw x\ninstall --firstdisk\n%firstboot --timeout=5\n',
      /unknown option --timeout/,
    ],
  ])('refuses %s', (_what, text, re) => {
    expect(() => parseEsxiKickstart(text)).toThrow(KickstartSyntaxError);
    expect(() => parseEsxiKickstart(text)).toThrow(re);
  });
});

describe('rootpw hash', () => {
  it('sha512Crypt is glibc crypt(3) $6$ as OpenSSL computes it; a fresh salt every time', () => {
    for (const [pw, salt] of [
      ['esx-secret', 'abcdefgh'],
      ['pä$$ wörd\\"', 'ABCDEFGHIJKLMNOP'],
    ] as const) {
      const o = spawnSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: pw, encoding: 'utf8' });
      expect(o.status, o.stderr).toBe(0);
      expect(sha512Crypt(pw, salt)).toBe(o.stdout.trim());
    }
    const a = sha512Crypt('x');
    expect(a).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(sha512Crypt('x')).not.toBe(a);
  });

  it('the lookup reads the cluster credentials; errors name the entry and variable, never the value', () => {
    const c = { name: 'prod', credentials: 'esx', boot: { mode: 'stateful' } } as DesiredCluster;
    const creds = [{ name: 'esx', username: 'root', 'password-env': 'SX_TEST_ESX' }];
    const look = kickstartInstallLookup((n) => (n === 'prod' ? c : undefined), creds, { SX_TEST_ESX: 's3cret' });
    const got = look('prod');
    expect(got).toMatchObject({ firstdisk: 'local', overwritevmfs: false });
    expect(got.rootpw).not.toContain('s3cret');
    const unset = kickstartInstallLookup(() => c, creds, {});
    expect(() => unset('prod')).toThrow('cluster prod: credentials[esx]: environment variable SX_TEST_ESX is not set');
    expect(() => look('other')).toThrow('cluster other is not loaded');
  });
});
