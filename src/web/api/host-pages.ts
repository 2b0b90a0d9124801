/**
 * Paging of the host lists (`GET /api/v1/hosts`, `/api/v1/unregistered`): keyset `limit`/`after`,
 * the query schema, the 200 answer with its `Link` header (RFC 8288).
 */
import type { FastifyReply } from 'fastify';
import type { HostPage, HostPageKey, HostState } from '../../store/index.js';

/** Hosts per page of `GET /api/v1/hosts` when `limit` is not given, and the most one page may hold. */
export const HOST_PAGE_DEFAULT = 100;
export const HOST_PAGE_MAX = 1000;
export const HOST_STATES: readonly HostState[] = ['unregistered', 'registered', 'configuring', 'configured', 'failed'];
/** `after`: `<lastSeen ms>.<uuid>`. */
export const AFTER_PATTERN = '^[0-9]{1,15}\\.[0-9a-fA-F-]{36}$';

/** The keyset of `after` (already checked against {@link AFTER_PATTERN}). */
export function parseAfter(after: string | undefined): HostPageKey | undefined {
  if (!after) return undefined;
  const dot = after.indexOf('.');
  return { lastSeen: Number(after.slice(0, dot)), uuid: after.slice(dot + 1).toLowerCase() };
}

/** `limit` and `after` of a host list. */
export const pageQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: HOST_PAGE_MAX, default: HOST_PAGE_DEFAULT },
    after: {
      type: 'string',
      pattern: AFTER_PATTERN,
      description: 'start after this host: `<lastSeen>.<uuid>` of the last host of the previous page',
    },
  },
} as const;

/** The 200 answer of a host list at `path`: an array of hosts and the `Link` header. */
export function pageOfHosts(path: string) {
  return {
    type: 'array',
    items: { $ref: 'Host#' },
    headers: { link: { type: 'string', description: `\`<${path}?…&after=…>; rel="next"\` when more hosts follow` } },
  } as const;
}

/** Sets `Link: <path?query&after=…>; rel="next"` (RFC 8288) when `page` has a successor. */
export function linkNext(reply: FastifyReply, path: string, query: Record<string, string>, page: HostPage): void {
  if (!page.next) return;
  const q = new URLSearchParams({ ...query, after: `${page.next.lastSeen}.${page.next.uuid}` });
  void reply.header('link', `<${path}?${q.toString()}>; rel="next"`);
}
