/**
 * The request context: which client request the code running right now works for, carried
 * through every `await` by an AsyncLocalStorage instead of by arguments, so no service logic has
 * to pass it along.
 *
 * The outer middleware (shared/observability.ts) opens a context per incoming request with the
 * `x-request-id` it was sent (or a new id). The HTTP clients in shared/http.ts add the current id
 * to every request they send, so one id follows an order from the frontend to the order leader,
 * the catalog, the frontend's cache invalidation and the followers, and the logger stamps it on
 * every line written meanwhile.
 *
 * A request's context closes when its response is done (`runRequest`): work it started that
 * outlives it (a replication loop begun by an election request, a periodic reconcile) then runs
 * with no id, instead of stamping every later line and call with that old request's id.
 *
 * Ids from outside are untrusted: only short ids of safe characters are kept (a comma-separated
 * list is allowed: a replication batch carries the ids of all the orders in it).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';
const MAX_REQUEST_ID_LENGTH = 200;
const SAFE_ID = /^[A-Za-z0-9._:,@/+=-]+$/;

interface RequestContext {
  requestId: string;
  /** False once the request that opened it has been answered. */
  open: boolean;
}

const storage = new AsyncLocalStorage<RequestContext>();

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

/** The id of the request the current code works for, if any (and if it is still being served). */
export function currentRequestId(): string | undefined {
  const ctx = storage.getStore();
  return ctx?.open ? ctx.requestId : undefined;
}

/** Runs `fn` (and everything it awaits or starts) as work for request `requestId`. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId, open: true }, fn);
}

/**
 * Serves one request: like runWithRequestId, but the context closes once `fn` settles, so what
 * the request started and left running no longer counts as working for it.
 */
export async function runRequest<T>(requestId: string, fn: () => Promise<T>): Promise<T> {
  const ctx: RequestContext = { requestId, open: true };
  try {
    return await storage.run(ctx, fn);
  } finally {
    ctx.open = false;
  }
}

/** Runs `fn` outside any request (e.g. a heartbeat sent from a loop a request once started). */
export function runOutsideRequest<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** `headers` plus the current request id, unless the caller set one already. */
export function withRequestIdHeader(headers: Record<string, string>): Record<string, string> {
  const id = currentRequestId();
  if (id === undefined || Object.keys(headers).some((k) => k.toLowerCase() === REQUEST_ID_HEADER)) return headers;
  return { ...headers, [REQUEST_ID_HEADER]: id };
}
