/**
 * Network namespaces for tests: two (or more) private hosts joined by a veth pair, created by
 * the test and deleted in afterAll. Only addresses inside these namespaces are ever used
 * (the network rule: no traffic outside 127.0.0.0/8 or our own namespaces).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Runs a command and returns stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** True when this process may create namespaces (root with iproute2). */
export function canUseNetns(): boolean {
  try {
    sh('ip', ['netns', 'list']);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

export interface NetnsPair {
  /** Namespace names, e.g. sx-dhcp-1234-a / -b. */
  a: string;
  b: string;
  /** Interface names inside each namespace. */
  ifA: string;
  ifB: string;
  /** Addresses (without prefix) given to each side; empty string when none was asked for. */
  addrA: string;
  addrB: string;
  /** Runs `cmd args` inside namespace `ns` and returns stdout. */
  exec(ns: string, cmd: string, args: string[]): string;
  /** Spawns a long-running process inside namespace `ns`. */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Deletes both namespaces (kills what runs inside them first). Safe to call twice. */
  destroy(): void;
}

/**
 * Drops `percent` % of the packets on `dev` in `ns`: tc netem on egress when the kernel has
 * sch_netem, else an iptables `statistic` rule on the device's ingress (no netem module).
 */
function addLoss(ns: string, dev: string, percent: number): void {
  try {
    sh('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'loss', `${percent}%`]);
  } catch {
    // Dropped on arrival (INPUT), not on OUTPUT: a local OUTPUT drop makes sendto() fail with EPERM,
    // which is an error the sender sees, not a silent loss on the wire.
    sh('ip', [
      'netns',
      'exec',
      ns,
      'iptables',
      '-A',
      'INPUT',
      '-i',
      dev,
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      String(percent / 100),
      '-j',
      'DROP',
    ]);
  }
}

/**
 * Creates namespaces `<prefix>-<pid>-a` and `-b` joined by veth `veth0` (a) ⇄ `veth1` (b).
 * @param prefix short area name, e.g. `sx-dhcp`
 * @param opts.addrA/addrB CIDR for each side (e.g. `10.98.0.1/24`), or omitted for no address
 * @param opts.lossPercent optional loss applied on both sides' egress (netem, or iptables statistic)
 * @throws Error from `ip` when creation fails (the partial namespaces are removed first)
 */
export function createNetnsPair(
  prefix: string,
  opts: { addrA?: string; addrB?: string; lossPercent?: number } = {},
): NetnsPair {
  const a = `${prefix}-${process.pid}-a`;
  const b = `${prefix}-${process.pid}-b`;
  const destroy = () => {
    for (const ns of [a, b]) {
      try {
        const pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean);
        for (const p of pids) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      } catch {
        /* namespace missing */
      }
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already deleted */
      }
    }
  };
  destroy();
  try {
    sh('ip', ['netns', 'add', a]);
    sh('ip', ['netns', 'add', b]);
    sh('ip', ['link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth1', 'netns', b]);
    for (const [ns, dev, addr] of [
      [a, 'veth0', opts.addrA],
      [b, 'veth1', opts.addrB],
    ] as const) {
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      if (addr) sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
      if (opts.lossPercent) addLoss(ns, dev, opts.lossPercent);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    a,
    b,
    ifA: 'veth0',
    ifB: 'veth1',
    addrA: opts.addrA?.split('/')[0] ?? '',
    addrB: opts.addrB?.split('/')[0] ?? '',
    exec: (ns, cmd, args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]),
    spawn: (ns, cmd, args, o) => spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'pipe', ...o }),
    destroy,
  };
}
