/** Options and helpers shared by CLI commands. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';

/** Adds `--config <file>` (default: ./statelesx.yaml when it exists). */
export function configOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (default ./statelesx.yaml, or $STATELESX_CONFIG)');
}

/** Where the config comes from: the flag, $STATELESX_CONFIG, or ./statelesx.yaml if present. */
export function resolveConfigPath(flag: string | undefined): { configPath?: string; explicit: boolean } {
  if (flag) return { configPath: flag, explicit: true };
  const env = process.env['STATELESX_CONFIG'];
  if (env) return { configPath: env, explicit: true };
  if (existsSync('statelesx.yaml')) return { configPath: 'statelesx.yaml', explicit: false };
  return { explicit: false };
}
