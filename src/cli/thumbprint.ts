/**
 * `statelesx thumbprint reset <uuid|fqdn>`: forgets the SSL thumbprints recorded for a host, so the
 * next boot's phone-home is trusted again (src/hosts/thumbprint-reset.ts). The same as
 * `host reset-thumbprint`: on the local data directory, or with `--server` through
 * `DELETE /api/v1/hosts/{id}/thumbprint`.
 */
import type { Command } from 'commander';
import { configOption } from './common.js';
import { resetHostThumbprint } from './host.js';
import { remoteThumbprintReset } from './host-remote.js';
import { remoteOr } from './remote/dispatch.js';

/** Registers `statelesx thumbprint reset`. */
export function registerThumbprint(program: Command): void {
  const group = program.command('thumbprint').description('SSL thumbprints recorded for hosts (trust on first use)');
  configOption(
    group
      .command('reset <id>')
      .description(
        'forget the thumbprints recorded for a host (hardware UUID or FQDN); its next phone-home is trusted again',
      ),
  )
    .option('--data-dir <dir>', 'SQLite store directory (default: data-dir from the config, ./data)')
    .option('--json', 'JSON output (with --server)')
    .action(remoteOr(remoteThumbprintReset, resetHostThumbprint));
}
