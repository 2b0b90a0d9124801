/**
 * Problem details (RFC 9457) for errors fastify raises itself: the title is the status's standard
 * reason phrase (RFC 9110 §15), not "Bad Request" for every 4xx.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/index.js';
import { clusterService } from '../../src/app/web-adapters.js';
import { makeApp, loginAs, call, clusterRepo, clusterXml, type Client } from '../helpers/web.js';
import type { ProblemBody } from '../helpers/api-bodies.js';

describe('web problem titles', () => {
  let app: FastifyInstance;
  let store: Store;
  let admin: Client;
  let cleanup: () => void;

  beforeAll(async () => {
    const r = await clusterRepo({ 'lab.xml': clusterXml('lab') });
    cleanup = r.cleanup;
    ({ app, store } = await makeApp({ clusters: clusterService(r.repo) }));
    admin = await loginAs(app, 'admin');
  });
  afterAll(async () => {
    await app.close();
    store.close();
    cleanup();
  });

  it('413 for a body over the limit: "Payload Too Large" problem+json', async () => {
    const big = `<cluster>${'x'.repeat(5 * 1024 * 1024)}</cluster>`;
    const res = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', big, { 'content-type': 'application/xml' });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status: 413,
      title: 'Payload Too Large',
      type: '/api/docs#problem-too-large',
      instance: '/api/v1/clusters/lab/xml',
    });
  });

  it('415 for an unknown content type: "Unsupported Media Type" problem+json', async () => {
    const res = await call(app, admin, 'PUT', '/api/v1/clusters/lab/xml', 'a,b', { 'content-type': 'text/csv' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({
      status: 415,
      title: 'Unsupported Media Type',
      type: '/api/docs#problem-unsupported-media-type',
    });
    expect(res.json<ProblemBody>().detail).toMatch(/text\/csv/);
  });

  it('keeps "Bad Request" for malformed JSON (400)', async () => {
    const res = await call(app, admin, 'POST', '/api/v1/users', '{"username":', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ status: 400, title: 'Bad Request' });
  });
});
