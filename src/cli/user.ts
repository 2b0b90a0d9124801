/** `statelesx user ...` (being written: see the issue that owns src/cli/user.ts). */
import type { Command } from 'commander';

export function registerUser(_program: Command): void {}
