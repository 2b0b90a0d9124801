/**
 * `statelesx cluster ...`: the command group for cluster files. `validate FILE...` is here;
 * `plan`, `apply` and `drift` are added by the engine (`./cluster-engine.js`); `history`, `diff`
 * and `revert` by `./cluster-history.js`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import {
  formatDiagnostic,
  sortDiagnostics,
  type ClusterDiagnostic,
  type SourceIndex,
} from '../clusters/diagnostics.js';
import type { DesiredCluster } from '../clusters/types.js';
import { loadClusterFiles } from '../clusters/load.js';
import { checkAcrossFiles, type CheckedFile, type SemanticContext } from '../clusters/semantics.js';
import { registerClusterEngineCommands } from './cluster-engine.js';
import { registerClusterHistoryCommands } from './cluster-history.js';
import { configOption, resolveConfigPath } from './common.js';
import { remoteOr } from './remote/dispatch.js';
import { remoteValidate } from './cluster-remote.js';

/** Where `validate` writes: stdout for the per-file summary, stderr for diagnostics. */
export interface CliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

const processOutput: CliOutput = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
};

/**
 * Validates cluster files (XSD, semantics, and across the given files). When a configuration is
 * found (`--config`, $STATELESX_CONFIG or ./statelesx.yaml), the vCenter and credentials names
 * are checked against it (errors) and image names against `images-dir` (warnings: the server
 * loads a file whose image is not imported yet, and boots its hosts from local disk until it is;
 * see src/hosts/policy.ts).
 * @param files paths as the user typed them (diagnostics show them the same way)
 * @returns the exit code: 0 all valid (warnings allowed), 1 any problem, 2 configuration error
 */
export async function runClusterValidate(
  files: readonly string[],
  opts: { config?: string },
  io: CliOutput = processOutput,
): Promise<number> {
  let context: SemanticContext = {};
  let imageExists: ((name: string) => boolean) | undefined;
  const { configPath, explicit } = resolveConfigPath(opts.config);
  if (configPath) {
    try {
      const { config } = loadConfig({ configPath, explicit });
      const imagesDir = config['images-dir'];
      context = {
        vcenters: config.vcenters.map((v) => v.name),
        credentials: config.credentials.map((c) => c.name),
        templatesDir: config['templates-dir'],
      };
      imageExists = (name) => existsSync(join(imagesDir, name));
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(`statelesx: configuration error\n${e.message}`);
        return 2;
      }
      throw e;
    }
  } else {
    io.err('note: no configuration found; vCenter, credentials and image names are not checked (use --config)');
  }

  const results = await loadClusterFiles(files, { context });
  const shown = new Map(files.map((f) => [resolve(f), f]));
  const all: ClusterDiagnostic[] = results.flatMap((r) => r.diagnostics);
  const checked: CheckedFile[] = [];
  // Cross-file checks cover every file that passed the XSD, even with other problems: report all.
  for (const r of results) if (r.candidate && r.index) checked.push({ cluster: r.candidate, index: r.index });
  all.push(...checkAcrossFiles(checked));

  const bad = new Set(all.map((d) => d.file));
  // Files in the order they were given, each file's problems by position.
  const argOrder = new Map(files.map((f, i) => [resolve(f), i]));
  const rank = (f: string) => argOrder.get(f) ?? files.length;
  const ordered = sortDiagnostics(all).sort((a, b) => rank(a.file) - rank(b.file));
  for (const d of ordered) io.err(formatDiagnostic({ ...d, file: shown.get(d.file) ?? d.file }));
  if (imageExists) {
    for (const r of results) {
      if (!r.candidate || !r.index) continue;
      for (const w of missingImages(r.candidate, r.index, imageExists)) {
        io.err(`${shown.get(w.file) ?? w.file}:${w.line}:${w.column}: warning: ${w.path}: ${w.message}`);
      }
    }
  }
  for (const r of results) {
    if (!bad.has(r.file) && r.cluster) {
      const name = shown.get(r.file) ?? r.file;
      io.out(
        `${name}: ok (cluster ${r.cluster.name}, ${r.cluster.hosts.length} host${r.cluster.hosts.length === 1 ? '' : 's'})`,
      );
    }
  }
  return all.length ? 1 : 0;
}

/**
 * Warnings for the cluster's default image and host pins that name no imported image (in file
 * order). Not errors: the file is loaded anyway and those hosts boot from local disk until the
 * image is imported.
 */
function missingImages(c: DesiredCluster, index: SourceIndex, exists: (name: string) => boolean): ClusterDiagnostic[] {
  const out: ClusterDiagnostic[] = [];
  if (c.image && !exists(c.image)) {
    out.push(
      index.error(
        '/cluster/defaultImage',
        `image "${c.image}" is not imported (statelesx image import); until it is, hosts without a pin boot from local disk`,
      ),
    );
  }
  c.hosts.forEach((h, i) => {
    if (h.image && !exists(h.image)) {
      out.push(
        index.error(
          `/cluster/members/host[${i + 1}]/@image`,
          `image "${h.image}" pinned for ${h.fqdn} is not imported (statelesx image import); until it is, ${h.fqdn} boots from local disk`,
        ),
      );
    }
  });
  return out;
}

/** Registers `statelesx cluster` with `validate` and the engine's subcommands. */
export function registerCluster(program: Command): void {
  const group = program
    .command('cluster')
    .description('cluster files: validate them; plan, apply and check drift against vCenter; history, diff, revert');
  configOption(
    group
      .command('validate')
      .description('check cluster XML files against schemas/cluster.xsd and the semantic rules; exit 1 on any problem')
      .argument('<file...>', 'cluster XML files')
      .option('--json', 'with --server: the results as JSON'),
  ).action(
    remoteOr(remoteValidate, async (files: string[], opts: { config?: string }) => {
      const code = await runClusterValidate(files, opts);
      process.exitCode = code;
    }),
  );
  registerClusterEngineCommands(group);
  registerClusterHistoryCommands(group);
}
