/**
 * The status page's data, in-process (the page itself is tested in a browser in
 * test/e2e/status-page.test.ts): /status.json shows replicas with lag, the leader and its
 * history on the wall clock, the cache in LRU order with its counters over time and its events,
 * the recent orders and the stock; a failing catalog or an order read that hangs never holds the
 * snapshot up, and the last good answer is shown marked stale.
 */
import { describe, expect, it } from 'vitest';
import { ObservedProductCache } from '../../frontend/observe.ts';
import type { LeaderChange } from '../../frontend/order-router.ts';
import { createStatusPage, type StatusSnapshot } from '../../frontend/status.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { Order, Product } from '../../shared/contracts.ts';
import { upstreamUnavailable } from '../../shared/errors.ts';
import { FakeCatalog, FakeRouter } from '../frontend/helpers.ts';

const TOYS: Product[] = ['Tux', 'Lego', 'Barbie', 'Slinky'].map((name, i) => ({ name, price: 10, quantity: 100 - i }));

function setup() {
  const catalog = new FakeCatalog(TOYS);
  const cache = new ObservedProductCache({ maxSize: 3, loader: (n) => catalog.getProduct(n) });
  const clock = new ManualClock();
  const history: LeaderChange[] = [];
  const router = Object.assign(new FakeRouter(), { history: () => history });
  router.get = async (n): Promise<Order> => ({ number: n, name: n % 2 ? 'Lego' : 'Tux', quantity: 1 });
  const page = createStatusPage({ cache, orders: router, catalog, clock, now: () => 1_000_000 + clock.now(), sampleEveryMs: 0, fetchTimeoutMs: 50 });
  const json = async (): Promise<StatusSnapshot> => {
    const res = await page.app.request('/status.json');
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: StatusSnapshot }).data;
  };
  return { catalog, cache, clock, history, router, page, json };
}

describe('status page', () => {
  it('GET /status is the HTML page that polls /status.json', async () => {
    const { page } = setup();
    const res = await page.app.request('/status');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('data-testid="leader"');
    expect(html).toContain("fetch('status.json'");
    page.close();
  });

  it('shows replicas with lag, the leader and its history with wall-clock times', async () => {
    const { json, history, clock, page } = setup();
    history.push({ atMs: 0, leaderId: 3, epoch: 7 });
    await clock.advance(2_500);
    const s = await json();
    expect(s.leader).toEqual({ id: 3, epoch: 7, electing: false });
    expect(s.replicas).toEqual([
      expect.objectContaining({ id: 3, state: 'up', role: 'leader', epoch: 7, lastIndex: 4, lag: 0, leader: true }),
      expect.objectContaining({ id: 2, state: 'up', role: 'follower', lastIndex: 4, lag: 0, leader: false }),
      expect.objectContaining({ id: 1, state: 'down', lastIndex: null, lag: null }),
    ]);
    expect(s.leaderHistory).toEqual([{ atMs: 1_000_000, leaderId: 3, epoch: 7 }]);
    expect(s.now).toBe(1_002_500);
    page.close();
  });

  it('shows the cache in LRU order, counters over time and the replacements', async () => {
    const { json, cache, page } = setup();
    for (const n of ['Tux', 'Lego', 'Barbie', 'Tux', 'Slinky']) await cache.get(n); // Slinky evicts Lego (LRU)
    page.sample();
    const s = await json();
    expect(s.cache.lru.map((e) => e.name)).toEqual(['Slinky', 'Tux', 'Barbie']);
    expect(s.cache.lru[0]).toEqual({ name: 'Slinky', quantity: 97, price: 10 });
    expect(s.cache).toMatchObject({ hits: 1, misses: 4, evictions: 1, size: 3, capacity: 3 });
    expect(s.cache.events.filter((e) => e.kind === 'evict')).toEqual([expect.objectContaining({ name: 'Lego', by: 'Slinky' })]);
    expect(s.cache.samples.at(-1)).toMatchObject({ hits: 1, misses: 4, evictions: 1 });
    expect(s.cache.samples.length).toBeGreaterThanOrEqual(2);
    page.close();
  });

  it('shows the last orders (each read once) and the stock', async () => {
    const { json, router, page } = setup();
    const s = await json();
    expect(s.orders.lastIndex).toBe(4);
    expect(s.orders.recent.map((o) => o.number)).toEqual([4, 3, 2, 1, 0]);
    expect(s.orders.recent[1]).toEqual({ number: 3, name: 'Lego', quantity: 1 });
    expect(s.orders.stale).toBe(false);
    expect(s.stock).toMatchObject({ stale: false, error: null });
    expect(s.stock.products.map((p) => [p.name, p.quantity])).toEqual([['Tux', 100], ['Lego', 99], ['Barbie', 98], ['Slinky', 97]]);
    await json();
    expect(router.getCalls.sort()).toEqual([0, 1, 2, 3, 4]);
    page.close();
  });

  it('a failing catalog or a hanging order read does not hold the snapshot: the last good answer, marked stale', async () => {
    const { json, catalog, router, page } = setup();
    await json();
    catalog.failWith = upstreamUnavailable('catalog');
    router.view = () => ({ ...FakeRouter.prototype.view.call(router), replicas: FakeRouter.prototype.view.call(router).replicas.map((r) => (r.id === 3 ? { ...r, lastIndex: 6 } : r)) });
    router.get = () => new Promise<Order>(() => {}); // the leader never answers
    const s = await json();
    expect(s.stock.stale).toBe(true);
    expect(s.stock.error).toMatch(/catalog is unavailable/);
    expect(s.stock.products).toHaveLength(4);
    expect(s.orders.stale).toBe(true);
    expect(s.orders.recent.map((o) => o.number)).toEqual([4, 3, 2, 1, 0]);
    page.close();
  });
});
