/**
 * Request ids: which client request a piece of work is for, so one id follows an order from the
 * frontend to the order leader, the catalog and the followers, and `grep <id>` over every
 * service's output finds its lines.
 *
 * The id travels explicitly: the request observer (shared/observability.ts) puts the id it was sent
 * (or a new one) on the context of the request it serves, handlers read it with `requestIdOf(c)`
 * and hand it to the calls they make (`HttpRequest.requestId`, shared/http.ts). No
 * AsyncLocalStorage: on Node 20 it turns on async hooks for every promise in the process, which
 * cost a fifth of the frontend's CPU on a cached read, for ids that only a handful of calls need.
 *
 * Ids from outside are untrusted: only short ids of safe characters are kept (a comma-separated
 * list is allowed: a replication batch carries the ids of all the orders in it).
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';

export const REQUEST_ID_HEADER = 'x-request-id';
const MAX_REQUEST_ID_LENGTH = 200;
const SAFE_ID = /^[A-Za-z0-9._:,@/+=-]+$/;

/** Random per process, so ids from different services and restarts never collide. */
const processPrefix = randomBytes(4).toString('hex');
let issued = 0;

/** A new id: this process's prefix and a counter (a random id per request cost 5 % of CPU). */
export function newRequestId(): string {
  return `${processPrefix}${(++issued).toString(16).padStart(8, '0')}`;
}

/** The id a peer sent, if it is one we may log and forward; null otherwise. */
export function acceptRequestId(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const id = raw.trim();
  return id.length > 0 && id.length <= MAX_REQUEST_ID_LENGTH && SAFE_ID.test(id) ? id : null;
}

/** The id of the request `c` serves (set by the request observer), if any. */
export function requestIdOf(c: Context): string | undefined {
  return (c as { [REQUEST_ID]?: string })[REQUEST_ID];
}

/**
 * Where the request observer keeps a request's id: on the request's Hono context (a context
 * variable would cost a Map per request).
 */
export const REQUEST_ID: unique symbol = Symbol('toystore.requestId');
