/**
 * A read that may be answered on Node's own request and response, before any framework object
 * exists: the frontend's cached product (`GET /products/:name` when the cache holds the toy).
 *
 * Why it exists: a cached read does almost nothing of its own, so what it costs is the request's
 * passage through the stack: @hono/node-server's Request and Response, Hono's router and context,
 * the params' validation. Measured side by side with a bare Hono app (npm run bench), those were
 * the better part of a cached read's CPU. The answer for a hit is already known (its JSON is
 * memoized with the cached toy), so a hit is written straight out.
 *
 * Why it is shaped so:
 * - **A strict subset, never a second router.** A request takes the fast path only when it is
 *   plainly the route: its method, the route's path (from the route table, `spec.path`) with one
 *   last parameter made of characters that need no decoding, at most one trailing slash (Hono's
 *   `strict: false`), no query, no body, a Host the adapter accepts as is. Anything else, and
 *   every request whose `answer` is undefined (a miss), goes to the app, which is the one
 *   definition of the route's behaviour; test/integration/fast-read.test.ts holds the fast
 *   answers byte for byte to what the app answers for the same requests.
 * - **Observed like any other request**: the request observer (shared/observability.ts) gives it
 *   its id, its metrics series and its request line, by the same code as the app's requests.
 * - **Answers only 200s.** An error is the app's to shape (shared/errors.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteSpec } from './protocol/route.ts';

/** One read the fast path may answer. */
export interface FastRead {
  /** Its route-table entry: a GET whose path ends in its only parameter (`/products/:name`). */
  spec: RouteSpec;
  /**
   * The JSON of the whole 200 answer for this parameter (what the app would send), or undefined
   * to leave the request to the app. Must be synchronous and cheap.
   */
  answer(param: string): string | undefined;
}

/**
 * Answers `req` on `res` if it can (true), or leaves both untouched (false). Called by
 * shared/serve.ts only for requests without a body, after the connection guard has admitted them.
 */
export type NodeFastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** What the observer needs to know of a fast answer to count and log it. */
export interface FastAnswer {
  method: string;
  path: string;
  route: string;
  body: string;
}

/** A parameter the adapter would pass through untouched: no escapes, no dot segment. */
const PLAIN_PARAM = /^[A-Za-z0-9_~-][A-Za-z0-9_.~-]*$/;
/** The Hosts @hono/node-server takes as they are (its own fast check); others go to the app. */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/** A matcher for the reads' routes: the answer and where it came from, or undefined. */
export function fastReadMatcher(
  reads: readonly FastRead[],
): (req: IncomingMessage) => FastAnswer | undefined {
  const routes = reads.map((read) => {
    const { method, path } = read.spec;
    const at = path.lastIndexOf('/:');
    if (method !== 'GET' || at < 0 || path.indexOf(':') !== at + 1)
      throw new TypeError(`fast read: ${method} ${path} is not a GET ending in its only parameter`);
    return { read, prefix: path.slice(0, at + 1), route: path };
  });
  return (req) => {
    if (req.method !== 'GET') return undefined;
    const host = req.headers.host;
    if (host !== undefined && !PLAIN_HOST.test(host)) return undefined;
    const url = req.url ?? '';
    for (const { read, prefix, route } of routes) {
      if (!url.startsWith(prefix)) continue;
      const end = url.endsWith('/') ? url.length - 1 : url.length;
      const param = url.slice(prefix.length, end);
      if (!PLAIN_PARAM.test(param)) return undefined;
      const body = read.answer(param);
      // The path as the app logs it: Hono's `c.req.path` under `strict: false` has no trailing /.
      return body === undefined
        ? undefined
        : { method: 'GET', path: url.slice(0, end), route, body };
    }
    return undefined;
  };
}
