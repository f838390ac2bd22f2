/**
 * The status page's data, in-process (the page itself is tested in a browser in
 * test/e2e/status-page.test.ts): /status.json shows replicas with lag, what the frontend saw of
 * its orders and elections (banners, failovers on the wall clock, time series, services), the
 * cache in LRU order with its counters over time and its events, the recent orders and the stock;
 * a failing catalog or an order read that hangs never holds the snapshot up, and the last good
 * answer is shown marked stale. The recorder (frontend/status-recorder.ts) is the real one, wrapped
 * around a fake router on a ManualClock, exactly as main.ts wires it.
 */
import { describe, expect, it } from 'vitest';
import { ObservedProductCache } from '../../frontend/observe.ts';
import { createStatusPage, type StatusSnapshot } from '../../frontend/status.ts';
import { createStatusRecorder } from '../../frontend/status-recorder.ts';
import type { ElectionView } from '../../frontend/types.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { Order, Product } from '../../shared/contracts.ts';
import { noQuorum, upstreamUnavailable } from '../../shared/errors.ts';
import { electionView, expectError, FakeCatalog, FakeRouter } from '../frontend/helpers.ts';

const TOYS: Product[] = ['Tux', 'Lego', 'Barbie', 'Slinky'].map((name, i) => ({
  name,
  price: 10,
  quantity: 100 - i,
}));

function setup() {
  const catalog = new FakeCatalog(TOYS);
  const cache = new ObservedProductCache({ maxSize: 3, loader: (n) => catalog.getProduct(n) });
  const clock = new ManualClock();
  const router = Object.assign(new FakeRouter(), { history: () => [] });
  router.get = async (n): Promise<Order> => ({
    number: n,
    name: n % 2 ? 'Lego' : 'Tux',
    quantity: 1,
  });
  const now = () => 1_000_000 + clock.now();
  const recorder = createStatusRecorder({
    orders: router,
    clock,
    now,
    quorum: 2,
    watchEveryMs: 100,
  });
  const observedCatalog = recorder.observeCatalog(catalog);
  const page = createStatusPage({
    cache,
    orders: recorder.orders,
    catalog: observedCatalog,
    recorder,
    now,
    sampleEveryMs: 0,
    fetchTimeoutMs: 50,
  });
  const json = async (query = ''): Promise<StatusSnapshot> => {
    const res = await page.app.request(`/status.json${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: StatusSnapshot }).data;
  };
  const close = () => {
    page.close();
    recorder.close();
  };
  /** What main.ts's router.onEvent hands the recorder when the leader changes. */
  const leads = (leaderId: number | null, epoch: number | null) =>
    recorder.onRouterEvent({
      type: 'leader_change',
      leaderId,
      epoch,
      why: leaderId === null ? 'none' : 'elected',
    });
  return { catalog, cache, clock, router, recorder, page, json, close, leads };
}

describe('status page', () => {
  it('GET /status is the HTML page that polls /status.json', async () => {
    const { page, close } = setup();
    const res = await page.app.request('/status');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('data-testid="leader"');
    expect(html).toContain('fetch(`status.json?window=');
    close();
  });

  it('shows replicas with lag, the leader and each leader change with wall-clock times', async () => {
    const { json, leads, clock, close } = setup();
    leads(3, 7);
    await clock.advance(2_500);
    const s = await json();
    expect(s.leader).toEqual({ id: 3, epoch: 7, electing: false });
    expect(s.replicas).toEqual([
      expect.objectContaining({
        id: 3,
        state: 'up',
        role: 'leader',
        epoch: 7,
        lastIndex: 4,
        lag: 0,
        leader: true,
      }),
      expect.objectContaining({
        id: 2,
        state: 'up',
        role: 'follower',
        lastIndex: 4,
        lag: 0,
        leader: false,
      }),
      expect.objectContaining({ id: 1, state: 'down', lastIndex: null, lag: null }),
    ]);
    expect(s.failovers).toEqual([
      expect.objectContaining({
        atMs: 1_000_000,
        from: null,
        to: 3,
        epoch: 7,
        reason: 'first election',
      }),
    ]);
    expect(s.startedAtMs).toBe(1_000_000);
    expect(s.now).toBe(1_002_500);
    close();
  });

  it('shows the cache in LRU order, counters over time and the replacements', async () => {
    const { json, cache, page, close } = setup();
    for (const n of ['Tux', 'Lego', 'Barbie', 'Tux', 'Slinky']) await cache.get(n); // Slinky evicts Lego (LRU)
    page.sample();
    const s = await json();
    expect(s.cache.lru.map((e) => e.name)).toEqual(['Slinky', 'Tux', 'Barbie']);
    expect(s.cache.lru[0]).toEqual({ name: 'Slinky', quantity: 97, price: 10 });
    expect(s.cache).toMatchObject({ hits: 1, misses: 4, evictions: 1, size: 3, capacity: 3 });
    expect(s.cache.events.filter((e) => e.kind === 'evict')).toEqual([
      expect.objectContaining({ name: 'Lego', by: 'Slinky' }),
    ]);
    expect(s.cache.samples.at(-1)).toMatchObject({ hits: 1, misses: 4, evictions: 1 });
    expect(s.cache.samples.length).toBeGreaterThanOrEqual(2);
    close();
  });

  it('shows the last orders (each read once) and the stock', async () => {
    const { json, router, close } = setup();
    const s = await json();
    expect(s.orders.lastIndex).toBe(4);
    expect(s.orders.recent.map((o) => o.number)).toEqual([4, 3, 2, 1, 0]);
    expect(s.orders.recent[1]).toEqual({ number: 3, name: 'Lego', quantity: 1 });
    expect(s.orders.stale).toBe(false);
    expect(s.stock).toMatchObject({ stale: false, error: null });
    expect(s.stock.products.map((p) => [p.name, p.quantity])).toEqual([
      ['Tux', 100],
      ['Lego', 99],
      ['Barbie', 98],
      ['Slinky', 97],
    ]);
    await json();
    expect(router.getCalls.sort()).toEqual([0, 1, 2, 3, 4]);
    close();
  });

  it('a failing catalog or a hanging order read does not hold the snapshot: the last good answer, marked stale', async () => {
    const { json, catalog, router, close } = setup();
    await json();
    catalog.failWith = upstreamUnavailable('catalog');
    router.view = () => ({
      ...FakeRouter.prototype.view.call(router),
      replicas: FakeRouter.prototype.view
        .call(router)
        .replicas.map((r) => (r.id === 3 ? { ...r, lastIndex: 6 } : r)),
    });
    router.get = () => new Promise<Order>(() => {}); // the leader never answers
    const s = await json();
    expect(s.stock.stale).toBe(true);
    expect(s.stock.error).toMatch(/catalog is unavailable/);
    expect(s.stock.products).toHaveLength(4);
    expect(s.orders.stale).toBe(true);
    expect(s.orders.recent.map((o) => o.number)).toEqual([4, 3, 2, 1, 0]);
    close();
  });

  it('when the followers die and orders are refused, then the snapshot says so although the router still names a leader', async () => {
    const { json, leads, clock, router, recorder, close } = setup();
    const up = (id: number, role: string, lastIndex: number) => ({
      id,
      url: `http://127.0.0.1:801${id}`,
      state: 'up' as const,
      role,
      lastIndex,
      promisedEpoch: 7,
    });
    const down = (id: number) => ({
      id,
      url: `http://127.0.0.1:801${id}`,
      state: 'down' as const,
      role: null,
      lastIndex: null,
      promisedEpoch: null,
    });
    let view: ElectionView = {
      leaderId: 3,
      epoch: 7,
      electing: false,
      replicas: [up(3, 'leader', 10), up(2, 'follower', 8), up(1, 'follower', 10)],
    };
    router.view = () => view;
    leads(3, 7);
    recorder.tick();
    router.place = async () => {
      await clock.sleep(20);
      return { order_number: 11 };
    };
    const placed = [
      recorder.orders.placeOrder({ name: 'Tux', quantity: 1 }),
      recorder.orders.placeOrder({ name: 'Lego', quantity: 1 }),
    ];
    await clock.advance(20);
    await Promise.all(placed);

    await clock.advance(2_000);
    view = { ...view, replicas: [up(3, 'leader', 10), down(2), down(1)] };
    router.place = async () => {
      throw noQuorum('no follower is reachable');
    };
    const refusedAtMs = 1_000_000 + clock.now();
    for (let i = 0; i < 2; i++)
      await expect(recorder.orders.placeOrder({ name: 'Tux', quantity: 1 })).rejects.toMatchObject({
        status: 503,
        reason: 'no_quorum',
      });
    await clock.advance(1_500);

    const s = await json('?window=10');
    expect(s.leader.id).toBe(3); // what the router names...
    expect(s.banners).toEqual([
      expect.objectContaining({
        level: 'down',
        reason: 'no_quorum',
        headline: 'orders refused: no quorum',
        sinceMs: refusedAtMs,
        refused: { count: 2, status: 503, lastMs: refusedAtMs, failingSinceMs: refusedAtMs },
      }),
    ]); // ...and what it saw
    expect(s.services.map((x) => [x.name, x.state])).toEqual([
      ['catalog', 'up'],
      ['order-3', 'up'],
      ['order-2', 'down'],
      ['order-1', 'down'],
    ]);
    // the first watch (every 100 ms) after it went down
    expect(s.services.find((x) => x.name === 'order-2')!.sinceMs).toBe(1_000_000 + 2_100);

    // One point per second over a fixed 10 s window ending now: the 200s, then the 503s.
    expect(s.series.toMs - s.series.fromMs).toBe(10_000);
    expect(s.series.orders).toHaveLength(11);
    const nonEmpty = s.series.orders.filter((p) => Object.values(p.counts).some((n) => n > 0));
    expect(nonEmpty.map((p) => [p.atMs, p.counts])).toEqual([
      [1_000_000, { 200: 2, 409: 0, 503: 0, 504: 0, other: 0 }],
      [1_002_000, { 200: 0, 409: 0, 503: 2, 504: 0, other: 0 }],
    ]);
    expect(nonEmpty[0]!.p50Ms).toBeGreaterThanOrEqual(20);
    expect(nonEmpty[0]!.p50Ms).toBeLessThanOrEqual(21); // a bucket 5 % wide
    // Lag per follower (a second's worst): replica 2 was 2 behind while up, then down (no lag
    // known).
    expect(s.series.lag.find((p) => p.atMs === 1_000_000)!.lag).toEqual({ 2: 2, 1: 0 });
    // down from 2 020 ms on
    expect(s.series.lag.find((p) => p.atMs === 1_002_000)!.lag).toEqual({ 2: 2, 1: 0 });
    expect(s.series.lag.find((p) => p.atMs === 1_003_000)!.lag).toEqual({ 2: null, 1: null });
    close();
  });

  it('when the leader stops answering, then the failover is listed with how long it took and why', async () => {
    const { json, leads, clock, router, recorder, close } = setup();
    const views: Record<string, ElectionView> = {
      healthy: electionView,
      leaderDown: {
        ...electionView,
        electing: true,
        replicas: electionView.replicas.map((r) =>
          r.id === 3 ? { ...r, state: 'down', role: null, lastIndex: null } : r,
        ),
      },
    };
    let view = views.healthy!;
    router.view = () => view;
    leads(3, 7);
    await clock.advance(1_000);
    view = views.leaderDown!;
    await clock.advance(100); // the watch (every 100 ms) sees replica 3 down: the first sign
    await clock.advance(30);
    recorder.onRouterEvent({
      type: 'election',
      trigger: 'heartbeat',
      reason: 'leader 3 stopped answering heartbeats',
    });
    await clock.advance(30);
    leads(2, 8);
    await clock.advance(100);
    const s = await json();
    expect(s.failovers.at(-1)).toEqual({
      atMs: 1_001_160,
      from: 3,
      to: 2,
      epoch: 8,
      reason: 'leader 3 stopped answering heartbeats', // the router's words
      troubleSinceMs: 1_001_100,
      durationMs: 60,
      ordersResumedAfterMs: null,
    });
    close();
  });

  it("when the catalog stops answering the page's own reads, then it is shown down since then", async () => {
    const { json, catalog, clock, close } = setup();
    await json();
    await clock.advance(3_000);
    catalog.failWith = upstreamUnavailable('catalog');
    const s = await json();
    expect(s.services[0]).toEqual({
      name: 'catalog',
      state: 'down',
      sinceMs: 1_003_000,
      lastUpMs: 1_000_000,
      detail: 'catalog is unavailable',
    });
    expect(s.banners.map((b) => b.reason)).toEqual(['catalog_down']);
    close();
  });

  it('a window that is not 10 to 300 whole seconds is a 400 with the error shape', async () => {
    const { page, close } = setup();
    for (const bad of ['5', '301', 'abc', '60.5', '']) {
      const err = await expectError(await page.app.request(`/status.json?window=${bad}`), 400);
      expect(err.message).toMatch(/window must be a whole number of seconds from 10 to 300/);
    }
    expect((await page.app.request('/status.json?window=300')).status).toBe(200);
    close();
  });
});
