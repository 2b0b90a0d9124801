/**
 * The container image (Dockerfile, reviewed but not built in CI): the directories the server
 * writes at run time — `data-dir`, `clusters-dir` (console editor, one-click join) and
 * `images-dir` (image import) of docker/statelesx.yaml — are volumes owned by the runtime user, and
 * node gets CAP_NET_BIND_SERVICE only (nothing in src/ opens a raw socket).
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const config = parse(readFileSync(join(ROOT, 'docker', 'statelesx.yaml'), 'utf8')) as Record<string, string>;
/** The runtime stage's RUN commands, continuation lines joined, comment lines dropped (as docker does). */
const runtimeRun = dockerfile
  .split(/^FROM /m)
  .at(-1)!
  .split('\n')
  .filter((l) => !/^\s*#/.test(l))
  .join('\n')
  .replace(/\\\n/g, ' ');

describe('Dockerfile', () => {
  it('every directory the server writes is a VOLUME owned by the runtime user', () => {
    const volumes = JSON.parse(/^VOLUME (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBe('statelesx');
    const chown = /chown -R statelesx:statelesx ([^&\n]+)/.exec(runtimeRun)?.[1]?.trim().split(/\s+/) ?? [];
    for (const key of ['data-dir', 'clusters-dir', 'images-dir']) {
      const dir = config[key]!;
      expect(volumes, key).toContain(dir);
      expect(
        chown.some((c) => dir === c || dir.startsWith(c + '/')),
        `${key} ${dir} chowned to statelesx`,
      ).toBe(true);
    }
  });

  it('node gets CAP_NET_BIND_SERVICE only, and no source opens a raw socket', () => {
    const caps = /setcap (\S+)\+ep/.exec(runtimeRun)?.[1];
    expect(caps).toBe('cap_net_bind_service');
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
      });
    for (const f of files(join(ROOT, 'src'))) {
      expect(readFileSync(f, 'utf8'), f).not.toMatch(/SOCK_RAW|AF_PACKET|from 'raw-socket'|from 'cap'|from 'pcap/);
    }
  });
});
