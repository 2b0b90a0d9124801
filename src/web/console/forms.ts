/** Form fields of console requests (urlencoded bodies) and the values read from them. */
import { HttpProblem } from '../problem.js';
import { IPV4_PATTERN } from '../schemas.js';

/** An urlencoded form body as @fastify/formbody parses it: a repeated field is an array. */
export type Form = Record<string, string | string[] | undefined>;

/** The first value of field `k`, trimmed ('' when absent). */
export function one(f: Form | undefined, k: string): string {
  const v = f?.[k];
  return (Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();
}

/** Every value of field `k`, untrimmed (none when absent). */
export function many(f: Form | undefined, k: string): string[] {
  const v = f?.[k];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * Parses `vmk1=10.0.1.11, vmk2=10.0.2.11` into a device → address map.
 * @throws HttpProblem 400 naming the form field and the bad entry
 */
export function parseAddresses(text: string, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const ip = new RegExp(IPV4_PATTERN);
  for (const part of text.split(/[\s,;]+/).filter(Boolean)) {
    const m = /^(vmk\d{1,2})=(.+)$/.exec(part);
    if (!m || !ip.test(m[2]!)) {
      throw new HttpProblem(400, 'Bad Request', `addresses: "${part}" is not vmkN=a.b.c.d`, [
        { path: `/body/${field}`, message: `"${part}" is not vmkN=a.b.c.d` },
      ]);
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Where a browser may be sent after login: a path of this server only. `next` is resolved with
 * the WHATWG URL parser (what browsers use) against a base origin of our own, so whatever a
 * browser would read as another host — `//evil`, `/\evil`, tabs or newlines it strips
 * (`/%09/evil` → `//evil`) — has another origin and is refused; so is a path that normalises to
 * `//…` or `/\…` (`/.//evil`). Anything refused becomes `/`.
 */
export function safeNext(next: string | undefined): string {
  const base = 'http://statelesx.invalid';
  if (!next || !next.startsWith('/') || !URL.canParse(next, base)) return '/';
  const url = new URL(next, base);
  if (url.origin !== base) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  return path.startsWith('//') || path.startsWith('/\\') ? '/' : path;
}
