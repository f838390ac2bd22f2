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
import { ProductCache } from './cache.ts';
import { createCatalogClient } from './catalog-client.ts';
import { createFrontendInternalApp } from './internal-app.ts';
import { createOrderRouter } from './order-router.ts';

const config = loadConfigOrExit(process.env, 'frontend');
const http = createPooledHttp();
const catalog = createCatalogClient(http, config.catalogUrl);
const cache = new ProductCache({ maxSize: config.cacheSize, enabled: config.cacheEnabled, loader: (name) => catalog.getProduct(name) });
const orders = createOrderRouter({
  http,
  replicas: config.replicas,
  clock: systemClock,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  log: (msg) => console.log(`frontend: ${msg}`),
});
let publicServer: Listening | undefined;
let internalServer: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal('frontend', async () => {
  orders.stop();
  await Promise.all([publicServer?.close(), internalServer?.close()]);
  await http.close();
});
publicServer = await listen(createFrontendApp({ cache, catalog, orders }).fetch, config.host, config.frontendPort);
internalServer = await listen(createFrontendInternalApp({ cache }).fetch, config.host, config.frontendInternalPort);
orders.start();
console.log(`frontend listening on ${publicServer.url} (internal ${internalServer.url}; cache ${config.cacheEnabled ? `${config.cacheSize} entries` : 'off'})`);
