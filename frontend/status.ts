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
 * timeout, and the last good answer is shown (marked stale) when a fetch fails. Orders are
 * immutable once committed, so each one is fetched once and remembered; none is fetched while
 * the frontend has no live leader.
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
import type { LagPoint, OrderPoint } from './timeline.ts';
import type { OrderRouter } from './types.ts';

const PAGE = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8');

export interface StatusDeps {
  cache: { stats(): ProductCacheStats; keys(): string[]; peek(name: string): Product | undefined; events?(): CacheEvent[] };
  orders: Pick<OrderRouter, 'view' | 'getOrder'>;
  catalog: Pick<CatalogClient, 'listProducts'>;
  /** What the frontend saw of its orders, elections and the catalog (the banners, series, failovers). */
  recorder: Pick<StatusRecorder, 'report'>;
  /** Width of the charts' time axis when the page asks for none. Default 120 000 (two minutes). */
  windowMs?: number;
  /** When this frontend started (wall ms). Default: when the page was created. */
  startedAtMs?: number;
  /** Wall clock. Default Date.now. */
  now?: () => number;
  /** How often cache counters are sampled for the charts; 0: only when `sample()` is called. Default 1000. */
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
  replicas: Array<{ id: number; url: string; state: string; role: string | null; epoch: number | null; lastIndex: number | null; lag: number | null; leader: boolean }>;
  services: ServiceHealth[];
  /** One point per second over [fromMs, toMs]. */
  series: { fromMs: number; toMs: number; orders: OrderPoint[]; lag: LagPoint[] };
  /** Each leader change, oldest first. */
  failovers: Failover[];
  cache: ProductCacheStats & { lru: Array<{ name: string; quantity: number | null; price: number | null }>; events: CacheEvent[]; samples: CacheSample[] };
  orders: { lastIndex: number | null; recent: Order[]; stale: boolean };
  stock: { products: Product[]; atMs: number | null; stale: boolean; error: string | null };
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

const ORDERS_REMEMBERED = 50;
/** The chart windows a page may ask for, in seconds (the recorder keeps 300 s). */
export const WINDOW_SECONDS = { min: 10, max: 300 } as const;

function parseWindowSeconds(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= WINDOW_SECONDS.min && n <= WINDOW_SECONDS.max)) throw badRequest(`window must be a whole number of seconds from ${WINDOW_SECONDS.min} to ${WINDOW_SECONDS.max}`);
  return n;
}

/** Resolves with `p`'s value, or with `fallback` after `ms` (p keeps running). */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref?.();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function createStatusPage(deps: StatusDeps): StatusPage {
  const now = deps.now ?? Date.now;
  const startedAtMs = deps.startedAtMs ?? now();
  const maxSamples = deps.maxSamples ?? 150;
  const shownOrders = deps.recentOrders ?? 10;
  const timeoutMs = deps.fetchTimeoutMs ?? 1_000;

  const samples: CacheSample[] = [];
  function sample(): void {
    const s = deps.cache.stats();
    samples.push({ atMs: now(), hits: s.hits, misses: s.misses, evictions: s.evictions, invalidations: s.invalidations, size: s.size });
    if (samples.length > maxSamples) samples.splice(0, samples.length - maxSamples);
  }
  sample();
  const sampleEveryMs = deps.sampleEveryMs ?? 1_000;
  const timer = sampleEveryMs > 0 ? setInterval(sample, sampleEveryMs) : null;
  timer?.unref();

  // ---- stock: last good answer, refreshed single flight
  let stock: StatusSnapshot['stock'] = { products: [], atMs: null, stale: true, error: null };
  let stockFlight: Promise<void> | null = null;
  function refreshStock(): Promise<void> {
    stockFlight ??= (async () => {
      const TIMED_OUT = Symbol('timeout');
      try {
        const products = await within<Product[] | typeof TIMED_OUT>(deps.catalog.listProducts(), timeoutMs, TIMED_OUT);
        if (products === TIMED_OUT) stock = { ...stock, stale: true, error: `catalog did not answer within ${timeoutMs} ms` };
        else stock = { products, atMs: now(), stale: false, error: null };
      } catch (err) {
        stock = { ...stock, stale: true, error: (err as Error).message };
      }
    })().finally(() => {
      stockFlight = null;
    });
    return stockFlight;
  }

  // ---- recent orders: each committed order fetched once and remembered
  const known = new Map<number, Order>();
  const fetching = new Map<number, Promise<void>>();
  let ordersStale = false;
  function leaderLastIndex(): number | null {
    const v = deps.orders.view();
    const leader = v.replicas.find((r) => r.id === v.leaderId);
    return leader && leader.state === 'up' && !v.electing ? leader.lastIndex : null;
  }
  async function refreshOrders(): Promise<void> {
    const last = leaderLastIndex();
    if (last === null) {
      ordersStale = true;
      return;
    }
    const wanted: number[] = [];
    for (let n = last; n >= 0 && n > last - shownOrders; n--) if (!known.has(n)) wanted.push(n);
    const results = await Promise.all(
      wanted.map((n) => {
        let flight = fetching.get(n);
        if (!flight) {
          flight = deps.orders.getOrder(n).then(
            (order) => void known.set(n, order),
            () => {},
          ).finally(() => fetching.delete(n));
          fetching.set(n, flight);
        }
        return within(flight.then(() => true), timeoutMs, false);
      }),
    );
    ordersStale = results.includes(false);
    for (const n of known.keys()) if (n <= last - ORDERS_REMEMBERED) known.delete(n);
  }

  async function snapshot(windowMs = deps.windowMs ?? 120_000): Promise<StatusSnapshot> {
    await Promise.all([refreshStock(), refreshOrders()]);
    const v = deps.orders.view();
    const leaderRow = v.replicas.find((r) => r.id === v.leaderId);
    const leaderLast = leaderRow?.lastIndex ?? null;
    const replicas = v.replicas.map((r) => ({
      id: r.id,
      url: r.url,
      state: r.state,
      role: r.role,
      epoch: r.promisedEpoch,
      lastIndex: r.lastIndex,
      lag: leaderLast !== null && r.lastIndex !== null && r.state === 'up' ? Math.max(0, leaderLast - r.lastIndex) : null,
      leader: r.id === v.leaderId,
    }));
    const seen = deps.recorder.report(windowMs);
    const lru = deps.cache.keys().map((name) => {
      const p = deps.cache.peek(name);
      return { name, quantity: p?.quantity ?? null, price: p?.price ?? null };
    });
    const recent = [...known.values()].sort((a, b) => b.number - a.number).slice(0, shownOrders);
    return {
      now: seen.toMs,
      startedAtMs,
      banners: seen.banners,
      leader: { id: v.leaderId, epoch: v.epoch, electing: v.electing },
      replicas,
      services: seen.services,
      series: { fromMs: seen.fromMs, toMs: seen.toMs, orders: seen.orders, lag: seen.lag },
      failovers: seen.failovers,
      cache: { ...deps.cache.stats(), lru, events: deps.cache.events?.() ?? [], samples: [...samples] },
      orders: { lastIndex: leaderLast, recent, stale: ordersStale },
      stock,
    };
  }

  const app = new Hono();
  app.get(frontendPublicRoutes.statusPage.path, (c) => c.html(PAGE, 200, { 'cache-control': 'no-store' }));
  app.onError(onAppError);
  app.get(frontendPublicRoutes.statusData.path, async (c) => {
    const seconds = parseWindowSeconds(c.req.query('window'));
    return c.json({ data: await snapshot(seconds === undefined ? undefined : seconds * 1000) }, 200, { 'cache-control': 'no-store' });
  });

  return {
    app,
    snapshot,
    sample,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
