/**
 * The contract between the boot protocols (TFTP, HTTP /boot/) and what they serve.
 * Protocol modules know packets and streams; a {@link BootFileSource} knows files.
 */

/** Who is asking: used for per-host rendering and boot history. */
export interface BootRequestContext {
  protocol: 'tftp' | 'http';
  /** Client IP address (IPv4 dotted quad). */
  clientAddress: string;
  clientPort?: number | undefined;
  /** Correlates log lines: TFTP transfer id or HTTP request id. */
  requestId?: string;
}

/** A file on disk, streamed by the protocol (never read whole into memory). */
export interface DiskFile {
  kind: 'disk';
  /** Absolute path, already checked to lie inside its root (symlinks resolved). */
  path: string;
  size: number;
  mtimeMs: number;
}

/** A small file rendered per request (pxelinux.cfg, boot.cfg, iPXE script). */
export interface RenderedFile {
  kind: 'rendered';
  data: Buffer;
  mtimeMs: number;
  contentType?: string;
}

export type BootFile = DiskFile | RenderedFile;

/**
 * Resolves a request path to a file.
 * `name` is the client's path as sent (TFTP filename, or the part of the URL after `/boot/`,
 * percent-decoded). Implementations must call {@link checkBootPath} first.
 * @returns the file, or null when it does not exist (TFTP error 1, HTTP 404)
 * @throws PathRejectedError for unsafe paths (TFTP error 2, HTTP 403)
 */
export interface BootFileSource {
  resolve(name: string, ctx: BootRequestContext): Promise<BootFile | null>;
}
