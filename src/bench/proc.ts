/**
 * Process helpers for benchmarks: start our server as a child (optionally inside a network
 * namespace), sample a process's memory and CPU from `/proc/<pid>/status` and `/proc/<pid>/stat`,
 * pick free loopback ports, and run a command with a time bound.
 *
 * Every child started here is tracked and killed by {@link killAll} (main.ts calls it on exit),
 * so a failing benchmark leaves nothing running.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVE_NODE_FLAGS } from '../cli/node-flags.js';
/** The line prefix server-child.ts prints when it is serving. */
/** Stops a child process: SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
export async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

export const READY_PREFIX = 'SX-BENCH-READY ';

const HERE = dirname(fileURLToPath(import.meta.url));
const children = new Set<ChildProcess>();

/** Kills (SIGKILL) every child process started through this module that is still running. */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  children.clear();
}

/** Spawns and tracks a child (stdio pipes). */
export function track(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

/** A free TCP port on 127.0.0.1 (bound then released; a small race is accepted in benchmarks). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A free UDP port on 127.0.0.1. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Memory and CPU of a process at one instant. */
export interface ProcSample {
  /** Resident set size, bytes (VmRSS). */
  rss: number;
  /** Peak resident set size so far, bytes (VmHWM). */
  hwm: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

/**
 * Reads `/proc/<pid>/status` (VmRSS, VmHWM) and `/proc/<pid>/stat` (utime, stime).
 * @returns null when the process is gone
 */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised comm: state is field 3; utime/stime are fields 14/15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpuMs: (ticks * 1000) / CLK_TCK };
  } catch {
    return null;
  }
}

/** Samples a process every `intervalMs` and keeps the peaks; `stop()` returns the summary. */
export function watchProc(
  pid: number,
  intervalMs = 100,
): { stop(): { peakRss: number; hwm: number; cpuMs: number; wallMs: number } } {
  const first = sampleProc(pid);
  const t0 = performance.now();
  let peakRss = first?.rss ?? NaN;
  let last = first;
  const timer = setInterval(() => {
    const s = sampleProc(pid);
    if (!s) return;
    last = s;
    if (!(s.rss <= peakRss)) peakRss = s.rss;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const s = sampleProc(pid) ?? last;
      if (s && !(s.rss <= peakRss)) peakRss = s.rss;
      return {
        peakRss,
        hwm: s?.hwm ?? NaN,
        cpuMs: (s?.cpuMs ?? NaN) - (first?.cpuMs ?? NaN),
        wallMs: performance.now() - t0,
      };
    },
  };
}

/**
 * A process and all its descendants, from `/proc/<pid>/task/<pid>/children` (forking servers:
 * nginx's workers, tftp-hpa's one child per transfer).
 * @returns pids, the root first; empty when the root is gone
 */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: number[];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return;
    }
    out.push(p);
    for (const k of kids) walk(k);
  };
  walk(pid);
  return out;
}

/**
 * Samples a whole process tree every `intervalMs` (re-read each time, so children forked per
 * request are counted while they live): the peak of the summed RSS, and CPU as the growth of each
 * process's own utime + stime between its first and last sample (a process first seen after the
 * start counts from 0). A child that lives and dies between two samples is missed, so for
 * fork-per-request servers the CPU is a lower bound.
 */
export function watchTree(root: number, intervalMs = 100): { stop(): { peakRss: number; cpuMs: number } } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let peakRss = 0;
  const sample = (initial: boolean) => {
    let rss = 0;
    for (const p of processTree(root)) {
      const s = sampleProc(p);
      if (!s) continue;
      rss += s.rss;
      if (!first.has(p)) first.set(p, initial ? s.cpuMs : 0);
      last.set(p, s.cpuMs);
    }
    if (rss > peakRss) peakRss = rss;
  };
  sample(true);
  const timer = setInterval(() => sample(false), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      let cpuMs = 0;
      for (const [p, c] of last) cpuMs += c - (first.get(p) ?? 0);
      return { peakRss, cpuMs };
    },
  };
}

/** A running server child. */
export interface ServerChild {
  pid: number;
  http: { address: string; port: number } | undefined;
  tftp: { address: string; port: number } | undefined;
  /** Last stderr output (≤ 8 KiB), for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Starts `dist/bench/server-child.js` with `config` (a statelesx.yaml object), inside network
 * namespace `netns` when given (`ip netns exec` execs, so the child pid is node's pid), with the
 * server's own Node flags ({@link SERVE_NODE_FLAGS}) unless `nodeArgs` replaces them, and `env`
 * added to this process's environment.
 * @throws Error with the child's stderr when it exits or is not ready within `timeoutMs`.
 */
export function startServerChild(
  config: Record<string, unknown>,
  opts: { netns?: string; timeoutMs?: number; nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ServerChild> {
  const script = join(HERE, 'server-child.js');
  const node = [...(opts.nodeArgs ?? SERVE_NODE_FLAGS), script, JSON.stringify(config)];
  const env = opts.env ? { env: { ...process.env, ...opts.env } } : {};
  const c = opts.netns
    ? track('ip', ['netns', 'exec', opts.netns, process.execPath, ...node], env)
    : track(process.execPath, node, env);
  let err = '';
  c.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-8192);
  });
  const stop = () => stopChild(c);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`server child not ready in ${opts.timeoutMs ?? 30000} ms: ${err}`));
    }, opts.timeoutMs ?? 30000);
    c.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`server child exited (${code ?? sig}) before ready: ${err}`));
    });
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (!line) return;
      clearTimeout(timer);
      c.stdout!.removeAllListeners('data');
      c.stdout!.resume();
      const info = JSON.parse(line.slice(READY_PREFIX.length)) as {
        pid: number;
        http?: { address: string; port: number };
        tftp?: { address: string; port: number };
      };
      resolve({ pid: info.pid, http: info.http, tftp: info.tftp, stderr: () => err, stop });
    });
  });
}

/**
 * Runs a command to completion with a time bound.
 * @returns stdout, stderr and the exit code; `timedOut` when it was killed at `timeoutMs`
 */
export function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const c = execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (e, stdout, stderr) => {
        const err = e as (Error & { code?: number | string; killed?: boolean }) | null;
        resolve({
          stdout,
          stderr,
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          timedOut: Boolean(err?.killed),
        });
      },
    );
    children.add(c);
    c.once('exit', () => children.delete(c));
  });
}

/** True when `cmd` is on PATH (or an executable path). */
export async function have(cmd: string): Promise<boolean> {
  const r = await run('which', [cmd], 5000);
  return r.code === 0 && r.stdout.trim() !== '';
}
