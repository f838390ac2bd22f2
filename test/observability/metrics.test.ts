/**
 * Prometheus metrics, in-process: after a few requests through `app.request`, each service's
 * /metrics text holds the expected series: HTTP counts and latency histograms labeled by route
 * pattern (not raw path) and status; cache hits, misses, evictions and invalidations; the
 * frontend's leader view; a replica's epoch, role, leader, log length, commit index and lag per
 * follower; catch-ups; stock per toy and restocks. The frontend's public app has no /metrics.
 */
import { Hono } from 'hono';
import { Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  catalogEventLogger,
  registerCatalogMetrics,
  restockMetrics,
} from '../../catalog/observe.ts';
import { createRestocker } from '../../catalog/restocker.ts';
import { ManualClock } from '../../shared/clock.ts';
import { createFrontendApp } from '../../frontend/app.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { ObservedProductCache, registerFrontendMetrics } from '../../frontend/observe.ts';
import {
  catchupMetrics,
  observeMeta,
  observePeers,
  observePurchaser,
  registerReplicaMetrics,
  RequestIdsByKey,
} from '../../order/observe.ts';
import type { PeerTransport } from '../../order/peers.ts';
import { MemoryMetaStore } from '../../order/meta.ts';
import type {
  AppendRequest,
  AppendResponse,
  OrderEntry,
  Product,
  ReplicaStatus,
} from '../../shared/contracts.ts';
import { NetworkError } from '../../shared/http.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { httpMetrics, observeApp } from '../../shared/observability.ts';
import { FakeCatalog, FakeRouter } from '../frontend/helpers.ts';
import { memoryLogger } from './helpers.ts';

/** The value of one series in Prometheus text, or undefined when absent. */
function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const TOYS: Product[] = ['Tux', 'Lego', 'Barbie'].map((name) => ({
  name,
  price: 10,
  quantity: 100,
}));

function frontend() {
  const { logger } = memoryLogger('frontend', 'silent');
  const catalog = new FakeCatalog(TOYS);
  const cache = new ObservedProductCache(
    { maxSize: 2, loader: (n) => catalog.getProduct(n) },
    { logger },
  );
  const router = Object.assign(new FakeRouter(), { changeCount: 1 });
  const registry = createRegistry();
  registerFrontendMetrics(registry, { cache, orders: router });
  const app = observeApp(createFrontendApp({ cache, catalog, orders: router }), {
    logger,
    registry,
  });
  const internal = observeApp(createFrontendInternalApp({ cache }), {
    logger,
    registry,
    serveMetrics: true,
  });
  const metrics = async () => {
    const res = await internal.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  return { app, internal, cache, metrics };
}

describe('frontend metrics (served on the internal app)', () => {
  it('counts requests per route pattern and status, with latency histograms', async () => {
    const f = frontend();
    await f.app.request('/products/Tux');
    await f.app.request('/products/Tux');
    await f.app.request('/products/Lego');
    await f.app.request('/products/Nope');
    await f.app.request('/no/such/thing');
    const text = await f.metrics();
    expect(
      seriesValue(
        text,
        'toystore_http_requests_total{method="GET",route="/products/:name",status="200"}',
      ),
    ).toBe(3);
    expect(
      seriesValue(
        text,
        'toystore_http_requests_total{method="GET",route="/products/:name",status="404"}',
      ),
    ).toBe(1);
    expect(
      seriesValue(
        text,
        'toystore_http_requests_total{method="GET",route="unmatched",status="404"}',
      ),
    ).toBe(1);
    // Raw paths never become labels.
    expect(text).not.toContain('route="/products/Tux"');
    expect(
      seriesValue(
        text,
        'toystore_http_request_duration_seconds_count{method="GET",route="/products/:name",status="200"}',
      ),
    ).toBe(3);
    expect(
      seriesValue(
        text,
        'toystore_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/products/:name",status="200"}',
      ),
    ).toBe(3);
    expect(text).toContain('# TYPE toystore_http_request_duration_seconds histogram');
    expect(text).toContain('# TYPE toystore_http_requests_total counter');
  });

  it('cache hits, misses, evictions, invalidations and size, read from cache.stats()', async () => {
    const f = frontend();
    for (const name of ['Tux', 'Tux', 'Lego', 'Barbie']) await f.app.request(`/products/${name}`); // cache of 2: Barbie evicts Tux
    await f.internal.request('/internal/invalidate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Lego"}',
    });
    const text = await f.metrics();
    expect(seriesValue(text, 'toystore_cache_hits_total')).toBe(1);
    expect(seriesValue(text, 'toystore_cache_misses_total')).toBe(3);
    expect(seriesValue(text, 'toystore_cache_evictions_total')).toBe(1);
    expect(seriesValue(text, 'toystore_cache_invalidations_total')).toBe(1);
    expect(seriesValue(text, 'toystore_cache_entries')).toBe(1);
    expect(seriesValue(text, 'toystore_cache_capacity')).toBe(2);
    expect(text).toContain('# TYPE toystore_cache_hits_total counter');
    // The status page's memory of it: Tux evicted, Lego invalidated.
    expect(f.cache.events().map((e) => `${e.kind} ${e.name}`)).toEqual([
      'fill Tux',
      'fill Lego',
      'evict Tux',
      'fill Barbie',
      'invalidate Lego',
    ]);
  });

  it('the leader view: leader id, epoch, changes, replicas up and their last index', async () => {
    const text = await frontend().metrics();
    expect(seriesValue(text, 'toystore_leader_id')).toBe(3);
    expect(seriesValue(text, 'toystore_epoch')).toBe(7);
    expect(seriesValue(text, 'toystore_leader_changes_total')).toBe(1);
    expect(seriesValue(text, 'toystore_replica_up{replica="3"}')).toBe(1);
    expect(seriesValue(text, 'toystore_replica_up{replica="1"}')).toBe(0);
    expect(seriesValue(text, 'toystore_replica_last_index{replica="2"}')).toBe(4);
  });

  it('the public app serves no /metrics (nor any internal route)', async () => {
    const f = frontend();
    expect((await f.app.request('/metrics')).status).toBe(404);
    expect(
      (await f.app.request('/internal/invalidate', { method: 'POST', body: '{"name":"Tux"}' }))
        .status,
    ).toBe(404);
  });
});

describe('order replica metrics', () => {
  const leaderStatus: ReplicaStatus = {
    id: 3,
    role: 'leader',
    promisedEpoch: 4,
    leaderEpoch: 4,
    leaderId: 3,
    head: { logEpoch: 4, lastIndex: 9, lastCrc: 1 },
    commitIndex: 8,
    storage: 'intact',
    established: true,
    isolated: false,
    followers: [
      { id: 2, reachable: true, matchIndex: 9, nextIndex: 10 },
      { id: 1, reachable: false, matchIndex: 5, nextIndex: 6 },
    ],
  };

  it('epoch, role, leader id, log length, commit index and lag per follower, from replica.status()', async () => {
    const { logger } = memoryLogger('order-3', 'silent');
    const registry = createRegistry();
    let status = leaderStatus;
    registerReplicaMetrics(registry, () => status);
    const inner = new Hono();
    inner.get('/internal/status', (c) => c.json({ data: status }));
    const app = observeApp(inner, { logger, registry, serveMetrics: true });
    await app.request('/internal/status');
    let text = await (await app.request('/metrics')).text();
    expect(seriesValue(text, 'toystore_order_epoch')).toBe(4);
    expect(seriesValue(text, 'toystore_order_leader_epoch')).toBe(4);
    expect(seriesValue(text, 'toystore_order_role{role="leader"}')).toBe(1);
    expect(seriesValue(text, 'toystore_order_role{role="follower"}')).toBe(0);
    expect(seriesValue(text, 'toystore_order_leader_id')).toBe(3);
    expect(seriesValue(text, 'toystore_order_log_entries')).toBe(10);
    expect(seriesValue(text, 'toystore_order_commit_index')).toBe(8);
    expect(seriesValue(text, 'toystore_order_replication_lag_orders{follower="2"}')).toBe(0);
    expect(seriesValue(text, 'toystore_order_replication_lag_orders{follower="1"}')).toBe(4);
    expect(seriesValue(text, 'toystore_order_follower_reachable{follower="1"}')).toBe(0);
    expect(
      seriesValue(
        text,
        'toystore_http_requests_total{method="GET",route="/internal/status",status="200"}',
      ),
    ).toBe(1);

    // A follower: no lag series (only a leader knows its followers), role follows the view.
    status = { ...leaderStatus, role: 'follower', leaderEpoch: null, followers: [] };
    text = await (await app.request('/metrics')).text();
    expect(seriesValue(text, 'toystore_order_role{role="follower"}')).toBe(1);
    expect(seriesValue(text, 'toystore_order_leader_epoch')).toBe(0);
    expect(text).not.toContain('toystore_order_replication_lag_orders{');
  });

  it('a catch-up is logged (from where, how many, how long) and counted; appends carry the ids of the orders in them', async () => {
    const { logger, lines } = memoryLogger('order-3');
    const registry = createRegistry();
    const ids = new RequestIdsByKey();
    const sent: Array<{ reqId: string | undefined; entries: number }> = [];
    let answer: (req: AppendRequest) => AppendResponse | Error = () =>
      new NetworkError('refused', 'http://order-2');
    const inner: PeerTransport = {
      async append(_peer, req, _timeoutMs, requestId) {
        sent.push({ reqId: requestId, entries: req.entries.length });
        const a = answer(req);
        if (a instanceof Error) throw a;
        return a;
      },
      promise: async () => {
        throw new Error('unused');
      },
      fetchLog: async () => {
        throw new Error('unused');
      },
      status: async () => {
        throw new Error('unused');
      },
      catchup: async () => {},
    };
    let clock = 1_000;
    const peers = observePeers(inner, {
      logger,
      ids,
      metrics: catchupMetrics(registry),
      now: () => clock,
    });
    const entry = (index: number, key: string): OrderEntry => ({
      index,
      epoch: 4,
      name: 'Tux',
      quantity: 1,
      key,
      crc: index + 1,
    });
    const append = (
      prevIndex: number,
      entries: OrderEntry[],
      leaderLastIndex: number,
    ): AppendRequest => ({
      epoch: 4,
      leaderId: 3,
      prevIndex,
      prevCrc: 0,
      entries,
      commitIndex: -1,
      viewStartIndex: -1,
      leaderLastIndex,
      established: true,
    });

    // The order's request placed it: the purchase carried that request's id.
    const purchaser = observePurchaser(
      { purchase: async (r) => ({ name: r.name, quantity: 99 }) },
      ids,
    );
    await purchaser.purchase({ name: 'Tux', quantity: 1, key: 'k5', epoch: 4 }, 'client-req-1');

    // Follower 2 is down: a heartbeat fails, carrying no request's id.
    await expect(peers.append(2, append(2, [], 5), 100)).rejects.toThrow();
    expect(sent.at(-1)).toEqual({ reqId: undefined, entries: 0 });
    // It comes back 3 orders behind: the leader sends orders 3..5 in two batches.
    answer = (req) => ({
      ok: true,
      matchIndex: req.prevIndex + req.entries.length,
      logEpoch: 4,
      storage: 'intact',
    });
    clock = 1_200;
    await peers.append(2, append(2, [entry(3, 'k3'), entry(4, 'k4')], 5), 100);
    expect(lines.some((l) => l.event === 'catchup')).toBe(false);
    clock = 1_250;
    await peers.append(2, append(4, [entry(5, 'k5')], 5), 100);
    expect(sent.at(-1)).toEqual({ reqId: 'client-req-1', entries: 1 });
    const done = lines.filter((l) => l.event === 'catchup');
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ follower: 2, from: 3, to: 5, orders: 3, ms: 50 });
    // In step now: a fresh order is replication, not a catch-up.
    await peers.append(2, append(5, [entry(6, 'k6')], 6), 100);
    expect(lines.filter((l) => l.event === 'catchup')).toHaveLength(1);

    const text = await registry.metrics();
    expect(seriesValue(text, 'toystore_order_catchups_total{follower="2"}')).toBe(1);
    expect(seriesValue(text, 'toystore_order_catchup_orders_total{follower="2"}')).toBe(3);
  });

  it('an epoch change is logged once it is durable', async () => {
    const { logger, lines } = memoryLogger('order-1');
    const meta = observeMeta(new MemoryMetaStore(), logger);
    await meta.save({ promisedEpoch: 1, votedFor: 3, logEpoch: 0, storage: 'intact' });
    await meta.save({ promisedEpoch: 1, votedFor: 3, logEpoch: 1, storage: 'intact' });
    await meta.save({ promisedEpoch: 2, votedFor: 2, logEpoch: 1, storage: 'intact' });
    expect(lines.filter((l) => l.event === 'epoch_change').map((l) => [l.from, l.to])).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });
});

describe('catalog metrics', () => {
  it('stock per toy from store.list(), restocks per toy, and a line per restock', async () => {
    const { logger, lines } = memoryLogger('catalog');
    const registry = createRegistry();
    const stock = new Map([
      ['Tux', 0],
      ['Lego', 3],
      ['Barbie', 0],
    ]);
    const store = {
      list: () => [...stock].map(([name, quantity]) => ({ name, price: 1, quantity })),
      restockEmpty: async () => {
        const names = [...stock].filter(([, q]) => q === 0).map(([n]) => n);
        for (const n of names) stock.set(n, 100);
        return names;
      },
    };
    registerCatalogMetrics(registry, store);
    const log = catalogEventLogger(logger);
    const count = restockMetrics(registry);
    const restocking = createRestocker({
      store,
      clock: new ManualClock(),
      intervalMs: 1_000,
      onEvent: (e) => (log(e), count(e)),
    });
    let text = await registry.metrics();
    expect(seriesValue(text, 'toystore_catalog_stock{toy="Tux"}')).toBe(0);
    expect(seriesValue(text, 'toystore_catalog_stock{toy="Lego"}')).toBe(3);
    expect(await restocking.tick()).toEqual(['Tux', 'Barbie']);
    expect(await restocking.tick()).toEqual([]);
    text = await registry.metrics();
    expect(seriesValue(text, 'toystore_catalog_stock{toy="Tux"}')).toBe(100);
    expect(seriesValue(text, 'toystore_catalog_restocks_total{toy="Tux"}')).toBe(1);
    expect(seriesValue(text, 'toystore_catalog_restocks_total{toy="Barbie"}')).toBe(1);
    expect(text).not.toContain('toystore_catalog_restocks_total{toy="Lego"}');
    expect(lines.filter((l) => l.event === 'restock')).toEqual([
      expect.objectContaining({ toys: ['Tux', 'Barbie'] }),
    ]);
  });
});

describe('one name, one kind of metric', () => {
  it('a registry already holding a gauge under the request counter name is refused when the HTTP metrics are made, not on the first request', () => {
    const registry = createRegistry();
    new Gauge({ name: 'toystore_http_requests_total', help: 'wrong kind', registers: [registry] });
    expect(() => httpMetrics(registry)).toThrow(
      'metric toystore_http_requests_total is already registered as a Gauge, not a SeriesCounter',
    );
  });

  it('two apps on one registry share the same counter and histogram', () => {
    const registry = createRegistry();
    const a = httpMetrics(registry);
    const b = httpMetrics(registry);
    expect(b.requests).toBe(a.requests);
    expect(b.duration).toBe(a.duration);
    expect(b.inFlight).toBe(a.inFlight);
  });
});
