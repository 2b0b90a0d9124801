/**
 * The initiator bundle: the extra ESXi boot module that puts `scripts/initiator.py` on a
 * stateless (PXE-booted) host, the way vSphere Auto Deploy ships its script bundles.
 *
 * ESXi's boot loader (mboot.c32 / mboot.efi) loads every file on boot.cfg's `modules=` line; the
 * VMkernel mounts each gzip'd tar module (like `state.tgz`, `useropts.gz`) over its in-memory
 * root file system, in order. This module holds two files:
 *
 *  - `opt/statelesx/initiator.py` (mode 0644): scripts/initiator.py, byte for byte;
 *  - `etc/rc.local.d/99.statelesx-initiator.sh` (mode 0755): ESXi runs the executables in
 *    `/etc/rc.local.d/` at the end of boot (ESXi 5.1 and later; `local.sh` lives there too). The
 *    hook starts the initiator in the background with no arguments: initiator.py reads
 *    `statelesx.server=` and `statelesx.token=` from the VMkernel boot command line
 *    (`vsish -e get /system/bootCmdLine`, i.e. the `kernelopt` statelesx rendered).
 *
 * The archive is a ustar tar (tar-stream), gzip'd with node:zlib; entries are owned by root
 * (uid/gid 0) and carry a fixed mtime, and node's gzip header has MTIME 0, so the bytes (and the
 * HTTP ETag, a hash of them) depend only on initiator.py. It is built once per process.
 */
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

/** File name of the module, in each ESXi image directory: 8.3-safe, lower case (mboot, TFTP). */
export const INITIATOR_MODULE = 'sxinit.tgz';

/** Path of the initiator inside the bundle (and on the host, under `/`). */
export const INITIATOR_SCRIPT_PATH = 'opt/statelesx/initiator.py';

/** Path of the rc.local.d hook inside the bundle (and on the host, under `/`). */
export const INITIATOR_HOOK_PATH = 'etc/rc.local.d/99.statelesx-initiator.sh';

/** Where the hook sends the initiator's output on the host (ESXi's ramdisk `/var/log`). */
export const INITIATOR_LOG = '/var/log/statelesx-initiator.log';

/** mtime of every entry: 2024-01-01T00:00:00Z (fixed, so the archive bytes are reproducible). */
export const INITIATOR_BUNDLE_MTIME_MS = Date.UTC(2024, 0, 1);

/**
 * The rc.local.d hook. Busybox `sh`; it returns at once (boot must not wait for the server:
 * initiator.py retries for about two minutes on its own). `python` is ESXi's Python 3;
 * `STATELESX_INITIATOR_LOG` overrides the log file (tests).
 */
export const INITIATOR_HOOK = `#!/bin/sh
# statelesx: phone home once per boot (installed by the ${INITIATOR_MODULE} boot module).
# initiator.py finds statelesx.server= and statelesx.token= on the VMkernel boot command line
# (vsish -e get /system/bootCmdLine). It runs in the background: boot does not wait for it.
log="\${STATELESX_INITIATOR_LOG:-${INITIATOR_LOG}}"
python /${INITIATOR_SCRIPT_PATH} </dev/null >>"$log" 2>&1 &
exit 0
`;

/** scripts/initiator.py, found from src/boot/render/ and dist/boot/render/ alike. */
export const INITIATOR_SCRIPT_URL = new URL('../../../scripts/initiator.py', import.meta.url);

/**
 * Builds the bundle from the initiator's text.
 * @param script contents of initiator.py
 * @returns the gzip'd tar (RFC 1952 member holding a POSIX ustar archive)
 */
export async function buildInitiatorBundle(script: Buffer): Promise<Buffer> {
  // Loaded on the first bundle a host asks for, not at start (issue 20: idle RSS).
  const { pack } = await import('tar-stream');
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    tar.on('data', (c: unknown) => chunks.push(c as Buffer));
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  const mtime = new Date(INITIATOR_BUNDLE_MTIME_MS);
  const owner = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime, type: 'file' as const };
  tar.entry({ ...owner, name: INITIATOR_SCRIPT_PATH, mode: 0o644 }, script);
  tar.entry({ ...owner, name: INITIATOR_HOOK_PATH, mode: 0o755 }, INITIATOR_HOOK);
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

/** `make()` on first call, then its promise again; a rejected promise is dropped so the next call retries. */
function memo(make: () => Promise<Buffer>): () => Promise<Buffer> {
  let p: Promise<Buffer> | undefined;
  return () => {
    if (!p) {
      p = make();
      p.catch(() => (p = undefined));
    }
    return p;
  };
}

/**
 * scripts/initiator.py as shipped with this server (read on first use, then cached): what the
 * bundle and the kickstart `%firstboot` install.
 * @throws Error naming the file when it cannot be read (a later call retries)
 */
export const initiatorScript: () => Promise<Buffer> = memo(() =>
  readFile(INITIATOR_SCRIPT_URL).catch((e: unknown) => {
    throw new Error(`cannot read the initiator ${INITIATOR_SCRIPT_URL.pathname}: ${(e as Error).message}`, {
      cause: e,
    });
  }),
);

/**
 * The bundle for this process (built from {@link initiatorScript} on first use, then cached).
 * @throws Error naming scripts/initiator.py when it cannot be read (a later call retries)
 */
export const initiatorBundle: () => Promise<Buffer> = memo(async () => buildInitiatorBundle(await initiatorScript()));
