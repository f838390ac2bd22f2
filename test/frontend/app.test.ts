/**
 * Public frontend API stories, in process through app.request() with a real ProductCache, a fake
 * catalog and a fake OrderRouter: product queries through the cache, orders and read-your-writes,
 * every bad input rejected before the router, error shapes, health, and no internal routes.
 */
import { describe, expect, it } from 'vitest';
import { createFrontendApp } from '../../frontend/app.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { MAX_PUBLIC_BODY_BYTES, type Product } from '../../shared/contracts.ts';
import {
  AppError,
  insufficientStock,
  noLeader,
  orderNotFound,
  outcomeUnknown,
  upstreamUnavailable,
} from '../../shared/errors.ts';
import { electionView, expectError, FakeCatalog, FakeRouter, settle } from './helpers.ts';

const TUX: Product = { name: 'Tux', price: 25.99, quantity: 100 };
const WHALE: Product = { name: 'Whale', price: 34.99, quantity: 7 };

function setup(opts: { enabled?: boolean; maxSize?: number } = {}) {
  const catalog = new FakeCatalog([TUX, WHALE]);
  const cache = new ProductCache({
    maxSize: opts.maxSize ?? 7,
    enabled: opts.enabled ?? true,
    loader: (n) => catalog.getProduct(n),
  });
  const router = new FakeRouter();
  // A router that, like the real system, lowers the catalog's stock when an order commits.
  router.place = async (req) => {
    const p = catalog.stock.get(req.name);
    if (!p) throw new AppError(404, 'product_not_found', 'product not found');
    if (p.quantity < req.quantity) throw insufficientStock(req.name, p.quantity);
    p.quantity -= req.quantity;
    return { order_number: router.placeCalls.length - 1 };
  };
  const app = createFrontendApp({ cache, catalog, orders: router });
  return { app, cache, catalog, router };
}

const postOrder = (
  app: ReturnType<typeof setup>['app'],
  body: string,
  headers: Record<string, string> = {},
) =>
  app.request('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

describe('GET /products', () => {
  it('lists every toy straight from the catalog, not through the cache', async () => {
    const { app, cache, catalog } = setup();
    for (let i = 0; i < 2; i++) {
      const res = await app.request('/products');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: [TUX, WHALE] });
    }
    expect(catalog.listCalls).toBe(2);
    expect(cache.stats()).toMatchObject({ size: 0, hits: 0, misses: 0 });
  });

  it('a catalog that is down is a 503 with Retry-After', async () => {
    const { app, catalog } = setup();
    catalog.failWith = upstreamUnavailable('catalog');
    const res = await app.request('/products');
    expect(res.headers.get('retry-after')).toBe('1');
    await expectError(res, 503);
  });
});

describe('GET /products/:name', () => {
  it('answers through the cache: the first query misses, the second hits', async () => {
    const { app, cache, catalog } = setup();
    const first = await app.request('/products/Tux');
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ data: { name: 'Tux', price: 25.99, quantity: 100 } });
    const second = await app.request('/products/Tux');
    expect(await second.json()).toEqual({ data: { name: 'Tux', price: 25.99, quantity: 100 } });
    expect(catalog.getCalls).toEqual(['Tux']);
    expect(cache.stats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  it('an unknown toy is the lab 404, and the miss is not cached', async () => {
    const { app, cache, catalog } = setup();
    for (let i = 0; i < 2; i++) {
      const res = await app.request('/products/Ghost');
      const err = await expectError(res, 404);
      expect(err.message).toBe('product not found');
    }
    expect(catalog.getCalls).toEqual(['Ghost', 'Ghost']);
    expect(cache.stats().size).toBe(0);
  });

  it('decodes an escaped name, and rejects an absurdly long one without asking the catalog', async () => {
    const { app, catalog } = setup();
    catalog.stock.set('Lego Set', { name: 'Lego Set', price: 9.5, quantity: 1 });
    const res = await app.request('/products/Lego%20Set');
    expect(await res.json()).toEqual({ data: { name: 'Lego Set', price: 9.5, quantity: 1 } });
    await expectError(await app.request(`/products/${'x'.repeat(101)}`), 404);
    expect(catalog.getCalls).toEqual(['Lego Set']);
  });

  it('cache disabled: every query goes to the catalog', async () => {
    const { app, cache, catalog } = setup({ enabled: false });
    for (let i = 0; i < 3; i++) expect((await app.request('/products/Tux')).status).toBe(200);
    expect(catalog.getCalls).toEqual(['Tux', 'Tux', 'Tux']);
    expect(cache.stats()).toMatchObject({ size: 0, enabled: false, hits: 0, misses: 3 });
  });

  it('a catalog outage is a 503 with Retry-After, and the next query retries', async () => {
    const { app, catalog } = setup();
    catalog.failWith = upstreamUnavailable('catalog');
    const res = await app.request('/products/Tux');
    expect(res.headers.get('retry-after')).toBe('1');
    await expectError(res, 503);
    catalog.failWith = null;
    expect((await app.request('/products/Tux')).status).toBe(200);
  });
});

describe('POST /orders', () => {
  it('places the order through the router and answers with the order number', async () => {
    const { app, router } = setup();
    const res = await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 2 }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { order_number: 0 } });
    expect(router.placeCalls).toEqual([{ name: 'Tux', quantity: 2 }]);
  });

  it('read-your-writes: after an order succeeds, the next query shows the new stock (no pushed invalidation needed)', async () => {
    const { app, cache } = setup();
    expect((await (await app.request('/products/Tux')).json()) as unknown).toEqual({ data: TUX });
    expect(cache.peek('Tux')).toBeDefined();

    const res = await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 2 }));
    expect(res.status).toBe(200);
    // Invalidated before the response was sent.
    expect(cache.peek('Tux')).toBeUndefined();
    expect(await (await app.request('/products/Tux')).json()).toEqual({
      data: { ...TUX, quantity: 98 },
    });
    expect(cache.stats().invalidations).toBe(1);
  });

  it('read-your-writes: a fill in flight from before the order does not survive the order', async () => {
    const { app, cache, catalog } = setup();
    const held = catalog.hold();
    const before = app.request('/products/Tux'); // a query whose catalog read saw stock 100...
    await settle();
    expect(catalog.getCalls).toEqual(['Tux']);

    // ...then the order commits
    const res = await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 2 }));
    expect(res.status).toBe(200);
    held.resolve({ ...TUX }); // ...and the old read lands after the order's response
    await before;

    expect(cache.peek('Tux')?.quantity).not.toBe(100);
    const after = await app.request('/products/Tux');
    expect(await after.json()).toEqual({ data: { ...TUX, quantity: 98 } });
  });

  it('a 409 from the router propagates with its shape and leaves the cache alone', async () => {
    const { app, cache } = setup();
    await app.request('/products/Whale');
    const res = await postOrder(app, JSON.stringify({ name: 'Whale', quantity: 8 }));
    const err = await expectError(res, 409);
    expect(err.message).toMatch(/insufficient stock/);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(cache.peek('Whale')).toEqual(WHALE);
  });

  it('a 404 from the router (unknown toy) propagates', async () => {
    const { app } = setup();
    const err = await expectError(
      await postOrder(app, JSON.stringify({ name: 'Ghost', quantity: 1 })),
      404,
    );
    expect(err.message).toBe('product not found');
  });

  it('a 503 from the router propagates with Retry-After', async () => {
    const { app, router } = setup();
    router.place = async () => {
      throw noLeader('election in progress');
    };
    const res = await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 1 }));
    expect(res.headers.get('retry-after')).toBe('1');
    const err = await expectError(res, 503);
    expect(err.message).toMatch(/no leader/);
  });

  it('a 504 (outcome unknown) propagates and invalidates the toy, since the order may have committed', async () => {
    const { app, cache, catalog, router } = setup();
    await app.request('/products/Tux');
    router.place = async (req) => {
      catalog.stock.get(req.name)!.quantity -= req.quantity; // it did commit, but the ack was lost
      throw outcomeUnknown('leader stopped answering');
    };
    await expectError(await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 5 })), 504);
    expect(cache.peek('Tux')).toBeUndefined();
    expect(await (await app.request('/products/Tux')).json()).toEqual({
      data: { ...TUX, quantity: 95 },
    });
  });

  it('an unexpected router failure is a 500 in our shape that leaks nothing, and invalidates', async () => {
    const { app, cache, router } = setup();
    await app.request('/products/Tux');
    router.place = async () => {
      throw new Error('secret internal detail');
    };
    const origError = console.error;
    console.error = () => {};
    try {
      const res = await postOrder(app, JSON.stringify({ name: 'Tux', quantity: 1 }));
      const err = await expectError(res, 500);
      expect(err.message).not.toMatch(/secret/);
    } finally {
      console.error = origError;
    }
    expect(cache.peek('Tux')).toBeUndefined();
  });

  const badBodies: [string, string][] = [
    ['not JSON', 'name=Tux&quantity=2'],
    ['empty body', ''],
    ['truncated JSON', '{"name":"Tux",'],
    ['JSON array', '[{"name":"Tux","quantity":2}]'],
    ['JSON null', 'null'],
    ['JSON string', '"Tux"'],
    ['JSON number', '2'],
    ['empty object', '{}'],
    ['missing name', '{"quantity":2}'],
    ['name not a string', '{"name":5,"quantity":2}'],
    ['name null', '{"name":null,"quantity":2}'],
    ['name empty', '{"name":"","quantity":2}'],
    ['name too long', JSON.stringify({ name: 'x'.repeat(101), quantity: 2 })],
    ['missing quantity', '{"name":"Tux"}'],
    ['quantity 0', '{"name":"Tux","quantity":0}'],
    ['quantity -1', '{"name":"Tux","quantity":-1}'],
    ['quantity 1.5', '{"name":"Tux","quantity":1.5}'],
    ['quantity "2"', '{"name":"Tux","quantity":"2"}'],
    ['quantity null', '{"name":"Tux","quantity":null}'],
    ['quantity true', '{"name":"Tux","quantity":true}'],
    ['quantity huge', '{"name":"Tux","quantity":1e300}'],
    ['quantity above the maximum', '{"name":"Tux","quantity":10001}'],
    ['quantity unsafe integer', '{"name":"Tux","quantity":99999999999999999999}'],
  ];
  for (const [label, body] of badBodies) {
    it(`rejects ${label} with a 400 and never calls the router`, async () => {
      const { app, router, cache } = setup();
      const err = await expectError(await postOrder(app, body), 400);
      expect(err.reason).toBe('bad_request');
      expect(router.placeCalls).toEqual([]);
      expect(cache.stats().invalidations).toBe(0);
    });
  }

  it('rejects an oversized body with a 413 in our shape, declared length or not, never calling the router', async () => {
    const { app, router } = setup();
    const big = JSON.stringify({
      name: 'Tux',
      quantity: 1,
      pad: 'x'.repeat(MAX_PUBLIC_BODY_BYTES),
    });

    const declared = await postOrder(app, big, {
      'content-length': String(Buffer.byteLength(big)),
    });
    expect((await expectError(declared, 413)).reason).toBe('payload_too_large');

    const streamed = await app.request('/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    await expectError(streamed, 413);
    expect(router.placeCalls).toEqual([]);
  });

  it('accepts a body just under the limit (extra fields are ignored)', async () => {
    const { app, router } = setup();
    const base = JSON.stringify({ name: 'Tux', quantity: 1, pad: '' });
    const body = JSON.stringify({
      name: 'Tux',
      quantity: 1,
      pad: 'x'.repeat(MAX_PUBLIC_BODY_BYTES - base.length),
    });
    expect(Buffer.byteLength(body)).toBe(MAX_PUBLIC_BODY_BYTES);
    expect((await postOrder(app, body)).status).toBe(200);
    expect(router.placeCalls).toEqual([{ name: 'Tux', quantity: 1 }]);
  });
});

describe('GET /orders/:order_number', () => {
  it('reads an order through the router', async () => {
    const { app, router } = setup();
    router.get = async (n) => ({ number: n, name: 'Whale', quantity: 3 });
    const res = await app.request('/orders/0');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { number: 0, name: 'Whale', quantity: 3 } });
    expect(await (await app.request('/orders/42')).json()).toEqual({
      data: { number: 42, name: 'Whale', quantity: 3 },
    });
    expect(router.getCalls).toEqual([0, 42]);
  });

  it('an unknown order is a 404 "order not found"', async () => {
    const { app, router } = setup();
    router.get = async () => {
      throw orderNotFound();
    };
    const err = await expectError(await app.request('/orders/7'), 404);
    expect(err.message).toBe('order not found');
  });

  it('no leader is a 503 with Retry-After', async () => {
    const { app, router } = setup();
    router.get = async () => {
      throw noLeader('election in progress');
    };
    const res = await app.request('/orders/7');
    expect(res.headers.get('retry-after')).toBe('1');
    await expectError(res, 503);
  });

  for (const bad of [
    '-1',
    '1.5',
    'abc',
    '99999999999999999999',
    '1e3',
    '+1',
    '0x10',
    '%201',
    '1%20',
    'NaN',
    'Infinity',
  ]) {
    it(`rejects order number ${JSON.stringify(bad)} with a 400 and never calls the router`, async () => {
      const { app, router } = setup();
      await expectError(await app.request(`/orders/${bad}`), 400);
      expect(router.getCalls).toEqual([]);
    });
  }
});

describe('routing and health', () => {
  it('internal endpoints are not reachable on the public app', async () => {
    const { app, cache } = setup();
    await app.request('/products/Tux');
    const res = await app.request('/internal/invalidate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Tux' }),
    });
    await expectError(res, 404);
    expect(cache.peek('Tux')).toBeDefined();
    expect(cache.stats().invalidations).toBe(0);
  });

  it('unknown routes are 404s and wrong methods 405s with Allow, in our shape', async () => {
    const { app } = setup();
    await expectError(await app.request('/nope'), 404);
    const post = await app.request('/products', { method: 'POST', body: '{}' });
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await expectError(post, 405);
    const get = await app.request('/orders');
    expect(get.headers.get('allow')).toBe('POST');
    await expectError(get, 405);
  });

  it('/health reports the election view and the cache stats', async () => {
    const { app, cache } = setup({ maxSize: 2 });
    await app.request('/products/Tux');
    await app.request('/products/Tux');
    await app.request('/products/Whale');
    cache.invalidate('Whale');
    await app.request('/products/Whale');
    await app.request('/products/Tux');
    cache.invalidate('Nobody');

    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: {
        leaderId: 3,
        epoch: 7,
        electing: false,
        replicas: electionView.replicas,
        cache: {
          size: 2,
          capacity: 2,
          enabled: true,
          trusted: true,
          hits: 2,
          misses: 3,
          evictions: 0,
          invalidations: 2,
        },
      },
    });
  });

  it('/health counts evictions', async () => {
    const { app, catalog } = setup({ maxSize: 1 });
    catalog.stock.set('Bear', { name: 'Bear', price: 1, quantity: 1 });
    for (const n of ['Tux', 'Whale', 'Bear']) await app.request(`/products/${n}`);
    const body = (await (await app.request('/health')).json()) as {
      data: { cache: { evictions: number; size: number } };
    };
    expect(body.data.cache).toMatchObject({ size: 1, evictions: 2 });
  });
});
