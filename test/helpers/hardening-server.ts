/**
 * A whole statelesx server (`startServer`, every service but DHCP) in this process on 127.0.0.1
 * random ports, with its pino output captured line by line, for the hardening tests. HTTP uses
 * the single-port layout (`http.port` = `boot-http.port`, a port free at start): console, API,
 * `/boot/` and the HTTP phone-home on one listener, and rendered URLs naming that real port.
 * test/integration/http-listeners.test.ts checks the split layout.
 */
import { Writable } from 'node:stream';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { openStore } from '../../src/store/index.js';
import { hashPassword } from '../../src/web/auth/passwords.js';
import type { HttpService } from '../../src/web/app.js';
import type { TftpServer } from '../../src/boot/tftp/server.js';
import type { PhoneHomeListener } from '../../src/phonehome/listener.js';

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
  for (const d of ['data', 'images', 'tftp', 'clusters', 'pxelinux.cfg']) mkdirSync(join(dir, d), { recursive: true });
  const httpPort = await freePort();
  const config = configSchema.parse({
    'data-dir': join(dir, 'data'),
    'images-dir': join(dir, 'images'),
    'tftp-root': join(dir, 'tftp'),
    'loader-dirs': [],
    'pxelinux-cfg-dir': join(dir, 'pxelinux.cfg'),
    'clusters-dir': join(dir, 'clusters'),
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
    for (const [name, pw, role] of users) store.users.create(name, await hashPassword(pw), role);
    store.close();
  }
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const log = createLogger('trace', sink);
  const server = await startServer(config, log);
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
    logText: () => text,
    close: () => server.close(),
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise((ok) => s.close(ok));
  return port;
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
