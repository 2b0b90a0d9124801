/** Options and helpers shared by CLI commands. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

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

/**
 * The configuration of a command that reads an existing store (`--config`, `--data-dir`). Exits
 * the process: 2 with the error on a configuration error, 1 when `<data-dir>/statelesx.db` does
 * not exist (the server never ran there: nothing to read, and creating an empty store would hide
 * a wrong --data-dir).
 */
export function existingStoreConfig(opts: { config?: string; dataDir?: string }): Config {
  let config: Config;
  try {
    config = loadConfig({ ...resolveConfigPath(opts.config), flags: { 'data-dir': opts.dataDir } }).config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`statelesx: configuration error\n${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const dataDir = config['data-dir'];
  if (!existsSync(join(dataDir, 'statelesx.db'))) {
    process.stderr.write(
      `statelesx: no store in ${dataDir} (statelesx.db missing): start the server once, or pass --data-dir\n`,
    );
    process.exit(1);
  }
  return config;
}
