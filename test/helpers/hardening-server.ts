/**
 * A whole statelesx server (`startServer`, every service but DHCP) in this process on 127.0.0.1
 * random ports, with its pino output captured line by line, for the hardening tests. HTTP uses
 * the single-port layout (`http.port` = `boot-http.port`, a port free at start): console, API,
 * `/boot/` and the HTTP phone-home on one listener, and rendered URLs naming that real port.
 * test/integration/http-listeners.test.ts checks the split layout.
 */
import { Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { openStore } from '../../src/store/index.js';
import { hashPassword } from '../../src/web/auth/passwords.js';
import type { HttpService } from '../../src/web/app.js';
import type { TftpServer } from '../../src/boot/tftp/server.js';
import type { PhoneHomeListener } from '../../src/phonehome/listener.js';
import { configDirs } from './serve.js';
import { freePort } from './ports.js';

/** A running server plus its ports and everything it logged. */
export interface HardenedServer {
  config: Config;
  server: RunningServer;
  http: HttpService;
  httpPort: number;
  tftpPort: number;
  initiatorPort: number;
  /** Every log line so far (raw pino JSON). */
  logText(): string;
  close(): Promise<void>;
}

/**
 * Starts the server over `dir` (data, images, tftp, clusters, pxelinux.cfg under it).
 * @param overrides merged into the config (kebab-case keys); ports are forced to 0 (HTTP: one free port)
 * @param users created before start (so no setup link is issued): [name, password, role]
 */
export async function startHardenedServer(
  dir: string,
  overrides: Record<string, unknown> = {},
  users: Array<[string, string, 'admin' | 'operator' | 'viewer']> = [],
): Promise<HardenedServer> {
  const httpPort = await freePort();
  const config = configSchema.parse({
    ...configDirs(dir),
    'listen-address': '127.0.0.1',
    'log-level': 'trace',
    ...overrides,
    tftp: { ...(overrides['tftp'] as object | undefined), port: 0 },
    http: { ...(overrides['http'] as object | undefined), port: httpPort },
    'boot-http': { port: httpPort },
    initiator: { ...(overrides['initiator'] as object | undefined), port: 0 },
  });
  if (users.length) {
    const store = await openStore(config['data-dir']);
    for (const [name, pw, role] of users) await store.users.create(name, await hashPassword(pw), role);
    store.close();
  }
  const { server, logText } = await startLogged(config);
  const by = (name: string) => server.services.find((s) => s.name === name);
  const http = by('http') as HttpService;
  const tftp = by('tftp') as TftpServer;
  const initiator = by('initiator') as PhoneHomeListener;
  return {
    config,
    server,
    http,
    httpPort: http.address()!.port,
    tftpPort: tftp.address().port,
    initiatorPort: initiator.address().port,
    logText,
    close: () => server.close(),
  };
}

/**
 * Starts the composition (`startServer`) with `config`, its pino output (level trace) captured.
 * @returns the server and every log line so far (raw pino JSON)
 * @throws what startServer throws (a bad config, a port in use, ...)
 */
export async function startLogged(config: Config): Promise<{ server: RunningServer; logText: () => string }> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const server = await startServer(config, createLogger('trace', sink));
  return { server, logText: () => text };
}

/** Writes a cluster file `name.xml` with the given member hosts (fqdn, uuid). */
export function writeCluster(
  dir: string,
  name: string,
  vcenter: string,
  credentials: string,
  hosts: Array<[string, string]>,
): void {
  writeFileSync(
    join(dir, 'clusters', `${name}.xml`),
    `<?xml version="1.0" encoding="UTF-8"?>
<cluster xmlns="urn:statelesx:cluster:1" name="${name}">
  <datacenter>DC0</datacenter>
  <vcenter>${vcenter}</vcenter>
  <credentials>${credentials}</credentials>
  <members>
${hosts.map(([fqdn, uuid]) => `    <host fqdn="${fqdn}" uuid="${uuid}"/>`).join('\n')}
  </members>
</cluster>
`,
  );
}

export { freePort };
