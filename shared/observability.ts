/**
 * The outer app every service's main.ts wraps its own app in, so that no app file changes:
 *
 *   const outer = observeApp(createCatalogApp(deps), { logger, registry, serveMetrics: true });
 *
 * One middleware around every request:
 * - puts the `x-request-id` the caller sent, or a new id, on the context (`requestIdOf(c)`,
 *   shared/request-context.ts) for handlers to pass on, and echoes it in the response;
 * - writes one log line when the request ends: reqId, method, path, route, status and service
 *   time in ms. Heartbeat-like routes (status probes, empty appends, /health, /metrics, the
 *   status page's polling) are logged at debug unless they belong to a traced request (they
 *   came with an id), so the default output shows orders and not the 20 probes a second the
 *   replicas exchange; any 5xx is a warning;
 * - counts the request in `toystore_http_requests_total` and times it in
 *   `toystore_http_request_duration_seconds`, labeled by method, route and status, where route is
 *   the matched pattern (`/products/:name`), or `unmatched` for a 404 no route took.
 *
 * `serveMetrics` adds `GET /metrics` (Prometheus text). The frontend leaves it off its public app
 * and serves it on its internal port.
 */
import type { Hono, Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Level, Logger } from 'pino';
import { createServiceApp } from './service-app.ts';
import { Counter, Gauge, Histogram } from 'prom-client';
import { getOrCreate, METRIC_PREFIX, type Registry } from './metrics.ts';
import {
  acceptRequestId,
  newRequestId,
  REQUEST_ID_HEADER,
  REQUEST_ID_VAR,
} from './request-context.ts';
import { metricsRoute, QUIET_ROUTES } from './protocol/index.ts';

/** Requests a service answers many times a second by itself (`quiet` in the route tables); logged at debug unless traced. */
export { QUIET_ROUTES };

export const UNMATCHED_ROUTE = 'unmatched';
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ObserveOptions {
  logger: Logger;
  registry: Registry;
  /** Serve GET /metrics from `registry` on this app. */
  serveMetrics?: boolean;
  quietRoutes?: ReadonlySet<string>;
}

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route' | 'status'>;
  inFlight: Gauge;
}

/** The HTTP metrics of a registry (created once; the frontend's two apps share them). */
export function httpMetrics(registry: Registry): HttpMetrics {
  const labelNames = ['method', 'route', 'status'] as const;
  return {
    requests: getOrCreate(
      registry,
      `${METRIC_PREFIX}http_requests_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}http_requests_total`,
          help: 'HTTP requests served, by method, route pattern and status',
          labelNames,
          registers: [registry],
        }),
    ),
    duration: getOrCreate(
      registry,
      `${METRIC_PREFIX}http_request_duration_seconds`,
      () =>
        new Histogram({
          name: `${METRIC_PREFIX}http_request_duration_seconds`,
          help: 'Time from receiving a request to having its response, by method, route pattern and status',
          labelNames,
          buckets: DURATION_BUCKETS,
          registers: [registry],
        }),
    ),
    inFlight: getOrCreate(
      registry,
      `${METRIC_PREFIX}http_requests_in_flight`,
      () =>
        new Gauge({
          name: `${METRIC_PREFIX}http_requests_in_flight`,
          help: 'Requests being served right now',
          registers: [registry],
        }),
    ),
  };
}

/** The middleware alone (observeApp mounts it first). */
export function requestObserver(opts: ObserveOptions): MiddlewareHandler {
  const metrics = httpMetrics(opts.registry);
  const quiet = opts.quietRoutes ?? QUIET_ROUTES;
  // One child per label set, found by one string key: prom-client hashes the label object on every
  // inc/observe otherwise. Bounded: methods are the parser's, routes the app's patterns, statuses ours.
  const children = new Map<
    string,
    { requests: { inc(): void }; duration: { observe(v: number): void } }
  >();
  const seriesOf = (method: string, route: string, status: number) => {
    const key = `${method} ${route} ${status}`;
    let s = children.get(key);
    if (!s) {
      const labels = { method, route, status };
      s = { requests: metrics.requests.labels(labels), duration: metrics.duration.labels(labels) };
      children.set(key, s);
    }
    return s;
  };
  const observe: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    const incoming = acceptRequestId(c.req.header(REQUEST_ID_HEADER));
    const reqId = incoming ?? newRequestId();
    c.set(REQUEST_ID_VAR as never, reqId as never);
    // Set before the handler builds its response: editing a built response's headers makes
    // @hono/node-server give up its fast path for it.
    c.header(REQUEST_ID_HEADER, reqId);
    metrics.inFlight.inc();
    try {
      await next();
    } finally {
      metrics.inFlight.dec();
    }
    const ms = performance.now() - started;
    const method = c.req.method;
    const route = routeOf(c, observe);
    const status = c.res.status;
    const series = seriesOf(method, route, status);
    series.requests.inc();
    series.duration.observe(ms / 1000);
    const level: Level =
      status >= 500 ? 'warn' : !incoming && quiet.has(`${method} ${route}`) ? 'debug' : 'info';
    if (!opts.logger.isLevelEnabled(level)) return;
    const path = c.req.path;
    const fields: Record<string, unknown> = {
      reqId,
      method,
      path,
      route,
      status,
      ms: Math.round(ms * 10) / 10,
    };
    if (c.error && status >= 500) fields.err = c.error;
    opts.logger[level](fields, `${method} ${path} ${status} ${fields.ms}ms`);
  };
  return observe;
}

/** The matched route pattern of the handler that answered, or `unmatched`. */
function routeOf(c: Context, self: MiddlewareHandler): string {
  const route = matchedRoutes(c)[c.req.routeIndex];
  if (!route || route.handler === self) return UNMATCHED_ROUTE;
  return route.path;
}

/** An outer app with the request observer, mounting `apps` in order at `/`. */
export function observeApp(apps: Hono | readonly Hono[], opts: ObserveOptions): Hono {
  // The same routing rules as every inner app (trailing slash, 404/405), now over all their routes.
  const outer = createServiceApp();
  outer.use(requestObserver(opts));
  if (opts.serveMetrics) {
    outer.get(metricsRoute.path, async (c) =>
      c.body(await opts.registry.metrics(), 200, { 'content-type': opts.registry.contentType }),
    );
  }
  for (const app of Array.isArray(apps) ? apps : [apps as Hono]) outer.route('/', app);
  return outer;
}
