#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The `statelesx` command line. One file per command group under src/cli/; each registers
 * itself on the commander program and calls the same modules as the REST API. With `--server URL`
 * (or `$STATELESX_SERVER`, or `server:` in the client file) the commands that read or change the
 * server's state go through its REST API instead (src/cli/remote); exit codes: remote/errors.ts.
 */
import { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerImage } from './image.js';
import { registerHost } from './host.js';
import { registerCluster } from './cluster.js';
import { registerUser } from './user.js';
import { registerToken } from './token.js';
import { registerJob } from './job.js';
import { registerThumbprint } from './thumbprint.js';
import { exitCodeOf } from './remote/errors.js';

const program = new Command();
program
  .name('statelesx')
  .description('Stateless ESXi provisioning: PXE boot, phone-home, vCenter cluster convergence')
  .version('0.1.0')
  .option(
    '--server <url>',
    'run against this statelesx server over its REST API (default $STATELESX_SERVER, or server: in ~/.config/statelesx/cli.yaml); the token comes from $STATELESX_TOKEN or that file',
  )
  .option(
    '--ca <file>',
    'PEM file with the CA of the server certificate (https; default $STATELESX_CA, or ca: in cli.yaml)',
  )
  .option('--local', 'use the local data directory even when a server is configured');

registerServe(program);
registerImage(program);
registerHost(program);
registerCluster(program);
registerUser(program);
registerToken(program);
registerJob(program);
registerThumbprint(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`statelesx: ${(e as Error).message}\n`);
  process.exit(exitCodeOf(e));
});
