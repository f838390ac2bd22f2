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

export function createStatusRecorder(deps: StatusRecorderDeps): StatusRecorder {
  const router = deps.orders;
  const now = deps.now ?? Date.now;
  const health = new HealthTracker({ quorum: deps.quorum });
  const timeline = new Timeline(deps.seconds ?? 300);

  function onRouterEvent(e: RouterEvent): void {
    const atMs = now();
    switch (e.type) {
      case 'election':
        return health.observe({ kind: 'election', atMs, reason: e.reason });
      case 'election_refused':
        return health.observe({ kind: 'election_refused', atMs, replica: e.replica, reason: e.reason });
      case 'leader_change':
        return health.observe({ kind: 'leader_change', atMs, leaderId: e.leaderId, epoch: e.epoch, why: e.why });
      default: {
        const unknown: never = e; // a new router event must be given a meaning here
        return void unknown;
      }
    }
  }

  function tick(): void {
    const view = router.view();
    const atMs = now();
    health.observe({ kind: 'view', atMs, view });
    timeline.recordLag(atMs, lagByReplica(view));
  }

  function recordOrder(startedMs: number, status: number, reason: string | null): void {
    const latencyMs = deps.clock.now() - startedMs;
    const atMs = now();
    health.observe({ kind: 'order', atMs, status, reason, latencyMs });
    timeline.recordOrder(atMs, status, latencyMs);
  }

  const orders: StatusRecorder['orders'] = {
    async placeOrder(req, opts) {
      const started = deps.clock.now();
      try {
        const placed = await router.placeOrder(req, opts);
        recordOrder(started, 200, null);
        return placed;
      } catch (err) {
        recordOrder(started, err instanceof AppError ? err.status : 500, err instanceof AppError ? err.reason : null);
        throw err;
      }
    },
    getOrder: (n, opts) => router.getOrder(n, opts),
    view: () => router.view(),
    history: () => router.history(),
  };

  function observeCatalog(client: CatalogClient): CatalogClient {
    const seen = async <T>(call: () => Promise<T>): Promise<T> => {
      try {
        const out = await call();
        health.observe({ kind: 'catalog', atMs: now(), ok: true, error: null });
        return out;
      } catch (err) {
        const answered = err instanceof AppError && err.status < 500; // a 404 is the catalog answering
        health.observe({ kind: 'catalog', atMs: now(), ok: answered, error: answered ? null : (err as Error).message });
        throw err;
      }
    };
    return { getProduct: (name, requestId) => seen(() => client.getProduct(name, requestId)), listProducts: () => seen(() => client.listProducts()) };
  }

  const everyMs = deps.watchEveryMs ?? 50;
  let cancel: (() => void) | null = null;
  let closed = false;
  const schedule = () => {
    if (closed || everyMs <= 0) return;
    cancel = deps.clock.setTimeout(() => {
      tick();
      schedule();
    }, everyMs);
  };
  tick();
  schedule();

  return {
    orders,
    observeCatalog,
    onRouterEvent,
    tick,
    report(windowMs) {
      const toMs = now();
      const fromMs = toMs - windowMs;
      return {
        fromMs, toMs,
        orders: timeline.ordersBetween(fromMs, toMs),
        lag: timeline.lagBetween(fromMs, toMs),
        banners: health.banners(),
        failovers: health.failovers(),
        services: health.serviceHealth(),
      };
    },
    close() {
      closed = true;
      cancel?.();
    },
  };
}

/** Orders each replica is behind the leader, as the last heartbeats saw them; null where unknown. */
export function lagByReplica(view: ElectionView): Map<number, number | null> {
  const leader = view.replicas.find((r) => r.id === view.leaderId);
  const leaderLast = leader?.state === 'up' ? leader.lastIndex : null;
  return new Map(view.replicas.filter((r) => r.id !== view.leaderId).map((r) => [
    r.id,
    leaderLast !== null && r.state === 'up' && r.lastIndex !== null ? Math.max(0, leaderLast - r.lastIndex) : null,
  ]));
}
