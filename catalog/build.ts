/**
 * The catalog, composed: Fastify's `build(opts)` shape. `buildCatalog(config, io)` wires the
 * app, the invalidator (pushes the store's durable changes to every frontend), the restocker,
 * logs and metrics around a store it is given, and returns the app to serve, start/stop and its
 * parts. It listens on nothing and reads no environment: catalog/main.ts opens the file store in
 * DATA_DIR/catalog/ and makes the pooled HTTP client; the in-process tests
 * (test/support/stack.ts) and the simulator build the same catalog over the memory store, an
 * in-process network and a ManualClock.
 *
 * Stop order: the restocker first (no new changes of its own; the caller has closed its server,
 * so no purchase starts), then the store's pending writes, then the invalidator (changes it could
 * not push are caught by the next process: its lanes start at the change sequence it opens with,
 * a gap the frontends see).
 */
import type { Hono } from 'hono';
import { clusterSecurity } from '../shared/auth.ts';
import type { Clock } from '../shared/clock.ts';
import type { Config } from '../shared/config.ts';
import type { HttpClient } from '../shared/http.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { createRegistry, type Registry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import { createCatalogApp } from './app.ts';
import type { CatalogEvent } from './events.ts';
import { createInvalidator, type Invalidator, type InvalidatorEvent } from './invalidator.ts';
import {
  catalogEventLogger,
  invalidatorEventLogger,
  registerCatalogMetrics,
  restockMetrics,
} from './observe.ts';
import { createRestocker, type Restocker } from './restocker.ts';
import type { CatalogStore } from './store.ts';

/**
 * `clusterSecret`: the credential of its internal routes and its calls to the frontends'; absent or
 * null, an open cluster (loopback only).
 */
export type CatalogConfig = Pick<Config, 'frontendUrls' | 'restockIntervalMs'> &
  Partial<Pick<Config, 'clusterSecret'>>;

export interface CatalogIo {
  clock: Clock;
  /**
   * Where invalidations go out: the frontends' internal listeners (the build adds the cluster
   * credential).
   */
  http: HttpClient;
  /** The stock: catalog/store.ts's file store over DATA_DIR/catalog/, or the memory twin. */
  store: CatalogStore;
  logger?: Logger;
  registry?: Registry;
  /** Every catalog event besides the log lines (tests). */
  onEvent?: (e: CatalogEvent) => void;
  onInvalidatorEvent?: (e: InvalidatorEvent) => void;
}

export interface BuiltCatalog {
  /** Every route (product reads, purchases, accounting, /metrics) behind the request observer. */
  app: Hono;
  store: CatalogStore;
  invalidator: Invalidator;
  restocker: Restocker;
  registry: Registry;
  /** Starts the invalidator's beats and the restock timer. */
  start(): void;
  stop(): Promise<void>;
}

/** The catalog's events as lines and metrics, then to `also`: what the build hands its parts. */
function catalogEventSink(
  logger: Logger,
  registry: Registry,
  also?: (e: CatalogEvent) => void,
): (e: CatalogEvent) => void {
  const log = catalogEventLogger(logger);
  const count = restockMetrics(registry);
  return (e) => {
    log(e);
    count(e);
    also?.(e);
  };
}

export function buildCatalog(config: CatalogConfig, io: CatalogIo): BuiltCatalog {
  const logger =
    io.logger ?? createLogger('catalog', { level: 'silent', destination: { write: () => {} } });
  const registry = io.registry ?? createRegistry();
  const onEvent = catalogEventSink(logger, registry, io.onEvent);
  const logPush = invalidatorEventLogger(logger);
  const { store } = io;
  const { credential, http } = clusterSecurity(config.clusterSecret, io.http, (f, m) =>
    logger.warn(f, m),
  );
  const invalidator = createInvalidator({
    http,
    frontendUrls: config.frontendUrls,
    changes: store,
    clock: io.clock,
    onEvent: (e) => {
      logPush(e);
      io.onInvalidatorEvent?.(e);
    },
  });
  const restocker = createRestocker({
    store,
    clock: io.clock,
    intervalMs: config.restockIntervalMs,
    onEvent,
  });
  const app = observeApp(createCatalogApp({ store, credential }), {
    logger,
    registry,
    serveMetrics: true,
  });
  registerCatalogMetrics(registry, store);
  return {
    app,
    store,
    invalidator,
    restocker,
    registry,
    start() {
      invalidator.start();
      restocker.start();
    },
    async stop() {
      await restocker.stop();
      await store.close();
      await invalidator.stop();
    },
  };
}
