/**
 * The client's run logic against an in-process fake store: order placement and read-back,
 * per-type stats, which failures are retried (only when the order certainly was not taken) and
 * which are recorded as unknown, mismatch detection, and seed determinism; idempotency keys
 * (one per intended order, reused on every retry, which makes unknown outcomes retryable), the
 * recorded history (one invoke and one completion per operation), and time-bounded runs. No
 * sockets, no sleeps (retry delays are zero).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatProgress,
  formatReport,
  LatencyHistogram,
  mulberry32,
  openHistoryFile,
  runClients,
  summarize,
  type Progress,
  type RunClientsOptions,
} from '../../scripts/lib/client/index.ts';
import { HistoryEventSchema, type HistoryEvent } from '../../shared/contracts.ts';
import type { HttpClient } from '../../shared/http.ts';
import {
  BASE,
  createFakeStore,
  errorResponse,
  faultyHttp,
  type FakeStoreOptions,
} from './fake-store.ts';

const NO_DELAY = { minTimeout: 0 };

function run(http: HttpClient, opts: Partial<RunClientsOptions> = {}) {
  return runClients({
    baseUrl: BASE,
    clients: 1,
    iterations: 1,
    p: 1,
    seed: 7,
    retry: NO_DELAY,
    http: () => http,
    ...opts,
  });
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
      expect(s.orders[a.order_number]).toEqual({
        number: a.order_number,
        name: a.name,
        quantity: a.quantity,
      });
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
    expect(s.products.get('Tux')!.quantity).toBe(
      3 - r.acknowledgedOrders.reduce((n, a) => n + a.quantity, 0),
    );
    // Once the stock is 0, queries go on but no more orders are sent.
    if (s.products.get('Tux')!.quantity === 0) expect(r.stats.order.count).toBeLessThan(20);
    expect(r.mismatches).toEqual([]);
  });
});

describe('runClients: retries', () => {
  it('retries an order answered 503 twice, then acknowledged once', async () => {
    const s = store({
      onOrder: (n) =>
        n <= 2 ? errorResponse(503, 'no leader', { 'Retry-After': '1' }) : undefined,
    });
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
    const http = faultyHttp(s.http, (req, posts) =>
      req.method === 'POST' && posts <= 2 ? 'refused' : undefined,
    );
    const r = await run(http);

    expect(s.counts.orderPosts).toBe(1);
    expect(r.stats.order).toMatchObject({ count: 1, attempts: 3, failures: 0, unknown: 0 });
    expect(r.orders.acknowledged).toBe(1);
    expect(r.verified).toBe(1);
  });

  it.each(['reset-after', 'timeout-after'] as const)(
    'without idempotency, does not retry an order that failed with %s, and records it as unknown',
    async (fault) => {
      const s = store();
      const http = faultyHttp(s.http, (req, posts) =>
        req.method === 'POST' && posts === 1 ? fault : undefined,
      );
      const r = await run(http, { idempotency: false });

      expect(s.counts.orderPosts).toBe(1);
      expect(s.orders).toHaveLength(1); // the store did take it: a retry would have bought twice
      expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 1, failed: 0 });
      expect(r.stats.order).toMatchObject({ count: 1, attempts: 1, failures: 0, unknown: 1 });
      expect(r.unknownOrders).toEqual([
        {
          client: 0,
          iteration: 0,
          name: s.orders[0]!.name,
          quantity: s.orders[0]!.quantity,
          key: null,
          reason: `network ${fault.replace('-after', '')}`,
        },
      ]);
      expect(s.keysSeen).toEqual([null]);
      expect(r.stats.order_query.count).toBe(0);
      expect(r.mismatches).toEqual([]);
    },
  );

  it('without idempotency, does not retry an order answered 504 outcome_unknown, and records it as unknown', async () => {
    const s = store({
      onOrder: (n) => (n === 1 ? errorResponse(504, 'order outcome unknown: timeout') : undefined),
    });
    const r = await run(s.http, { iterations: 3, idempotency: false });

    expect(r.orders.unknown).toBe(1);
    expect(r.stats.order.unknown).toBe(1);
    expect(s.counts.orderPosts).toBe(r.stats.order.count); // one POST per order, none repeated
    expect(r.stats.order.attempts).toBe(r.stats.order.count);
    expect(r.unknownOrders[0]!.reason).toContain('HTTP 504');
    expect(r.failureReasons).toMatchObject({
      'order unknown: HTTP 504 (order outcome unknown: timeout)': 1,
    });
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
    const http = faultyHttp(s.http, (req) =>
      req.method === 'GET' && req.url.includes('/products/') && s.counts.query === 1
        ? 'timeout-after'
        : undefined,
    );
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

/** Checks the history is well formed and returns its completions by op id. */
function completions(
  events: HistoryEvent[],
): Map<number, { invoke: HistoryEvent; done: HistoryEvent }> {
  const out = new Map<number, { invoke: HistoryEvent; done: HistoryEvent }>();
  const open = new Map<number, HistoryEvent>();
  let last = -Infinity;
  for (const e of events) {
    expect(HistoryEventSchema.parse(e)).toEqual(e);
    expect(e.timeMs).toBeGreaterThanOrEqual(last);
    last = e.timeMs;
    if (e.type === 'invoke') {
      expect(open.has(e.op) || out.has(e.op), `op ${e.op} invoked twice`).toBe(false);
      open.set(e.op, e);
      continue;
    }
    const inv = open.get(e.op);
    expect(inv, `completion of op ${e.op} without an open invoke`).toBeDefined();
    expect({ client: e.client, f: e.f, key: e.key, request: e.request }).toEqual({
      client: inv!.client,
      f: inv!.f,
      key: inv!.key,
      request: inv!.request,
    });
    open.delete(e.op);
    out.set(e.op, { invoke: inv!, done: e });
  }
  expect([...open.keys()], 'operations left without a completion').toEqual([]);
  return out;
}

describe('runClients: idempotency keys', () => {
  it('sends one fresh key per intended order', async () => {
    const s = store();
    const r = await run(s.http, { clients: 2, iterations: 5 });
    expect(r.idempotency).toBe(true);
    expect(s.keysSeen).toHaveLength(10);
    expect(s.keysSeen.every((k) => typeof k === 'string' && k.length > 0)).toBe(true);
    expect(new Set(s.keysSeen).size).toBe(10);
    expect(r.acknowledgedOrders.map((a) => a.key).sort()).toEqual([...s.keysSeen].sort());
  });

  it('uses makeKey when given', async () => {
    const s = store();
    await run(s.http, { clients: 2, iterations: 2, makeKey: (c, i) => `k-${c}-${i}` });
    expect([...s.keysSeen].sort()).toEqual(['k-0-0', 'k-0-1', 'k-1-0', 'k-1-1']);
  });

  it.each(['reset-after', 'timeout-after'] as const)(
    'retries an order that failed with %s under the same key; the store replays it, so it is bought once',
    async (fault) => {
      const s = store();
      const http = faultyHttp(s.http, (req, posts) =>
        req.method === 'POST' && posts === 1 ? fault : undefined,
      );
      const r = await run(http);

      expect(s.counts.orderPosts).toBe(2);
      expect(s.keysSeen[0]).toBe(s.keysSeen[1]);
      expect(s.orders).toHaveLength(1);
      expect(s.counts.replays).toBe(1);
      expect(r.orders).toEqual({ acknowledged: 1, rejected: 0, unknown: 0, failed: 0 });
      expect(r.stats.order).toMatchObject({ count: 1, attempts: 2, unknown: 0, replayed: 1 });
      expect(r.acknowledgedOrders[0]!.order_number).toBe(0);
      expect(r.verified).toBe(1);
    },
  );

  it('retries an order answered 504 (or 500) with the same key', async () => {
    const s = store({
      onOrder: (n) =>
        n === 1
          ? errorResponse(504, 'order outcome unknown')
          : n === 2
            ? errorResponse(500, 'boom')
            : undefined,
    });
    const r = await run(s.http);

    expect(s.counts.orderPosts).toBe(3);
    expect(new Set(s.keysSeen).size).toBe(1);
    expect(r.orders.acknowledged).toBe(1);
    expect(r.orders.unknown).toBe(0);
  });

  it('records an order unknown only when the retries run out, with the last answer as the reason', async () => {
    const s = store({ onOrder: () => errorResponse(504, 'order outcome unknown') });
    const r = await run(s.http, { retry: { minTimeout: 0, retries: 2 } });

    expect(s.counts.orderPosts).toBe(3);
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 1, failed: 0 });
    expect(r.unknownOrders[0]).toMatchObject({
      key: s.keysSeen[0],
      reason: 'HTTP 504 (order outcome unknown) after 3 attempts',
    });
  });

  it('when a 503 follows an attempt whose outcome was unknown, keeps the order unknown and reports a store violation', async () => {
    // The first attempt may have committed; the store promised "503: certainly not taken".
    const s = store({ onOrder: () => errorResponse(503, 'no quorum', {}, 'no_quorum') });
    const http = faultyHttp(s.http, (req, posts) =>
      req.method === 'POST' && posts === 1 ? 'timeout-after' : undefined,
    );
    const events: HistoryEvent[] = [];
    const r = await run(http, {
      retry: { minTimeout: 0, retries: 2 },
      history: (e) => events.push(e),
    });

    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 1, failed: 0 });
    expect(r.storeViolationCount).toBe(1);
    expect(r.storeViolations[0]).toMatchObject({
      kind: 'definite-after-unknown',
      key: s.keysSeen[0],
    });
    const done = events.find((e) => e.f === 'order' && e.type !== 'invoke')!;
    expect(done.type).toBe('info');
    expect(done.attempts).toEqual([
      { status: null, reason: 'network timeout', uncertain: true },
      { status: 503, reason: 'no_quorum', uncertain: false },
      { status: 503, reason: 'no_quorum', uncertain: false },
    ]);
  });

  it('when the store later acknowledges an order it answered 503 after an unknown attempt, records ok and still reports the 503', async () => {
    // Issue 9 item 2: 503 no_quorum for K, then 200 order_number 5 for the same key.
    const s = store({
      onOrder: (n) => (n === 2 ? errorResponse(503, 'no quorum', {}, 'no_quorum') : undefined),
    });
    const http = faultyHttp(s.http, (req, posts) =>
      req.method === 'POST' && posts === 1 ? 'reset-after' : undefined,
    );
    const r = await run(http, { retry: { minTimeout: 0, retries: 3 } });

    expect(r.orders).toEqual({ acknowledged: 1, rejected: 0, unknown: 0, failed: 0 });
    expect(r.storeViolationCount).toBe(1);
    expect(summarize(r).storeViolations).toHaveLength(1);
    expect(formatReport(summarize(r))).toMatch(
      /STORE VIOLATIONS \(1\):\n {2}\[definite-after-unknown\] .*network reset -> 503 no_quorum -> 200/,
    );
  });

  it('takes a 4xx about the key as final (no retry) when no earlier attempt was unknown', async () => {
    const s = store({
      onOrder: () =>
        errorResponse(422, 'key reused with a different body', {}, 'idempotency_key_reused'),
    });
    const r = await run(s.http);

    expect(s.counts.orderPosts).toBe(1);
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 0, failed: 1 });
    expect(r.failureReasons).toEqual({ 'order HTTP 422 (key reused with a different body)': 1 });
    expect(r.storeViolationCount).toBe(0);
  });

  it('never ends an order failed on a 4xx that follows an unknown attempt: unknown, and a store violation', async () => {
    const s = store({
      onOrder: (n) =>
        n === 1
          ? errorResponse(504, 'unknown')
          : errorResponse(422, 'key reused with a different body'),
    });
    const events: HistoryEvent[] = [];
    const r = await run(s.http, { history: (e) => events.push(e) });

    expect(s.counts.orderPosts).toBe(2);
    expect(r.orders).toEqual({ acknowledged: 0, rejected: 0, unknown: 1, failed: 0 });
    expect(r.storeViolations.map((v) => v.kind)).toEqual(['definite-after-unknown']);
    expect(events.filter((e) => e.f === 'order' && e.type === 'fail')).toEqual([]);
  });

  it('takes a stock refusal after an unknown attempt as the definite outcome it is (fail, no violation)', async () => {
    // The refusal is what the catalog's ledger holds for the key; a replay gives it again.
    const s = store({
      stock: { Tux: 0, Fox: 1000 },
      onOrder: (n) => (n === 1 ? errorResponse(504, 'unknown') : undefined),
    });
    const r = await run(s.http, { p: 1, iterations: 20, makeKey: (c, i) => `k-${c}-${i}` });

    expect(r.orders.unknown).toBe(0);
    expect(r.storeViolationCount).toBe(0);
  });

  it('retries a 409 request_in_progress (the first attempt is still running) instead of counting it rejected', async () => {
    const s = store({
      onOrder: (n) =>
        n === 1 ? errorResponse(409, 'still in progress', {}, 'request_in_progress') : undefined,
    });
    const r = await run(s.http);

    expect(s.counts.orderPosts).toBe(2);
    expect(r.orders).toEqual({ acknowledged: 1, rejected: 0, unknown: 0, failed: 0 });
    expect(r.storeViolationCount).toBe(0);
  });

  it('with idempotency off sends no key', async () => {
    const s = store();
    const r = await run(s.http, { iterations: 3, idempotency: false });
    expect(r.idempotency).toBe(false);
    expect(s.keysSeen).toEqual([null, null, null]);
    expect(r.acknowledgedOrders.every((a) => a.key === null)).toBe(true);
  });
});

describe('runClients: history', () => {
  it('records one invoke and one completion per operation, in time order', async () => {
    const s = store({ stock: { Tux: 4, Fox: 1000 } });
    const events: HistoryEvent[] = [];
    const r = await run(s.http, { clients: 3, iterations: 10, history: (e) => events.push(e) });
    const ops = [...completions(events).values()];

    const byF = (f: string) => ops.filter((o) => o.invoke.f === f);
    expect(byF('query')).toHaveLength(r.stats.query.count);
    expect(byF('order')).toHaveLength(r.stats.order.count);
    expect(byF('read')).toHaveLength(r.stats.order_query.count);
    expect(events).toHaveLength(2 * ops.length);
    // Op ids are unique across clients.
    expect(new Set(ops.map((o) => o.invoke.op)).size).toBe(ops.length);

    for (const o of byF('order')) {
      expect(o.invoke.request).toEqual({ name: expect.any(String), quantity: expect.any(Number) });
      expect(o.invoke.key).toEqual(expect.any(String));
      expect(o.invoke.response).toBeNull();
      if (o.done.type === 'ok') {
        expect(o.done.response).toEqual({
          status: 200,
          body: { data: { order_number: expect.any(Number) } },
        });
      } else {
        expect(o.done.type).toBe('fail');
        expect(o.done.response?.status).toBe(409);
      }
    }
    expect(byF('order').filter((o) => o.done.type === 'ok')).toHaveLength(r.orders.acknowledged);
    expect(byF('order').filter((o) => o.done.type === 'fail')).toHaveLength(r.orders.rejected);
    for (const o of byF('query')) {
      expect(o.invoke.key).toBeNull();
      expect(o.done).toMatchObject({ type: 'ok', response: { status: 200 } });
    }
    for (const o of byF('read')) {
      expect(o.invoke.request).toEqual({ order_number: expect.any(Number) });
      expect(o.done).toMatchObject({ type: 'ok', response: { status: 200 } });
    }
  });

  it('records a retried order once, with its final answer', async () => {
    const s = store({ onOrder: (n) => (n <= 2 ? errorResponse(503, 'no leader') : undefined) });
    const events: HistoryEvent[] = [];
    await run(s.http, { history: (e) => events.push(e) });
    const orders = events.filter((e) => e.f === 'order');
    expect(orders.map((e) => e.type)).toEqual(['invoke', 'ok']);
    expect(orders[1]!.response?.status).toBe(200);
  });

  it.each([
    [
      '503 on every attempt',
      { onOrder: () => errorResponse(503, 'no quorum') },
      undefined,
      'fail',
      503,
    ],
    [
      '404 unknown toy',
      { onOrder: () => errorResponse(404, 'no such toy') },
      undefined,
      'fail',
      404,
    ],
    ['400', { onOrder: () => errorResponse(400, 'bad') }, undefined, 'fail', 400],
    [
      '504 until the retries run out',
      { onOrder: () => errorResponse(504, 'unknown') },
      undefined,
      'info',
      504,
    ],
    ['a reset on every attempt', {}, 'reset-after', 'info', null],
  ] as const)(
    'records an order answered with %s as %s',
    async (_what, storeOpts, fault, type, status) => {
      const s = store(storeOpts);
      const http = fault
        ? faultyHttp(s.http, (req) => (req.method === 'POST' ? fault : undefined))
        : s.http;
      const events: HistoryEvent[] = [];
      await run(http, { history: (e) => events.push(e), retry: { minTimeout: 0, retries: 2 } });
      const done = events.filter((e) => e.f === 'order' && e.type !== 'invoke');
      expect(done).toHaveLength(1);
      expect(done[0]!.type).toBe(type);
      expect(done[0]!.response?.status ?? null).toBe(status);
    },
  );

  it('records a query answered 404 as ok, and one that gets no answer as info', async () => {
    const s = store({ onQuery: (n) => (n === 1 ? errorResponse(404, 'no such toy') : undefined) });
    const http = faultyHttp(s.http, (req) =>
      req.method === 'GET' && req.url.includes('/products/') && s.counts.query >= 1
        ? 'refused'
        : undefined,
    );
    const events: HistoryEvent[] = [];
    await run(http, {
      p: 0,
      iterations: 2,
      history: (e) => events.push(e),
      retry: { minTimeout: 0, retries: 1 },
    });
    expect(
      events
        .filter((e) => e.type !== 'invoke')
        .map((e) => [e.f, e.type, e.response?.status ?? null]),
    ).toEqual([
      ['query', 'ok', 404],
      ['query', 'info', null],
    ]);
  });

  it('measures time from timeOrigin', async () => {
    const events: HistoryEvent[] = [];
    await run(store().http, {
      history: (e) => events.push(e),
      timeOrigin: performance.now() - 60_000,
    });
    expect(events[0]!.timeMs).toBeGreaterThanOrEqual(60_000);
  });

  it('writes JSON lines with openHistoryFile', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-history-'));
    try {
      const file = await openHistoryFile(path.join(dir, 'h.jsonl'));
      await run(store().http, { clients: 2, iterations: 3, history: file.write });
      await file.close();
      const lines = (await fs.readFile(file.path, 'utf8')).trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(12);
      completions(lines.map((l) => JSON.parse(l) as HistoryEvent));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('runClients: bounds', () => {
  it('with only durationMs, runs until it passes and then reads back', async () => {
    const s = store();
    const r = await run(s.http, { iterations: undefined, durationMs: 30, thinkMs: 1, clients: 2 });
    expect(r.iterations).toBeNull();
    expect(r.timeLimitMs).toBe(30);
    expect(r.stats.query.count).toBeGreaterThan(0);
    expect(r.verified).toBe(r.orders.acknowledged);
  });

  it('stops starting iterations once the signal is aborted', async () => {
    const s = store();
    const stop = new AbortController();
    const r = await run(s.http, {
      iterations: undefined,
      signal: stop.signal,
      history: (e) => e.f === 'order' && e.type === 'ok' && e.op >= 20 && stop.abort(),
    });
    expect(stop.signal.aborted).toBe(true);
    expect(r.orders.acknowledged).toBeGreaterThan(0);
  });

  it('awaits beforeReadBack after the clients and before the read-back', async () => {
    const s = store();
    let seen: { orderPosts: number; orderQueries: number } | null = null;
    await run(s.http, { iterations: 4, beforeReadBack: async () => void (seen = { ...s.counts }) });
    expect(seen).toMatchObject({ orderPosts: 4, orderQueries: 0 });
    expect(s.counts.orderQueries).toBe(4);
  });

  it('needs some bound', async () => {
    await expect(run(store().http, { iterations: undefined })).rejects.toThrow(/bound/);
    await expect(run(store().http, { durationMs: -1 })).rejects.toThrow(/durationMs/);
  });
});

describe('runClients: read-back checks', () => {
  it('reports a mismatch when the store reads an order back with a different quantity', async () => {
    const s = store({
      onOrderQuery: (o) =>
        o ? Response.json({ data: { ...o, quantity: o.quantity + 1 } }) : undefined,
    });
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
    const strip = (r: Awaited<ReturnType<typeof run>>) =>
      r.acknowledgedOrders.map(({ client, iteration, name, quantity }) => ({
        client,
        iteration,
        name,
        quantity,
      }));
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
    const r = await runClients({
      baseUrl: BASE,
      clients: 1,
      iterations: 1,
      p: 0,
      retry: NO_DELAY,
      http: () => store().http,
    });
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
        return Object.assign((req: Parameters<HttpClient>[0]) => s.http(req), {
          close: async () => void closed++,
        });
      },
    });
    expect(made).toEqual([0, 1, 2]);
    expect(closed).toBe(3);
    expect(r.baseUrl).toBe(BASE);
    expect(r.mismatches).toEqual([]);
  });

  it('fails clearly when the product list cannot be read, and still closes the transports', async () => {
    let closed = 0;
    const down = Object.assign(
      async () => ({ status: 503, headers: {}, body: { error: { code: 503, message: 'down' } } }),
      { close: async () => void closed++ },
    );
    await expect(
      runClients({
        baseUrl: BASE,
        clients: 2,
        iterations: 1,
        p: 1,
        retry: { minTimeout: 0, retries: 1 },
        http: () => down,
      }),
    ).rejects.toThrow(/cannot list products at http:\/\/store.test: HTTP 503/);
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

  it('keeps latencies in a bounded histogram whose percentiles are exact to 0.1 %', () => {
    const h = new LatencyHistogram();
    expect(h.quantileMs(0.5)).toBeNull();
    for (let i = 1; i <= 100_000; i++) h.record(i / 100); // 0.01 ms .. 1000 ms
    expect(h.count).toBe(100_000);
    for (const [q, want] of [
      [0.5, 500],
      [0.95, 950],
      [0.99, 990],
    ] as const) {
      expect(Math.abs(h.quantileMs(q)! - want) / want).toBeLessThan(0.001);
    }
    h.record(10 * 3_600_000); // ten hours: clamped to the top of the range, still counted
    expect(h.clamped).toBe(1);
    expect(h.count).toBe(100_001);
  });

  it('reports progress while it runs', async () => {
    const s = store();
    const stop = new AbortController();
    const seen: Progress[] = [];
    await run(s.http, {
      iterations: undefined,
      signal: stop.signal,
      progressIntervalMs: 5,
      thinkMs: 1, // the fake store answers in microtasks; a pause lets the timer run
      onProgress: (p) => {
        seen.push(p);
        if (seen.length === 2) stop.abort();
      },
    });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[1]!.requests).toBeGreaterThanOrEqual(seen[0]!.requests);
    expect(seen[1]!.errors).toBe(0);
    expect(formatProgress(seen[1]!)).toMatch(
      /^\d+ s: \d+ requests, \d+ req\/s, 0 errors, p99 (-|[\d.]+ ms)$/,
    );
  });

  it('formatReport shows a row per request type, order outcomes and each mismatch', async () => {
    const s = store({ onOrderQuery: () => errorResponse(404, 'order not found') });
    const text = formatReport(summarize(await run(s.http, { iterations: 2 })));
    for (const t of ['query', 'order', 'order_query'])
      expect(text).toMatch(new RegExp(`^${t}\\s+\\d+`, 'm'));
    expect(text).toContain('orders: 2 acknowledged, 0 rejected (409), 0 unknown outcome, 0 failed');
    expect(text).toContain('2 mismatches');
    expect(text.match(/\[missing\]/g)).toHaveLength(2);
  });
});
