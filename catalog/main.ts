/**
 * The catalog process: the one place that reads config and wires real dependencies (file store,
 * pooled HTTP, system clock, a socket) into the app.
 *
 * Shutdown order matters: stop the restocker first (no new changes of its own), then close the
 * server (in-flight purchases finish, none start), then wait for the store's pending writes, then
 * stop the invalidator (changes it could not push are caught by the next process: its lanes start
 * at the change sequence it opens with, a gap the frontends see), and only then drop the HTTP pool.
 */
import path from 'node:path';
import { systemClock } from '../shared/clock.ts';
import { loadConfigOrExit } from '../shared/config.ts';
import { createPooledHttp } from '../shared/http.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { createCatalogApp } from './app.ts';
import { createInvalidator, type InvalidatorEvent } from './invalidator.ts';
import { createRestocker } from './restocker.ts';
import { describeCatalogDamage, openFileCatalogStore } from './store.ts';
import { LEDGER_FILE } from './ledger.ts';
import { createSyncedOffsetTracker } from '../shared/fsutil.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import { observeRestocks, registerCatalogMetrics, restockerLog } from './observe.ts';

const config = loadConfigOrExit(process.env, 'catalog');
const logger = createLogger('catalog', config.logging);
const registry = createRegistry({ defaults: true });
const catalogDir = path.join(config.dataDir, 'catalog');
const store = await openFileCatalogStore(catalogDir, {
  maxKeys: config.idempotencyKeysRetained,
  groupCommit: config.groupCommit,
  onTornTail: (t) => console.warn(`catalog: cut a torn last ledger record (${t.bytes} bytes, saved as ${t.savedAs})`),
  onSynced: config.trackFsyncOffsets ? createSyncedOffsetTracker(path.join(catalogDir, LEDGER_FILE)) : undefined,
}).catch((err: unknown) => {
  // Damage is never served from (a lost purchase would let its key decrement again): one line
  // saying what and where, and the command that repairs it from the order logs. Exit 65: EX_DATAERR.
  const damage = describeCatalogDamage(err);
  if (damage === null) throw err;
  console.error(`catalog: refusing to start: ${damage}; repair with: npm run repair -- --data-dir ${shellWord(config.dataDir)}`);
  process.exit(65);
});
const http = createPooledHttp();
const logPush = (e: InvalidatorEvent) =>
  e.kind === 'push_failed'
    ? logger.warn({ event: 'invalidation_failed', frontend: e.frontend, reason: e.reason, pending: e.pending }, `invalidations to ${e.frontend} failing (${e.reason}); retrying until it answers`)
    : logger.info({ event: 'invalidation_recovered', frontend: e.frontend, failures: e.failures, ms: e.ms, seq: e.seq }, `invalidations reach ${e.frontend} again after ${e.failures} failed attempts (${e.ms} ms)`);
const invalidator = createInvalidator({ http, frontendUrls: config.frontendUrls, changes: store, clock: systemClock, onEvent: logPush });
const restocker = createRestocker({ store: observeRestocks(store, { logger, registry }), clock: systemClock, intervalMs: config.restockIntervalMs, log: restockerLog(logger) });
const app = observeApp(createCatalogApp({ store }), { logger, registry, serveMetrics: true });
registerCatalogMetrics(registry, store);

function shellWord(s: string): string {
  return /^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal('catalog', async () => {
  await restocker.stop();
  await server?.close();
  await store.close();
  await invalidator.stop();
  await http.close();
}, undefined, logger);
server = await listen(app.fetch, config.host, config.catalogPort);
invalidator.start();
restocker.start();
announce(logger, { url: server.url }, `catalog listening on ${server.url}`);
