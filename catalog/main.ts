/**
 * The catalog process: the one place that reads config and wires real dependencies (file store,
 * pooled HTTP, system clock, a socket) into the app.
 *
 * Shutdown order matters: stop the restocker first (no new changes of its own), then close the
 * server (in-flight purchases finish, none start), then wait for the store's pending writes, and
 * only then drop the HTTP pool the invalidations were using.
 */
import path from 'node:path';
import { systemClock } from '../shared/clock.ts';
import { loadConfigOrExit } from '../shared/config.ts';
import { createPooledHttp } from '../shared/http.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { createCatalogApp } from './app.ts';
import { createInvalidator } from './invalidator.ts';
import { createRestocker } from './restocker.ts';
import { openFileCatalogStore } from './store.ts';

const config = loadConfigOrExit(process.env, 'catalog');
const store = await openFileCatalogStore(path.join(config.dataDir, 'catalog'));
const http = createPooledHttp();
const invalidator = createInvalidator({ http, frontendUrls: config.frontendUrls });
const restocker = createRestocker({ store, invalidator, clock: systemClock, intervalMs: config.restockIntervalMs });
const app = createCatalogApp({ store, invalidator });

let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal('catalog', async () => {
  await restocker.stop();
  await server?.close();
  await store.close();
  await http.close();
});
server = await listen(app.fetch, config.host, config.catalogPort);
restocker.start();
console.log(`catalog listening on ${server.url}`);
