/** `statelesx host ...` (being written: see the issue that owns src/cli/host.ts). */
import type { Command } from 'commander';

export function registerHost(_program: Command): void {}
