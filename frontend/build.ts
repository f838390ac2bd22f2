/**
 * The frontend, composed: Fastify's `build(opts)` shape. `buildFrontend(config, io)` wires the
 * order router (elects the leader, routes orders), the status recorder, the catalog client, the
 * cache with its freshness rule, the status page, readiness, logs and metrics, and returns the
 * public and internal apps to serve, start/stop and its parts. It listens on nothing and reads no
 * environment: frontend/main.ts makes the real IO (pooled HTTP, the system clock, a pino logger)
 * and listens on two ports; the in-process tests (test/support/stack.ts, order-cluster.ts) and the
 * simulator build the same frontend over an in-process network and a ManualClock.
 *
 * Two apps because internal endpoints (the catalog's change feed, /metrics) must not be
 * reachable through the public port.
 */
import type { Hono } from 'hono';
import { clusterSecurity } from '../shared/auth.ts';
import type { Clock } from '../shared/clock.ts';
import type { Config } from '../shared/config.ts';
import { CHANGE_SILENCE_MS } from '../shared/contracts.ts';
import type { HttpClient } from '../shared/http.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { createRegistry, type Registry } from '../shared/metrics.ts';
import { observeApp, type ObservedApp } from '../shared/observability.ts';
import { createFrontendApp, productFastRead } from './app.ts';
import { createCatalogClient, type CatalogClient } from './catalog-client.ts';
import { CatalogFreshness, type FreshnessEvent } from './freshness.ts';
import { createIndexApp } from './index-page.ts';
import { createFrontendInternalApp } from './internal-app.ts';
import {
  freshnessEventLogger,
  ObservedProductCache,
  registerFrontendMetrics,
  routerEventLogger,
} from './observe.ts';
import { createOrderRouter } from './order-router.ts';
import { createFrontendReadinessApp } from './readiness.ts';
import type { RouterEvent } from './router-events.ts';
import { createStatusPage, type StatusPage } from './status.ts';
import { createStatusRecorder, type StatusRecorder } from './status-recorder.ts';

export type FrontendConfig = Pick<
  Config,
  'replicas' | 'catalogUrl' | 'heartbeatIntervalMs' | 'commitQuorum' | 'cacheSize' | 'cacheEnabled'
> &
  Partial<Pick<Config, 'clusterSecret'>> & {
    /**
     * How long one client order may spend retrying across failovers (the router's default if
     * absent).
     */
    requestDeadlineMs?: number;
    /** How long without a catalog notice before the cache is not trusted (CHANGE_SILENCE_MS). */
    changeSilenceMs?: number;
  };

export interface FrontendIo {
  clock: Clock;
  /**
   * The network as this frontend sees it: the replicas and the catalog (the build adds the cluster
   * credential).
   */
  http: HttpClient;
  logger?: Logger;
  registry?: Registry;
  /** Wall clock for the status page's timestamps; default Date.now. */
  now?: () => number;
  /** Every router event besides the log lines and the status page (tests, the simulator). */
  onRouterEvent?: (e: RouterEvent) => void;
  onFreshnessEvent?: (e: FreshnessEvent) => void;
}

export interface BuiltFrontend {
  /** The public API, the index page, the status page and /ready. */
  publicApp: ObservedApp;
  /** The catalog's change feed, a manual invalidation, /metrics. */
  internalApp: Hono;
  router: ReturnType<typeof createOrderRouter>;
  recorder: StatusRecorder;
  cache: ObservedProductCache;
  freshness: CatalogFreshness;
  catalog: CatalogClient;
  status: StatusPage;
  registry: Registry;
  /** Starts electing and watching the leader. */
  start(): void;
  stop(): void;
}

export function buildFrontend(config: FrontendConfig, io: FrontendIo): BuiltFrontend {
  const logger =
    io.logger ?? createLogger('frontend', { level: 'silent', destination: { write: () => {} } });
  const registry = io.registry ?? createRegistry();
  // Its internal listener checks the cluster credential; its calls to the replicas and the catalog
  // carry it.
  const { credential, http } = clusterSecurity(config.clusterSecret, io.http, (f, m) =>
    logger.warn(f, m),
  );
  const { router, recorder } = routerAndRecorder(config, io, http, logger);
  const orders = recorder.orders;
  const catalog = recorder.observeCatalog(createCatalogClient(http, config.catalogUrl));
  const { freshness, cache } = cacheAndFreshness(config, io, catalog, logger);
  const status = createStatusPage({ cache, orders, catalog, recorder, now: io.now });
  registerFrontendMetrics(registry, { cache, orders: router });
  const readiness = createFrontendReadinessApp({
    orders: router,
    http,
    commitQuorum: config.commitQuorum,
  });
  const publicApp = observeApp(
    [
      createIndexApp(),
      status.app,
      readiness,
      createFrontendApp({ cache, catalog, orders, freshness }),
    ],
    { logger, registry, fastReads: [productFastRead(cache)] },
  );
  const internalApp = observeApp(createFrontendInternalApp({ cache, freshness, credential }), {
    logger,
    registry,
    serveMetrics: true,
  });
  return {
    publicApp,
    internalApp,
    router,
    recorder,
    cache,
    freshness,
    catalog,
    status,
    registry,
    start: () => router.start(),
    stop() {
      router.stop();
      status.close();
      recorder.close();
    },
  };
}

/**
 * The order router and the status page's recorder of what it does: every router event goes to
 * the log, the recorder and `io.onRouterEvent`.
 */
function routerAndRecorder(
  config: FrontendConfig,
  io: FrontendIo,
  http: HttpClient,
  logger: Logger,
): { router: ReturnType<typeof createOrderRouter>; recorder: StatusRecorder } {
  const logRouterEvent = routerEventLogger(logger);
  const router = createOrderRouter({
    http,
    replicas: config.replicas,
    clock: io.clock,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    requestDeadlineMs: config.requestDeadlineMs,
    quorum: config.commitQuorum,
    // The router emits nothing before start(), by when `recorder` exists.
    onEvent: (e) => {
      logRouterEvent(e);
      recorder.onRouterEvent(e);
      io.onRouterEvent?.(e);
    },
  });
  // The status page's record of what this frontend saw: every routed order and catalog call goes
  // through the recorder's observed wrappers, every router event to it
  // (frontend/status-recorder.ts).
  const recorder = createStatusRecorder({
    orders: router,
    clock: io.clock,
    now: io.now,
    quorum: config.commitQuorum,
  });
  return { router, recorder };
}

/** The product cache, filled from the catalog, trusted only while the catalog's feed is heard. */
function cacheAndFreshness(
  config: FrontendConfig,
  io: FrontendIo,
  catalog: CatalogClient,
  logger: Logger,
): { freshness: CatalogFreshness; cache: ObservedProductCache } {
  const logFreshness = freshnessEventLogger(logger);
  const freshness = new CatalogFreshness({
    clock: io.clock,
    silenceMs: config.changeSilenceMs ?? CHANGE_SILENCE_MS,
    onEvent: (e) => {
      logFreshness(e);
      io.onFreshnessEvent?.(e);
    },
  });
  const cache = new ObservedProductCache(
    {
      maxSize: config.cacheSize,
      enabled: config.cacheEnabled,
      loader: (name, requestId) => catalog.getProduct(name, requestId),
      trusted: () => freshness.trusted(),
    },
    { logger, now: io.now },
  );
  return { freshness, cache };
}
