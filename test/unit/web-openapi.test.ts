/**
 * The OpenAPI document at /api/docs/json describes the REST API only: no console page, no `/ui/`
 * fragment, no `/boot/` file route — and every operation it lists declares its response schema.
 * Checked on the web app alone and on the real server composition (`startServer`), where the
 * phone-home routes (src/phonehome/http.ts) are part of the document too.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startHardenedServer, type HardenedServer } from '../helpers/hardening-server.js';
import { PASSWORD } from '../helpers/web.js';
import type { Store } from '../../src/store/index.js';
import { bootHttpPlugin } from '../../src/boot/http/plugin.js';
import type { BootFileSource } from '../../src/boot/files/types.js';
import { makeApp, loginAs, call } from '../helpers/web.js';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  requestBody?: { content: Record<string, { schema: { required?: string[] } }> };
  parameters?: Array<{ name: string; in: string }>;
}
type Doc = { paths: Record<string, Record<string, Operation>> };

/** Routes under /api/v1 that answer without a session, so they have no 401. */
const UNAUTHENTICATED = ['/api/v1/session', '/api/v1/phone-home'];

/** "METHOD path" of every operation without a 2xx response schema (or, under /api/v1, without a 401). */
function undescribed(doc: Doc): string[] {
  const missing: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const ok = Object.entries(op.responses ?? {}).filter(([code]) => /^2\d\d$/.test(code));
      const described =
        ok.length > 0 &&
        ok.every(([code, r]) => code === '204' || Object.values(r.content ?? {}).some((c) => c.schema !== undefined));
      if (!described) missing.push(`${method.toUpperCase()} ${path}`);
      if (path.startsWith('/api/v1/') && !UNAUTHENTICATED.includes(path) && !op.responses?.['401'])
        missing.push(`${method.toUpperCase()} ${path} (no 401)`);
    }
  }
  return missing;
}

describe('web OpenAPI document', () => {
  let app: FastifyInstance;
  let store: Store;
  let doc: { paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    const source = { resolve: () => Promise.resolve(null) } as unknown as BootFileSource;
    ({ app, store } = await makeApp({
      bootPlugin: async (a) => {
        await a.register(bootHttpPlugin, { source });
      },
    }));
    doc = (await call(app, await loginAs(app, 'view'), 'GET', '/api/docs/json')).json<Doc>();
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });

  it('lists /api/v1 and the health routes only: no console page, /ui/ fragment or /boot/ route', async () => {
    const paths = Object.keys(doc.paths);
    expect(paths.length).toBeGreaterThan(30);
    const foreign = paths.filter((p) => !p.startsWith('/api/v1/') && !['/healthz', '/readyz', '/metrics'].includes(p));
    expect(foreign).toEqual([]);
    // The console routes still exist; they are only hidden from the document.
    expect(app.hasRoute({ method: 'GET', url: '/clusters/:name' })).toBe(true);
    expect(app.hasRoute({ method: 'POST', url: '/ui/images/import' })).toBe(true);
    expect((await app.inject({ url: '/login' })).statusCode).toBe(200);
  });

  it('declares a response schema for every listed operation, success and errors', () => {
    expect(undescribed(doc)).toEqual([]);
  });
});

describe('OpenAPI document of the real server composition (startServer)', () => {
  let dir: string;
  let sx: HardenedServer;
  let doc: Doc;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sx-openapi-'));
    sx = await startHardenedServer(dir, { 'log-level': 'warn' }, [['view', PASSWORD, 'viewer']]);
    const app = sx.http.app()!;
    doc = (await call(app, await loginAs(app, 'view'), 'GET', '/api/docs/json')).json<Doc>();
  }, 60_000);
  afterAll(async () => {
    await sx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('documents the phone-home routes with their input and every answer (JSON, problem+json, text/plain)', () => {
    const post = doc.paths['/api/v1/phone-home']?.['post'];
    const get = doc.paths['/api/v1/phone-home']?.['get'];
    expect(post?.requestBody?.content['application/json']?.schema.required).toEqual(['uuid']);
    // 429: too many new hosts from one address (issue 16, finding 8)
    expect(Object.keys(post?.responses ?? {}).sort()).toEqual(['200', '400', '403', '429']);
    expect(post?.responses?.['200']?.content?.['application/json']?.schema).toMatchObject({
      properties: { result: { enum: ['ok', 'unregistered'] } },
    });
    for (const code of ['400', '403', '429']) {
      expect(post?.responses?.[code]?.content?.['application/problem+json']?.schema, code).toMatchObject({
        required: expect.arrayContaining(['reason']) as unknown,
      });
    }
    expect(
      get?.parameters
        ?.filter((p) => p.in === 'query')
        .map((p) => p.name)
        .sort(),
    ).toEqual([
      'format',
      'hostname',
      'mac',
      'model',
      'serial',
      'stage',
      'thumbprint',
      'thumbprint-sha1',
      'token',
      'uuid',
      'vendor',
      'version',
    ]);
    for (const code of ['200', '400', '403', '429']) {
      expect(get?.responses?.[code]?.content?.['text/plain']?.schema, code).toMatchObject({ type: 'string' });
    }
  });

  it('declares a response schema for every operation of the running server', () => {
    expect(Object.keys(doc.paths)).toContain('/api/v1/phone-home');
    expect(undescribed(doc)).toEqual([]);
  });
});
