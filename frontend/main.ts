/**
 * Starts the frontend: `npm run frontend`. The only place the frontend reads config. It serves
 * the public API on FRONTEND_PORT and the catalog's change feed on FRONTEND_INTERNAL_PORT (kept
 * apart so internal endpoints are not reachable through the public port), elects the order
 * leader and watches it every HEARTBEAT_INTERVAL_MS. The cache serves only while the feed has
 * been heard within CHANGE_SILENCE_MS (frontend/freshness.ts).
 */
import { loadConfigOrExit } from '../shared/config.ts';
import { systemClock } from '../shared/clock.ts';
import { CHANGE_SILENCE_MS } from '../shared/contracts.ts';
import { createPooledHttp } from '../shared/http.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { createFrontendApp } from './app.ts';
import { createCatalogClient } from './catalog-client.ts';
import { CatalogFreshness, type FreshnessEvent } from './freshness.ts';
import { createFrontendInternalApp } from './internal-app.ts';
import { createOrderRouter } from './order-router.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import { ObservedProductCache, registerFrontendMetrics, routerEventLogger } from './observe.ts';
import { createIndexApp } from './index-page.ts';
import { createStatusPage } from './status.ts';
import { createStatusRecorder } from './status-recorder.ts';
import { createFrontendReadinessApp } from './readiness.ts';

const config = loadConfigOrExit(process.env, 'frontend');
const logger = createLogger('frontend', config.logging);
const registry = createRegistry({ defaults: true });
const http = createPooledHttp();
const logRouterEvent = routerEventLogger(logger);
const router = createOrderRouter({
  http,
  replicas: config.replicas,
  clock: systemClock,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  quorum: config.commitQuorum,
  // The router emits nothing before start() below, by when `recorder` exists.
  onEvent: (e) => {
    logRouterEvent(e);
    recorder.onRouterEvent(e);
  },
});
// The status page's record of what this frontend saw: every routed order and catalog call goes
// through the recorder's observed wrappers, every router event to it (frontend/status-recorder.ts).
const recorder = createStatusRecorder({ orders: router, clock: systemClock, quorum: config.commitQuorum });
const orders = recorder.orders;
const catalog = recorder.observeCatalog(createCatalogClient(http, config.catalogUrl));
const logFreshness = (e: FreshnessEvent) => {
  if (e.kind === 'catalog_silent') logger.warn({ event: e.kind, silentMs: e.silentMs, seq: e.seq }, `no word from the catalog for ${e.silentMs} ms: answering product queries from the catalog, caching nothing`);
  else if (e.kind === 'catalog_heard') logger.info({ event: e.kind, seq: e.seq }, `catalog heard at change ${e.seq}: caching`);
  else logger.warn({ event: e.kind, heardSeq: e.heardSeq, sinceSeq: e.sinceSeq, seq: e.seq }, `missed catalog changes (heard up to ${e.heardSeq}, catalog vouches from ${e.sinceSeq}): cache emptied`);
};
const freshness = new CatalogFreshness({ clock: systemClock, silenceMs: CHANGE_SILENCE_MS, onEvent: logFreshness });
const cache = new ObservedProductCache(
  { maxSize: config.cacheSize, enabled: config.cacheEnabled, loader: (name, requestId) => catalog.getProduct(name, requestId), trusted: () => freshness.trusted() },
  { logger },
);
const status = createStatusPage({ cache, orders, catalog, recorder });
registerFrontendMetrics(registry, { cache, orders: router });
let publicServer: Listening | undefined;
let internalServer: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal('frontend', async () => {
  router.stop();
  status.close();
  recorder.close();
  await Promise.all([publicServer?.close(), internalServer?.close()]);
  await http.close();
}, undefined, logger);
publicServer = await listen(observeApp([createIndexApp(), status.app, createFrontendReadinessApp({ orders: router, http, commitQuorum: config.commitQuorum }), createFrontendApp({ cache, catalog, orders, freshness })], { logger, registry }).fetch, config.host, config.frontendPort);
internalServer = await listen(observeApp(createFrontendInternalApp({ cache, freshness }), { logger, registry, serveMetrics: true }).fetch, config.host, config.frontendInternalPort);
router.start();
announce(logger, { url: publicServer.url, internalUrl: internalServer.url }, `frontend listening on ${publicServer.url} (internal ${internalServer.url}; cache ${config.cacheEnabled ? `${config.cacheSize} entries` : 'off'}; status page ${publicServer.url}/status)`);
