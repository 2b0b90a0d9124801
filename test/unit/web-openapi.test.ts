/**
 * The OpenAPI document at /api/docs/json describes the REST API only: no console page, no `/ui/`
 * fragment, no `/boot/` file route — and every operation it lists declares its response schema.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { bootHttpPlugin } from '../../src/boot/http/plugin.js';
import type { BootFileSource } from '../../src/boot/files/types.js';
import { makeApp, loginAs, call } from './web-helpers.js';

interface Operation { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }

describe('web OpenAPI document', () => {
  let app: FastifyInstance;
  let store: Store;
  let doc: { paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    const source = { resolve: async () => null } as unknown as BootFileSource;
    ({ app, store } = await makeApp({ bootPlugin: async (a) => { await a.register(bootHttpPlugin, { source }); } }));
    doc = (await call(app, await loginAs(app, 'view'), 'GET', '/api/docs/json')).json();
  });
  afterAll(async () => { await app.close(); store.close(); });

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
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const ok = Object.entries(op.responses ?? {}).filter(([code]) => /^2\d\d$/.test(code));
        const described = ok.length > 0 && ok.every(([code, r]) => code === '204' || Object.values(r.content ?? {}).some((c) => c.schema !== undefined));
        if (!described) missing.push(`${method.toUpperCase()} ${path}`);
        if (path.startsWith('/api/v1/') && path !== '/api/v1/session' && !op.responses?.['401']) missing.push(`${method.toUpperCase()} ${path} (no 401)`);
      }
    }
    expect(missing).toEqual([]);
  });
});
