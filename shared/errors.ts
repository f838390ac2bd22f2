/**
 * Named errors with stable codes, and the one place they become HTTP.
 *
 * Every service throws an `AppError` (or lets one through from a client) and mounts
 * `onAppError` as its Hono `onError`, so the wire shape `{"error":{"code":N,"message":"..."}}`
 * with HTTP status == code is produced in exactly one spot. `reason` is a stable machine code
 * (like hashicorp's ErrNotLeader) that services use to decide what to do with an error they
 * received from a peer; it travels in the body next to the lab's `code` and `message`.
 */
import type { Context, Hono, NotFoundHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export type ErrorReason =
  | 'bad_request'
  | 'product_not_found'
  | 'order_not_found'
  | 'not_found'
  | 'insufficient_stock'
  | 'no_leader'
  | 'not_leader'
  | 'stale_epoch'
  | 'no_quorum'
  | 'outcome_unknown'
  | 'upstream_unavailable'
  | 'payload_too_large'
  | 'method_not_allowed'
  | 'idempotency_key_reused'
  | 'request_in_progress'
  | 'recovering'
  | 'not_ready'
  | 'unauthenticated'
  | 'forbidden'
  | 'internal';

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly reason: ErrorReason,
    message: string,
    /** Seconds a client should wait before retrying; sent as Retry-After. */
    readonly retryAfterSeconds?: number,
    /** Extra machine-readable detail (e.g. the epoch a replica has promised). */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = {
      code: this.status,
      message: this.message,
      reason: this.reason,
    };
    if (this.detail) error.detail = this.detail;
    return { error };
  }
}

export interface ErrorBody {
  error: { code: number; message: string; reason?: ErrorReason; detail?: Record<string, unknown> };
}

export const badRequest = (message: string) => new AppError(400, 'bad_request', message);
export const productNotFound = () => new AppError(404, 'product_not_found', 'product not found');
export const orderNotFound = () => new AppError(404, 'order_not_found', 'order not found');
export const insufficientStock = (name: string, left: number) =>
  new AppError(
    409,
    'insufficient_stock',
    `insufficient stock for ${name}: ${left} left`,
    undefined,
    { left },
  );
export const noLeader = (why: string) =>
  new AppError(503, 'no_leader', `no leader can take the order: ${why}`, 1);
export const notLeader = (leaderId: number | null, epoch: number) =>
  new AppError(503, 'not_leader', 'this replica is not the leader', 1, { leaderId, epoch });
export const staleEpoch = (promisedEpoch: number) =>
  new AppError(
    409,
    'stale_epoch',
    `epoch is older than the promised epoch ${promisedEpoch}`,
    undefined,
    { promisedEpoch },
  );
export const noQuorum = (why: string) =>
  new AppError(503, 'no_quorum', `order not taken: ${why}`, 1);
/**
 * The order may or may not commit: never a definite failure, so a client must not treat it as one.
 */
export const outcomeUnknown = (why: string) =>
  new AppError(504, 'outcome_unknown', `order outcome unknown: ${why}`);
export const idempotencyKeyReused = () =>
  new AppError(
    422,
    'idempotency_key_reused',
    'this Idempotency-Key was already used with a different request body',
  );
export const requestInProgress = () =>
  new AppError(
    409,
    'request_in_progress',
    'a request with this Idempotency-Key is still in progress; retry later',
  );
/** A replica rebuilding lost or damaged state: it may not vote, lead or count until it has. */
export const recovering = (why: string) =>
  new AppError(503, 'recovering', `this replica is recovering its state: ${why}`, 1);
/**
 * A readiness probe's "not now" (GET /ready): the service is alive but should get no traffic yet.
 */
export const notReady = (message: string, detail: Record<string, unknown>) =>
  new AppError(503, 'not_ready', `not ready: ${message}`, 1, detail);
export const upstreamUnavailable = (what: string) =>
  new AppError(503, 'upstream_unavailable', `${what} is unavailable`, 1);

/** Recreates an AppError from an error body a peer sent, so it can be rethrown unchanged. */
export function fromErrorBody(status: number, body: unknown): AppError {
  const e = (body as Partial<ErrorBody> | undefined)?.error;
  if (e && typeof e.message === 'string') {
    return new AppError(
      status,
      e.reason ?? reasonForStatus(status),
      e.message,
      status === 503 ? 1 : undefined,
      e.detail,
    );
  }
  return new AppError(
    status >= 500 ? 502 : status,
    'internal',
    `unexpected upstream response (HTTP ${status})`,
  );
}

function reasonForStatus(status: number): ErrorReason {
  if (status === 400) return 'bad_request';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 405) return 'method_not_allowed';
  if (status === 413) return 'payload_too_large';
  if (status === 503) return 'upstream_unavailable';
  return 'internal';
}

/** Hono onError: AppErrors keep their status; anything else is a 500 that says nothing internal. */
export function onAppError(err: Error, c: Context): Response {
  if (err instanceof AppError) {
    if (err.retryAfterSeconds !== undefined) c.header('Retry-After', String(err.retryAfterSeconds));
    return c.json(err.toBody(), err.status as ContentfulStatusCode);
  }
  // Hono's own HTTPException (e.g. from bodyLimit) carries a status; keep it but use our shape.
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 600) {
    const reason = reasonForStatus(status);
    return c.json(
      { error: { code: status, message: err.message || 'request failed', reason } },
      status as ContentfulStatusCode,
    );
  }
  console.error('unhandled error', err);
  return c.json({ error: { code: 500, message: 'internal error', reason: 'internal' } }, 500);
}

/** Hono notFound: unknown routes also get the error shape. */
export function onNotFound(c: Context): Response {
  return c.json(
    {
      error: {
        code: 404,
        message: `no route for ${c.req.method} ${c.req.path}`,
        reason: 'not_found',
      },
    },
    404,
  );
}

/** Methods a route may be registered under (Hono's own `ALL`, used by middleware, is not one). */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * The rule for a request no route took, for every service: if the path exists under other
 * methods it is a 405 whose `Allow` lists them (HEAD comes with GET: Hono answers it from the GET
 * route), otherwise a 404. The methods are read from `app`'s own router, so a route added
 * anywhere (a sub-app mounted with `route()` included) is covered without a table kept by hand.
 */
export function unmatchedRequestHandler(app: Hono<any, any, any>): NotFoundHandler {
  return (c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length === 0) return onNotFound(c);
    c.header('Allow', allowed.join(', '));
    const message = `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(', ')}`;
    return c.json(
      { error: { code: 405, message, reason: 'method_not_allowed' satisfies ErrorReason } },
      405,
    );
  };
}

/** The methods `app` serves `path` under, in ROUTE_METHODS order; empty if none. */
export function allowedMethods(app: Hono<any, any, any>, path: string): string[] {
  // `path` is the routed path (c.req.path: a non-strict app has already dropped one trailing
  // slash).
  const allowed = new Set<string>();
  for (const method of ROUTE_METHODS) {
    const [handlers] = app.router.match(method, path) as unknown as [
      Array<[[unknown, { method: string }], unknown]>,
    ];
    if (handlers.some(([[, route]]) => route.method === method)) allowed.add(method);
  }
  if (allowed.has('GET')) allowed.add('HEAD');
  return ROUTE_METHODS.filter((m) => allowed.has(m));
}
