/** `statelesx cluster plan|apply|drift` (owned by the engine; being written). */
import type { Command } from 'commander';

export function registerClusterEngineCommands(_cluster: Command): void {}
