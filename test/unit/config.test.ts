import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, ConfigError } from '../../src/config/load.js';

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

  it('rejects unknown keys and inline vCenter passwords', () => {
    expect(() => loadConfig({ configPath: yamlFile('tftp-prot: 69\n') })).toThrow(/tftp-prot/);
    const f = yamlFile('vcenters:\n  - name: vc\n    url: https://vc.example/sdk\n    username: u\n    password: hunter2\n');
    expect(() => loadConfig({ configPath: f })).toThrow(/password-file or password-env/);
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
