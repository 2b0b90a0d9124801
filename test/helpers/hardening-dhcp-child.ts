/**
 * Child process for the kill -9 lease test: the full-mode DHCP service on 127.0.0.1 (random
 * server port) over a real SQLite store in `dataDir`, replying to `clientPort`.
 * Usage: node --import tsx hardening-dhcp-child.ts '{"dataDir": "...", "clientPort": N}'
 * Prints `READY <port>` once listening; runs until killed.
 */
import { createDhcpServer } from '../../src/boot/dhcp/server.js';
import { configSchema } from '../../src/config/schema.js';
import { openStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';

const input = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; clientPort: number };
const store = await openStore(input.dataDir);
const dhcp = configSchema.parse({
  dhcp: {
    mode: 'full',
    'range-start': '127.0.1.0',
    'range-end': '127.0.200.255',
    netmask: '255.255.0.0',
    'lease-time-s': 3600,
  },
}).dhcp;
const server = createDhcpServer({
  mode: 'full',
  dhcp,
  store,
  log: silentLogger,
  listenAddress: '127.0.0.1',
  httpPort: 8080,
  port: 0,
  clientPort: input.clientPort,
});
await server.start();
process.stdout.write(`READY ${server.address().port}\n`);
