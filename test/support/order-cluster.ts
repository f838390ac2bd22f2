/**
 * Three order replicas and a frontend wired together in one process, over the in-process network
 * (no sockets), with in-memory logs that outlive a "crash" the way files do. Each replica is
 * order/build.ts's `buildReplica` and the frontend frontend/build.ts's `buildFrontend`, the
 * production wiring, with only the IO swapped: in-memory stores, the in-process network, the
 * given clock, and the catalog twin (test/support/fake-catalog.ts) unless `catalogUrl` names a
 * real catalog on the network (the full stack).
 *
 * `crash(id)` stops a replica and makes its address refuse connections; `restart(id)` builds a
 * new replica from the same log and meta (what a restarted process would read from disk), or
 * from a lost or wiped one (`restart(id, { lose: 'log' })`); `setLink` changes what every caller
 * sees of one replica; `cut(from, to)` refuses requests on one directed link only (optionally
 * only some paths: "its appends are dropped, its promises are not"). With `clock: new
 * ManualClock()` every timer runs on logical time and `until` advances it: the story is then
 * deterministic and takes no real time. Every helper that waits polls a condition with a deadline.
 */
import { ManualClock, systemClock, type Clock } from '../../shared/clock.ts';
import {
  createInProcessNetwork,
  DEFAULT_TIMEOUT_MS,
  NetworkError,
  type HttpClient,
  type LinkState,
} from '../../shared/http.ts';
import { buildReplica, type BuiltReplica } from '../../order/build.ts';
import { MemoryLogStore } from '../../order/log.ts';
import { MemoryMetaStore } from '../../order/meta.ts';
import { describeReplicaEvent, type ReplicaEvent } from '../../order/events.ts';
import { recordStorageCondition } from '../../order/storage.ts';
import { buildFrontend, type BuiltFrontend } from '../../frontend/build.ts';
import { describeRouterEvent, type RouterEvent } from '../../frontend/router-events.ts';
import { until as pollUntil } from './async.ts';
import { FakeCatalog } from './fake-catalog.ts';

export { FakeCatalog };

export const replicaUrl = (id: number) => `http://order-${id}.test`;

/** Where the replicas and frontends of a cluster look for the catalog when it is on the network. */
export const CATALOG_URL = 'http://catalog.test';

export interface ClusterOptions {
  ids?: number[];
  heartbeatIntervalMs?: number;
  commitQuorum?: number;
  startRouter?: boolean;
  /** Share a network with other in-process services (the full-stack tier). */
  net?: ReturnType<typeof createInProcessNetwork>;
  /**
   * A real catalog on `net` at this URL: the replicas buy, fence and account there (production
   * wiring). Absent, they buy from the FakeCatalog twin and the leader neither fences nor accounts.
   */
  catalogUrl?: string;
  /** The frontend's cache (default 7 entries, on). */
  cacheSize?: number;
  cacheEnabled?: boolean;
  reconcileIntervalMs?: number;
  /** A ManualClock runs the whole story on logical time. */
  clock?: Clock;
  /** Names a non-replica destination for `cut` (e.g. the catalog's URL -> 'catalog'). */
  nodeOf?: (origin: string) => string | undefined;
  /**
   * Every replica's and frontend's CLUSTER_SECRET: their internal routes check it, their calls
   * carry it. Default: none (open).
   */
  clusterSecret?: string | null;
  /** Largest append a leader sends (default: the replica's own). */
  maxBatch?: number;
}

export type CutMode = 'refuse' | 'lose-reply' | 'silent';

/** What a "disk" loses across a restart. */
export type Loss = 'log' | 'meta' | 'both';

export function createOrderCluster(opts: ClusterOptions = {}) {
  const ids = opts.ids ?? [1, 2, 3];
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 20;
  const clock = opts.clock ?? systemClock;
  // Every call's timeout runs on the story's clock, also for an app that never answers.
  const net = opts.net ?? createInProcessNetwork({ clock });
  const fakeCatalog = new FakeCatalog([
    { name: 'Tux', price: 15.99, quantity: 1_000_000 },
    { name: 'Lego', price: 49.99, quantity: 1_000_000 },
  ]);
  const logs = new Map(ids.map((id) => [id, new MemoryLogStore()]));
  const metas = new Map(ids.map((id) => [id, new MemoryMetaStore()]));
  const replicas = new Map<number, BuiltReplica>();
  const addresses = ids.map((id) => ({ id, url: replicaUrl(id), port: 80 }));
  const messages: string[] = [];
  /** Every replica event, in order, tagged with the replica that emitted it. */
  const events: Array<ReplicaEvent & { replica: number }> = [];
  /**
   * Every router event, in order, tagged with the frontend that emitted it ('frontend' for the
   * first).
   */
  const routerEvents: Array<RouterEvent & { frontend: string }> = [];
  /**
   * Directed links that fail requests: `${from}->${to}`, with the paths they fail (all: null) and
   * how: 'refuse' (never delivered, like a dropped connection), 'silent' (never answered: the
   * caller times out) or 'lose-reply' (delivered and run, but the caller sees a reset: the
   * outcome is unknown to it).
   */
  const cuts = new Map<string, { paths: RegExp | null; mode: CutMode }>();

  const nodeOf = (url: string): string => {
    const origin = new URL(url).origin;
    const replica = addresses.find((a) => a.url === origin);
    return replica ? `order-${replica.id}` : (opts.nodeOf?.(origin) ?? origin);
  };
  /** Replicas whose link is a blackhole: what every caller of the cluster sees of them. */
  const blackholed = new Set<string>();
  /**
   * The network as seen from node `from`: a cut link refuses at once, like a dropped connection.
   * A blackholed or silent link times out on the cluster's clock without reaching the app, so a
   * story on a ManualClock stays on logical time (the network's own timeouts run on it too).
   */
  const httpFrom =
    (from: string): HttpClient =>
    async (req) => {
      if (blackholed.has(nodeOf(req.url))) {
        await clock.sleep(req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        throw new NetworkError('timeout', req.url);
      }
      const cut = cuts.get(`${from}->${nodeOf(req.url)}`);
      if (cut === undefined || (cut.paths !== null && !cut.paths.test(new URL(req.url).pathname)))
        return net.http(req);
      if (cut.mode === 'refuse') throw new NetworkError('refused', req.url);
      if (cut.mode === 'silent') {
        await clock.sleep(req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        throw new NetworkError('timeout', req.url);
      }
      void net.http(req).catch(() => {});
      throw new NetworkError('reset', req.url);
    };

  const fatals: Array<{ replica: number; err: Error }> = [];
  const recordEvent = (id: number) => (e: ReplicaEvent) => {
    events.push({ replica: id, ...e });
    messages.push(`order-${id}: ${describeReplicaEvent(e).msg}`);
  };
  function boot(id: number): BuiltReplica {
    const built = buildReplica(
      {
        replicas: addresses,
        orderId: id,
        catalogUrl: opts.catalogUrl ?? CATALOG_URL,
        heartbeatIntervalMs,
        commitQuorum: opts.commitQuorum ?? 2,
        idempotencyKeysRetained: 0,
        commitTimeoutMs: 1_000,
        reconcileIntervalMs: opts.reconcileIntervalMs,
        clusterSecret: opts.clusterSecret,
        maxBatch: opts.maxBatch,
      },
      {
        clock,
        http: httpFrom(`order-${id}`),
        storage: { log: logs.get(id)!, meta: metas.get(id)! },
        catalog:
          opts.catalogUrl === undefined ? { purchaser: fakeCatalog, accounts: null } : undefined,
        onEvent: recordEvent(id),
        onFatal: (err) => {
          fatals.push({ replica: id, err });
          throw err;
        },
      },
    );
    replicas.set(id, built);
    net.register(replicaUrl(id), built.app.fetch);
    net.setState(replicaUrl(id), 'up');
    return built;
  }
  for (const id of ids) void boot(id).start();

  /** A frontend of its own (order router, cache, status page) over the same replicas. */
  const frontendNamed = (name: string): BuiltFrontend =>
    buildFrontend(
      {
        replicas: addresses,
        catalogUrl: opts.catalogUrl ?? CATALOG_URL,
        heartbeatIntervalMs,
        commitQuorum: opts.commitQuorum ?? 2,
        cacheSize: opts.cacheSize ?? 7,
        cacheEnabled: opts.cacheEnabled ?? true,
        requestDeadlineMs: 5_000,
        clusterSecret: opts.clusterSecret,
      },
      {
        clock,
        http: httpFrom(name),
        onRouterEvent: (e) => {
          routerEvents.push({ frontend: name, ...e });
          messages.push(`${name}: ${describeRouterEvent(e).msg}`);
        },
      },
    );
  const frontend = frontendNamed('frontend');
  const router = frontend.router;
  if (opts.startRouter !== false) frontend.start();

  /** Lets `ms` of time pass: logical time on a ManualClock, real time otherwise. */
  const pass = (ms: number) =>
    clock instanceof ManualClock ? clock.advance(ms) : new Promise<void>((r) => setTimeout(r, ms));

  const cluster = {
    net,
    clock,
    catalog: fakeCatalog,
    frontend,
    router,
    routerEvents,
    logs,
    metas,
    messages,
    events,
    fatals,
    replica: (id: number) => replicas.get(id)!.replica,
    built: (id: number) => replicas.get(id)!,
    log: (id: number) => logs.get(id)!.entries,
    /** A frontend of its own over the same replicas (a second frontend); returns its router. */
    addFrontend(name: string) {
      const other = frontendNamed(name);
      other.start();
      extraFrontends.push(other);
      return other.router;
    },
    setLink(id: number, state: LinkState) {
      net.setState(replicaUrl(id), state);
      if (state === 'blackhole') blackholed.add(`order-${id}`);
      else blackholed.delete(`order-${id}`);
    },
    /**
     * Requests from `from` to `to` (node names: 'order-N', 'frontend', ...) are refused; only those
     * whose path matches, if given.
     */
    cut(from: string, to: string, paths: RegExp | null = null, mode: CutMode = 'refuse') {
      cuts.set(`${from}->${to}`, { paths, mode });
    },
    heal(from?: string, to?: string) {
      if (from === undefined) cuts.clear();
      else cuts.delete(`${from}->${to}`);
    },
    async crash(id: number) {
      net.setState(replicaUrl(id), 'down');
      blackholed.delete(`order-${id}`);
      await cluster.settle(replicas.get(id)!.stop());
    },
    /** Restarts a replica from what its "disk" holds; `lose` wipes part of it first. */
    async restart(id: number, o: { lose?: Loss } = {}) {
      if (o.lose === 'log' || o.lose === 'both') logs.set(id, new MemoryLogStore());
      if (o.lose === 'meta' || o.lose === 'both') metas.set(id, new MemoryMetaStore());
      const meta = metas.get(id)!;
      const metaFound = meta.load().storage !== 'unverified';
      const lostLog = o.lose === 'log' || o.lose === 'both';
      // What order/storage.ts does on open, over the twins: the verdict is durable before the
      // replica starts.
      await recordStorageCondition(
        meta,
        {
          metaFound,
          metaUnreadable: false,
          logDamage: lostLog && metaFound ? 'the log is missing' : null,
          logRecords: logs.get(id)!.lastIndex() + 1,
        },
        recordEvent(id),
      );
      const r = boot(id);
      await cluster.settle(r.start());
      return r.replica;
    },
    leaderId: () => router.view().leaderId,
    /** Lets time pass until `cond` holds, failing with `what` after the deadline. */
    async until(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 5_000) {
      await pollUntil(what, cond, {
        deadlineMs,
        everyMs: 5,
        now: () => clock.now(),
        pass,
        context: () => messages.slice(-15).join('\n'),
      });
    },
    /** Lets `ms` of (logical or real) time pass with nothing else to wait for. */
    pass,
    /**
     * Waits for `p`, letting (logical) time pass meanwhile: what a story awaits may need timers to
     * fire.
     */
    async settle<T>(p: Promise<T>, deadlineMs = 30_000): Promise<T> {
      let done = false;
      const watched = p.finally(() => (done = true));
      watched.catch(() => {});
      const end = clock.now() + deadlineMs;
      while (!done) {
        if (clock.now() > end)
          throw new Error(`timed out after ${deadlineMs} ms\n${messages.slice(-15).join('\n')}`);
        await pass(5);
      }
      return watched;
    },
    /** Waits until every live replica's log equals the leader's. */
    async converged(live: number[] = ids) {
      await cluster.until('all logs are identical', () => {
        const ref = JSON.stringify(logs.get(live[0]!)!.entries);
        return live.every((id) => JSON.stringify(logs.get(id)!.entries) === ref);
      });
    },
    async stop() {
      frontend.stop();
      for (const f of extraFrontends) f.stop();
      for (const r of replicas.values()) await r.stop();
    },
  };
  const extraFrontends: BuiltFrontend[] = [];
  return cluster;
}
export type OrderCluster = ReturnType<typeof createOrderCluster>;
