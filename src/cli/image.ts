/**
 * `statelesx image import|list|remove|sync`: manage image versions in `images-dir`.
 * Calls the same modules as the API (src/images); pins come from the store and the cluster files.
 * `list` and `remove` also work against a server (`--server`: `/api/v1/images`); `sync` copies
 * another server's images here (./image-sync.ts).
 */
import { storeTarget } from '../config/store-target.js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, ConfigError, type LoadedConfig } from '../config/load.js';
import { ImageError, ImageLibrary, type ImageManifest } from '../images/image.js';
import { importImage, type ImportProgress } from '../images/import.js';
import { openStore } from '../store/index.js';
import { clusterImagePins } from '../hosts/policy.js';
import { configOption, resolveConfigPath } from './common.js';
import { remoteOr } from './remote/dispatch.js';
import type { ApiClient } from './remote/client.js';
import { table, when } from './remote/format.js';
import { registerImageSync } from './image-sync.js';

/** An image as the API lists it (Image schema). */
interface ApiImage {
  name: string;
  kind: string;
  version?: string;
  build?: string;
  importedAt?: number;
  files?: number;
  bytes?: number;
}

/** `image list` on a server: a table, or `{images}` as JSON. */
async function remoteImageList(api: ApiClient, opts: { json?: boolean }): Promise<void> {
  const images = await api.json<ApiImage[]>('GET', '/api/v1/images');
  if (opts.json) return void process.stdout.write(JSON.stringify({ images }, null, 2) + '\n');
  if (images.length === 0) return void process.stderr.write(`no images on ${api.target.server}\n`);
  process.stdout.write(
    table(
      ['NAME', 'KIND', 'VERSION', 'BUILD', 'FILES', 'SIZE', 'IMPORTED'],
      images.map((m) => [
        m.name,
        m.kind,
        m.version ?? '-',
        m.build ?? '-',
        String(m.files ?? '-'),
        m.bytes === undefined ? '-' : human(m.bytes),
        when(m.importedAt),
      ]),
    ),
  );
}

/** `image remove NAME` on a server (refused with 409 while a host is pinned to it). */
async function remoteImageRemove(api: ApiClient, name: string): Promise<void> {
  await api.call('DELETE', `/api/v1/images/${encodeURIComponent(name)}`);
  process.stdout.write(`removed ${name} from ${api.target.server}\n`);
}

/** Cluster-file pins of an image; replaceable for tests and for the server's already-loaded clusters. */
export type ClusterPinSource = (configLoaded: LoadedConfig, image: string) => Promise<string[]>;

/** Reads every `*.xml` in `clusters-dir` with the cluster loader and lists who pins `image`. */
export const clusterPinsFromFiles: ClusterPinSource = async (loaded, image) => {
  const dir = loaded.config['clusters-dir'];
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.xml')).map((f) => join(dir, f));
  } catch {
    return [];
  }
  if (files.length === 0) return [];
  const { loadClusterFiles } = await import('../clusters/load.js');
  const results = await loadClusterFiles(files, { context: { templatesDir: loaded.config['templates-dir'] } });
  const pins = clusterImagePins(
    results.flatMap((r) => (r.cluster ? [r.cluster] : [])),
    image,
  );
  for (const r of results)
    if (!r.cluster)
      process.stderr.write(
        `warning: ${r.file}: not loaded (${r.diagnostics.length} problem(s)); its pins are not checked\n`,
      );
  return pins;
};

function load(opts: Record<string, string | undefined>): LoadedConfig {
  try {
    const flags: Record<string, string | undefined> = { 'images-dir': opts['imagesDir'], 'data-dir': opts['dataDir'] };
    return loadConfig({ ...resolveConfigPath(opts['config']), flags });
  } catch (e) {
    if (e instanceof ConfigError) throw new Error(`configuration error\n${e.message}`, { cause: e });
    throw e;
  }
}

function human(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** One progress line per event on stderr (pipes stay readable; no terminal control codes). */
function printProgress(p: ImportProgress): void {
  const bytes = p.bytesTotal ? ` ${human(p.bytes)}/${human(p.bytesTotal)}` : '';
  process.stderr.write(`${p.phase} ${p.done}/${p.total}${bytes} ${p.file}\n`);
}

function summary(m: ImageManifest): string {
  const bytes = m.files.reduce((a, f) => a + f.size, 0);
  const what =
    m.kind === 'esxi' ? `ESXi ${m.esxi?.version ?? '?'} build ${m.esxi?.build ?? '?'}` : `linux ${m.linux?.kernel}`;
  return `${m.name}\t${m.kind}\t${what}\t${m.files.length} files\t${human(bytes)}\t${m.importedAt}`;
}

/**
 * Registers `image import`, `image list` and `image remove`.
 * @param clusterPins where cluster-file pins come from (default: the cluster XML files)
 */
export function registerImage(program: Command, clusterPins: ClusterPinSource = clusterPinsFromFiles): void {
  const image = program
    .command('image')
    .description('image versions: import an ESXi ISO or a directory, list, remove, sync from another server');

  configOption(image.command('import <source>'))
    .description(
      'import an ESXi installer ISO, a directory copied from one, or a Linux image directory (with image.json)',
    )
    .option('--name <name>', 'image name (default esxi-<version>-<build>, or the source name)')
    .option('--images-dir <dir>', 'images directory (default from the config, ./images)')
    .option('-q, --quiet', 'no progress output')
    .action(async (source: string, opts: Record<string, string | undefined>) => {
      const loaded = load(opts);
      try {
        const m = await importImage({
          source,
          imagesDir: loaded.config['images-dir'],
          ...(opts['name'] ? { name: opts['name'] } : {}),
          ...(opts['quiet'] ? {} : { onProgress: printProgress }),
        });
        process.stdout.write(`imported ${summary(m)}\n`);
      } catch (e) {
        if (e instanceof ImageError) throw new Error(`import refused: ${e.message}`, { cause: e });
        throw e;
      }
    });

  configOption(image.command('list'))
    .description('list imported images')
    .option('--images-dir <dir>', 'images directory')
    .option('--json', 'print the manifests as JSON')
    .action(
      remoteOr(remoteImageList, async (opts: Record<string, string | undefined>) => {
        const loaded = load(opts);
        const { images, broken } = await new ImageLibrary(loaded.config['images-dir']).list();
        if (opts['json']) {
          process.stdout.write(JSON.stringify({ images, broken }, null, 2) + '\n');
          return;
        }
        for (const m of images) process.stdout.write(summary(m) + '\n');
        for (const b of broken) process.stderr.write(`broken: ${b.name}: ${b.error}\n`);
        if (images.length === 0 && broken.length === 0)
          process.stderr.write(`no images in ${loaded.config['images-dir']}\n`);
      }),
    );

  configOption(image.command('remove <name>'))
    .description('remove an image version (refused while a host or cluster is pinned to it)')
    .option('--images-dir <dir>', 'images directory')
    .option('--data-dir <dir>', 'store directory (host pins)')
    .action(
      remoteOr(remoteImageRemove, async (name: string, opts: Record<string, string | undefined>) => {
        const loaded = load(opts);
        const store = await openStore(storeTarget(loaded.config));
        try {
          const cluster = await clusterPins(loaded, name);
          await new ImageLibrary(loaded.config['images-dir']).remove(name, async (img) => [
            ...(await store.hosts.pinnedTo(img)).map((u) => `host ${u}`),
            ...cluster,
          ]);
          // The site's image catalog forgets it (another server that still has it publishes it again).
          await store.imageCatalog.delete(name);
          process.stdout.write(`removed ${name}\n`);
        } catch (e) {
          if (e instanceof ImageError) throw new Error(`remove refused: ${e.message}`, { cause: e });
          throw e;
        } finally {
          store.close();
        }
      }),
    );

  registerImageSync(image, load);
}
