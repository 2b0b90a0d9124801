/**
 * `statelesx image sync --from URL [--image NAME ...] [--json]`: fills this machine's images
 * directory (config `images-dir`) with the images of another statelesx server, read through its
 * REST API (`GET /api/v1/images`, `/{name}/manifest`, `/{name}/files/*`; a viewer token is enough)
 * with the remote CLI's client, token, CA and exit codes (./remote). The copying, checking and
 * atomic rename are src/images/sync.ts.
 *
 * Exit status: 0 when every image is `synced` or `present`; 1 when one is a `conflict` or `failed`
 * (or on Ctrl-C, 130, after removing the partial copy); otherwise the remote CLI's codes for the
 * image list (2 no token or a bad option, 3 refused token, 6 unreachable).
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.js';
import { checkBootPath } from '../boot/files/path.js';
import { syncImages, type ImageSyncOutcome, type ImageSyncSource, type SyncProgress } from '../images/sync.js';
import type { ApiClient } from './remote/client.js';
import { clientForUrl } from './remote/dispatch.js';
import { EXIT, UsageError } from './remote/errors.js';
import { printJson, table } from './remote/format.js';
import { configOption } from './common.js';

/** The images of the server behind `api`, as a sync source. */
export function apiImageSource(api: ApiClient): ImageSyncSource {
  const img = (name: string) => `/api/v1/images/${encodeURIComponent(name)}`;
  return {
    label: api.target.server,
    names: async () => (await api.json<Array<{ name: string }>>('GET', '/api/v1/images')).map((i) => i.name),
    manifest: (name) => api.json('GET', `${img(name)}/manifest`),
    file: async (name, path, signal) => {
      const res = await api.download(`${img(name)}/files/${path.split('/').map(encodeURIComponent).join('/')}`, signal);
      return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    },
  };
}

function human(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** A progress line on a terminal (stderr), redrawn at most 10 times a second. */
function progressLine(columns: number): { update: (p: SyncProgress) => void; clear: () => void } {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.file !== '') return;
      last = now;
      const line = `${p.image}  ${Math.min(p.filesDone + 1, p.files)}/${p.files} files  ${human(p.bytesDone)}/${human(p.bytes)}  ${p.file}`;
      process.stderr.write(`\r\x1b[K${line.slice(0, Math.max(20, columns - 1))}`);
      drawn = true;
    },
    clear() {
      if (drawn) process.stderr.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** The summary: a table on stdout, the reasons of conflicts and failures on stderr. */
function printSummary(outcomes: ImageSyncOutcome[], from: string): void {
  if (outcomes.length === 0) {
    process.stderr.write(`no images on ${from}\n`);
    return;
  }
  process.stdout.write(
    table(
      ['IMAGE', 'FILES', 'BYTES', 'RESULT'],
      outcomes.map((o) => [o.image, String(o.files), human(o.bytes), o.result]),
    ),
  );
  for (const o of outcomes) if (o.error) process.stderr.write(`${o.result}: ${o.image}: ${o.error}\n`);
}

/**
 * Registers `image sync` on the `image` command group.
 * @param load the command's configuration (`--config`, `--images-dir`)
 */
export function registerImageSync(
  image: Command,
  load: (opts: Record<string, string | undefined>) => LoadedConfig,
): void {
  configOption(image.command('sync'))
    .description(
      "copy another statelesx server's images into this server's images directory (a new server joining a site); " +
        'files are checked against the source manifest (size, SHA-256) and each image appears at once, complete, or not at all; ' +
        'an image already here with other files is a conflict and is left alone. Works while the local server runs ' +
        '(it only adds directories). The token: $STATELESX_TOKEN or the client file (a viewer token is enough). ' +
        'Exit status 1 when an image is a conflict or failed; 2, 3 and 6 as for the remote CLI',
    )
    .requiredOption('--from <url>', 'the source server (its administration API, e.g. https://a.example:8080)')
    .option('--image <name>', 'only this image (repeat for several; default: every image of the source)', collect)
    .option('--images-dir <dir>', 'images directory (default from the config, ./images)')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      if (cmd.optsWithGlobals<{ server?: string }>().server !== undefined)
        throw new UsageError(
          "image sync fills this machine's images directory: name the source with --from URL and leave out --server",
        );
      const loaded = load({
        config: opts['config'] as string | undefined,
        imagesDir: opts['imagesDir'] as string | undefined,
      });
      const api = clientForUrl(cmd, opts['from'] as string, '--from');
      const names = (opts['image'] as string[] | undefined) ?? [];
      const tty = process.stderr.isTTY === true && !opts['json'];
      const progress = tty ? progressLine(process.stderr.columns || 80) : undefined;
      const abort = new AbortController();
      const stop = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let outcomes: ImageSyncOutcome[];
      try {
        outcomes = await syncImages({
          imagesDir: loaded.config['images-dir'],
          source: apiImageSource(api),
          ...(names.length ? { images: names } : {}),
          checkPath: checkBootPath,
          ...(progress ? { onProgress: progress.update } : {}),
          signal: abort.signal,
        });
      } catch (e) {
        progress?.clear();
        if (abort.signal.aborted) {
          process.stderr.write('statelesx: image sync interrupted; the partial copy was removed\n');
          process.exit(130);
        }
        throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      progress?.clear();
      const from = api.target.server;
      if (opts['json']) printJson({ from, imagesDir: loaded.config['images-dir'], images: outcomes });
      else printSummary(outcomes, from);
      if (outcomes.some((o) => o.result === 'conflict' || o.result === 'failed')) process.exitCode = EXIT.failed;
    });
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}
