/**
 * Who is using a data directory: `<data-dir>/statelesx.lock`, a small JSON file
 * (`{ pid, role, hostname, startedAt }`) created exclusively (O_EXCL) by the process that owns the
 * directory's jobs — `statelesx serve` for as long as it runs, `statelesx cluster apply` for the
 * duration of its job — and removed when it stops. A file whose pid is no longer alive on this
 * machine (the owner was killed with SIGKILL) is stale and taken over. A file written on another
 * machine (data-dir on shared storage) cannot be checked and counts as held.
 *
 * Why: the engine's job runner re-plans every unfinished job of the store on start, and runs its
 * jobs' steps against vCenter; two runners on one store would run the same job twice.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What the lock file says. */
export interface DataDirHolder {
  pid: number;
  /** `server` (statelesx serve) or `cli` (statelesx cluster apply). */
  role: 'server' | 'cli';
  hostname: string;
  /** Epoch ms. */
  startedAt: number;
}

/** A held lock. */
export interface DataDirLock {
  readonly file: string;
  readonly holder: DataDirHolder;
  /** Removes the file if it is still ours; idempotent. */
  release(): void;
}

/** The data directory is held by another live process. */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
  constructor(
    readonly dir: string,
    readonly holder: DataDirHolder,
  ) {
    super(
      holder.role === 'server'
        ? `a statelesx server (pid ${holder.pid}${holder.hostname !== hostname() ? ` on ${holder.hostname}` : ''}) is using ${dir}; use the API / console, or stop it`
        : `statelesx cluster apply (pid ${holder.pid}${holder.hostname !== hostname() ? ` on ${holder.hostname}` : ''}) is using ${dir}; wait for it to finish`,
    );
  }
}

/** The lock file of a data directory. */
export function lockFile(dir: string): string {
  return join(dir, 'statelesx.lock');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): DataDirHolder | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Partial<DataDirHolder>;
    if (Number.isInteger(h.pid) && (h.role === 'server' || h.role === 'cli')) {
      return {
        pid: h.pid!,
        role: h.role,
        hostname: String(h.hostname ?? hostname()),
        startedAt: Number(h.startedAt ?? 0),
      };
    }
  } catch {
    // half-written by a process that died while writing it: stale
  }
  return { pid: 0, role: 'server', hostname: hostname(), startedAt: 0 };
}

function live(h: DataDirHolder): boolean {
  return h.hostname !== hostname() || (h.pid > 0 && alive(h.pid));
}

/**
 * The live process using `dir`, or undefined (no lock file, or a stale one).
 * @throws the file system's error for an unreadable lock file (not ENOENT)
 */
export function dataDirHolder(dir: string): DataDirHolder | undefined {
  const h = readHolder(lockFile(dir));
  return h && live(h) ? h : undefined;
}

/**
 * Takes the data directory for this process (creating the directory if needed).
 * @throws DataDirBusyError naming the holder's pid when another live process holds it (also when
 *   this very process already does); an Error naming the directory and the OS code (ENOSPC: "no
 *   space left") when the file cannot be written (the file is removed again); the file system's
 *   error when it cannot be created
 */
export function lockDataDir(dir: string, role: DataDirHolder['role']): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const file = lockFile(dir);
  const holder: DataDirHolder = { pid: process.pid, role, hostname: hostname(), startedAt: Date.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = readHolder(file);
      if (other && live(other)) throw new DataDirBusyError(dir, other);
      try {
        unlinkSync(file); // stale: its process is gone
      } catch (u) {
        if ((u as NodeJS.ErrnoException).code !== 'ENOENT') throw u;
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`);
    } catch (e) {
      // e.g. ENOSPC on a full disk: leave no empty lock file behind, and name the directory.
      closeSync(fd);
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
      const code = (e as NodeJS.ErrnoException).code;
      const full = code === 'ENOSPC' || code === 'EDQUOT';
      throw new Error(
        `${full ? 'no space left in' : 'cannot write to'} the data directory ${dir} (${code ?? (e as Error).message}: writing ${file}); ${full ? 'free space or ' : ''}pass another --data-dir`,
        { cause: e },
      );
    }
    closeSync(fd);
    let released = false;
    return {
      file,
      holder,
      release() {
        if (released) return;
        released = true;
        const now = readHolder(file);
        if (now?.pid === holder.pid && now.startedAt === holder.startedAt) {
          try {
            unlinkSync(file);
          } catch {
            // already gone
          }
        }
      },
    };
  }
  const other = readHolder(file);
  throw new DataDirBusyError(dir, other ?? { pid: 0, role: 'server', hostname: hostname(), startedAt: 0 });
}
