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
import { LOG_FILE, openFileLogStore } from './file-log.ts';
import { createSyncedOffsetTracker } from '../shared/fsutil.ts';
import { openFileMetaStore } from './meta.ts';
import { createHttpCatalogPurchaser, createHttpPeerTransport } from './peers.ts';
import { Replica } from './replica.ts';

const config = loadConfigOrExit(process.env, 'order');
if (config.orderId === null) {
  console.error(`order: ORDER_ID is required: one of ${config.replicas.map((r) => r.id).join(', ')}`);
  process.exit(2);
}
const self = config.replicas.find((r) => r.id === config.orderId)!;
const name = `order-${self.id}`;
const dir = path.join(config.dataDir, name);
const log = await openFileLogStore(dir, {
  onTornTail: (t) => console.warn(`${name}: cut a torn last record (${t.bytes} bytes, saved as ${t.savedAs})`),
  onSynced: config.trackFsyncOffsets ? createSyncedOffsetTracker(path.join(dir, LOG_FILE)) : undefined,
});
const meta = await openFileMetaStore(dir);
const http = createPooledHttp();
const peers = config.replicas.filter((r) => r.id !== self.id);
const replica = new Replica({
  id: self.id,
  peerIds: peers.map((p) => p.id),
  log,
  meta,
  peers: createHttpPeerTransport(http, peers),
  catalog: createHttpCatalogPurchaser(http, config.catalogUrl),
  clock: systemClock,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  commitQuorum: config.commitQuorum,
  log_: (msg) => console.log(`${name}: ${msg}`),
  onFatal: (err) => {
    console.error(`${name}: FATAL ${err.message}`);
    process.exit(70);
  },
});
let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
// The server closes first so no new order starts; the log closes after its queued writes.
onShutdownSignal(name, async () => {
  await server?.close();
  await replica.stop();
  await log.close();
  await http.close();
});
server = await listen(createOrderApp({ replica }).fetch, config.host, self.port);
console.log(`${name} listening on ${server.url} (data in ${dir})`);
void replica.start();
