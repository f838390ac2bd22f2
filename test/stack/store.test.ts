/**
 * The store as a client sees it, with every service in one process: the lab's exact shapes,
 * every bad input refused with nothing changed anywhere, stock and cache kept honest, and orders
 * surviving a leader crash. On logical time (a ManualClock): deterministic, and no real waiting.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkConvergedCluster, type Acknowledged } from '../../scripts/lib/invariants/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import { replicaUrl } from '../support/order-cluster.ts';
import { createStack, type Stack } from '../support/stack.ts';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stopAll();
  stack = null;
});

async function ready(): Promise<Stack> {
  const s = (stack = createStack({ clock: new ManualClock() }));
  await s.until('a leader is elected', () => s.leaderId() !== null);
  return s;
}

/** Everything a rejected request must leave untouched. */
function snapshot(s: Stack) {
  return JSON.stringify({ stock: s.store.list(), logs: [1, 2, 3].map((id) => s.log(id)) });
}

const logsOf = (s: Stack) => new Map([1, 2, 3].map((id) => [`order-${id}`, s.log(id)]));

describe('the lab API', () => {
  it('serves products, orders and order reads in exactly the lab shapes', async () => {
    const s = await ready();
    expect(await s.request('GET', '/products/Tux')).toMatchObject({
      status: 200,
      body: { data: { name: 'Tux', price: 15.99, quantity: 100 } },
    });
    const unknown = await s.request('GET', '/products/Furby');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 404, message: 'product not found' });
    expect(await s.request('POST', '/orders', { name: 'Tux', quantity: 2 })).toMatchObject({
      status: 200,
      body: { data: { order_number: 0 } },
    });
    expect(await s.request('POST', '/orders', { name: 'Lego', quantity: 1 })).toMatchObject({
      status: 200,
      body: { data: { order_number: 1 } },
    });
    expect((await s.request('GET', '/orders/0')).body).toEqual({
      data: { number: 0, name: 'Tux', quantity: 2 },
    });
    const missing = await s.request('GET', '/orders/2');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe(404);
    const all = await s.request('GET', '/products');
    expect(all.body.data.length).toBeGreaterThanOrEqual(10);
  });

  it("after a client's order succeeds, its next query never shows the stock from before the order", async () => {
    const s = await ready();
    for (let i = 0; i < 3; i++) {
      expect((await s.request('GET', '/products/Tux')).body.data.quantity).toBe(100 - i * 5);
      expect((await s.request('POST', '/orders', { name: 'Tux', quantity: 5 })).status).toBe(200);
    }
    expect((await s.request('GET', '/products/Tux')).body.data.quantity).toBe(85);
    expect(s.cache.stats().hits).toBe(0); // every query after an order went back to the catalog
  });

  it('insufficient stock is a 409 that says how many are left and changes nothing', async () => {
    const s = await ready();
    await s.request('POST', '/orders', { name: 'Slinky', quantity: 97 });
    const before = snapshot(s);
    const res = await s.request('POST', '/orders', { name: 'Slinky', quantity: 4 });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe(409);
    expect(res.body.error.message).toMatch(/3 left/);
    expect(snapshot(s)).toBe(before);
  });

  it('concurrent orders for the last units: exactly the stock is sold, numbers stay contiguous', async () => {
    const s = await ready();
    const results = await s.settle(
      Promise.all(
        Array.from({ length: 120 }, () =>
          s.request('POST', '/orders', { name: 'Frisbee', quantity: 1 }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(100);
    expect(results.filter((r) => r.status === 409)).toHaveLength(20);
    expect(ok.map((r) => r.body.data.order_number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
    expect(s.store.get('Frisbee')?.quantity).toBe(0);
    await s.converged();
    const acked: Acknowledged[] = ok.map((r) => ({
      orderNumber: r.body.data.order_number,
      name: 'Frisbee',
      quantity: 1,
    }));
    expect(checkConvergedCluster(logsOf(s), acked)).toEqual([]);
  });

  it('health shows the leader, the epoch, every replica and the cache', async () => {
    const s = await ready();
    await s.request('GET', '/products/Tux');
    await s.until('every replica has been heard from', async () =>
      (await s.request('GET', '/health')).body.data.replicas.every((r: any) => r.state === 'up'),
    );
    const h = (await s.request('GET', '/health')).body.data;
    expect(h.leaderId).toBe(3);
    expect(h.epoch).toBeGreaterThan(0);
    expect(h.replicas.map((r: any) => r.id).sort()).toEqual([1, 2, 3]);
    expect(h.cache).toMatchObject({ size: 1, capacity: 7, misses: 1 });
  });
});

describe('bad input gets a clear JSON error and changes nothing anywhere', () => {
  const badOrders: Array<[string, unknown, Record<string, string>?]> = [
    ['not JSON', '{"name": "Tux", '],
    ['a JSON array', [{ name: 'Tux', quantity: 1 }]],
    ['missing name', { quantity: 1 }],
    ['name not a string', { name: 7, quantity: 1 }],
    ['missing quantity', { name: 'Tux' }],
    ['quantity zero', { name: 'Tux', quantity: 0 }],
    ['quantity negative', { name: 'Tux', quantity: -1 }],
    ['quantity fractional', { name: 'Tux', quantity: 1.5 }],
    ['quantity as a string', { name: 'Tux', quantity: '2' }],
    ['quantity absurdly large', { name: 'Tux', quantity: 1e12 }],
  ];
  for (const [what, body] of badOrders) {
    it(`POST /orders with ${what} → 400`, async () => {
      const s = await ready();
      const before = snapshot(s);
      const res = await s.request('POST', '/orders', body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 400 });
      expect(typeof res.body.error.message).toBe('string');
      expect(snapshot(s)).toBe(before);
    });
  }

  it('POST /orders with an oversized body → 413 in the error shape', async () => {
    const s = await ready();
    const before = snapshot(s);
    const res = await s.request('POST', '/orders', {
      name: 'Tux',
      quantity: 1,
      pad: 'x'.repeat(100_000),
    });
    expect([400, 413]).toContain(res.status);
    expect(res.body.error.code).toBe(res.status);
    expect(snapshot(s)).toBe(before);
  });

  it('POST /orders for an unknown toy → 404 and no order number is used up', async () => {
    const s = await ready();
    const before = snapshot(s);
    const res = await s.request('POST', '/orders', { name: 'Furby', quantity: 1 });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe(404);
    expect(snapshot(s)).toBe(before);
    expect(
      (await s.request('POST', '/orders', { name: 'Tux', quantity: 1 })).body.data.order_number,
    ).toBe(0);
  });

  for (const param of ['-1', '1.5', 'abc', '99999999999999999999', '0x10']) {
    it(`GET /orders/${param} → 400`, async () => {
      const s = await ready();
      const res = await s.request('GET', `/orders/${param}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(400);
    });
  }

  it('internal endpoints are not reachable through the frontend', async () => {
    const s = await ready();
    for (const [method, path] of [
      ['POST', '/internal/invalidate'],
      ['POST', '/internal/append'],
      ['POST', '/internal/lead'],
      ['POST', '/internal/promise'],
      ['GET', '/internal/status'],
      ['POST', '/purchases'],
    ] as const) {
      const res = await s.request(method, path, method === 'POST' ? { name: 'Tux' } : undefined);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe(404);
    }
  });
});

describe('faults, seen from the client', () => {
  it('with two replicas down, an order gets 503 with Retry-After and nothing changes', async () => {
    const s = await ready();
    await s.crash(2);
    await s.crash(1);
    await s.until('the leader knows it is alone', () =>
      s
        .replica(3)
        .status()
        .followers.every((f) => !f.reachable),
    );
    const before = snapshot(s);
    const res = await s.request('POST', '/orders', { name: 'Tux', quantity: 1 });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(snapshot(s)).toBe(before);
  });

  it('concurrent order reads reach the leader as one request, and each gets its own answer', async () => {
    const s = await ready();
    for (const [name, quantity] of [
      ['Tux', 1],
      ['Lego', 2],
      ['Barbie', 3],
    ] as const)
      expect((await s.request('POST', '/orders', { name, quantity })).status).toBe(200);
    const leader = s.leaderId()!;
    const seen: string[] = [];
    s.net.register(replicaUrl(leader), (req) => {
      seen.push(`${req.method} ${new URL(req.url).pathname}`);
      return s.built(leader).app.fetch(req);
    });
    const answers = await Promise.all(
      [0, 2, 99, 1, 2].map((n) => s.request('GET', `/orders/${n}`)),
    );
    expect(answers.map((a) => a.body.data ?? a.body.error.message)).toEqual([
      { number: 0, name: 'Tux', quantity: 1 },
      { number: 2, name: 'Barbie', quantity: 3 },
      'order not found',
      { number: 1, name: 'Lego', quantity: 2 },
      { number: 2, name: 'Barbie', quantity: 3 },
    ]);
    expect(answers[2]!.status).toBe(404);
    // Heartbeat probes (GET /internal/status) go on beside; the reads went as one request.
    expect(seen.filter((r) => r.includes('/orders'))).toEqual(['POST /orders/reads']);
  });

  it('when the leader is older than the frontend (no batch read route), each order read goes on its own', async () => {
    const s = await ready();
    expect((await s.request('POST', '/orders', { name: 'Tux', quantity: 1 })).status).toBe(200);
    const leader = s.leaderId()!;
    const seen: string[] = [];
    // What an older replica answers for a route it does not have: the path exists under GET.
    s.net.register(replicaUrl(leader), (req) => {
      const path = new URL(req.url).pathname;
      seen.push(`${req.method} ${path}`);
      if (req.method === 'POST' && path === '/orders/reads')
        return Response.json(
          { error: { code: 405, message: 'POST is not allowed', reason: 'method_not_allowed' } },
          { status: 405, headers: { allow: 'GET, HEAD' } },
        );
      return s.built(leader).app.fetch(req);
    });
    const answers = await Promise.all([0, 7].map((n) => s.request('GET', `/orders/${n}`)));
    expect(answers.map((a) => [a.status, a.body.data ?? a.body.error.message])).toEqual([
      [200, { number: 0, name: 'Tux', quantity: 1 }],
      [404, 'order not found'],
    ]);
    expect(seen.filter((r) => r.includes('/orders'))).toEqual([
      'POST /orders/reads',
      'GET /orders/0',
      'GET /orders/7',
    ]);
  });

  it('when the leader dies between orders, the next order succeeds on the next replica with the next number', async () => {
    const s = await ready();
    const acked: Acknowledged[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.request('POST', '/orders', { name: 'Barbie', quantity: 1 });
      acked.push({ orderNumber: r.body.data.order_number, name: 'Barbie', quantity: 1 });
    }
    await s.crash(3);
    const r = await s.request('POST', '/orders', { name: 'Barbie', quantity: 2 });
    expect(r).toMatchObject({ status: 200, body: { data: { order_number: 5 } } });
    acked.push({ orderNumber: 5, name: 'Barbie', quantity: 2 });
    expect((await s.request('GET', '/orders/3')).body.data).toEqual({
      number: 3,
      name: 'Barbie',
      quantity: 1,
    });
    expect(s.store.get('Barbie')?.quantity).toBe(93);
    await s.restart(3);
    await s.converged();
    expect(checkConvergedCluster(logsOf(s), acked)).toEqual([]);
  });
});
