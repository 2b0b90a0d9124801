/**
 * Test fixture: runs our DHCP service as its own process, so a test can start it inside a network
 * namespace (`ip netns exec NS node --import tsx dhcp-fixture-server.ts '<json>'`).
 * Input (argv[2], JSON): { mode, dataDir, dhcp (partial `dhcp` config), interface?, listenAddress?,
 * httpPort?, port?, proxyPort? }. Prints `READY {"address":…,"port":…,"serverId":…}` on stdout once
 * listening; on SIGUSR2 prints `METRICS <json of the dhcp counters>`; exits on SIGTERM. Logs (pino
 * JSON, debug) go to stderr.
 */
import { createDhcpServer } from '../../src/boot/dhcp/server.js';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { metricsRegistry } from '../../src/metrics.js';
import { openStore } from '../../src/store/index.js';
import pino from 'pino';

const input = JSON.parse(process.argv[2] ?? '{}') as {
  mode: 'proxy' | 'full';
  dataDir: string;
  dhcp: Record<string, unknown>;
  interface?: string;
  listenAddress?: string;
  httpPort?: number;
  port?: number;
  proxyPort?: number;
};
const log = createLogger('debug', pino.destination(2));
const config = configSchema.parse({ dhcp: { ...input.dhcp, mode: input.mode } });
const store = await openStore(input.dataDir, log);
const server = createDhcpServer({
  mode: input.mode,
  dhcp: config.dhcp,
  store,
  log,
  interface: input.interface,
  listenAddress: input.listenAddress,
  httpPort: input.httpPort ?? 8080,
  port: input.port,
  proxyPort: input.proxyPort,
});
try {
  await server.start();
} catch (e) {
  process.stdout.write(`FAILED ${(e as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`READY ${JSON.stringify({ ...server.address(), serverId: server.serverAddress })}\n`);
process.on('SIGUSR2', () => {
  void metricsRegistry.getMetricsAsJSON().then((all) => {
    const mine = all.filter((m) => m.name.startsWith('statelesx_dhcp_'));
    process.stdout.write(`METRICS ${JSON.stringify(mine)}\n`);
  });
});
process.on('SIGTERM', () => {
  void server.close().then(() => {
    store.close();
    process.exit(0);
  });
});
