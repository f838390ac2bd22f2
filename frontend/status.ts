/**
 * The live status page: `GET /status` (frontend/status-page.html, plain HTML and a small script,
 * no build step) polls `GET /status.json` once a second and redraws without reloading.
 *
 * One snapshot shows what a demo wants to point at: each order replica (up/down, role, epoch,
 * last index, lag behind the leader) as the frontend's heartbeats see it; the current leader and
 * the history of leader changes with times; the cache in LRU order, hits/misses/evictions over
 * time and the latest fills, evictions and invalidations (replacement in action); the most
 * recent orders; the stock of every toy.
 *
 * Built only from views that already exist (router.view()/history()/getOrder, cache.stats()/
 * keys()/peek(), catalog.listProducts()), so the page needs no change anywhere else. The page
 * must never make things worse while the store is failing over, so a snapshot never waits long:
 * stock and recent orders are fetched in the background, single flight, each bounded by a
 * timeout, and the last good answer is shown (marked stale) when a fetch fails. Orders are
 * immutable once committed, so each one is fetched once and remembered; none is fetched while
 * the frontend has no live leader.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { systemClock, type Clock } from '../shared/clock.ts';
import type { Order, Product } from '../shared/contracts.ts';
import type { ProductCacheStats } from './cache.ts';
import type { CatalogClient } from './catalog-client.ts';
import type { CacheEvent } from './observe.ts';
import type { LeaderChange } from './order-router.ts';
import type { OrderRouter } from './types.ts';

const PAGE = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8');

export interface StatusDeps {
  cache: { stats(): ProductCacheStats; keys(): string[]; peek(name: string): Product | undefined; events?(): CacheEvent[] };
  orders: Pick<OrderRouter, 'view' | 'getOrder'> & { history(): LeaderChange[] };
  catalog: Pick<CatalogClient, 'listProducts'>;
  /** The clock the router stamps leader changes with (to turn them into wall times). Default systemClock. */
  clock?: Clock;
  /** Wall clock. Default Date.now. */
  now?: () => number;
  /** How often cache counters are sampled for the charts; 0: only when `sample()` is called. Default 1000. */
  sampleEveryMs?: number;
  /** Samples kept (default 120: two minutes at one a second). */
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
  leader: { id: number | null; epoch: number | null; electing: boolean };
  replicas: Array<{ id: number; url: string; state: string; role: string | null; epoch: number | null; lastIndex: number | null; lag: number | null; leader: boolean }>;
  leaderHistory: Array<{ atMs: number; leaderId: number | null; epoch: number | null }>;
  cache: ProductCacheStats & { lru: Array<{ name: string; quantity: number | null; price: number | null }>; events: CacheEvent[]; samples: CacheSample[] };
  orders: { lastIndex: number | null; recent: Order[]; stale: boolean };
  stock: { products: Product[]; atMs: number | null; stale: boolean; error: string | null };
}

export interface StatusPage {
  /** Serves GET /status and GET /status.json; mount it on the frontend's public app. */
  app: Hono;
  snapshot(): Promise<StatusSnapshot>;
  /** Records one sample of the cache counters now. */
  sample(): void;
  /** Stops the sampling timer. */
  close(): void;
}

const HISTORY_SHOWN = 20;
const ORDERS_REMEMBERED = 50;

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
  const clock = deps.clock ?? systemClock;
  const now = deps.now ?? Date.now;
  const maxSamples = deps.maxSamples ?? 120;
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

  async function snapshot(): Promise<StatusSnapshot> {
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
    // The router stamps changes with its monotonic clock; place them on the wall clock.
    const offset = now() - clock.now();
    const leaderHistory = deps.orders.history().slice(-HISTORY_SHOWN).map((h) => ({ atMs: Math.round(h.atMs + offset), leaderId: h.leaderId, epoch: h.epoch }));
    const lru = deps.cache.keys().map((name) => {
      const p = deps.cache.peek(name);
      return { name, quantity: p?.quantity ?? null, price: p?.price ?? null };
    });
    const recent = [...known.values()].sort((a, b) => b.number - a.number).slice(0, shownOrders);
    return {
      now: now(),
      leader: { id: v.leaderId, epoch: v.epoch, electing: v.electing },
      replicas,
      leaderHistory,
      cache: { ...deps.cache.stats(), lru, events: deps.cache.events?.() ?? [], samples: [...samples] },
      orders: { lastIndex: leaderLast, recent, stale: ordersStale },
      stock,
    };
  }

  const app = new Hono();
  app.get('/status', (c) => c.html(PAGE, 200, { 'cache-control': 'no-store' }));
  app.get('/status.json', async (c) => c.json({ data: await snapshot() }, 200, { 'cache-control': 'no-store' }));

  return {
    app,
    snapshot,
    sample,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
