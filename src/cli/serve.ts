/** `statelesx serve`: load config, start every service, stop cleanly on SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import { createLogger } from '../log.js';
import { startServer } from '../app/server.js';
import { configOption, resolveConfigPath } from './common.js';

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'run the boot service (TFTP, DHCP, HTTP /boot), the 1974 initiator listener, the engine and the console',
    );
  configOption(cmd)
    .option('--data-dir <dir>', 'SQLite store and state (default ./data)')
    .option('--images-dir <dir>', 'image versions, images/<name>/ (default ./images)')
    .option('--tftp-root <dir>', 'static boot files: loaders, pxelinux.cfg/default (default ./tftp)')
    .option('--clusters-dir <dir>', 'cluster XML files (default ./clusters)')
    .option('--templates-dir <dir>', 'kickstart templates (default ./templates)')
    .option('--listen-address <ip>', 'IPv4 address to bind (default 0.0.0.0)')
    .option('--advertise-address <ip>', 'address clients are told to use (next-server, URLs)')
    .option('--interface <name>', 'network interface for DHCP')
    .option('--tftp-port <port>', 'TFTP port (default 69)')
    .option('--http-address <ip>', 'address of the console, API and /metrics (default: --listen-address)')
    .option('--http-port <port>', 'HTTP port of the console, API and /metrics (default 8080)')
    .option('--boot-http-address <ip>', 'address of HTTP boot (/boot, phone-home) (default: --listen-address)')
    .option(
      '--boot-http-port <port>',
      'HTTP port of /boot and the HTTP phone-home (default 80; = --http-port: one port)',
    )
    .option('--initiator-port <port>', 'phone-home TCP port (default 1974)')
    .option('--dhcp-mode <mode>', 'off | proxy | full (default off)')
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace (default info)')
    .action(async (opts: Record<string, string | undefined>) => {
      let loaded;
      try {
        loaded = loadConfig({ ...resolveConfigPath(opts['config']), flags: flagsOf(opts) });
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`statelesx: configuration error\n${e.message}\n`);
          process.exit(2);
        }
        throw e;
      }
      const log = createLogger(loaded.config['log-level']);
      log.info({ config: loaded.file ?? '(defaults)' }, 'starting statelesx');
      let server;
      try {
        server = await startServer(loaded.config, log);
      } catch (e) {
        const err = e as Error;
        log.fatal({ err }, 'start failed');
        process.stderr.write(`statelesx: ${err.message}\n`);
        process.exit(1);
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping');
        await server.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}

function flagsOf(opts: Record<string, string | undefined>): Record<string, string | undefined> {
  // commander camel-cases flags; map back to their kebab names for the override table.
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(opts)) out[k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())] = v;
  return out;
}
