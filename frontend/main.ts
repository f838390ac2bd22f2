/**
 * Starts the frontend: `npm run frontend`. The only place the frontend reads config. It serves
 * the public API on FRONTEND_PORT and cache invalidations on FRONTEND_INTERNAL_PORT (kept apart
 * so internal endpoints are not reachable through the public port), elects the order leader and
 * watches it every HEARTBEAT_INTERVAL_MS.
 */
import { loadConfigOrExit } from '../shared/config.ts';
import { systemClock } from '../shared/clock.ts';
import { createPooledHttp } from '../shared/http.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { createFrontendApp } from './app.ts';
import { createCatalogClient } from './catalog-client.ts';
import { createFrontendInternalApp } from './internal-app.ts';
import { createOrderRouter } from './order-router.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import { ObservedProductCache, registerFrontendMetrics, routerEventLogger } from './observe.ts';
import { createStatusPage } from './status.ts';
import { createFrontendReadinessApp } from './readiness.ts';

const config = loadConfigOrExit(process.env, 'frontend');
const logger = createLogger('frontend', config.logging);
const registry = createRegistry({ defaults: true });
const http = createPooledHttp();
const catalog = createCatalogClient(http, config.catalogUrl);
const cache = new ObservedProductCache({ maxSize: config.cacheSize, enabled: config.cacheEnabled, loader: (name) => catalog.getProduct(name) }, { logger });
const orders = createOrderRouter({
  http,
  replicas: config.replicas,
  clock: systemClock,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  onEvent: routerEventLogger(logger),
});
const status = createStatusPage({ cache, orders, catalog });
registerFrontendMetrics(registry, { cache, orders });
let publicServer: Listening | undefined;
let internalServer: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal('frontend', async () => {
  orders.stop();
  status.close();
  await Promise.all([publicServer?.close(), internalServer?.close()]);
  await http.close();
}, undefined, logger);
publicServer = await listen(observeApp([status.app, createFrontendReadinessApp({ orders, http, commitQuorum: config.commitQuorum }), createFrontendApp({ cache, catalog, orders })], { logger, registry }).fetch, config.host, config.frontendPort);
internalServer = await listen(observeApp(createFrontendInternalApp({ cache }), { logger, registry, serveMetrics: true }).fetch, config.host, config.frontendInternalPort);
orders.start();
announce(logger, { url: publicServer.url, internalUrl: internalServer.url }, `frontend listening on ${publicServer.url} (internal ${internalServer.url}; cache ${config.cacheEnabled ? `${config.cacheSize} entries` : 'off'}; status page ${publicServer.url}/status)`);
