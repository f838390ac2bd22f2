/**
 * Starts one order replica: `ORDER_ID=2 npm run order`. Parse config, make the real IO, build
 * (order/build.ts), listen, shut down. Its data lives in DATA_DIR/order-<id>/ (shared/data-dir.ts)
 * and it listens on the port of its own entry in ORDER_REPLICAS.
 */
import { systemClock } from '../shared/clock.ts';
import { serviceConfig } from '../shared/cli.ts';
import { replicaPaths } from '../shared/data-dir.ts';
import { createSyncedOffsetTracker } from '../shared/fsutil.ts';
import { createPooledHttp } from '../shared/http.ts';
import { announce, createLogger } from '../shared/logger.ts';
import { createRegistry } from '../shared/metrics.ts';
import { listen, onShutdownSignal, type Listening } from '../shared/serve.ts';
import { buildReplica } from './build.ts';
import { replicaEventLogger } from './observe.ts';
import { openReplicaStorage } from './storage.ts';

const config = serviceConfig('order');
if (config.orderId === null) {
  console.error(
    `order: ORDER_ID is required: one of ${config.replicas.map((r) => r.id).join(', ')}`,
  );
  process.exit(2);
}
const paths = replicaPaths(config.dataDir, config.orderId);
const logger = createLogger(paths.name, config.logging);
const http = createPooledHttp();
const storage = await openReplicaStorage(
  paths.dir,
  {
    onTornTail: (t) =>
      logger.warn(
        { event: 'torn_tail', bytes: t.bytes, savedAs: t.savedAs },
        `${paths.name}: cut a torn last record (${t.bytes} bytes, saved as ${t.savedAs})`,
      ),
    onSynced: config.trackFsyncOffsets ? createSyncedOffsetTracker(paths.log) : undefined,
    groupCommit: config.groupCommit,
  },
  replicaEventLogger(logger),
);
const built = buildReplica(
  { ...config, orderId: config.orderId },
  {
    clock: systemClock,
    http,
    storage,
    logger,
    registry: createRegistry({ defaults: true }),
    onFatal: () => process.exit(70),
  },
);
let server: Listening | undefined;
// Registered before "listening" is printed: a launcher may signal as soon as it sees that line.
// The server closes first so no new order starts; the log closes after its queued writes.
onShutdownSignal(
  paths.name,
  async () => {
    await server?.close();
    await built.stop();
    await http.close();
  },
  undefined,
  logger,
);
server = await listen(built.app.fetch, config.host, built.address.port);
announce(
  logger,
  { url: server.url, dataDir: paths.dir },
  `${paths.name} listening on ${server.url} (data in ${paths.dir})`,
);
void built.start();
