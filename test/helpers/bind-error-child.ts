/**
 * Child of bind-errors.test.ts, run as an unprivileged user (setpriv): starts the TFTP server on
 * `127.0.0.1:<port>` (argv[2], a port below 1024) and prints the start() failure as one JSON line
 * `{ name, code, port, message }` (or `{ started: true }` if the bind unexpectedly succeeded).
 */
import { createTftpServer } from '../../src/boot/tftp/server.js';
import { directorySource } from '../../src/boot/tftp/dir-source.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { BindError } from '../../src/net/bind-error.js';

const port = Number(process.argv[2]);
const s = createTftpServer({
  source: directorySource('/nonexistent'),
  address: '127.0.0.1',
  port,
  limits: configSchema.parse({}).tftp,
  log: silentLogger,
});
try {
  await s.start();
  await s.close();
  process.stdout.write(`${JSON.stringify({ started: true, uid: process.getuid?.() })}\n`);
} catch (e) {
  const b = e as BindError;
  process.stdout.write(
    `${JSON.stringify({ name: b.name, isBindError: b instanceof BindError, code: b.code, port: b.port, message: b.message })}\n`,
  );
}
