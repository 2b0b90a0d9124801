/**
 * The file of a read request (RRQ), opened for a transfer: the path checks TFTP adds to the
 * resolver's, the resolver (boot/files), opening the file on disk and the size the client is told
 * (RFC 2349 tsize, netascii counted). What the server (server.ts) then negotiates and hands to a
 * data plane. A refused request throws {@link TftpRefusal}, carrying the ERROR packet to send.
 */
import { close as closeFd } from 'node:fs';
import type { Logger } from 'pino';
import type { BootFileSource, BootFile } from '../files/types.js';
import { PathRejectedError } from '../files/path.js';
import { ErrorCode, type RequestPacket } from './packet.js';
import {
  DiskOctetSource,
  DiskNetasciiSource,
  MemorySource,
  toNetascii,
  netasciiSizeOfFile,
  openReadOnly,
  type BlockSource,
} from './blocks.js';
import type { NativeSource } from './native-transfer.js';

/** Percent-encoded `.`, `/`, `\\` and NUL (and the overlong UTF-8 slash `%c0%af`). */
const ENCODED_PATH_CHARS = /%(2e|2f|5c|00|c0%af)/i;

/** A refused request: the TFTP error code (RFC 1350 §5) and message of the ERROR packet to send. */
export class TftpRefusal extends Error {
  override name = 'TftpRefusal';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The requested file, ready for either data plane. */
export interface RequestedFile {
  /** Bytes on the wire (netascii converted), or null when unknown (netascii from disk, tsize not asked). */
  transferSize: number | null;
  /** Block source for the JS data plane, in blocks of the negotiated blksize. */
  makeSource: (blksize: number) => BlockSource;
  /** The same bytes for the native data plane (an fd it closes, or the rendered data). */
  nativeSource: NativeSource;
}

/** Who asks, for the resolver and the logs. */
export interface RequestOrigin {
  clientAddress: string;
  clientPort: number;
  requestId: string;
  log: Logger;
}

/**
 * Resolves and opens the file `req` names. Netascii files on disk up to `netasciiTsizeLimit` bytes
 * are scanned when the client asks for tsize.
 * @throws TftpRefusal (logged here) for an unsafe path, a missing file or one that cannot be opened;
 *   anything else (the resolver's or the disk's errors) as thrown.
 */
export async function openRequestedFile(
  req: RequestPacket,
  source: BootFileSource,
  origin: RequestOrigin,
  netasciiTsizeLimit: number,
): Promise<RequestedFile> {
  const file = await resolveRequested(req, source, origin);
  const netascii = req.mode === 'netascii';
  if (file.kind === 'rendered') {
    const data = netascii ? toNetascii(file.data) : file.data;
    return { transferSize: data.length, makeSource: (b) => new MemorySource(data, b), nativeSource: { data } };
  }
  const fd = await openOnDisk(req, file.path, origin.log);
  let transferSize: number | null;
  try {
    transferSize = !netascii
      ? file.size
      : req.options.has('tsize')
        ? await netasciiSizeOfFile(fd, file.size, netasciiTsizeLimit)
        : null;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
  return {
    transferSize,
    makeSource: (b) => (netascii ? new DiskNetasciiSource(fd, b) : new DiskOctetSource(fd, b)),
    nativeSource: { fd, netascii, close: () => closeQuietly(fd) },
  };
}

/**
 * The path checks, then the resolver. A name with one leading `/` is looked up in the boot tree
 * without it: GRUB asks for files on its root device by absolute path (`/grub/grub.cfg`, Debian's
 * arm64 network image; tftpd-hpa `-s` and dnsmasq serve those from their root too). When nothing
 * in the boot tree answers such a name, it stays refused as an absolute path (error 2), as any
 * other absolute name is: `/etc/passwd` never reads as "not found" either.
 * @throws TftpRefusal for an unsafe path or no such file
 */
async function resolveRequested(req: RequestPacket, source: BootFileSource, origin: RequestOrigin): Promise<BootFile> {
  const { log } = origin;
  const rooted = /^\/[^/]/.test(req.filename);
  const name = rooted ? req.filename.slice(1) : req.filename;
  const encoded = ENCODED_PATH_CHARS.exec(req.filename);
  if (encoded) {
    // TFTP names are literal, but a percent-encoded dot, slash, backslash or NUL is only ever an
    // attempt to slip past a decoder further down (HTTP fallbacks, rendered paths): refuse it.
    log.warn({ file: req.filename, reason: `percent-encoded "${encoded[0]}"` }, 'request refused: unsafe path');
    throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, `Access violation: percent-encoded path character ${encoded[0]}`);
  }
  let file: BootFile | null;
  try {
    file = await source.resolve(name, {
      protocol: 'tftp',
      clientAddress: origin.clientAddress,
      clientPort: origin.clientPort,
      requestId: origin.requestId,
    });
  } catch (e) {
    if (e instanceof PathRejectedError) {
      log.warn({ file: req.filename, reason: e.reason }, 'request refused: unsafe path');
      throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, `Access violation: ${e.reason}`);
    }
    throw e;
  }
  if (!file && rooted) {
    // looked up in the boot tree only: not found there, nothing outside was touched (GRUB probes
    // a few `/grub/arm64-efi/*` names on every boot, hence info and not a warning)
    log.info({ file: req.filename, reason: 'absolute path not in the boot tree' }, 'request refused: file not found');
    throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, 'Access violation: absolute path');
  }
  if (!file) {
    log.info({ file: req.filename }, 'request refused: file not found');
    throw new TftpRefusal(ErrorCode.FILE_NOT_FOUND, 'File not found');
  }
  return file;
}

/** Opens a file on disk read-only. @throws TftpRefusal when it vanished or cannot be opened */
async function openOnDisk(req: RequestPacket, path: string, log: Logger): Promise<number> {
  try {
    return await openReadOnly(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      log.info({ file: req.filename }, 'request refused: file vanished');
      throw new TftpRefusal(ErrorCode.FILE_NOT_FOUND, 'File not found');
    }
    log.warn({ file: req.filename, code }, 'request refused: cannot open file');
    throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, 'Access violation: cannot open file');
  }
}

function closeQuietly(fd: number): void {
  closeFd(fd, () => undefined);
}
