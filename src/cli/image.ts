/** `statelesx image ...` (being written: see the issue that owns src/cli/image.ts). */
import type { Command } from 'commander';

export function registerImage(_program: Command): void {}
