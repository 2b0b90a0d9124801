/**
 * HTTP boot: a fastify plugin serving the boot file tree (the same {@link BootFileSource} TFTP
 * uses) under `/boot/` for iPXE and UEFI HTTP boot.
 *
 * - `GET` and `HEAD`; files stream from disk (never read whole), rendered files are small buffers.
 * - RFC 9110: `ETag` (§8.8.3) and `Last-Modified` (§8.8.2), conditional `If-None-Match` /
 *   `If-Modified-Since` → 304 (§13.1), single byte `Range` → 206 with `Content-Range` (§14),
 *   `If-Range` (§13.1.5), unsatisfiable ranges → 416 with `Content-Range: bytes *\/<size>`;
 *   multi-range requests get the whole file (§14.2 allows ignoring Range).
 * - Path rules are the TFTP ones (src/boot/files/path.ts): a refused path → 403, missing → 404.
 *   The path is taken from the raw URL and percent-decoded once, so `%2e%2e` is `..` (refused).
 *
 * Register with `app.register(bootHttpPlugin, { source })`; the route is `/boot/*`.
 *
 * Metrics (every GET with a body; HEAD, 304 and errors before the body are not downloads):
 * `statelesx_http_boot_downloads_total{result}` (complete | aborted: the client went away |
 * error: the file could not be opened or read), `statelesx_http_boot_bytes_sent_total` (body
 * bytes the socket accepted, so an aborted download counts only what was sent) and
 * `statelesx_http_boot_active_downloads`.
 */
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { BootFile, BootFileSource } from '../files/types.js';
import { PathRejectedError } from '../files/path.js';
import { ReadBufferPool, streamFileRange } from './file-stream.js';
import { loadSendfile, type Sendfile } from './sendfile.js';
import { counter, gauge } from '../../metrics.js';

/** How an HTTP boot download ended (label `result`). */
export type BootDownloadResult = 'complete' | 'aborted' | 'error';

const downloads = counter(
  'http_boot_downloads_total',
  'HTTP boot (/boot/) GET downloads with a body, by result (complete, aborted, error)',
  ['result'] as const,
);
const bytesSent = counter(
  'http_boot_bytes_sent_total',
  'HTTP boot (/boot/) body bytes accepted by the socket (a download cut short counts only what was sent)',
);
const activeDownloads = gauge('http_boot_active_downloads', 'HTTP boot (/boot/) downloads whose body is being sent');

export interface BootHttpOptions {
  source: BootFileSource;
  /** URL prefix, default `/boot` (no trailing slash). */
  urlPrefix?: string;
  /** Read buffers shared by all downloads (default: a pool with a 16 MiB budget). */
  bufferPool?: ReadBufferPool;
  /**
   * Send disk files with sendfile(2) on plain TCP sockets (./sendfile.ts), default true; false, a
   * TLS listener or an addon that is not built: the copy through `bufferPool`.
   */
  zeroCopy?: boolean;
}

/** A parsed single byte range, inclusive offsets. */
export type ByteRange = { start: number; end: number };

/**
 * Parses a `Range` header for a representation of `size` bytes (RFC 9110 §14.1.2).
 * @returns the range, `'unsatisfiable'`, or null when the header is absent, malformed or asks for
 *   several ranges (the caller then sends the whole file)
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

function etagOf(f: BootFile): string {
  if (f.kind === 'rendered') return `"r-${createHash('sha1').update(f.data).digest('base64url')}"`;
  return `"${f.size.toString(16)}-${Math.floor(f.mtimeMs).toString(16)}"`;
}

function contentTypeOf(f: BootFile, name: string): string {
  if (f.kind === 'rendered') return f.contentType ?? 'text/plain; charset=utf-8';
  if (/\.(cfg|ipxe|txt|json)$/i.test(name)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

function clientAddress(req: FastifyRequest): string {
  return req.ip.replace(/^::ffff:/, '');
}

/** Matches `If-None-Match` (weak comparison, RFC 9110 §13.1.2) against our ETag. */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .includes(etag);
}

/**
 * The boot file `name` resolves to (null: none), or undefined when the answer (403 for a refused
 * path, 500 for a failed lookup) has already been sent.
 */
async function lookup(
  source: BootFileSource,
  name: string,
  rawPath: string,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<BootFile | null | undefined> {
  let file: BootFile | null;
  try {
    file = await source.resolve(name, {
      protocol: 'http',
      clientAddress: clientAddress(req),
      clientPort: req.socket.remotePort,
      requestId: String(req.id),
    });
  } catch (e) {
    if (e instanceof PathRejectedError) {
      req.log.warn({ path: rawPath, reason: e.reason }, 'boot path refused');
      reply.code(403).type('text/plain').send(`${e.message}\n`);
      return undefined;
    }
    req.log.error({ err: e, path: rawPath }, 'boot file lookup failed');
    reply.code(500).type('text/plain').send('internal error\n');
    return undefined;
  }
  return file;
}

/**
 * Sends bytes `range.start`..`range.end` of `file` (headers already set) and counts the download:
 * rendered files from memory, disk files through reused read buffers.
 */
async function sendBody(
  req: FastifyRequest,
  reply: FastifyReply,
  file: BootFile,
  range: { start: number; end: number; length: number },
  pool: ReadBufferPool,
  rawPath: string,
  sendfile: Sendfile | undefined,
): Promise<FastifyReply | undefined> {
  const { start, end, length } = range;
  activeDownloads.inc();
  if (file.kind === 'rendered') {
    // 'finish': the whole body went to the socket; 'close' without it: the client went away.
    reply.raw.once('close', () => {
      activeDownloads.dec();
      const done = reply.raw.writableFinished;
      downloads.inc({ result: done ? 'complete' : 'aborted' });
      if (done) bytesSent.inc(length);
    });
    return reply.send(file.data.subarray(start, end + 1));
  }
  // Disk files bypass fastify's stream piping: reused buffers, no per-chunk garbage (file-stream.ts).
  let written = 0;
  let result: BootDownloadResult = 'error';
  try {
    const failed = await streamFileRange(
      reply.raw,
      file.path,
      start,
      end,
      pool,
      () => {
        reply.hijack();
        reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
      },
      (n) => {
        written += n;
        bytesSent.inc(n);
      },
      sendfile,
    );
    if (failed) req.log.warn({ err: failed, path: rawPath }, 'boot file download cut short');
    else result = written === length ? 'complete' : 'aborted';
  } catch (e) {
    req.log.error({ err: e, path: rawPath }, 'boot file could not be opened');
    return reply.code(500).type('text/plain').send('internal error\n');
  } finally {
    activeDownloads.dec();
    downloads.inc({ result });
  }
}

// eslint-disable-next-line @typescript-eslint/require-await -- FastifyPluginAsync: fastify awaits the plugin; its one route registers synchronously
export const bootHttpPlugin: FastifyPluginAsync<BootHttpOptions> = async (app, opts) => {
  const prefix = (opts.urlPrefix ?? '/boot').replace(/\/$/, '');
  const pool = opts.bufferPool ?? new ReadBufferPool();
  let sendfile: Sendfile | undefined;
  if (opts.zeroCopy !== false) {
    const loaded = loadSendfile();
    if ('sendfile' in loaded) sendfile = loaded.sendfile;
    else app.log.warn({ reason: loaded.error }, 'HTTP boot sends files through user-space buffers (no sendfile)');
  }
  app.route({
    method: ['GET', 'HEAD'],
    url: `${prefix}/*`,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const rawPath = (req.raw.url ?? '').split('?')[0]!.slice(prefix.length + 1);
      let name: string;
      try {
        name = decodeURIComponent(rawPath);
      } catch {
        return reply.code(400).type('text/plain').send('bad percent-encoding in path\n');
      }
      const file = await lookup(opts.source, name, rawPath, req, reply);
      if (file === undefined) return reply;
      if (!file) return reply.code(404).type('text/plain').send('not found\n');

      const size = file.kind === 'disk' ? file.size : file.data.length;
      const etag = etagOf(file);
      const lastModified = new Date(Math.floor(file.mtimeMs / 1000) * 1000);
      reply.header('ETag', etag).header('Last-Modified', lastModified.toUTCString()).header('Accept-Ranges', 'bytes');
      reply.header('Content-Type', contentTypeOf(file, name));
      if (file.kind === 'rendered') reply.header('Cache-Control', 'no-store');

      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      if (
        inm !== undefined
          ? noneMatch(inm, etag)
          : ims !== undefined && !Number.isNaN(Date.parse(ims)) && lastModified.getTime() <= Date.parse(ims)
      ) {
        return reply.code(304).send();
      }

      let range = parseRange(req.headers.range, size);
      const ifRangeH = req.headers['if-range'];
      const ifRange = Array.isArray(ifRangeH) ? ifRangeH[0] : ifRangeH;
      if (range && ifRange !== undefined && ifRange.trim() !== etag && ifRange.trim() !== lastModified.toUTCString())
        range = null;
      if (range === 'unsatisfiable') {
        return reply
          .code(416)
          .header('Content-Range', `bytes */${size}`)
          .type('text/plain')
          .send('range not satisfiable\n');
      }
      const start = range ? range.start : 0;
      const end = range ? range.end : size - 1;
      const length = size === 0 ? 0 : end - start + 1;
      if (range) reply.code(206).header('Content-Range', `bytes ${start}-${end}/${size}`);
      reply.header('Content-Length', String(length));
      if (req.method === 'HEAD' || length === 0) return reply.send();
      return sendBody(req, reply, file, { start, end, length }, pool, rawPath, sendfile);
    },
  });
};
