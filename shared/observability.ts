/**
 * The outer app every service's main.ts wraps its own app in, so that no app file changes:
 *
 *   const outer = observeApp(createCatalogApp(deps), { logger, registry, serveMetrics: true });
 *
 * One observer around every request (`RequestObserver`):
 * - puts the `x-request-id` the caller sent, or a new id, on the request (`requestIdOf(c)`,
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
 * It is not a Hono middleware, because Hono runs any chain with a middleware asynchronously: it
 * wraps the outer app's fetch and each handler, so a handler that answers at once (a cached
 * product) is answered at once, and the request line is written without pino's per-call work
 * (`lineWriter`, shared/logger.ts). At the default level this is what a cached read costs most.
 *
 * `serveMetrics` adds `GET /metrics` (Prometheus text). The frontend leaves it off its public app
 * and serves it on its internal port.
 */
import type { ServerResponse } from 'node:http';
import type { Context, ErrorHandler, Hono, Next } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Level, Logger } from 'pino';
import { unmatchedRequestHandler } from './errors.ts';
import { jsonString, lineWriter, type LineWriter } from './logger.ts';
import { createServiceApp } from './service-app.ts';
import { Gauge } from 'prom-client';
import {
  type CounterHandle,
  getOrCreate,
  type HistogramHandle,
  METRIC_PREFIX,
  type Registry,
  SeriesCounter,
  SeriesHistogram,
} from './metrics.ts';
import { acceptRequestId, newRequestId, REQUEST_ID, REQUEST_ID_HEADER } from './request-context.ts';
import { metricsRoute, QUIET_ROUTES } from './protocol/index.ts';
import { type FastAnswer, fastReadMatcher, type FastRead, type NodeFastPath } from './fast-read.ts';

/**
 * Requests a service answers many times a second by itself (`quiet` in the route tables); logged at
 * debug unless traced.
 */
export { QUIET_ROUTES };

export const UNMATCHED_ROUTE = 'unmatched';
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ObserveOptions {
  logger: Logger;
  registry: Registry;
  /** Serve GET /metrics from `registry` on this app. */
  serveMetrics?: boolean;
  quietRoutes?: ReadonlySet<string>;
  /**
   * Reads the server may answer before the app sees them (shared/fast-read.ts): the returned
   * app's `fastPath`, for shared/serve.ts's `listen`.
   */
  fastReads?: readonly FastRead[];
}

/** An observed app, and the fast path of its `fastReads` when it was given some. */
export type ObservedApp = Hono & { readonly fastPath?: NodeFastPath };

type HttpLabel = 'method' | 'route' | 'status';

export interface HttpMetrics {
  requests: SeriesCounter<HttpLabel>;
  duration: SeriesHistogram<HttpLabel>;
  /** Requests being served now: a plain count, read by the gauge when Prometheus scrapes. */
  inFlight: { count: number };
}

/** Each registry's in-flight count (the frontend's two apps share one registry, so one count). */
const inFlightCounts = new WeakMap<Registry, { count: number }>();

/** The HTTP metrics of a registry (created once; the frontend's two apps share them). */
export function httpMetrics(registry: Registry): HttpMetrics {
  const labelNames = ['method', 'route', 'status'] as const;
  return {
    requests: getOrCreate(
      registry,
      `${METRIC_PREFIX}http_requests_total`,
      SeriesCounter,
      () =>
        new SeriesCounter({
          registry,
          name: `${METRIC_PREFIX}http_requests_total`,
          help: 'HTTP requests served, by method, route pattern and status',
          labelNames,
        }),
    ),
    duration: getOrCreate(
      registry,
      `${METRIC_PREFIX}http_request_duration_seconds`,
      SeriesHistogram,
      () =>
        new SeriesHistogram({
          registry,
          name: `${METRIC_PREFIX}http_request_duration_seconds`,
          help: 'Time from receiving a request to having its response, by method, route pattern and status',
          labelNames,
          buckets: DURATION_BUCKETS,
        }),
    ),
    inFlight: inFlightOf(registry),
  };
}

function inFlightOf(registry: Registry): { count: number } {
  let inFlight = inFlightCounts.get(registry);
  if (inFlight) return inFlight;
  const count = { count: 0 };
  inFlight = count;
  inFlightCounts.set(registry, count);
  getOrCreate(
    registry,
    `${METRIC_PREFIX}http_requests_in_flight`,
    Gauge,
    () =>
      new Gauge({
        name: `${METRIC_PREFIX}http_requests_in_flight`,
        help: 'Requests being served right now',
        registers: [registry],
        collect() {
          this.set(count.count);
        },
      }),
  );
  return inFlight;
}

/** What the observer knows of one request while it is served (on the raw Request, `STATE`). */
interface Served {
  readonly id: string;
  /** It came with an id: a traced request, never quiet. */
  readonly traced: boolean;
  /** Served by @hono/node-server: the id went on its Node response already. */
  readonly onNode: boolean;
  readonly startedMs: number;
  /**
   * The context of the handler that took it (set by `capture`, the first handler to run; a
   * middleware may replace the context's raw Request after, as hono's bodyLimit does).
   */
  c: Context | undefined;
}

const STATE: unique symbol = Symbol('toystore.served');
type Observed = Request & { [STATE]?: Served };

/**
 * One series' handles, found by three map lookups with no key to build; recording through them
 * touches only their numbers (shared/metrics.ts).
 */
interface Series {
  requests: CounterHandle;
  duration: HistogramHandle;
  /** Its route as a JSON string, for the request line. */
  routeJson: string;
}

/**
 * The observer of one outer app: `serve` wraps its fetch, `capture` each of its handlers. Shaped
 * so that a request whose handler answers synchronously (a cached product) is answered
 * synchronously: no middleware (Hono composes any chain with one asynchronously), no promise of
 * its own, so @hono/node-server writes the response at once.
 */
class RequestObserver {
  private readonly metrics: HttpMetrics;
  private readonly quiet: Map<string, Set<string>>;
  private readonly line: LineWriter | null;
  /** route -> method -> status -> series. Bounded: patterns, parser methods, our statuses. */
  private readonly series = new Map<string, Map<string, Map<number, Series>>>();

  constructor(private readonly opts: ObserveOptions) {
    this.metrics = httpMetrics(opts.registry);
    this.quiet = new Map();
    for (const key of opts.quietRoutes ?? QUIET_ROUTES) {
      const [method, route] = key.split(' ') as [string, string];
      let routes = this.quiet.get(method);
      if (!routes) this.quiet.set(method, (routes = new Set()));
      routes.add(route);
    }
    this.line = lineWriter(opts.logger);
  }

  /** `handler`, first noting which context serves the request and sending its id back. */
  capture<H extends (c: Context, next: Next) => unknown>(handler: H): H {
    const wrapped = (c: Context, next: Next) => {
      const served = (c.req.raw as Observed)[STATE];
      if (served !== undefined && served.c !== c) {
        served.c = c;
        (c as { [REQUEST_ID]?: string })[REQUEST_ID] = served.id;
        // Set before the handler builds its response: editing a built response's headers makes
        // @hono/node-server give up its fast path for it.
        if (!served.onNode) c.header(REQUEST_ID_HEADER, served.id);
      }
      return handler(c, next);
    };
    return wrapped as H;
  }

  /** The outer app's fetch, observed. */
  serve(dispatch: Hono['fetch']): Hono['fetch'] {
    return (request, env, ctx) => {
      const raw = request as Observed;
      const incoming = acceptRequestId(request.headers.get(REQUEST_ID_HEADER));
      const id = incoming ?? newRequestId();
      // Under @hono/node-server the id goes straight onto the Node response, whatever answers
      // (cheaper than a Headers object on the context, which every response would then build).
      const outgoing = (env as { outgoing?: { setHeader?: unknown } } | undefined)?.outgoing;
      const onNode = typeof outgoing?.setHeader === 'function';
      if (onNode) (outgoing as ServerResponse).setHeader(REQUEST_ID_HEADER, id);
      const served: Served = {
        id,
        traced: incoming !== null,
        onNode,
        startedMs: performance.now(),
        c: undefined,
      };
      raw[STATE] = served;
      this.metrics.inFlight.count++;
      let res: Response | Promise<Response>;
      try {
        res = dispatch(request, env, ctx);
      } catch (err) {
        this.metrics.inFlight.count--;
        throw err;
      }
      if (res instanceof Promise)
        return res.then(
          (r) => this.done(raw, served, r),
          (err: unknown) => {
            this.metrics.inFlight.count--;
            throw err;
          },
        );
      return this.done(raw, served, res);
    };
  }

  /** Counts, times and logs the answered request; returns its response. */
  private done(raw: Request, served: Served, res: Response): Response {
    this.metrics.inFlight.count--;
    const c = served.c;
    const status = res.status;
    const err = status >= 500 ? c?.error : undefined;
    this.record(served, raw.method, c ? routeOf(c) : UNMATCHED_ROUTE, status, err, () =>
      c ? c.req.path : new URL(raw.url).pathname,
    );
    return res;
  }

  /**
   * Answers a fast read (shared/fast-read.ts) on Node's response, observed as `serve` observes
   * the app's requests: the same id rule, series and request line.
   */
  fastPath(reads: readonly FastRead[]): NodeFastPath {
    const match = fastReadMatcher(reads);
    return (req, res) => {
      const startedMs = performance.now();
      let fast: FastAnswer | undefined;
      try {
        fast = match(req);
      } catch {
        // Whatever went wrong is the app's to answer (a 500 through onAppError), not a crash here.
        return false;
      }
      if (fast === undefined) return false;
      const header = req.headers[REQUEST_ID_HEADER];
      const incoming = acceptRequestId(typeof header === 'string' ? header : undefined);
      const id = incoming ?? newRequestId();
      res.writeHead(200, {
        [REQUEST_ID_HEADER]: id,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(fast.body),
      });
      res.end(fast.body);
      const served = { id, traced: incoming !== null, onNode: true, startedMs, c: undefined };
      this.record(served, fast.method, fast.route, 200, undefined, () => fast.path);
      return true;
    };
  }

  /** The request's series and its line (at its level), once it has its answer. */
  private record(
    served: Served,
    method: string,
    route: string,
    status: number,
    err: Error | undefined,
    pathOf: () => string,
  ): void {
    const ms = performance.now() - served.startedMs;
    const series = this.seriesOf(route, method, status);
    series.requests.inc();
    series.duration.observe(ms / 1000);
    const level: Level =
      status >= 500
        ? 'warn'
        : !served.traced && this.quiet.get(method)?.has(route)
          ? 'debug'
          : 'info';
    const logger = this.opts.logger;
    if (!logger.isLevelEnabled(level)) return;
    const path = pathOf();
    const tenths = Math.round(ms * 10) / 10;
    const msg = `${method} ${path} ${status} ${tenths}ms`;
    if (this.line && !err) {
      // The id is of safe characters (acceptRequestId, newRequestId) and the method a token
      // (Node's parser, the fetch spec): only the path may need escaping, and with it the message.
      const pathJson = jsonString(path);
      const plain = pathJson.length === path.length + 2;
      this.line(
        level,
        `,"reqId":"${served.id}","method":"${method}","path":${pathJson},"route":${series.routeJson},"status":${status},"ms":${tenths}`,
        plain ? `"${msg}"` : JSON.stringify(msg),
      );
      return;
    }
    const fields: Record<string, unknown> = { reqId: served.id, method, path, route, status };
    fields.ms = tenths;
    if (err) fields.err = err;
    logger[level](fields, msg);
  }

  private seriesOf(route: string, method: string, status: number): Series {
    let byMethod = this.series.get(route);
    if (!byMethod) this.series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) {
      const labels = { method, route, status };
      s = {
        requests: this.metrics.requests.series(labels),
        duration: this.metrics.duration.series(labels),
        routeJson: jsonString(route),
      };
      byStatus.set(status, s);
    }
    return s;
  }
}

/** The matched route pattern of the handler that answered, or `unmatched`. */
function routeOf(c: Context): string {
  return matchedRoutes(c)[c.req.routeIndex]?.path ?? UNMATCHED_ROUTE;
}

/** An app's error handler: public at run time (Hono's route() reads it), private in its types. */
const errorHandlerOf = (app: Hono) =>
  (app as unknown as { errorHandler: ErrorHandler }).errorHandler;

/**
 * `handler` with `app`'s own error handler, as Hono's `route()` mounts the routes of an app whose
 * error handler is not the outer one's (it composes the handler alone with it).
 */
function withErrorHandler(
  handler: (c: Context, next: Next) => unknown,
  app: Hono,
): (c: Context, next: Next) => Promise<Response> {
  const onError = errorHandlerOf(app);
  return async (c, next) => {
    try {
      const res = await handler(c, next);
      if (res instanceof Response && !c.finalized) c.res = res;
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      c.error = err;
      const res = await onError(err, c as never);
      if (res) c.res = res;
    }
    return c.res;
  };
}

/**
 * An outer app with the request observer, serving `apps` in order at `/`. Their routes are added
 * as `app.route('/', inner)` adds them (an inner app with its own error handler keeps it), each
 * handler captured by the observer.
 */
export function observeApp(apps: Hono | readonly Hono[], opts: ObserveOptions): ObservedApp {
  // The same routing rules as every inner app (trailing slash, 404/405), now over all their routes.
  const outer = createServiceApp();
  const observer = new RequestObserver(opts);
  outer.notFound(observer.capture(unmatchedRequestHandler(outer)));
  if (opts.serveMetrics) {
    outer.get(
      metricsRoute.path,
      observer.capture(async (c: Context) =>
        c.body(await opts.registry.metrics(), 200, { 'content-type': opts.registry.contentType }),
      ),
    );
  }
  for (const app of Array.isArray(apps) ? apps : [apps as Hono]) {
    for (const r of app.routes) {
      let handler = r.handler as (c: Context, next: Next) => unknown;
      if (errorHandlerOf(app) !== errorHandlerOf(outer)) handler = withErrorHandler(handler, app);
      outer.on(r.method, r.path, observer.capture(handler) as never);
    }
  }
  outer.fetch = observer.serve(outer.fetch);
  if (!opts.fastReads?.length) return outer;
  return Object.assign(outer, { fastPath: observer.fastPath(opts.fastReads) });
}
