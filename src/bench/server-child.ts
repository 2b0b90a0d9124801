/**
 * Our server as a child process for benchmarks, so that its RSS and CPU are measured apart from
 * the clients: `node dist/bench/server-child.js '<config JSON>'`.
 *
 * The JSON is a `statelesx.yaml` document as an object (kebab-case keys, validated by the config
 * schema). The process composes the real server with {@link startServer}, then prints one line
 * `SX-BENCH-READY {"pid":N,"http":{address,port},"tftp":{address,port}}` on stdout (other stdout
 * lines, such as the setup link, are to be ignored). Logs (pino JSON) go to stderr at the
 * config's `log-level`. Stops on SIGTERM/SIGINT (closes every service, exits 0). With
 * `SX_BENCH_MEMLOG=<file>` it appends `process.memoryUsage()` as a JSON line every 500 ms; with
 * `SX_BENCH_WITHOUT=tftp,http,...` those services are built but not started (src/bench/idle.ts).
 */
import { appendFileSync } from 'node:fs';
import { configSchema } from '../config/schema.js';
import { createLogger } from '../log.js';
import { startServer } from '../app/server.js';
import { READY_PREFIX } from './proc.js';

interface Addressable {
  name: string;
  address?: () => { address: string; port: number } | undefined;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: server-child <config JSON>');
  const config = configSchema.parse(JSON.parse(raw) as unknown);
  const log = createLogger(config['log-level'], process.stderr);
  const without = (process.env['SX_BENCH_WITHOUT'] ?? '').split(',').filter(Boolean);
  const server = await startServer(config, log, { without });
  // With no listener started nothing else keeps the process alive until SIGTERM.
  if (without.length > 0) setInterval(() => undefined, 2 ** 30);
  const addr = (name: string) => (server.services.find((s) => s.name === name) as Addressable | undefined)?.address?.();
  const memLog = process.env['SX_BENCH_MEMLOG'];
  if (memLog) {
    // Diagnosis: where the RSS goes (V8 heap vs Buffers vs the rest), one JSON line every 500 ms.
    setInterval(
      () => appendFileSync(memLog, `${JSON.stringify({ t: Date.now(), ...process.memoryUsage() })}\n`),
      500,
    ).unref();
  }
  process.stdout.write(
    `${READY_PREFIX}${JSON.stringify({ pid: process.pid, http: addr('http'), tftp: addr('tftp') })}\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench server-child: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
