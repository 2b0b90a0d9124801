/**
 * The server's Node flags (src/cli/node-flags.ts) are the same in every launcher: the CLI shebang,
 * `scripts/start` (npm start), the Dockerfile entrypoint — and the benchmark child uses the list itself.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { SERVE_NODE_FLAGS } from '../../src/cli/node-flags.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

describe('server Node flags', () => {
  it('the shebang of the statelesx command carries them', () => {
    expect(read('src/cli/main.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${SERVE_NODE_FLAGS.join(' ')}`);
  });
  it('npm start runs node with them', () => {
    expect(read('scripts/start')).toContain(`cli=(node ${SERVE_NODE_FLAGS.join(' ')} dist/cli/main.js)`);
  });
  it('the container entrypoint runs node with them', () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
    expect(JSON.parse(entry?.[1] ?? '[]')).toEqual(['node', ...SERVE_NODE_FLAGS, '/opt/statelesx/dist/cli/main.js']);
  });
});
