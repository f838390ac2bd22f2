/**
 * The client's run logic against an in-process fake store: order placement and read-back,
 * per-type stats, which failures are retried (only when the order certainly was not taken) and
 * which are recorded as unknown, mismatch detection, and seed determinism. No sockets, no sleeps
 * (retry delays are zero).
 */
import { describe, expect, it } from 'vitest';
import { formatReport, mulberry32, percentile, runClients, summarize, type RunClientsOptions } from '../../scripts/client-lib.ts';
import type { HttpClient } from '../../shared/http.ts';
import { BASE, createFakeStore, errorResponse, faultyHttp, type FakeStoreOptions } from './fake-store.ts';

const NO_DELAY = { minTimeout: 0 };

function run(http: HttpClient, opts: Partial<RunClientsOptions> = {}) {
  return runClients({ baseUrl: BASE, clients: 1, iterations: 1, p: 1, seed: 7, retry: NO_DELAY, http: () => http, ...opts });
}

function store(opts: FakeStoreOptions = {}) {
  return createFakeStore(opts);
}

describe('runClients: happy path', () => {
  it('with p=1 places an order per query and reads every one back with no mismatch', async () => {
    const s = store();
    const r = await run(s.http, { clients: 3, iterations: 10 });

    expect(r.orders).toEqual({ acknowledged: 30, rejected: 0, unknown: 0, failed: 0 });
    expect(r.mismatches).toEqual([]);
    expect(r.verified).toBe(30);
    expect(r.unverified).toBe(0);
    expect(s.orders).toHaveLength(30);
    for (const a of r.acknowledgedOrders) {
      expect(s.orders[a.order_number]).toEqual({ number: a.order_number, name: a.name, quantity: a.quantity });
      expect(a.quantity).toBeGreaterThanOrEqual(1);
      expect(a.quantity).toBeLessThanOrEqual(5);
    }
    expect(new Set(r.acknowledgedOrders.map((a) => a.order_number)).size).toBe(30);
    expect(s.counts.list).toBe(1);
    expect(r.products).toEqual(['Fox', 'Tux', 'Whale']);
  });

  it('counts each request type, with latencies, and no failures', async () => {
    const s = store();
    const r = await run(s.http, { clients: 4, iterations: 5 });

    for (const t of ['query', 'order', 'order_query'] as const) {
      const st = r.stats[t];
      expect(st.count, t).toBe(20);
      expect(st.attempts, t).toBe(20);
      expect(st.failures, t).toBe(0);
      expect(st.rejected, t).toBe(0);
      expect(st.p50, t).not.toBeNull();
      expect(st.p50!).toBeGreaterThanOrEqual(0);
      expect(st.p95!).toBeGreaterThanOrEqual(st.p50!);
      expect(st.p99!).toBeGreaterThanOrEqual(st.p95!);
    }
    expect(s.counts).toMatchObject({ query: 20, orderPosts: 20, orderQueries: 20 });
  });

  it('with p=0 queries but places no orders', async () => {
    const s = store();
    const r = await run(s.http, { clients: 2, iterations: 15, p: 0 });

    expect(r.stats.query.count).toBe(30);
    expect(r.stats.order.count).toBe(0);
    expect(r.stats.order_query.count).toBe(0);
    expect(r.stats.order.p50).toBeNull();
    expect(s.counts.orderPosts).toBe(0);
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 0, failed: 0 });
  });

  it('counts 409 as rejected, not as a failure, and does not order a sold-out toy', async () => {
    const s = store({ stock: { Tux: 3 } });
    const r = await run(s.http, { iterations: 20 });

    expect(r.orders.rejected).toBe(s.counts.rejected);
    expect(r.stats.order.rejected).toBe(s.counts.rejected);
    expect(r.stats.order.failures).toBe(0);
    expect(r.orders.acknowledged + r.orders.rejected).toBe(r.stats.order.count);
    expect(s.products.get('Tux')!.quantity).toBe(3 - r.acknowledgedOrders.reduce((n, a) => n + a.quantity, 0));
    // Once the stock is 0, queries go on but no more orders are sent.
    if (s.products.get('Tux')!.quantity === 0) expect(r.stats.order.count).toBeLessThan(20);
    expect(r.mismatches).toEqual([]);
  });
});

describe('runClients: retries', () => {
  it('retries an order answered 503 twice, then acknowledged once', async () => {
    const s = store({ onOrder: (n) => (n <= 2 ? errorResponse(503, 'no leader', { 'Retry-After': '1' }) : undefined) });
    const r = await run(s.http);

    expect(s.counts.orderPosts).toBe(3);
    expect(s.orders).toHaveLength(1);
    expect(r.orders).toEqual({ acknowledged: 1, rejected: 0, unknown: 0, failed: 0 });
    expect(r.stats.order).toMatchObject({ count: 1, attempts: 3, failures: 0 });
    expect(r.acknowledgedOrders).toHaveLength(1);
    expect(r.mismatches).toEqual([]);
  });

  it('retries an order whose connection was refused (never delivered)', async () => {
    const s = store();
    const http = faultyHttp(s.http, (req, posts) => (req.method === 'POST' && posts <= 2 ? 'refused' : undefined));
    const r = await run(http);

    expect(s.counts.orderPosts).toBe(1);
    expect(r.stats.order).toMatchObject({ count: 1, attempts: 3, failures: 0, unknown: 0 });
    expect(r.orders.acknowledged).toBe(1);
    expect(r.verified).toBe(1);
  });

  it.each(['reset-after', 'timeout-after'] as const)('does not retry an order that failed with %s, and records it as unknown', async (fault) => {
    const s = store();
    const http = faultyHttp(s.http, (req, posts) => (req.method === 'POST' && posts === 1 ? fault : undefined));
    const r = await run(http);

    expect(s.counts.orderPosts).toBe(1);
    expect(s.orders).toHaveLength(1); // the store did take it: a retry would have bought twice
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 1, failed: 0 });
    expect(r.stats.order).toMatchObject({ count: 1, attempts: 1, failures: 0, unknown: 1 });
    expect(r.unknownOrders).toEqual([{ client: 0, iteration: 0, name: s.orders[0]!.name, quantity: s.orders[0]!.quantity, reason: `network ${fault.replace('-after', '')}` }]);
    expect(r.stats.order_query.count).toBe(0);
    expect(r.mismatches).toEqual([]);
  });

  it('does not retry an order answered 504 outcome_unknown, and records it as unknown', async () => {
    const s = store({ onOrder: (n) => (n === 1 ? errorResponse(504, 'order outcome unknown: timeout') : undefined) });
    const r = await run(s.http, { iterations: 3 });

    expect(r.orders.unknown).toBe(1);
    expect(r.stats.order.unknown).toBe(1);
    expect(s.counts.orderPosts).toBe(r.stats.order.count); // one POST per order, none repeated
    expect(r.stats.order.attempts).toBe(r.stats.order.count);
    expect(r.unknownOrders[0]!.reason).toContain('HTTP 504');
    expect(r.failureReasons).toMatchObject({ 'order unknown: HTTP 504 (order outcome unknown: timeout)': 1 });
  });

  it('gives up on an order after the retries when the store keeps answering 503, and counts a failure', async () => {
    const s = store({ onOrder: () => errorResponse(503, 'no quorum') });
    const r = await run(s.http, { retry: { minTimeout: 0, retries: 3 } });

    expect(s.counts.orderPosts).toBe(4);
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 0, failed: 1 });
    expect(r.stats.order).toMatchObject({ count: 1, attempts: 4, failures: 1 });
  });

  it('retries a query on 503 and on any network error', async () => {
    const s = store({ onQuery: (n) => (n === 1 ? errorResponse(503, 'busy') : undefined) });
    const http = faultyHttp(s.http, (req) => (req.method === 'GET' && req.url.includes('/products/') && s.counts.query === 1 ? 'timeout-after' : undefined));
    const r = await run(http, { p: 0, iterations: 2 });

    expect(r.stats.query.count).toBe(2);
    expect(r.stats.query.failures).toBe(0);
    expect(r.stats.query.attempts).toBe(4);
  });

  it('counts a query that fails on every attempt as a failure and places no order for it', async () => {
    const s = store({ onQuery: () => errorResponse(503, 'catalog down') });
    const r = await run(s.http, { iterations: 2, retry: { minTimeout: 0, retries: 1 } });

    expect(r.stats.query).toMatchObject({ count: 2, attempts: 4, failures: 2 });
    expect(r.stats.order.count).toBe(0);
    expect(r.failureReasons).toEqual({ 'query HTTP 503 (retries exhausted)': 2 });
  });
});

describe('runClients: read-back checks', () => {
  it('reports a mismatch when the store reads an order back with a different quantity', async () => {
    const s = store({ onOrderQuery: (o) => (o ? Response.json({ data: { ...o, quantity: o.quantity + 1 } }) : undefined) });
    const r = await run(s.http, { iterations: 4 });

    expect(r.orders.acknowledged).toBe(4);
    expect(r.verified).toBe(0);
    expect(r.mismatches).toHaveLength(4);
    for (const m of r.mismatches) {
      expect(m.kind).toBe('different');
      expect(m.message).toMatch(/acknowledged as \d x \w+ but reads back as number \d+, \d x \w+/);
    }
  });

  it('reports a mismatch when an acknowledged order reads back as 404', async () => {
    const s = store({ onOrderQuery: () => errorResponse(404, 'order not found') });
    const r = await run(s.http, { iterations: 2 });

    expect(r.mismatches.map((m) => m.kind)).toEqual(['missing', 'missing']);
    expect(r.stats.order_query.failures).toBe(0);
  });

  it('reports two acknowledged orders sharing a number', async () => {
    const s = store({ orderNumber: () => 0 });
    const r = await run(s.http, { clients: 2, iterations: 2 });

    const dup = r.mismatches.filter((m) => m.kind === 'duplicate');
    expect(dup).toHaveLength(1);
    expect(dup[0]!.order_number).toBe(0);
    expect(dup[0]!.expected).toHaveLength(4);
  });

  it('counts a read-back that cannot be done as unverified, not as a mismatch', async () => {
    const s = store({ onOrderQuery: () => errorResponse(503, 'no replica') });
    const r = await run(s.http, { iterations: 2, retry: { minTimeout: 0, retries: 1 } });

    expect(r.mismatches).toEqual([]);
    expect(r.unverified).toBe(2);
    expect(r.stats.order_query).toMatchObject({ count: 2, attempts: 4, failures: 2 });
  });
});

describe('runClients: seeds, transports, setup', () => {
  it('makes the same choices with the same seed, and reports the seed', async () => {
    const strip = (r: Awaited<ReturnType<typeof run>>) => r.acknowledgedOrders.map(({ client, iteration, name, quantity }) => ({ client, iteration, name, quantity }));
    const a = await run(store().http, { clients: 3, iterations: 20, p: 0.5, seed: 42 });
    const b = await run(store().http, { clients: 3, iterations: 20, p: 0.5, seed: 42 });
    const c = await run(store().http, { clients: 3, iterations: 20, p: 0.5, seed: 43 });

    expect(a.seed).toBe(42);
    expect(strip(a).length).toBeGreaterThan(0);
    expect(strip(b)).toEqual(strip(a));
    expect(b.stats.order.count).toBe(a.stats.order.count);
    expect(strip(c)).not.toEqual(strip(a));
  });

  it('picks and reports a random seed when none is given', async () => {
    const r = await runClients({ baseUrl: BASE, clients: 1, iterations: 1, p: 0, retry: NO_DELAY, http: () => store().http });
    expect(Number.isInteger(r.seed)).toBe(true);
  });

  it('makes one transport per client and closes each one', async () => {
    const s = store();
    const made: number[] = [];
    let closed = 0;
    const r = await runClients({
      baseUrl: `${BASE}/`,
      clients: 3,
      iterations: 2,
      p: 1,
      retry: NO_DELAY,
      http: (id) => {
        made.push(id);
        return Object.assign((req: Parameters<HttpClient>[0]) => s.http(req), { close: async () => void closed++ });
      },
    });
    expect(made).toEqual([0, 1, 2]);
    expect(closed).toBe(3);
    expect(r.baseUrl).toBe(BASE);
    expect(r.mismatches).toEqual([]);
  });

  it('fails clearly when the product list cannot be read, and still closes the transports', async () => {
    let closed = 0;
    const down = Object.assign(async () => ({ status: 503, headers: {}, body: { error: { code: 503, message: 'down' } } }), { close: async () => void closed++ });
    await expect(runClients({ baseUrl: BASE, clients: 2, iterations: 1, p: 1, retry: { minTimeout: 0, retries: 1 }, http: () => down })).rejects.toThrow(/cannot list products at http:\/\/store.test: HTTP 503/);
    expect(closed).toBe(2);
  });

  it('rejects bad options', async () => {
    const s = store();
    await expect(run(s.http, { clients: 0 })).rejects.toThrow(/clients/);
    await expect(run(s.http, { p: 1.5 })).rejects.toThrow(/p must be/);
    await expect(run(s.http, { seed: -1 })).rejects.toThrow(/seed/);
  });
});

describe('helpers', () => {
  it('mulberry32 is deterministic and in [0, 1)', () => {
    const a = mulberry32(1);
    const b = mulberry32(1);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  it('percentile uses nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 0.5)).toBe(50);
    expect(percentile(xs, 0.95)).toBe(95);
    expect(percentile(xs, 0.99)).toBe(99);
    expect(percentile([3], 0.99)).toBe(3);
    expect(percentile([], 0.5)).toBeNull();
  });

  it('formatReport shows a row per request type, order outcomes and each mismatch', async () => {
    const s = store({ onOrderQuery: () => errorResponse(404, 'order not found') });
    const text = formatReport(summarize(await run(s.http, { iterations: 2 })));
    for (const t of ['query', 'order', 'order_query']) expect(text).toMatch(new RegExp(`^${t}\\s+\\d+`, 'm'));
    expect(text).toContain('orders: 2 acknowledged, 0 rejected (409), 0 unknown outcome, 0 failed');
    expect(text).toContain('2 mismatches');
    expect(text.match(/\[missing\]/g)).toHaveLength(2);
  });
});
