/**
 * The launcher's vocabulary: service names, ports, URLs, exit reports, options and the handle
 * `startCluster` returns. Kept apart so the chaos tool, the bench and the tests import the shapes
 * without the process machinery.
 */
export type ReplicaId = 1 | 2 | 3;
export type ServiceName = 'catalog' | 'order-1' | 'order-2' | 'order-3' | 'frontend';
/**
 * Start order: the catalog and replicas first, then the frontend (so it finds a leader at once).
 */
export const SERVICE_NAMES: readonly ServiceName[] = [
  'catalog',
  'order-1',
  'order-2',
  'order-3',
  'frontend',
];
export const REPLICA_IDS: readonly ReplicaId[] = [1, 2, 3];

export interface ClusterPorts {
  frontend: number;
  frontendInternal: number;
  catalog: number;
  replicas: [number, number, number];
}

export interface ClusterUrls {
  frontend: string;
  frontendInternal: string;
  catalog: string;
  replicas: Record<ReplicaId, string>;
}

export interface ExitInfo {
  service: ServiceName;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * True when the launcher caused it (kill, restart, stop); false for a crash or a kill by hand.
   */
  expected: boolean;
}

export interface StartClusterOptions {
  /** Every service keeps its files under here (catalog/, order-1/, ...). Resolved to absolute. */
  dataDir: string;
  /**
   * The cluster's secret (every service's CLUSTER_SECRET: the credential of its internal routes,
   * shared/auth.ts). Default: a fresh random one for this launch. null: none, an open cluster
   * (allowed because every service binds loopback unless `env.HOST` says otherwise).
   */
  clusterSecret?: string | null;
  /** Fixed ports; any left out are picked with `freePorts`. */
  ports?: Partial<ClusterPorts>;
  /**
   * Settings for the children (CACHE_SIZE, COMMIT_QUORUM, HOST, GROUP_COMMIT, ...): each reaches
   * exactly the services that read it (the config table, shared/config.ts); a variable the table
   * does not know (NODE_OPTIONS) reaches every child. The topology variables (ports, URLs,
   * ORDER_ID, DATA_DIR) are computed and may not be set here. No variable of the table is
   * inherited from the launcher's own environment.
   */
  env?: Record<string, string>;
  /**
   * A production build (`npm run build`, or `build(dir)` of scripts/lib/build) to run instead of
   * the sources: every child, restarts included, runs `node <builtDir>/<service>/main.js` with
   * no tsx, as a production host does. Everything else (env, ports, output, PIDs) is the same.
   * Default: the TypeScript sources under tsx.
   */
  builtDir?: string;
  /** Every stdout/stderr line of every child. Default: print it prefixed `[order-2]`. */
  output?: (service: ServiceName, line: string, stream: 'stdout' | 'stderr') => void;
  /** Called whenever a child exits, expected or not. */
  onExit?: (info: ExitInfo) => void;
  heartbeatIntervalMs?: number;
  restockIntervalMs?: number;
  /** How long the services may take to print their `listening on` lines. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Each process's own view of its peers, for routing links through fault proxies: returns the
   * URL `from` should use to reach `to`, whose real URL is `realUrl` (return `realUrl` to leave
   * the link direct). Called once per link at launch, with the final ports. It decides
   * CATALOG_URL (frontend, replicas), FRONTEND_URL (catalog: invalidations) and every other
   * replica's entry in ORDER_REPLICAS (frontend, replicas). A replica's own entry stays real: it
   * listens on that port. The cluster's `urls` stay the real ones.
   */
  links?: LinkResolver;
}

/** See `StartClusterOptions.links`. */
export type LinkResolver = (from: ServiceName, to: ServiceName, realUrl: string) => string;

export interface Cluster {
  readonly urls: ClusterUrls;
  readonly ports: ClusterPorts;
  /** Absolute. */
  readonly dataDir: string;
  /**
   * What every service was given as CLUSTER_SECRET (null: an open cluster). Tools calling internal
   * routes need it.
   */
  readonly clusterSecret: string | null;
  /** PID of each service, null while it is not running. */
  pids(): Record<ServiceName, number | null>;
  isRunning(service: ServiceName): boolean;
  /** The configuration environment the launcher gives a service (without the inherited rest). */
  envOf(service: ServiceName): Record<string, string>;
  /**
   * Sends `signal` (default SIGKILL; a paused process is continued for catchable signals) and
   * resolves once it has exited; at once if it is not running. A signal the service survives
   * leaves the promise pending.
   */
  kill(service: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same env and ports (stopping it with SIGTERM first if still up). */
  restart(service: ServiceName): Promise<void>;
  /**
   * SIGSTOP: the process keeps its sockets (the kernel still accepts connections) but answers
   * nothing, like a hung machine. Signals are delivered asynchronously, so this resolves once the
   * process is seen stopped (Linux /proc; elsewhere at once).
   */
  pause(service: ServiceName): Promise<void>;
  /** SIGCONT; resolves once the process is seen running again. */
  resume(service: ServiceName): Promise<void>;
  /** SIGTERM everything, SIGKILL what is still up after the deadline. Idempotent. */
  stop(): Promise<void>;
}

/** Startup failed: a service exited or did not say it was listening in time. */
export class ClusterStartError extends Error {
  constructor(
    message: string,
    readonly output: string[],
  ) {
    super(`${message}\n--- recent output ---\n${output.join('\n')}`);
    this.name = 'ClusterStartError';
  }
  get addressInUse(): boolean {
    return this.output.some((l) => l.includes('EADDRINUSE'));
  }
}
