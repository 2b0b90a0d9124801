/**
 * Phone-home fuzzing: the TCP 1974 line parser, the live listener (127.0.0.1, real sockets) and
 * the HTTP phone-home inside a fastify app (inject). Properties: no exception escapes, every answer
 * is one of the protocol's reply lines / statuses (never a 500), nothing is stored for a refused
 * message, and a valid phone-home is still answered after every batch; at the end no connection,
 * file descriptor or heap is left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { parsePhoneHomeLine, MAX_MESSAGE_BYTES, PARSE_ERROR_REASONS } from '../../src/phonehome/parse.js';
import { phoneHomePlugin } from '../../src/phonehome/http.js';
import { silentLogger } from '../../src/log.js';
import { startFixture, exchange, type Fixture } from '../helpers/initiator-fixture.js';
import { boundedSync, heapAfterGc, LONG_RUN, mutated, openFds, runs, seedParams } from './harness.js';
import { sqliteOf } from '../../src/store/inspect.js';
import { waitFor } from '../helpers/wait.js';

const U = '4c4c4544-0042-4610-8053-b3c04f345433';
const LINE_SEEDS = [
  U,
  `esx01.lab.test:${U}`,
  `esx01:${U}\n`,
  `esx01.lab.test:${U} mac=00:50:56:aa:bb:cc mac=00:50:56:aa:bb:cd serial=VMware-42%2001 vendor=VMware%2C%20Inc. model=VMware7,1 version=initiator.py/1.0 token=Zm9vYmFyYmF6\r\n`,
  `${U.toUpperCase()} token=abc`,
  `{${U}}`,
  `host:2a4c0e8f-1d3b-5f4e-9a6b-7c8d9e0f1a2b mac=52-54-00-12-34-56`,
].map((s) => Buffer.from(s, 'utf8'));

/** Lines: mutated seeds, random unicode text around a real UUID, raw bytes. */
const lines: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: mutated(LINE_SEEDS, 4096) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 200 }))
      .map(([h, t]) => Buffer.from(`${h}:${U} ${t}`)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2100 }).map((a) => Buffer.from(a)) },
);

describe('phone-home line parser fuzz', () => {
  it('never throws; refuses with a known reason; accepted messages are normalised', () => {
    fc.assert(
      fc.property(lines, (buf) => {
        const r = boundedSync(2000, 'parsePhoneHomeLine', () => parsePhoneHomeLine(buf));
        if (!r.ok) {
          expect(PARSE_ERROR_REASONS).toContain(r.reason);
          expect(typeof r.detail).toBe('string');
          return;
        }
        expect(buf.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES + 2);
        expect(r.message.uuid.smbios).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        for (const m of r.message.macs) expect(m).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        expect(new Set(r.message.macs).size).toBe(r.message.macs.length);
      }),
      { numRuns: runs(5000), ...seedParams() },
    );
  });
});

describe('phone-home live listener fuzz (TCP, 127.0.0.1)', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await startFixture({ readTimeoutMs: 2000, perSource: 64 });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it(
    'answers every fuzzed connection with one reply line or a close, stores nothing refused, keeps answering',
    async () => {
      const fds0 = openFds();
      const heap0 = heapAfterGc();
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(lines, { minLength: 1, maxLength: 8 }), async (batch) => {
          const before = sqliteOf(fx.store).prepare('SELECT count(*) AS n FROM phone_homes').get() as { n: number };
          const answers = await Promise.all(batch.map((b) => exchange(fx.port, b, { timeoutMs: 5000 })));
          let accepted = 0;
          for (let i = 0; i < batch.length; i++) {
            const a = answers[i]!;
            expect(a === '' || /^(OK \S+|UNREGISTERED|ERR [a-z-]+)\n$/.test(a), JSON.stringify(a)).toBe(true);
            if (a.startsWith('OK') || a.startsWith('UNREGISTERED')) accepted++;
            else refused++;
          }
          const after = sqliteOf(fx.store).prepare('SELECT count(*) AS n FROM phone_homes').get() as { n: number };
          expect(after.n - before.n).toBeLessThanOrEqual(accepted);
          expect(await exchange(fx.port, `probe.lab.test:${U}\n`)).toBe('UNREGISTERED\n');
        }),
        { numRuns: runs(100, 200), ...seedParams() },
      );
      expect(refused).toBeGreaterThan(0);
      await waitFor('phone-home sockets closed', () => openFds() <= fds0 + 2, 10_000);
      const grown = heapAfterGc() - heap0;
      expect(grown, `heap grew by ${grown} bytes`).toBeLessThan((LONG_RUN ? 48 : 32) * 1024 * 1024);
    },
    LONG_RUN ? 3_600_000 : 60_000,
  );
});

describe('HTTP phone-home fuzz (fastify inject)', () => {
  let fx: Fixture;
  let app: FastifyInstance;
  beforeAll(async () => {
    fx = await startFixture();
    app = Fastify();
    await app.register(phoneHomePlugin({ handler: fx.registry, log: silentLogger }), { prefix: '/api/v1' });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await fx?.close();
  });

  const jsonish = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.record(
      {
        uuid: fc.oneof(fc.constant(U), fc.string()),
        hostname: fc.string(),
        mac: fc.oneof(fc.string(), fc.array(fc.string())),
        token: fc.string(),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(
      fc.constantFrom('uuid', 'hostname', 'mac', 'token', 'serial', 'format', '__proto__', 'constructor', 'x'),
      fc.jsonValue({ maxDepth: 2 }),
    ),
  );

  it(
    'POST bodies (JSON values, raw bytes) and GET query strings never give a 500; a valid phone-home still works',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            jsonish.map((v) => ({ method: 'POST' as const, body: JSON.stringify(v), type: 'application/json' })),
            mutated(
              LINE_SEEDS.map((b) => Buffer.from(JSON.stringify({ uuid: U, hostname: b.toString('latin1') }))),
              8192,
            ).map((b) => ({ method: 'POST' as const, body: b, type: 'application/json' })),
            fc.string({ maxLength: 400 }).map((q) => ({ method: 'GET' as const, query: q })),
            fc
              .dictionary(
                fc.constantFrom('uuid', 'hostname', 'mac', 'token', 'format', 'x'),
                fc.string({ maxLength: 80 }),
              )
              .map((d) => ({ method: 'GET' as const, query: new URLSearchParams(d).toString() })),
          ),
          async (req) => {
            const res =
              req.method === 'POST'
                ? await app.inject({
                    method: 'POST',
                    url: '/api/v1/phone-home',
                    headers: { 'content-type': req.type },
                    payload: req.body,
                  })
                : await app.inject({ method: 'GET', url: `/api/v1/phone-home?${req.query}` });
            expect([200, 400, 403, 413, 415], `${res.statusCode} ${res.body.slice(0, 200)}`).toContain(res.statusCode);
          },
        ),
        { numRuns: runs(1500, 200), ...seedParams() },
      );
      const ok = await app.inject({
        method: 'POST',
        url: '/api/v1/phone-home',
        payload: { uuid: U, hostname: 'probe.lab.test' },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ result: 'unregistered' });
    },
    LONG_RUN ? 3_600_000 : 60_000,
  );
});
