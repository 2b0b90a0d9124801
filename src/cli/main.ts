#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The `statelesx` command line. One file per command group under src/cli/; each registers
 * itself on the commander program and calls the same modules as the REST API.
 */
import { Command } from 'commander';
import { registerServe } from './serve.js';
import { registerImage } from './image.js';
import { registerHost } from './host.js';
import { registerCluster } from './cluster.js';
import { registerUser } from './user.js';
import { registerToken } from './token.js';

const program = new Command();
program
  .name('statelesx')
  .description('Stateless ESXi provisioning: PXE boot, phone-home, vCenter cluster convergence')
  .version('0.1.0');

registerServe(program);
registerImage(program);
registerHost(program);
registerCluster(program);
registerUser(program);
registerToken(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`statelesx: ${(e as Error).message}\n`);
  process.exit(1);
});
