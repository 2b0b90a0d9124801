/**
 * Images through the API and the console over a real images directory (src/images, Linux image
 * directories as sources, so no bsdtar is needed): imports are audited from both front ends,
 * removal is refused while pinned and removes the directory otherwise, and the role table holds.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { imageService } from '../../src/app/web-adapters.js';
import { makeApp, loginAs, call, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';
import type { ImportStatus } from '../../src/web/imports.js';
import type { ImageInfo } from '../../src/web/deps.js';
import { waitFor } from '../helpers/wait.js';

const UUID = '4c4c4544-0033-4810-8052-b4c04f4e3432';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** A Linux image directory (image.json kind linux) to import from. */
function linuxSource(dir: string, name: string): string {
  const d = join(dir, 'src', name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'vmlinuz'), `kernel of ${name}`);
  writeFileSync(join(d, 'initrd.gz'), 'initrd');
  writeFileSync(
    join(d, 'image.json'),
    JSON.stringify({ kind: 'linux', linux: { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'console=ttyS0' } }),
  );
  return d;
}

describe('web images: import audit, removal, roles', () => {
  let dir: string;
  let imagesDir: string;
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let op: Client;

  /** Polls the import until it is no longer running. */
  function settled(id: string): Promise<ImportStatus> {
    return waitFor(
      `import ${id} to finish`,
      async () => {
        const s = (await call(app, admin, 'GET', `/api/v1/images/imports/${id}`)).json<ImportStatus>();
        return s.state !== 'running' && s;
      },
      4000,
    );
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-web-images-'));
    imagesDir = join(dir, 'images');
    ({ app, store } = await makeApp({
      images: imageService(imagesDir, async (image) => (await store.hosts.pinnedTo(image)).map((u) => `host ${u}`)),
    }));
    admin = await loginAs(app, 'admin');
    op = await loginAs(app, 'op');
  });
  afterAll(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('audits an import started from the console, as the API does', async () => {
    const ui = await call(
      app,
      admin,
      'POST',
      '/ui/images/import',
      `source=${encodeURIComponent(linuxSource(dir, 'a'))}&name=lin-console`,
      FORM,
    );
    expect(ui.statusCode).toBe(200);
    const id = /id="import-([0-9a-f-]{36})"/.exec(ui.body)![1]!;
    expect(await settled(id)).toMatchObject({ state: 'succeeded' });
    const api = await call(app, admin, 'POST', '/api/v1/images/import', {
      source: linuxSource(dir, 'b'),
      name: 'lin-api',
    });
    expect(api.statusCode).toBe(202);
    expect(await settled(api.json<ImportStatus>().id)).toMatchObject({ state: 'succeeded' });
    const failed = await call(
      app,
      admin,
      'POST',
      '/ui/images/import',
      `source=${encodeURIComponent(join(dir, 'missing'))}&name=lin-missing`,
      FORM,
    );
    expect(await settled(/id="import-([0-9a-f-]{36})"/.exec(failed.body)![1]!)).toMatchObject({ state: 'failed' });
    const audited = (await store.audit.list(20))
      .filter((e) => e.action === 'image.import')
      .map((e) => [e.actor, e.target, (e.after as { state: string }).state]);
    expect(audited).toEqual([
      ['admin', 'lin-missing', 'failed'],
      ['admin', 'lin-api', 'succeeded'],
      ['admin', 'lin-console', 'succeeded'],
    ]);
    expect((await call(app, admin, 'GET', '/api/v1/images')).json<ImageInfo[]>().map((i) => i.name)).toEqual([
      'lin-api',
      'lin-console',
    ]);
  });

  it('refuses to remove a pinned image (409, directory kept), removes an unpinned one (204, directory gone), 404 for unknown', async () => {
    await store.hosts.setImagePin(UUID, 'lin-api', 1);
    const pinned = await call(app, admin, 'DELETE', '/api/v1/images/lin-api');
    expect(pinned.statusCode).toBe(409);
    expect(pinned.json<ProblemBody>().detail).toContain(UUID);
    expect(existsSync(join(imagesDir, 'lin-api', 'image.json'))).toBe(true);
    await store.hosts.setImagePin(UUID, null, 2);
    const removed = await call(app, admin, 'DELETE', '/api/v1/images/lin-api');
    expect(removed.statusCode).toBe(204);
    expect(existsSync(join(imagesDir, 'lin-api'))).toBe(false);
    expect((await store.audit.list(5)).find((e) => e.action === 'image.remove')).toMatchObject({
      actor: 'admin',
      target: 'lin-api',
    });
    const unknown = await call(app, admin, 'DELETE', '/api/v1/images/lin-api');
    expect(unknown.statusCode).toBe(404);
  });

  it('lets only an admin import or remove images (role table: POST/DELETE default to admin)', async () => {
    const imp = await call(app, op, 'POST', '/api/v1/images/import', { source: linuxSource(dir, 'c'), name: 'lin-op' });
    expect(imp.statusCode).toBe(403);
    expect(imp.json<ProblemBody>().detail).toMatch(/role operator .*needs admin/);
    const ui = await call(
      app,
      op,
      'POST',
      '/ui/images/import',
      `source=${encodeURIComponent(linuxSource(dir, 'c'))}&name=lin-op`,
      FORM,
    );
    expect(ui.statusCode).toBe(403);
    const del = await call(app, op, 'DELETE', '/api/v1/images/lin-console');
    expect(del.statusCode).toBe(403);
    expect(existsSync(join(imagesDir, 'lin-console', 'image.json'))).toBe(true);
    expect(existsSync(join(imagesDir, 'lin-op'))).toBe(false);
    expect((await call(app, op, 'GET', '/api/v1/images')).statusCode).toBe(200);
  });
});
