/**
 * Where the console may send a browser after login (`/login?next=…`): only a path of this server.
 *
 * `next` is resolved with the WHATWG URL parser (what browsers use) against a base origin of our
 * own, so every trick a browser would read as another host — `//evil`, `/\evil`, and tabs or
 * newlines it strips (`/%09/evil` → `//evil`) — resolves to another origin and is refused. The
 * result is rebuilt from the parsed path, query and fragment; a path that would itself start with
 * `//` or `/\` (`/.//evil` normalises to `//evil`) is refused too.
 */

/** A base no request can name as its own host (`.invalid`, RFC 2606). */
const BASE = 'http://statelesx.invalid';

/**
 * @param next the `next` parameter as received (undefined when absent)
 * @returns a same-origin path (`/…`, with query and fragment), or `/` when `next` is absent, not
 *   a path, or leads anywhere else
 */
export function sameOriginPath(next: string | undefined): string {
  if (!next || !next.startsWith('/')) return '/';
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return '/';
  }
  if (url.origin !== BASE) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  return path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\') ? path : '/';
}
