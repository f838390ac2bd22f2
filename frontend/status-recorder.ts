/**
 * The frontend's own record of what it saw, for the status page: wired by frontend/main.ts
 * around the order router and the catalog client without changing either.
 *
 * - `orders` is the router with every `placeOrder` observed: its outcome (200, or the AppError's
 *   status and reason) and its latency go to the time series (frontend/timeline.ts) and to the
 *   health tracker (frontend/health-tracker.ts). The public app routes orders through it.
 * - `onRouterEvent` takes the router's typed events (frontend/router-events.ts): each election
 *   with its reason and each leader change, stamped on arrival. They are emitted synchronously
 *   as they happen, so a leader change is always recorded before the outcomes that followed it,
 *   and an election's start and a change's time are exact.
 * - `observeCatalog(client)` does the same for catalog calls: a call the catalog answered (a 404
 *   included) says it is up, a network failure or 5xx says it is down.
 * - A watch timer (every `watchEveryMs`) reads the router's `view()`: replica states (down
 *   since), replication lag per follower, and signs of trouble with the leader before the router
 *   acts on them (so a failover's start is the first sign the frontend had, within one watch).
 *
 * All memory is bounded (frontend/ring.ts).
 *
 * Shaped as one small class, `Recorder`, that owns the health tracker and the time series and knows
 * what each observation means, and three named wrappers that feed it without knowing what it keeps:
 * `observedRouter`, `observedCatalog` and `startWatch` (the timer). `createStatusRecorder` only
 * wires them.
 */
import type { Clock } from '../shared/clock.ts';
import { AppError } from '../shared/errors.ts';
import type { CatalogClient } from './catalog-client.ts';
import { HealthTracker, type Banner, type Failover, type ServiceHealth } from './health-tracker.ts';
import type { LeaderChange } from './order-router.ts';
import type { RouterEvent } from './router-events.ts';
import { Timeline, type LagPoint, type OrderPoint } from './timeline.ts';
import type { ElectionView, OrderRouter } from './types.ts';

export interface StatusRecorderDeps {
  /** The router; `history()` is only passed through (the metrics read it). */
  orders: OrderRouter & { history(): LeaderChange[] };
  /** Monotonic time for latencies; the watch timer runs on it. */
  clock: Clock;
  /** Wall clock. Default Date.now. */
  now?: () => number;
  /** Replicas an order (and an election) needs: config.commitQuorum. */
  quorum: number;
  /** How often view() is read; 0: only when `tick()` is called. Default 50. */
  watchEveryMs?: number;
  /** Seconds of time series kept. Default 300. */
  seconds?: number;
}

export interface RecorderReport {
  fromMs: number;
  toMs: number;
  orders: OrderPoint[];
  lag: LagPoint[];
  banners: Banner[];
  failovers: Failover[];
  services: ServiceHealth[];
}

export interface StatusRecorder {
  /** The router, observed: give this one to the public app. */
  orders: OrderRouter & { history(): LeaderChange[] };
  observeCatalog(client: CatalogClient): CatalogClient;
  /** Give the router's `onEvent` this (synchronously, as the router emits). */
  onRouterEvent(e: RouterEvent): void;
  /** Reads view() now (the timer does it every watchEveryMs). */
  tick(): void;
  /** The last `windowMs` of time series, ending now, plus banners, failovers and services. */
  report(windowMs: number): RecorderReport;
  close(): void;
}

/** What each observation means for the banners, failovers, services and time series. */
class Recorder {
  private readonly health: HealthTracker;
  private readonly timeline: Timeline;

  constructor(
    private readonly router: OrderRouter,
    private readonly clock: Clock,
    private readonly now: () => number,
    quorum: number,
    seconds: number,
  ) {
    this.health = new HealthTracker({ quorum });
    this.timeline = new Timeline(seconds);
  }

  /** Bound: handed to the router as its event callback. */
  readonly onRouterEvent = (e: RouterEvent): void => {
    const atMs = this.now();
    switch (e.type) {
      case 'election':
        return this.health.observe({ kind: 'election', atMs, reason: e.reason });
      case 'election_refused':
        return this.health.observe({
          kind: 'election_refused',
          atMs,
          replica: e.replica,
          reason: e.reason,
        });
      case 'leader_change':
        return this.health.observe({
          kind: 'leader_change',
          atMs,
          leaderId: e.leaderId,
          epoch: e.epoch,
          why: e.why,
        });
      default: {
        const unknown: never = e; // a new router event must be given a meaning here
        return void unknown;
      }
    }
  };

  /** Bound: the watch timer calls it. */
  readonly tick = (): void => {
    const view = this.router.view();
    const atMs = this.now();
    this.health.observe({ kind: 'view', atMs, view });
    this.timeline.recordLag(atMs, lagByReplica(view));
  };

  /** One order's outcome; `startedMs` is on the monotonic clock. */
  order(startedMs: number, status: number, reason: string | null): void {
    const latencyMs = this.clock.now() - startedMs;
    const atMs = this.now();
    this.health.observe({ kind: 'order', atMs, status, reason, latencyMs });
    this.timeline.recordOrder(atMs, status, latencyMs);
  }

  /** One catalog call: answered (`ok`) or not, with why. */
  catalog(ok: boolean, error: string | null): void {
    this.health.observe({ kind: 'catalog', atMs: this.now(), ok, error });
  }

  report(windowMs: number): RecorderReport {
    const toMs = this.now();
    const fromMs = toMs - windowMs;
    return {
      fromMs,
      toMs,
      orders: this.timeline.ordersBetween(fromMs, toMs),
      lag: this.timeline.lagBetween(fromMs, toMs),
      banners: this.health.banners(),
      failovers: this.health.failovers(),
      services: this.health.serviceHealth(),
    };
  }
}

/**
 * The router with every placeOrder's outcome and latency recorded; everything else passed through.
 */
function observedRouter(
  router: StatusRecorderDeps['orders'],
  clock: Clock,
  rec: Recorder,
): StatusRecorder['orders'] {
  return {
    async placeOrder(req, opts) {
      const started = clock.now();
      try {
        const placed = await router.placeOrder(req, opts);
        rec.order(started, 200, null);
        return placed;
      } catch (err) {
        rec.order(
          started,
          err instanceof AppError ? err.status : 500,
          err instanceof AppError ? err.reason : null,
        );
        throw err;
      }
    },
    getOrder: (n, opts) => router.getOrder(n, opts),
    view: () => router.view(),
    history: () => router.history(),
  };
}

/** The catalog client with every call's answer recorded: a 404 is the catalog answering. */
function observedCatalog(client: CatalogClient, rec: Recorder): CatalogClient {
  const seen = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      const out = await call();
      rec.catalog(true, null);
      return out;
    } catch (err) {
      // a 404 is the catalog answering
      const answered = err instanceof AppError && err.status < 500;
      rec.catalog(answered, answered ? null : (err as Error).message);
      throw err;
    }
  };
  return {
    getProduct: (name, requestId) => seen(() => client.getProduct(name, requestId)),
    listProducts: () => seen(() => client.listProducts()),
  };
}

/**
 * Calls `tick` now and then every `everyMs` on `clock` (never if everyMs <= 0); returns the stop.
 */
function startWatch(clock: Clock, everyMs: number, tick: () => void): () => void {
  let cancel: (() => void) | null = null;
  let closed = false;
  const schedule = () => {
    if (closed || everyMs <= 0) return;
    cancel = clock.setTimeout(() => {
      tick();
      schedule();
    }, everyMs);
  };
  tick();
  schedule();
  return () => {
    closed = true;
    cancel?.();
  };
}

export function createStatusRecorder(deps: StatusRecorderDeps): StatusRecorder {
  const rec = new Recorder(
    deps.orders,
    deps.clock,
    deps.now ?? Date.now,
    deps.quorum,
    deps.seconds ?? 300,
  );
  const orders = observedRouter(deps.orders, deps.clock, rec);
  const stopWatch = startWatch(deps.clock, deps.watchEveryMs ?? 50, rec.tick);
  return {
    orders,
    observeCatalog: (client) => observedCatalog(client, rec),
    onRouterEvent: rec.onRouterEvent,
    tick: rec.tick,
    report: (windowMs) => rec.report(windowMs),
    close: stopWatch,
  };
}

/**
 * Orders each replica is behind the leader, as the last heartbeats saw them; null where unknown.
 */
export function lagByReplica(view: ElectionView): Map<number, number | null> {
  const leader = view.replicas.find((r) => r.id === view.leaderId);
  const leaderLast = leader?.state === 'up' ? leader.lastIndex : null;
  return new Map(
    view.replicas
      .filter((r) => r.id !== view.leaderId)
      .map((r) => [
        r.id,
        leaderLast !== null && r.state === 'up' && r.lastIndex !== null
          ? Math.max(0, leaderLast - r.lastIndex)
          : null,
      ]),
  );
}
