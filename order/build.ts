/**
 * One order replica, composed: Fastify's `build(opts)` shape. `buildReplica(config, io)` wires
 * the replica (order/replica.ts), its apps, its logs and metrics from parsed config and the IO it
 * is given, and returns the app to serve, start/stop and its views. It listens on nothing and
 * reads no environment: order/main.ts makes the real IO (files in DATA_DIR/order-N/, a pooled
 * HTTP client, the system clock, a pino logger) and listens; the in-process tests
 * (test/support/order-cluster.ts) and the simulator build the same replica with in-memory
 * stores, an in-process network and a ManualClock. So every tier runs the production wiring,
 * with only the IO swapped.
 *
 * Every timer the composition arms runs on `io.clock` (the leader watch included), so a build
 * on a ManualClock does nothing until time is advanced.
 */
import { clusterSecurity } from '../shared/auth.ts';
import type { Clock } from '../shared/clock.ts';
import type { Config, ReplicaAddress } from '../shared/config.ts';
import type { HttpClient } from '../shared/http.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { createRegistry, type Registry } from '../shared/metrics.ts';
import { observeApp } from '../shared/observability.ts';
import type { Hono } from 'hono';
import { createOrderApp } from './app.ts';
import type { ReplicaEvent } from './events.ts';
import type { OrderLogStore } from './log.ts';
import type { MetaStore } from './meta.ts';
import {
  catchupMetrics,
  observeMeta,
  observePeers,
  observePurchaser,
  registerReplicaMetrics,
  replicaEventLogger,
  RequestIdsByKey,
  watchLeader,
} from './observe.ts';
import {
  createBatchingCatalogPurchaser,
  createHttpCatalogAccounts,
  createHttpPeerTransport,
  type CatalogAccounts,
  type CatalogPurchaser,
  type PeerTransport,
} from './peers.ts';
import { createReplicaReadinessApp } from './readiness.ts';
import { Replica } from './replica.ts';

/** What of the parsed config a replica needs (shared/config.ts), plus knobs no variable sets. */
export type ReplicaConfig = Pick<
  Config,
  'replicas' | 'catalogUrl' | 'heartbeatIntervalMs' | 'commitQuorum' | 'idempotencyKeysRetained'
> &
  Partial<Pick<Config, 'clusterSecret'>> & {
    /** Which entry of `replicas` this process is (ORDER_ID). */
    orderId: number;
    /** Tuning for tests and the simulator; production uses the replica's defaults. */
    commitTimeoutMs?: number;
    reconcileIntervalMs?: number;
    maxBatch?: number;
  };

/** A replica's durable state, opened: files (order/storage.ts) or in-memory twins. */
export interface ReplicaStorage {
  log: OrderLogStore;
  meta: MetaStore;
}

export interface ReplicaIo {
  clock: Clock;
  /**
   * The network as this replica sees it: its peers and the catalog (the build adds the cluster
   * credential).
   */
  http: HttpClient;
  /**
   * The durable state, opened: order/storage.ts `openReplicaStorage` over DATA_DIR/order-N/ (which
   * reports damage it finds on open itself), or in-memory twins.
   */
  storage: ReplicaStorage;
  /** Structured lines; default: none. */
  logger?: Logger;
  /** Metrics; default: a registry of this build's own. */
  registry?: Registry;
  /** Every replica event, besides the log lines (tests, the simulator's checker). */
  onEvent?: (e: ReplicaEvent) => void;
  /** The replica must not go on (a safety assertion or a durable write failed). */
  onFatal(err: Error): void;
  /**
   * The catalog, when not reached over `http` at config.catalogUrl: a twin for tests that run
   * the order service alone. `accounts: null` runs the leader without fencing and accounting.
   */
  catalog?: { purchaser: CatalogPurchaser; accounts: CatalogAccounts | null };
}

export interface BuiltReplica {
  id: number;
  /** `order-<id>`: the service's name in logs and data dirs. */
  name: string;
  address: ReplicaAddress;
  replica: Replica;
  /**
   * Every route of the replica (order API, internal RPCs, /ready, /metrics) behind the request
   * observer.
   */
  app: Hono;
  storage: ReplicaStorage;
  registry: Registry;
  /** Starts the replica's own work (recovery questions, catch-up request, the leader watch). */
  start(): Promise<void>;
  /**
   * Stops the replica and closes its log after its queued writes (the caller closes its server
   * first).
   */
  stop(): Promise<void>;
}

/** A logger that writes nothing: the default for builds whose IO brings none. */
export const silentLogger = (name: string): Logger =>
  createLogger(name, { level: 'silent', destination: { write: () => {} } });

export function selfAddress(config: Pick<ReplicaConfig, 'replicas' | 'orderId'>): ReplicaAddress {
  const self = config.replicas.find((r) => r.id === config.orderId);
  if (!self)
    throw new Error(
      `replica ${config.orderId} is not in ORDER_REPLICAS (${config.replicas.map((r) => r.id).join(', ')})`,
    );
  return self;
}

export function buildReplica(config: ReplicaConfig, io: ReplicaIo): BuiltReplica {
  const address = selfAddress(config);
  const name = `order-${address.id}`;
  const logger = io.logger ?? silentLogger(name);
  const registry = io.registry ?? createRegistry();
  const { storage } = io;
  // Its internal routes check the cluster credential; its calls to peers and the catalog carry it.
  const { credential, http } = clusterSecurity(config.clusterSecret, io.http, (f, m) =>
    logger.warn(f, m),
  );
  const peers = config.replicas.filter((r) => r.id !== address.id);
  const transport = createHttpPeerTransport(http, peers);
  const replica = createReplica(config, io, {
    id: address.id,
    peers,
    logger,
    registry,
    http,
    transport,
  });
  registerReplicaMetrics(registry, () => replica.status());
  const app = observeApp(
    [
      createOrderApp({ replica, credential }),
      createReplicaReadinessApp({ replica, peerStatus: transport.status }),
    ],
    { logger, registry, serveMetrics: true },
  );
  let stopWatch: (() => void) | null = null;
  return {
    id: address.id,
    name,
    address,
    replica,
    app,
    storage,
    registry,
    async start() {
      stopWatch ??= watchLeader(
        () => replica.status(),
        logger,
        config.heartbeatIntervalMs,
        io.clock,
      );
      await replica.start();
    },
    async stop() {
      stopWatch?.();
      stopWatch = null;
      await replica.stop();
      await storage.log.close();
    },
  };
}

/**
 * What buildReplica has made before the replica itself: who it is, its logs, metrics and network.
 */
interface ReplicaWiring {
  id: number;
  peers: readonly ReplicaAddress[];
  logger: Logger;
  registry: Registry;
  /** The network with the cluster credential on every call. */
  http: HttpClient;
  transport: PeerTransport;
}

/**
 * The replica over its storage, peers and catalog, each seen through its observer
 * (order/observe.ts).
 */
function createReplica(config: ReplicaConfig, io: ReplicaIo, w: ReplicaWiring): Replica {
  const { logger, registry, http } = w;
  const logEvent = replicaEventLogger(logger);
  const onEvent = (e: ReplicaEvent) => {
    logEvent(e);
    io.onEvent?.(e);
  };
  const requestIds = new RequestIdsByKey();
  const catalog = io.catalog ?? {
    purchaser: createBatchingCatalogPurchaser(http, config.catalogUrl),
    accounts: createHttpCatalogAccounts(http, config.catalogUrl),
  };
  return new Replica({
    id: w.id,
    peerIds: w.peers.map((p) => p.id),
    log: io.storage.log,
    meta: observeMeta(io.storage.meta, logger),
    peers: observePeers(w.transport, {
      logger,
      ids: requestIds,
      metrics: catchupMetrics(registry),
      now: () => io.clock.now(),
    }),
    catalog: observePurchaser(catalog.purchaser, requestIds),
    catalogAccounts: catalog.accounts ?? undefined,
    idempotencyKeysRetained: config.idempotencyKeysRetained,
    clock: io.clock,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    commitQuorum: config.commitQuorum,
    commitTimeoutMs: config.commitTimeoutMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    maxBatch: config.maxBatch,
    onEvent,
    onFatal: (err) => io.onFatal(err),
  });
}
