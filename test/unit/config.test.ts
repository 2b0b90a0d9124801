import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { readSecret } from '../../src/config/secrets.js';

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sx-config-'));
  const f = join(dir, 'statelesx.yaml');
  writeFileSync(f, text);
  return f;
}

describe('loadConfig', () => {
  it('applies defaults and resolves paths against the config file directory', () => {
    const f = yamlFile('tftp:\n  port: 6969\n');
    const { config } = loadConfig({ configPath: f });
    expect(config.tftp.port).toBe(6969);
    expect(config.http.port).toBe(8080);
    expect(config.initiator.port).toBe(1974);
    expect(config.dhcp.mode).toBe('off');
    expect(config['data-dir']).toBe(join(f, '..', 'data'));
  });

  it('a relative path given by flag or environment is relative to the working directory, not the config file', () => {
    const f = yamlFile('data-dir: ./from-file\n');
    const { config } = loadConfig({
      configPath: f,
      flags: { 'data-dir': './from-flag' },
      env: { STATELESX_IMAGES_DIR: 'from-env', STATELESX_TFTP_ROOT: '/abs/tftp' },
    });
    expect(config['data-dir']).toBe(join(process.cwd(), 'from-flag'));
    expect(config['images-dir']).toBe(join(process.cwd(), 'from-env'));
    expect(config['tftp-root']).toBe('/abs/tftp');
    expect(dirname(f)).not.toBe(process.cwd());
  });

  it('resolves every relative path against the config file directory, keeps absolute ones', () => {
    const f = yamlFile(
      [
        'data-dir: ./d',
        'images-dir: img',
        'tftp-root: ./t',
        'pxelinux-cfg-dir: p',
        'clusters-dir: ../c',
        'loader-dirs: [./loaders, /usr/lib/ipxe]',
        'http: { tls-cert: tls/cert.pem, tls-key: ./tls/key.pem }',
        'vcenters:',
        '  - { name: vc, url: "https://vc.example.com/sdk", username: u, password-file: secrets/vc.pw, ca-file: ./ca.pem }',
        '  - { name: vc2, url: "https://vc2.example.com/sdk", username: u, password-file: /run/secrets/vc2, ca-file: /etc/ssl/vc2.pem }',
        'credentials:',
        '  - { name: esxi, username: root, password-file: secrets/esxi.pw }',
        '',
      ].join('\n'),
    );
    const dir = dirname(f);
    const { config, baseDir } = loadConfig({ configPath: f });
    expect(baseDir).toBe(dir);
    expect([
      config['data-dir'],
      config['images-dir'],
      config['tftp-root'],
      config['pxelinux-cfg-dir'],
      config['clusters-dir'],
    ]).toEqual([join(dir, 'd'), join(dir, 'img'), join(dir, 't'), join(dir, 'p'), join(dir, '..', 'c')]);
    expect(config['loader-dirs']).toEqual([join(dir, 'loaders'), '/usr/lib/ipxe']);
    expect([config.http['tls-cert'], config.http['tls-key']]).toEqual([
      join(dir, 'tls', 'cert.pem'),
      join(dir, 'tls', 'key.pem'),
    ]);
    expect(config.vcenters.map((v) => [v['password-file'], v['ca-file']])).toEqual([
      [join(dir, 'secrets', 'vc.pw'), join(dir, 'ca.pem')],
      ['/run/secrets/vc2', '/etc/ssl/vc2.pem'],
    ]);
    expect(config.credentials[0]!['password-file']).toBe(join(dir, 'secrets', 'esxi.pw'));
    // The secret is found next to the config file, whatever the working directory is.
    mkdirSync(join(dir, 'secrets'));
    writeFileSync(join(dir, 'secrets', 'esxi.pw'), 's3cret\n');
    expect(process.cwd()).not.toBe(dir);
    expect(readSecret(config.credentials[0]!, 'credentials[esxi]')).toBe('s3cret');
    // Defaults that are absolute stay as they are.
    expect(loadConfig({ configPath: yamlFile('{}\n') }).config['loader-dirs']).toEqual([
      '/usr/lib/PXELINUX',
      '/usr/lib/syslinux/modules/bios',
      '/usr/lib/ipxe',
    ]);
  });

  it('names the file, line and key of a bad value', () => {
    const f = yamlFile('log-level: info\ntftp:\n  port: 70000\n');
    try {
      loadConfig({ configPath: f });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.message).toContain(`${f}:3: tftp.port`);
      expect(err.line).toBe(3);
      expect(err.key).toBe('tftp.port');
    }
  });

  it('rejects unknown keys at every level, naming file:line, the key and the keys known there', () => {
    expect(() => loadConfig({ configPath: yamlFile('tftp-prot: 69\n') })).toThrow(/tftp-prot/);
    const cases: Array<[string, number, string, RegExp]> = [
      [
        'log-level: info\ntftp:\n  prot: 69\n',
        3,
        'tftp.prot',
        /unknown key "prot" \(the keys of tftp are: port, max-transfers, /,
      ],
      [
        'boot:\n  unknown-hosts: menu\n  default-imge: esxi\n',
        3,
        'boot.default-imge',
        /unknown key "default-imge" \(the keys of boot are: default-image, unknown-hosts/,
      ],
      ['http: { port: 8080, tls-crt: a.pem }\n', 1, 'http.tls-crt', /unknown key "tls-crt"/],
      ['initiator:\n  require_token: false\n', 2, 'initiator.require_token', /unknown key/],
      ['engine:\n  max-attempt: 3\n', 2, 'engine.max-attempt', /unknown key/],
      [
        'dhcp:\n  mode: full\n  boot-files:\n    bios: undionly.kpxe\n    efi: ipxe.efi\n',
        5,
        'dhcp.boot-files.efi',
        /the keys of dhcp\.boot-files are: bios, uefi, uefi-arm64, uefi-ia32, uefi-arm32, ipxe/,
      ],
      [
        'dhcp:\n  reservations:\n    - mac: 00:50:56:00:00:01\n      address: 10.0.0.5\n      host-name: esx1\n',
        5,
        'dhcp.reservations.0.host-name',
        /unknown key "host-name" \(the keys of dhcp\.reservations\.0 are: mac, address, hostname\)/,
      ],
      [
        'vcenters:\n  - name: vc\n    url: https://vc.example/sdk\n    username: u\n    password-env: P\n    timeout: 5000\n',
        6,
        'vcenters.0.timeout',
        /unknown key "timeout" .*timeout-ms/,
      ],
      [
        'credentials:\n  - { name: esxi, username: root, password-env: P, user: x }\n',
        2,
        'credentials.0.user',
        /unknown key "user"/,
      ],
    ];
    for (const [text, line, key, message] of cases) {
      const f = yamlFile(text);
      const err = (() => {
        try {
          loadConfig({ configPath: f });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, key).toBeInstanceOf(ConfigError);
      const ce = err as ConfigError;
      expect(ce.message, key).toContain(`${f}:${line}: ${key}: `);
      expect(ce.message, key).toMatch(message);
      expect([ce.line, ce.key], key).toEqual([line, key]);
    }
  });

  it('refuses an inline password with a message pointing at password-file / password-env', () => {
    for (const entry of [
      'vcenters:\n  - name: vc\n    url: https://vc.example/sdk\n    username: u\n',
      'credentials:\n  - name: esxi\n    username: root\n',
    ]) {
      // Alone, and next to a valid password-env: refused either way, at the password line.
      for (const extra of ['    password: hunter2\n', '    password-env: P\n    password: hunter2\n']) {
        const text = entry + extra;
        const f = yamlFile(text);
        const line = text.split('\n').findIndex((l) => l.trim().startsWith('password:')) + 1;
        const err = (() => {
          try {
            loadConfig({ configPath: f });
          } catch (e) {
            return e as ConfigError;
          }
          return undefined;
        })();
        expect(err?.message).toMatch(
          new RegExp(
            `^${f}:${line}: (vcenters|credentials)\\.0\\.password: inline passwords are not accepted: put the secret in a file \\(password-file: PATH`,
          ),
        );
        expect(err?.message).toContain('password-env: NAME');
        expect(err?.message).not.toContain('hunter2');
      }
    }
    // Both sources, or neither, is still the exactly-one rule.
    expect(() =>
      loadConfig({
        configPath: yamlFile('credentials:\n  - { name: e, username: root, password-env: P, password-file: /p }\n'),
      }),
    ).toThrow(/exactly one of password-file or password-env/);
    expect(() => loadConfig({ configPath: yamlFile('credentials:\n  - { name: e, username: root }\n') })).toThrow(
      /exactly one of password-file or password-env/,
    );
  });

  it('accepts only https:// vCenter URLs', () => {
    const vc = (url: string) =>
      yamlFile(`vcenters:\n  - name: vc\n    url: ${url}\n    username: u\n    password-env: P\n`);
    expect(loadConfig({ configPath: vc('https://vc.example.com/sdk') }).config.vcenters[0]!.url).toBe(
      'https://vc.example.com/sdk',
    );
    const f = vc('http://vc.example.com/sdk');
    expect(() => loadConfig({ configPath: f })).toThrow(
      `${f}:3: vcenters.0.url: must be an https:// URL (https://vcenter.example.com/sdk): over http:// the Login call would send the password in clear text`,
    );
    expect(() => loadConfig({ configPath: vc('vc.example.com') })).toThrow(/vcenters\.0\.url/);
  });

  it('accepts a SHA-1 (20 bytes) or SHA-256 (32 bytes) thumbprint and nothing in between', () => {
    const hex = (n: number) =>
      Array.from({ length: n }, (_, i) => ((i * 37) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');
    const vc = (tp: string) =>
      yamlFile(
        `vcenters:\n  - { name: vc, url: "https://vc.example.com/sdk", username: u, password-env: P, thumbprint: "${tp}" }\n`,
      );
    expect(loadConfig({ configPath: vc(hex(20)) }).config.vcenters[0]!.thumbprint).toBe(hex(20));
    expect(loadConfig({ configPath: vc(hex(32).toLowerCase()) }).config.vcenters[0]!.thumbprint).toBe(
      hex(32).toLowerCase(),
    );
    for (const n of [19, 21, 25, 31, 33]) {
      expect(() => loadConfig({ configPath: vc(hex(n)) }), `${n} bytes`).toThrow(
        /vcenters\.0\.thumbprint: a SHA-1 \(20 bytes\) or SHA-256 \(32 bytes\) fingerprint/,
      );
    }
    expect(() => loadConfig({ configPath: vc(hex(20).replace(/:/g, '')) })).toThrow(/thumbprint/);
  });

  it('layers env over file and flags over env', () => {
    const f = yamlFile('tftp:\n  port: 6969\n');
    const env = { STATELESX_TFTP_PORT: '7070', STATELESX_DHCP_MODE: 'proxy' };
    expect(loadConfig({ configPath: f, env }).config.tftp.port).toBe(7070);
    const both = loadConfig({ configPath: f, env, flags: { 'tftp-port': '7171' } }).config;
    expect(both.tftp.port).toBe(7171);
    expect(both.dhcp.mode).toBe('proxy');
    expect(() => loadConfig({ configPath: f, env: { STATELESX_TFTP_PORT: 'sixty' } })).toThrow(/STATELESX_TFTP_PORT/);
    expect(() => loadConfig({ configPath: f, flags: { 'dhcp-mode': 'relay' } })).toThrow(/--dhcp-mode/);
  });

  it('reports YAML syntax errors with a line and refuses a named missing file', () => {
    expect(() => loadConfig({ configPath: yamlFile('tftp:\n  port: [1,\n') })).toThrow(ConfigError);
    expect(() => loadConfig({ configPath: '/nonexistent/statelesx.yaml', explicit: true })).toThrow(/not found/);
  });
});
