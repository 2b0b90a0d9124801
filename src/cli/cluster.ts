/** `statelesx cluster ...` (being written: see the issue that owns src/cli/cluster.ts). */
import type { Command } from 'commander';

export function registerCluster(_program: Command): void {}
