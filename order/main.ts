/**
 * Starts one order replica: `ORDER_ID=2 npm run order`. The only place the order service reads
 * config. Its data lives in DATA_DIR/order-<id>/ and it listens on the port of its own entry in
 * ORDER_REPLICAS.
 */
import path from 'node:path';
import { loadConfigOrExit } from '../shared/config.ts';
import { systemClock } from '../shared/clock.ts';
import { createPooledHttp } from '../shared/http.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { createOrderApp } from './app.ts';
import { LOG_FILE, type FileLogOptions } from './file-log.ts';
import { openReplicaStorage } from './storage.ts';
import { createSyncedOffsetTracker } from '../shared/fsutil.ts';
import { createBatchingCatalogPurchaser, createHttpCatalogAccounts, createHttpPeerTransport } from './peers.ts';
import { Replica } from './replica.ts';
import { createReplicaReadinessApp } from './readiness.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import { catchupMetrics, observeMeta, observePeers, observePurchaser, registerReplicaMetrics, replicaEventLogger, RequestIdsByKey, watchLeader } from './observe.ts';

const config = loadConfigOrExit(process.env, 'order');
if (config.orderId === null) {
  console.error(`order: ORDER_ID is required: one of ${config.replicas.map((r) => r.id).join(', ')}`);
  process.exit(2);
}
const self = config.replicas.find((r) => r.id === config.orderId)!;
const name = `order-${self.id}`;
const dir = path.join(config.dataDir, name);
const logger = createLogger(name, config.logging);
const registry = createRegistry({ defaults: true });
const requestIds = new RequestIdsByKey();
const logOptions: FileLogOptions = {
  onTornTail: (t) => logger.warn({ event: 'torn_tail', bytes: t.bytes, savedAs: t.savedAs }, `${name}: cut a torn last record (${t.bytes} bytes, saved as ${t.savedAs})`),
  onSynced: config.trackFsyncOffsets ? createSyncedOffsetTracker(path.join(dir, LOG_FILE)) : undefined,
  groupCommit: config.groupCommit,
};
const onEvent = replicaEventLogger(logger);
const { log, meta } = await openReplicaStorage(dir, logOptions, onEvent);
const http = createPooledHttp();
const peers = config.replicas.filter((r) => r.id !== self.id);
const replica = new Replica({
  id: self.id,
  peerIds: peers.map((p) => p.id),
  log,
  meta: observeMeta(meta, logger),
  peers: observePeers(createHttpPeerTransport(http, peers), { logger, ids: requestIds, metrics: catchupMetrics(registry) }),
  catalog: observePurchaser(createBatchingCatalogPurchaser(http, config.catalogUrl), requestIds),
  catalogAccounts: createHttpCatalogAccounts(http, config.catalogUrl),
  idempotencyKeysRetained: config.idempotencyKeysRetained,
  clock: systemClock,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  commitQuorum: config.commitQuorum,
  onEvent,
  onFatal: () => process.exit(70),
});
let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
// The server closes first so no new order starts; the log closes after its queued writes.
onShutdownSignal(name, async () => {
  await server?.close();
  await replica.stop();
  await log.close();
  await http.close();
}, undefined, logger);
registerReplicaMetrics(registry, () => replica.status());
watchLeader(() => replica.status(), logger, config.heartbeatIntervalMs);
server = await listen(observeApp([createOrderApp({ replica }), createReplicaReadinessApp({ replica, peerStatus: createHttpPeerTransport(http, peers).status })], { logger, registry, serveMetrics: true }).fetch, config.host, self.port);
announce(logger, { url: server.url, dataDir: dir }, `${name} listening on ${server.url} (data in ${dir})`);
void replica.start();
