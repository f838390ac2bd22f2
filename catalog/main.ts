/**
 * The catalog process: parse config, make the real IO (the file store in DATA_DIR/catalog/, pooled
 * HTTP, the system clock, a pino logger), build (catalog/build.ts), listen, shut down.
 *
 * Shutdown order matters: close the server first (in-flight purchases finish, none start), then
 * the build stops the restocker, waits for the store's pending writes and stops the invalidator
 * (catalog/build.ts says why), and only then is the HTTP pool dropped.
 */
import { systemClock } from '../shared/clock.ts';
import { serviceConfig } from '../shared/cli.ts';
import { catalogPaths } from '../shared/data-dir.ts';
import { createSyncedOffsetTracker } from '../shared/fsutil.ts';
import { createPooledHttp } from '../shared/http.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { buildCatalog } from './build.ts';
import { catalogEventLogger } from './observe.ts';
import { describeCatalogDamage, openFileCatalogStore } from './store.ts';

const config = serviceConfig('catalog');
const logger = createLogger('catalog', config.logging);
const registry = createRegistry({ defaults: true });
const paths = catalogPaths(config.dataDir);
const onEvent = catalogEventLogger(logger);
const store = await openFileCatalogStore(paths.dir, {
  maxKeys: config.idempotencyKeysRetained,
  groupCommit: config.groupCommit,
  onTornTail: (t) => onEvent({ type: 'torn_tail', bytes: t.bytes, savedAs: t.savedAs }),
  onSynced: config.trackFsyncOffsets ? createSyncedOffsetTracker(paths.ledger) : undefined,
}).catch((err: unknown) => {
  // Damage is never served from (a lost purchase would let its key decrement again): one line
  // saying what and where, and the command that repairs it from the order logs. Exit 65:
  // EX_DATAERR.
  const damage = describeCatalogDamage(err);
  if (damage === null) throw err;
  console.error(
    `catalog: refusing to start: ${damage}; repair with: npm run repair -- --data-dir ${shellWord(config.dataDir)}`,
  );
  process.exit(65);
});
const http = createPooledHttp();
const built = buildCatalog(config, { clock: systemClock, http, store, logger, registry });

function shellWord(s: string): string {
  return /^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
onShutdownSignal(
  'catalog',
  async () => {
    await server?.close();
    await built.stop();
    await http.close();
  },
  undefined,
  logger,
);
server = await listen(built.app.fetch, config.host, config.catalogPort);
built.start();
announce(logger, { url: server.url }, `catalog listening on ${server.url}`);
