/**
 * The live status page: `GET /status` (frontend/status-page.html, plain HTML and a small script,
 * no build step) polls `GET /status.json` once a second and redraws without reloading.
 *
 * One snapshot shows what a person watching a failover wants: banners saying what is refused and
 * since when, driven by what the frontend saw (frontend/health-tracker.ts); orders/s by outcome,
 * order p50/p99 and replication lag per follower, one point a second over a fixed window
 * (frontend/timeline.ts); each leader change with how long it took and why; each service up or
 * down and since when; each order replica (role, epoch, last index, lag) as the heartbeats see
 * it; the cache in LRU order, hits/misses/evictions over time and the latest fills, evictions and
 * invalidations (replacement in action); the most recent orders; the stock of every toy.
 *
 * Built only from views that already exist (router.view()/getOrder, cache.stats()/keys()/peek(),
 * catalog.listProducts()) and from the StatusRecorder that main.ts wraps around the router and
 * the catalog client (frontend/status-recorder.ts), so the page needs no change elsewhere. The page
 * must never make things worse while the store is failing over, so a snapshot never waits long:
 * stock and recent orders are fetched in the background, single flight, each bounded by a
 * timeout, and the last good answer is shown (marked stale) when a fetch fails
 * (frontend/status-sources.ts).
 *
 * Shaped as named parts so each can be read alone: `CacheSampler` (the cache counters over time),
 * `StockView` and `RecentOrders` (the slow inputs), `snapshotOf` (one snapshot from all of them,
 * a pure read once the fetches are done) and `statusApp` (the two routes); `createStatusPage`
 * only wires them.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { badRequest, onAppError } from '../shared/errors.ts';
import { frontendPublicRoutes } from '../shared/protocol/frontend.ts';
import type { Order, Product } from '../shared/contracts.ts';
import type { ProductCacheStats } from './cache.ts';
import type { CatalogClient } from './catalog-client.ts';
import type { CacheEvent } from './observe.ts';
import type { Banner, Failover, ServiceHealth } from './health-tracker.ts';
import type { StatusRecorder } from './status-recorder.ts';
import { RecentOrders, StockView, type StockAnswer } from './status-sources.ts';
import type { LagPoint, OrderPoint } from './timeline.ts';
import type { ElectionView, OrderRouter } from './types.ts';

const PAGE = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8');

export interface StatusDeps {
  cache: {
    stats(): ProductCacheStats;
    keys(): string[];
    peek(name: string): Product | undefined;
    events?(): CacheEvent[];
  };
  orders: Pick<OrderRouter, 'view' | 'getOrder'>;
  catalog: Pick<CatalogClient, 'listProducts'>;
  /**
   * What the frontend saw of its orders, elections and the catalog (the banners, series,
   * failovers).
   */
  recorder: Pick<StatusRecorder, 'report'>;
  /** Width of the charts' time axis when the page asks for none. Default 120 000 (two minutes). */
  windowMs?: number;
  /** When this frontend started (wall ms). Default: when the page was created. */
  startedAtMs?: number;
  /** Wall clock. Default Date.now. */
  now?: () => number;
  /**
   * How often cache counters are sampled for the charts; 0: only when `sample()` is called. Default
   * 1000.
   */
  sampleEveryMs?: number;
  /** Samples kept (default 150: the two-minute chart at one a second, and some to spare). */
  maxSamples?: number;
  /** Orders shown (default 10). */
  recentOrders?: number;
  /** Bound on each catalog or order fetch (default 1000 ms). */
  fetchTimeoutMs?: number;
}

export interface CacheSample {
  atMs: number;
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
  size: number;
}

export interface StatusSnapshot {
  now: number;
  startedAtMs: number;
  /** Outages as the frontend saw them, worst first; empty when all is well. */
  banners: Banner[];
  leader: { id: number | null; epoch: number | null; electing: boolean };
  replicas: Array<{
    id: number;
    url: string;
    state: string;
    role: string | null;
    epoch: number | null;
    lastIndex: number | null;
    lag: number | null;
    leader: boolean;
  }>;
  services: ServiceHealth[];
  /** One point per second over [fromMs, toMs]. */
  series: { fromMs: number; toMs: number; orders: OrderPoint[]; lag: LagPoint[] };
  /** Each leader change, oldest first. */
  failovers: Failover[];
  cache: ProductCacheStats & {
    lru: Array<{ name: string; quantity: number | null; price: number | null }>;
    events: CacheEvent[];
    samples: CacheSample[];
  };
  orders: { lastIndex: number | null; recent: Order[]; stale: boolean };
  stock: StockAnswer;
}

export interface StatusPage {
  /** Serves GET /status and GET /status.json[?window=S]; mount it on the frontend's public app. */
  app: Hono;
  snapshot(windowMs?: number): Promise<StatusSnapshot>;
  /** Records one sample of the cache counters now. */
  sample(): void;
  /** Stops the sampling timer. */
  close(): void;
}

/** The chart windows a page may ask for, in seconds (the recorder keeps 300 s). */
export const WINDOW_SECONDS = { min: 10, max: 300 } as const;

function parseWindowSeconds(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= WINDOW_SECONDS.min && n <= WINDOW_SECONDS.max))
    throw badRequest(
      `window must be a whole number of seconds from ${WINDOW_SECONDS.min} to ${WINDOW_SECONDS.max}`,
    );
  return n;
}

/**
 * The cache's counters sampled over time for the charts: the last `maxSamples`, on a timer or on
 * demand.
 */
class CacheSampler {
  private readonly samples: CacheSample[] = [];
  private readonly timer: NodeJS.Timeout | null;

  constructor(
    private readonly cache: StatusDeps['cache'],
    private readonly now: () => number,
    private readonly maxSamples: number,
    everyMs: number,
  ) {
    this.sample();
    this.timer = everyMs > 0 ? setInterval(this.sample, everyMs) : null;
    this.timer?.unref();
  }

  /** Bound: the timer calls it unbound. */
  readonly sample = (): void => {
    const s = this.cache.stats();
    this.samples.push({
      atMs: this.now(),
      hits: s.hits,
      misses: s.misses,
      evictions: s.evictions,
      invalidations: s.invalidations,
      size: s.size,
    });
    if (this.samples.length > this.maxSamples)
      this.samples.splice(0, this.samples.length - this.maxSamples);
  };

  all(): CacheSample[] {
    return [...this.samples];
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** Each replica as the heartbeats see it, with its lag behind the leader's last index. */
function replicaRows(v: ElectionView, leaderLast: number | null): StatusSnapshot['replicas'] {
  return v.replicas.map((r) => ({
    id: r.id,
    url: r.url,
    state: r.state,
    role: r.role,
    epoch: r.promisedEpoch,
    lastIndex: r.lastIndex,
    lag:
      leaderLast !== null && r.lastIndex !== null && r.state === 'up'
        ? Math.max(0, leaderLast - r.lastIndex)
        : null,
    leader: r.id === v.leaderId,
  }));
}

/** The cache in LRU order, each entry as it is cached now (peek changes no order). */
function lruRows(cache: StatusDeps['cache']): StatusSnapshot['cache']['lru'] {
  return cache.keys().map((name) => {
    const p = cache.peek(name);
    return { name, quantity: p?.quantity ?? null, price: p?.price ?? null };
  });
}

interface SnapshotParts {
  deps: StatusDeps;
  startedAtMs: number;
  samples: CacheSampler;
  stock: StockView;
  recent: RecentOrders;
}

/** One snapshot: waits (bounded) for the slow inputs, then reads everything else as it is now. */
async function snapshotOf(parts: SnapshotParts, windowMs: number): Promise<StatusSnapshot> {
  const { deps, samples, stock, recent } = parts;
  await Promise.all([stock.refresh(), recent.refresh()]);
  const v = deps.orders.view();
  const leaderLast = v.replicas.find((r) => r.id === v.leaderId)?.lastIndex ?? null;
  const replicas = replicaRows(v, leaderLast);
  const seen = deps.recorder.report(windowMs);
  const lru = lruRows(deps.cache);
  const orders = recent.current();
  return {
    now: seen.toMs,
    startedAtMs: parts.startedAtMs,
    banners: seen.banners,
    leader: { id: v.leaderId, epoch: v.epoch, electing: v.electing },
    replicas,
    services: seen.services,
    series: { fromMs: seen.fromMs, toMs: seen.toMs, orders: seen.orders, lag: seen.lag },
    failovers: seen.failovers,
    cache: {
      ...deps.cache.stats(),
      lru,
      events: deps.cache.events?.() ?? [],
      samples: samples.all(),
    },
    orders: { lastIndex: leaderLast, recent: orders.recent, stale: orders.stale },
    stock: stock.current(),
  };
}

/** GET /status (the page) and GET /status.json[?window=S] (one snapshot). */
function statusApp(snapshot: (windowMs?: number) => Promise<StatusSnapshot>): Hono {
  const app = new Hono();
  app.get(frontendPublicRoutes.statusPage.path, (c) =>
    c.html(PAGE, 200, { 'cache-control': 'no-store' }),
  );
  app.onError(onAppError);
  app.get(frontendPublicRoutes.statusData.path, async (c) => {
    const seconds = parseWindowSeconds(c.req.query('window'));
    return c.json(
      { data: await snapshot(seconds === undefined ? undefined : seconds * 1000) },
      200,
      { 'cache-control': 'no-store' },
    );
  });
  return app;
}

export function createStatusPage(deps: StatusDeps): StatusPage {
  const now = deps.now ?? Date.now;
  const startedAtMs = deps.startedAtMs ?? now();
  const timeoutMs = deps.fetchTimeoutMs ?? 1_000;
  const samples = new CacheSampler(
    deps.cache,
    now,
    deps.maxSamples ?? 150,
    deps.sampleEveryMs ?? 1_000,
  );
  const parts: SnapshotParts = {
    deps,
    startedAtMs,
    samples,
    stock: new StockView(deps.catalog, timeoutMs, now),
    recent: new RecentOrders(deps.orders, deps.recentOrders ?? 10, timeoutMs),
  };
  const snapshot = (windowMs = deps.windowMs ?? 120_000) => snapshotOf(parts, windowMs);
  return {
    app: statusApp(snapshot),
    snapshot,
    sample: samples.sample,
    close: () => samples.close(),
  };
}
