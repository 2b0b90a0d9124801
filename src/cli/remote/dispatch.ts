/**
 * How a command chooses between the local data directory and a server: {@link remoteOr} wraps a
 * commander action so that with a remote target (./target.ts) the remote implementation runs with
 * an {@link ApiClient}, otherwise the local one (or a clear error for server-only commands).
 *
 * `--ca FILE`: Node's built-in fetch takes its trusted CAs from the process (there is no per-request
 * CA option without the undici package), so the CLI runs itself once more with
 * `NODE_EXTRA_CA_CERTS=FILE` (Node's documented way to add CAs to the bundled roots, read at start)
 * and exits with the child's status. The CA file is checked first (./target.ts).
 */
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { ApiClient } from './client.js';
import { UsageError } from './errors.js';
import { remoteTarget, type RemoteOptions, type RemoteTarget } from './target.js';

/** Options of the local mode that make no sense against a server. */
const LOCAL_ONLY = ['dataDir', 'config', 'imagesDir'] as const;

/**
 * The API client of a command run against a server, or undefined in the local mode.
 * @throws UsageError as {@link remoteTarget}, or when a local-only option (--data-dir, --config,
 *   --images-dir) is given with a server
 */
export function clientFor(cmd: Command): ApiClient | undefined {
  const opts = cmd.optsWithGlobals<RemoteOptions & Record<string, unknown>>();
  const target = remoteTarget(opts);
  if (!target) return undefined;
  const flag = LOCAL_ONLY.find((k) => opts[k] !== undefined && cmd.getOptionValueSource(k) === 'cli');
  if (flag)
    throw new UsageError(
      `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for the local mode; against ${target.server} (${target.from.server}) leave it out, or pass --local`,
    );
  if (target.ca) reexecWithCa(target);
  return new ApiClient(target);
}

/**
 * The API client of a command that reads another server named by its own option (`image sync
 * --from URL`) while working on the local machine: that URL, the token and CA as for `--server`
 * (`$STATELESX_TOKEN` or the 0600 client file; `--ca`, `$STATELESX_CA`, `ca:`).
 * @param flag the option's name for messages (`--from`)
 * @throws UsageError as {@link remoteTarget} (bad URL, no token, unreadable CA file)
 */
export function clientForUrl(cmd: Command, url: string, flag: string): ApiClient {
  const { ca } = cmd.optsWithGlobals<RemoteOptions>();
  const target = remoteTarget({ server: url, serverFlag: flag, ...(ca !== undefined ? { ca } : {}) });
  if (!target) throw new UsageError(`${flag}: no server URL`);
  if (target.ca) reexecWithCa(target);
  return new ApiClient(target);
}

/** Re-runs this CLI with NODE_EXTRA_CA_CERTS=ca unless it already runs so, and exits with its status. */
function reexecWithCa(target: RemoteTarget): void {
  if (process.env['NODE_EXTRA_CA_CERTS'] === target.ca) return;
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: target.ca },
  });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

/**
 * A commander action that runs `remote` with the API client when the command targets a server,
 * else `local`. Without `local` the command needs a server and says so.
 * @param local the data-directory implementation (same arguments as commander passes)
 */
export function remoteOr<R extends unknown[], L extends unknown[]>(
  remote: (api: ApiClient, ...args: R) => Promise<void>,
  local?: (...args: L) => Promise<void> | void,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const api = clientFor(cmd);
    if (api) return remote(api, ...(args as R));
    if (local) return local(...(args as L));
    throw new UsageError(
      `statelesx ${cmd.parent?.name() ?? ''} ${cmd.name()} talks to a running server: pass --server URL (or set STATELESX_SERVER) and STATELESX_TOKEN`,
    );
  };
}
