/**
 * `statelesx cluster history NAME [--json]`, `cluster diff NAME FROM [TO] [--json]`,
 * `cluster revert NAME COMMIT [--json]`: the git history of a cluster file (src/clusters/history.ts).
 * The commands print what a {@link ClusterHistorySource} answers: {@link localHistory} reads the
 * clusters directory of the configuration (local mode); with a server (`--server`,
 * `$STATELESX_SERVER`; src/cli/remote) ./cluster-history-remote.ts answers the same from the API
 * (`GET /api/v1/clusters/{name}/history`, `…/diff`, `POST …/revert`), printed by the same code.
 * The local `revert` refuses while a server holds the data-dir: the server owns the files then
 * (use its API, or this command with `--server`).
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ClusterRepository } from '../clusters/repository.js';
import { ClusterHistoryError, type ClusterDiff, type ClusterVersion } from '../clusters/history.js';
import { ClusterValidationError, formatDiagnostic } from '../clusters/diagnostics.js';
import { DataDirBusyError, lockDataDir } from '../store/datadir-lock.js';
import { configOption, resolveConfigPath } from './common.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteHistory } from './cluster-history-remote.js';

/** The outcome of a revert: the new version saved, or the problems of the old one (nothing written). */
export type RevertOutcome =
  { saved: true; revertedTo: string } | { saved: false; revertedTo: string; problems: string[] };

/** Where the history commands get their answers: the local clusters directory, or a server's API. */
export interface ClusterHistorySource {
  /** Commits that touched the file, newest first. @throws Error when there is no such cluster file */
  versions(name: string): Promise<ClusterVersion[]>;
  /** The diff from `from` to `to` (a commit or `working`). @throws Error for an unknown commit */
  diff(
    name: string,
    from: string,
    to: string,
  ): Promise<Pick<ClusterDiff, 'file' | 'from' | 'to' | 'unified' | 'hunks'>>;
  /** Saves the version of `commit` as a new commit, validated like any save. */
  revert(name: string, commit: string): Promise<RevertOutcome>;
}

/** Output streams (tests pass their own). */
export interface HistoryIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: HistoryIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/**
 * The clusters directory of `config` as a {@link ClusterHistorySource}. Names are cluster names or
 * file names (without `.xml`), as in the API. Revert commits as `cli:<login name>`.
 */
export function localHistory(config: Config): ClusterHistorySource {
  const repo = new ClusterRepository({
    dir: config['clusters-dir'],
    context: {
      vcenters: config.vcenters.map((v) => v.name),
      credentials: config.credentials.map((c) => c.name),
      templatesDir: config['templates-dir'],
    },
    history: true,
  });
  let loaded: Promise<void> | undefined;
  const fileOf = async (name: string): Promise<string> => {
    await (loaded ??= repo.reload());
    const s = repo.files().find((f) => f.cluster?.name === name) ?? repo.files().find((f) => f.name === name);
    return s?.name ?? name;
  };
  return {
    versions: async (name) => {
      const file = await fileOf(name);
      const list = await repo.exclusive(async () => {
        await repo.prepareHistory();
        return repo.history!.versions(`${file}.xml`);
      });
      if (!list.length) throw new Error(`no cluster file ${name} in ${repo.dir}`);
      return list;
    },
    diff: async (name, from, to) => repo.history!.diff(`${await fileOf(name)}.xml`, from, to),
    revert: async (name, commit) => {
      const file = await fileOf(name);
      const id = await repo.history!.resolveCommit(commit);
      const xml = await repo.history!.readAt(`${file}.xml`, id);
      const author = `cli:${userInfo().username}`;
      try {
        await repo.putText(file, xml, {
          change: { author: { name: author }, message: `revert cluster ${name} to ${id.slice(0, 12)}` },
        });
        return { saved: true, revertedTo: id };
      } catch (e) {
        if (e instanceof ClusterValidationError)
          return { saved: false, revertedTo: id, problems: e.diagnostics.map(formatDiagnostic) };
        throw e;
      }
    },
  };
}

/** `cluster history`: one line per version (`id  time  author  message`), or JSON. @returns exit code */
export async function runHistory(
  src: ClusterHistorySource,
  name: string,
  opts: { json?: boolean },
  io: HistoryIo = processIo,
): Promise<number> {
  const list = await src.versions(name);
  if (opts.json) io.out(`${JSON.stringify(list, null, 2)}\n`);
  else {
    for (const v of list) {
      const when = new Date(v.time).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
      io.out(`${v.id.slice(0, 12)}  ${when}  ${v.author.padEnd(16)}  ${v.message}\n`);
    }
  }
  return 0;
}

/**
 * `cluster diff`: the unified diff, or JSON `{file, from, to, unified, hunks}` (the API's answer).
 * @returns exit code 0 equal, 1 different
 */
export async function runDiff(
  src: ClusterHistorySource,
  name: string,
  from: string,
  to: string,
  opts: { json?: boolean },
  io: HistoryIo = processIo,
): Promise<number> {
  const d = await src.diff(name, from, to);
  const { file, unified, hunks } = d;
  if (opts.json) io.out(`${JSON.stringify({ file, from: d.from, to: d.to, unified, hunks }, null, 2)}\n`);
  else io.out(d.unified);
  return d.hunks.length ? 1 : 0;
}

/**
 * `cluster revert`: saves the old version as a new commit; `--json` prints the {@link RevertOutcome}.
 * @returns exit code 0 saved, 1 refused (the old version does not validate; nothing written)
 */
export async function runRevert(
  src: ClusterHistorySource,
  name: string,
  commit: string,
  opts: { json?: boolean } = {},
  io: HistoryIo = processIo,
): Promise<number> {
  const r = await src.revert(name, commit);
  if (opts.json) {
    io.out(`${JSON.stringify(r, null, 2)}\n`);
    return r.saved ? 0 : 1;
  }
  if (r.saved) {
    io.out(`cluster ${name} reverted to ${r.revertedTo.slice(0, 12)} (a new commit)\n`);
    return 0;
  }
  io.err(
    `statelesx: the version of ${name} in ${r.revertedTo.slice(0, 12)} does not validate; nothing was saved\n${r.problems.join('\n')}\n`,
  );
  return 1;
}

/** Runs a history command: configuration errors exit 2, other errors print and exit 1. */
async function guarded(opts: { config?: string }, fn: (config: Config) => Promise<number>): Promise<void> {
  try {
    const { config } = loadConfig(resolveConfigPath(opts.config));
    process.exitCode = await fn(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`statelesx: configuration error\n${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof ClusterHistoryError || e instanceof DataDirBusyError || e instanceof Error) {
      process.stderr.write(`statelesx: ${e.message}\n`);
      process.exitCode = 1;
    } else throw e;
  }
}

/** Registers `history`, `diff` and `revert` under `statelesx cluster` (local, or remote with a server). */
export function registerClusterHistoryCommands(cluster: Command): void {
  type Opts = { config?: string; json?: boolean };
  configOption(
    cluster
      .command('history <name>')
      .description('list the versions (git commits) of a cluster file: id, time, author, change'),
  )
    .option('--json', 'print the versions as JSON')
    .action(
      remoteOr(
        (api, name: string, opts: Opts) => exit(runHistory(remoteHistory(api), name, opts)),
        (name: string, opts: Opts) => guarded(opts, (config) => runHistory(localHistory(config), name, opts)),
      ),
    );
  configOption(
    cluster
      .command('diff <name> <from> [to]')
      .description(
        'unified diff of a cluster file between two versions (to: a commit, default working = on disk); exit 1 when they differ',
      ),
  )
    .option('--json', 'print the diff with its hunks as JSON')
    .action(
      remoteOr(
        (api, name: string, from: string, to: string | undefined, opts: Opts) =>
          exit(runDiff(remoteHistory(api), name, from, to ?? 'working', opts)),
        (name: string, from: string, to: string | undefined, opts: Opts) =>
          guarded(opts, (config) => runDiff(localHistory(config), name, from, to ?? 'working', opts)),
      ),
    );
  configOption(
    cluster
      .command('revert <name> <commit>')
      .description(
        'save the version of a cluster file from a commit as a new commit, validated like any save (locally refused while a server runs: pass --server)',
      ),
  )
    .option('--json', 'print the outcome as JSON')
    .action(
      remoteOr(
        (api, name: string, commit: string, opts: Opts) => exit(runRevert(remoteHistory(api), name, commit, opts)),
        (name: string, commit: string, opts: Opts) =>
          guarded(opts, async (config) => {
            const lock = lockDataDir(config['data-dir'], 'cli');
            try {
              return await runRevert(localHistory(config), name, commit, opts);
            } finally {
              lock.release();
            }
          }),
      ),
    );
}

/** Sets the exit code a remote history command returned (its errors reach main's handler). */
async function exit(code: Promise<number>): Promise<void> {
  process.exitCode = await code;
}
