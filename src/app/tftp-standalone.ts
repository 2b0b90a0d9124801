/**
 * Standalone TFTP server process over one directory, for tests that run the server inside a
 * network namespace and for benchmarks that measure its RSS apart from the harness. A composition
 * root of its own: it validates the `tftp` overrides against the config schema (defaults filled in)
 * and hands the TFTP server those limits.
 *
 * Usage: node tftp-standalone.js <root> <address> <port> [JSON of Config['tftp'] overrides]
 * Prints one JSON line `{"address": "...", "port": N, "pid": N}` on stdout once listening;
 * stops on SIGTERM/SIGINT. Logs (pino JSON) go to stderr at level $TFTP_LOG_LEVEL (default warn).
 */
import { createTftpServer } from '../boot/tftp/server.js';
import { directorySource } from '../boot/tftp/dir-source.js';
import { createLogger } from '../log.js';
import { configSchema } from '../config/schema.js';

async function main(): Promise<void> {
  const [root, address = '127.0.0.1', port = '0', overrides = '{}'] = process.argv.slice(2);
  if (!root) {
    process.stderr.write('usage: tftp-standalone <root> [address] [port] [tftp-config-json]\n');
    process.exit(2);
  }
  const limits = configSchema.parse({ tftp: JSON.parse(overrides) as unknown }).tftp;
  const log = createLogger(process.env['TFTP_LOG_LEVEL'] ?? 'warn', process.stderr);
  const server = createTftpServer({ source: directorySource(root), address, port: Number(port), limits, log });
  await server.start();
  process.stdout.write(JSON.stringify({ ...server.address(), pid: process.pid }) + '\n');
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`tftp standalone: ${(e as Error).message}\n`);
  process.exit(1);
});
