/**
 * The lab's own clients, served as they expect (issue 10): Django-style clients add one trailing
 * slash to every route, some send the wrong method and expect a 405 with `Allow`, and a key that
 * was refused for lack of stock and is then reused with another quantity is a 422, as the README
 * promises for any key reused with a different body. Every service gets the same rules, because
 * every app starts from `createServiceApp` and the outer observed app does too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { createOrderApp } from '../../order/app.ts';
import type { Replica } from '../../order/replica.ts';
import { createLogger } from '../../shared/logger.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { observeApp } from '../../shared/observability.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { expectError } from './helpers.ts';

const json = { 'content-type': 'application/json' };
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stopAll();
  stack = undefined;
});

async function started(): Promise<Stack> {
  stack = createStack();
  await stack.until('a leader is elected', () => stack!.leaderId() !== null);
  return stack;
}

describe('a Django-style client that ends every path with a slash', () => {
  it('queries a toy, orders it and reads the order back, all with a trailing slash', async () => {
    const s = await started();
    const product = await s.request('GET', '/products/Tux/');
    expect(product).toMatchObject({ status: 200, body: { data: { name: 'Tux', quantity: 100 } } });
    const placed = await s.request('POST', '/orders/', { name: 'Tux', quantity: 2 });
    expect(placed).toMatchObject({ status: 200, body: { data: { order_number: 0 } } });
    expect(await s.request('GET', '/orders/0/')).toMatchObject({
      status: 200,
      body: { data: { number: 0, name: 'Tux', quantity: 2 } },
    });
    expect((await s.request('GET', '/products/')).status).toBe(200);
    expect((await s.request('GET', '/health/')).status).toBe(200);
  });

  it('accepts one slash, not two: "/orders//" is still unknown', async () => {
    const s = await started();
    expect((await s.request('GET', '/products/Tux//')).status).toBe(404);
  });
});

describe('a client that sends the wrong method', () => {
  it('gets a 405 with Allow from the public frontend, trailing slash or not', async () => {
    const s = await started();
    for (const [method, path, allow] of [
      ['GET', '/orders', 'POST'],
      ['GET', '/orders/', 'POST'],
      ['POST', '/products/Tux', 'GET, HEAD'],
      ['POST', '/orders/0/', 'GET, HEAD'],
      ['POST', '/health', 'GET, HEAD'],
    ] as const) {
      const res = await s.app.request(path, {
        method,
        headers: json,
        body: method === 'POST' ? '{}' : undefined,
      });
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      const err = await expectError(res, 405);
      expect(err.reason).toBe('method_not_allowed');
    }
    // PUT and DELETE on a real route too; an unknown path stays a 404.
    const put = await s.app.request('/orders', { method: 'PUT', headers: json, body: '{}' });
    expect(put.headers.get('allow')).toBe('POST');
    await expectError(put, 405);
    await expectError(await s.app.request('/nowhere', { method: 'DELETE' }), 404);
  });

  it('gets the same rule from the catalog, an order replica and the frontend internal port', async () => {
    const catalog = createCatalogApp({ store: createMemoryCatalogStore() });
    const purchases = await catalog.request('/purchases');
    expect(purchases.headers.get('allow')).toBe('POST');
    await expectError(purchases, 405);
    const products = await catalog.request('/products/Tux', { method: 'DELETE' });
    expect(products.headers.get('allow')).toBe('GET, HEAD');
    await expectError(products, 405);

    const order = createOrderApp({ replica: {} as Replica });
    const append = await order.request('/internal/append');
    expect(append.headers.get('allow')).toBe('POST');
    await expectError(append, 405);

    const internal = createFrontendInternalApp({
      cache: new ProductCache({
        maxSize: 1,
        loader: async () => ({ name: 'x', price: 1, quantity: 1 }),
      }),
    });
    const invalidate = await internal.request('/internal/invalidate/');
    expect(invalidate.headers.get('allow')).toBe('POST');
    await expectError(invalidate, 405);
  });

  it('gets it through the observed outer app that main.ts serves, metrics route included', async () => {
    const outer = observeApp(createCatalogApp({ store: createMemoryCatalogStore() }), {
      logger: createLogger('catalog', { level: 'silent', format: 'json' }),
      registry: createRegistry(),
      serveMetrics: true,
    });
    const res = await outer.request('/purchases/');
    expect(res.headers.get('allow')).toBe('POST');
    await expectError(res, 405);
    const metrics = await outer.request('/metrics', { method: 'POST' });
    expect(metrics.headers.get('allow')).toBe('GET, HEAD');
    await expectError(metrics, 405);
    expect((await outer.request('/products/Tux/')).status).toBe(200);
  });
});

describe('a key refused for lack of stock, reused with another quantity', () => {
  it('is a 422 through the frontend, as for any key reused with a different body', async () => {
    const s = await started();
    const key = { 'idempotency-key': 'refused-then-reused' };
    const refused = await s.request('POST', '/orders', { name: 'Lego', quantity: 101 }, key);
    expect(refused.status).toBe(409);
    expect(await s.request('POST', '/orders', { name: 'Lego', quantity: 101 }, key)).toMatchObject({
      status: 409,
    });
    const reused = await s.request('POST', '/orders', { name: 'Lego', quantity: 1 }, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 422, reason: 'idempotency_key_reused' });
    expect(s.store.get('Lego')?.quantity).toBe(100);
  });
});
