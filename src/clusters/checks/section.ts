/**
 * What one section checker of `checkCluster` is given: the cluster, what the server knows, the
 * report function, and what earlier sections declared (names and ranges later sections refer to).
 * The sections run in the order of `SECTIONS` in ../semantics.ts, so diagnostics keep their order.
 */
import type { ClusterDiagnostic, SourceIndex } from '../diagnostics.js';
import { networkOf, numberToIpv4 } from '../ipv4.js';
import type { DesiredCluster } from '../types.js';

/** What the checks need from outside the file. Leave a field undefined to skip that check. */
export interface SemanticContext {
  /** Names of the `vcenters:` entries in statelesx.yaml. */
  vcenters?: readonly string[];
  /** Names of the `credentials:` entries in statelesx.yaml. */
  credentials?: readonly string[];
  /** True when an image of that name exists (images-dir/<name>). */
  imageExists?: (name: string) => boolean;
  /**
   * Config `templates-dir` (absolute): where `boot/@kickstartTemplate` is looked up. Undefined:
   * `templates` beside the cluster file's directory (src/clusters/kickstart.ts defaultTemplatesDir).
   */
  templatesDir?: string;
}

/** A valid address pool as the later sections see it: its range as 32-bit numbers, its element path. */
export interface PoolRange {
  name: string;
  lo: number;
  hi: number;
  prefix: number;
  path: string;
}

/** What the sections declared so far, for the references of later sections. */
export interface Declared {
  /** vSwitch name → index of its first `<vswitch>`. */
  vswitches: Map<string, number>;
  /** Portgroup name → index of its first `<portgroup>`. */
  portgroups: Map<string, number>;
  /** Valid address pools by name (a pool with a bad netmask or range is not here). */
  pools: Map<string, PoolRange>;
  /** VMkernel NIC device (`vmk1`) → index of its first `<vmknic>`. */
  vmknics: Map<string, number>;
  /** Pool name → the VMkernel NICs addressed from it. */
  poolUsers: Map<string, string[]>;
}

/** Reports one problem at an element path (`/cluster/network/vswitch[2]/@mtu`). */
export type Report = (path: string, message: string) => void;

/** The input of a section checker. */
export interface Section {
  c: DesiredCluster;
  ctx: SemanticContext;
  err: Report;
  declared: Declared;
}

/** One section of the semantic checks. */
export type SectionCheck = (s: Section) => void;

/** Runs `sections` in order over one cluster and returns every problem they reported. */
export function runSections(
  sections: readonly SectionCheck[],
  c: DesiredCluster,
  index: SourceIndex,
  ctx: SemanticContext,
): ClusterDiagnostic[] {
  const out: ClusterDiagnostic[] = [];
  const err: Report = (path, message) => out.push(index.error(path, message));
  const declared: Declared = {
    vswitches: new Map(),
    portgroups: new Map(),
    pools: new Map(),
    vmknics: new Map(),
    poolUsers: new Map(),
  };
  for (const check of sections) check({ c, ctx, err, declared });
  return out;
}

/** `/cluster/network`, the parent of the network sections' elements. */
export const NET = '/cluster/network';

export function dupes(list: readonly string[], report: (index: number, value: string) => void): void {
  const seen = new Set<string>();
  list.forEach((v, i) => {
    if (seen.has(v)) report(i, v);
    seen.add(v);
  });
}

export function subnet(ip: number, prefix: number): string {
  return `${numberToIpv4(networkOf(ip, prefix))}/${prefix}`;
}

export function known(names: readonly string[]): string {
  return names.length ? ` (known: ${names.join(', ')})` : '';
}
