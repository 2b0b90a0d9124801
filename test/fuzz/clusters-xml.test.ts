/**
 * Cluster XML loader fuzzing, beyond the clusters unit tests (which cover single XXE / billion-laughs
 * files and small random damage): families of hostile documents — entity bombs in many shapes,
 * DTDs and external entities pointing at a local file and at a local HTTP server, parameter
 * entities, XInclude, huge attributes and text, deep nesting, element floods, BOMs, NULs and lone
 * surrogates — plus byte-level mutation of the real fixtures, through the whole pipeline (guard,
 * parser, XSD in libxml2, semantic checks). Properties: never throws, always a cluster xor
 * diagnostics, bounded time per batch, no network fetch, no file content echoed back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadClusterTexts } from '../../src/clusters/load.js';
import { heapAfterGc, LONG_RUN, mutated, runs, seedParams, within } from './harness.js';

const FIX = join(import.meta.dirname, '../fixtures/clusters');
const base = readFileSync(join(FIX, 'base.xml'), 'utf8');
const minimal = readFileSync(join(FIX, 'minimal.xml'), 'utf8');
const SECRET = 'SX-FUZZ-SECRET-7c1d0e';

let dir: string;
let secretFile: string;
let http: Server;
let httpPort: number;
let hits = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-fuzz-xml-'));
  secretFile = join(dir, 'secret.txt');
  writeFileSync(secretFile, SECRET);
  http = createServer((_req, res) => {
    hits++;
    res.end(`<!ENTITY x "${SECRET}">`);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

/** Inserts `s` right after the XML declaration of the minimal fixture (or replaces the body). */
const withProlog = (prolog: string, body = minimal.replace(/^<\?xml[^>]*>\s*/, '')) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n${prolog}\n${body}`;

/** Hostile documents, parameterised so fast-check explores sizes and placements. */
function hostile(): fc.Arbitrary<string> {
  const url = () => `http://127.0.0.1:${httpPort}/x.dtd`;
  return fc.oneof(
    // billion laughs with n levels of m references
    fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2, max: 12 })).map(([levels, fan]) => {
      let dtd = '<!ENTITY l0 "lol">';
      for (let i = 1; i <= levels; i++)
        dtd += `<!ENTITY l${i} "${Array(fan)
          .fill(`&l${i - 1};`)
          .join('')}">`;
      return withProlog(`<!DOCTYPE cluster [${dtd}]>`).replace('<datacenter>DC0', `<datacenter>&l${levels};`);
    }),
    // quadratic blowup: one big entity referenced many times
    fc
      .tuple(fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 1, max: 2000 }))
      .map(([len, refs]) =>
        withProlog(`<!DOCTYPE cluster [<!ENTITY a "${'a'.repeat(len)}">]>`).replace(
          '<datacenter>DC0',
          `<datacenter>${'&a;'.repeat(refs)}`,
        ),
      ),
    // external entities: file, http (local server), parameter entities, external DTD subset
    fc
      .constantFrom('SYSTEM', 'PUBLIC "-//x//y"')
      .chain((kind) =>
        fc.constantFrom(
          withProlog(`<!DOCTYPE cluster [<!ENTITY xxe ${kind} "file://${secretFile}">]>`).replace(
            '<datacenter>DC0',
            '<datacenter>&xxe;',
          ),
          withProlog(`<!DOCTYPE cluster [<!ENTITY xxe ${kind} "${url()}">]>`).replace(
            '<datacenter>DC0',
            '<datacenter>&xxe;',
          ),
          withProlog(`<!DOCTYPE cluster [<!ENTITY % p ${kind} "${url()}"> %p;]>`).replace(
            '<datacenter>DC0',
            '<datacenter>&x;',
          ),
          withProlog(`<!DOCTYPE cluster ${kind} "${url()}">`),
          withProlog(`<!DOCTYPE cluster ${kind} "file://${secretFile}">`),
        ),
      ),
    // XInclude and xml-stylesheet processing instructions
    fc.constant(withProlog(`<?xml-stylesheet href="${url()}"?>`)),
    fc.constant(
      minimal.replace(
        '<members/>',
        `<members><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://${secretFile}" parse="text"/></members>`,
      ),
    ),
    fc.constant(
      minimal.replace(
        '<members/>',
        `<members><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="${url()}"/></members>`,
      ),
    ),
    // schemaLocation pointing at the local server (a validator must not fetch it)
    fc.constant(
      minimal.replace(
        'name="fx-minimal"',
        `name="fx-minimal" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:statelesx:cluster:1 ${url()}"`,
      ),
    ),
    // huge attribute / text values around the 4096-character limit and far beyond
    fc.integer({ min: 4000, max: 200_000 }).map((n) => minimal.replace('name="fx-minimal"', `name="${'n'.repeat(n)}"`)),
    fc.integer({ min: 4000, max: 200_000 }).map((n) => minimal.replace('DC0', 'D'.repeat(n))),
    fc
      .integer({ min: 10, max: 2000 })
      .map((n) =>
        minimal.replace('<members/>', `<members ${Array.from({ length: n }, (_, i) => `a${i}="x"`).join(' ')}/>`),
      ),
    // deep nesting (well past the 16 limit, and past what a recursive parser's stack could take)
    fc
      .integer({ min: 15, max: 100_000 })
      .map((d) => minimal.replace('<members/>', `<members>${'<x>'.repeat(d)}${'</x>'.repeat(d)}</members>`)),
    fc
      .integer({ min: 15, max: 100_000 })
      .map((d) => minimal.replace('<members/>', `<members>${'<x>'.repeat(d)}</members>`)),
    // element floods
    fc
      .integer({ min: 1000, max: 60_000 })
      .map((n) => minimal.replace('<members/>', `<members>${'<host/>'.repeat(n)}</members>`)),
    // encodings and odd characters
    fc
      .constantFrom('\uFEFF', '\uFEFF\uFEFF', '\0', '\uD800', '\uDFFF', '\u0085', '\u2028', '\uFFFE')
      .chain((c) => fc.nat({ max: minimal.length }).map((at) => minimal.slice(0, at) + c + minimal.slice(at))),
    fc.constant(minimal.replace('encoding="UTF-8"', 'encoding="UTF-16"')),
    fc.constant(minimal.replace('encoding="UTF-8"', 'encoding="EBCDIC-US"')),
    // declarations hidden in CDATA/comments/PIs (allowed) next to real ones (refused)
    fc.constant(minimal.replace('<members/>', '<members><![CDATA[<!DOCTYPE x [<!ENTITY a "b">]>]]></members>')),
    fc.constant(minimal.replace('<members/>', '<!-- --><!DOCTYPE x><members/>')),
    fc.constant(minimal.replace('<members/>', '<members><!-- unterminated')),
    fc.constant(minimal.replace('<members/>', '<members><![CDATA[ unterminated')),
    fc.constant(minimal.replace('<members/>', '<?pi unterminated <members/>')),
    fc.constant('<!DOCTYPE cluster [<!ENTITY x SYSTEM "file:///etc/passwd">]><cluster>&x;</cluster>'),
    fc.constant(''),
  );
}

/** Loads a batch and checks the loader's contract for each text. */
async function check(texts: string[]): Promise<void> {
  const res = await within(60_000, 'loadClusterTexts batch', () =>
    loadClusterTexts(texts.map((text, i) => ({ file: `/fuzz/${i}.xml`, text }))),
  );
  expect(res).toHaveLength(texts.length);
  for (const r of res) {
    expect(Boolean(r.cluster) !== r.diagnostics.length > 0).toBe(true);
    for (const d of r.diagnostics) {
      expect(d.message.length).toBeGreaterThan(0);
      expect(d.line).toBeGreaterThanOrEqual(1);
      expect(d.message).not.toContain(SECRET);
    }
    if (r.cluster) expect(JSON.stringify(r.cluster)).not.toContain(SECRET);
  }
}

describe('cluster XML loader fuzz', () => {
  it(
    'hostile documents (entity bombs, XXE, DTDs, XInclude, huge values, deep nesting, floods) are refused without fetching anything',
    async () => {
      const heap0 = heapAfterGc();
      await fc.assert(
        fc.asyncProperty(fc.array(hostile(), { minLength: 1, maxLength: 6 }), async (texts) => {
          await check(texts);
          expect(hits, 'the loader fetched from the local HTTP server').toBe(0);
        }),
        { numRuns: runs(60, 2000), ...seedParams() },
      );
      const grown = heapAfterGc() - heap0;
      expect(grown, `heap grew by ${grown} bytes`).toBeLessThan(64 * 1024 * 1024);
    },
    LONG_RUN ? 3_600_000 : 120_000,
  );

  it(
    'byte-level mutations of the real fixtures: a cluster or diagnostics, never an exception',
    async () => {
      const seeds = [base, minimal].map((t) => Buffer.from(t, 'utf8'));
      await fc.assert(
        fc.asyncProperty(fc.array(mutated(seeds, 64 * 1024), { minLength: 1, maxLength: 16 }), async (bufs) => {
          await check(bufs.map((b) => b.toString('utf8')));
        }),
        { numRuns: runs(40, 5000), ...seedParams() },
      );
      expect(hits).toBe(0);
    },
    LONG_RUN ? 3_600_000 : 120_000,
  );
});
