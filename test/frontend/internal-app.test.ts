/**
 * Internal frontend API stories: the catalog's pushed invalidations empty the cache entry (and
 * defeat a fill in flight), bad pushes are 400s, and the public routes are not served here.
 */
import { describe, expect, it } from 'vitest';
import { ProductCache } from '../../frontend/cache.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import type { Product } from '../../shared/contracts.ts';
import { expectError, FakeCatalog, settle } from './helpers.ts';

const TUX: Product = { name: 'Tux', price: 25.99, quantity: 100 };

function setup() {
  const catalog = new FakeCatalog([TUX]);
  const cache = new ProductCache({ maxSize: 7, loader: (n) => catalog.getProduct(n) });
  const app = createFrontendInternalApp({ cache });
  const invalidate = (body: string) =>
    app.request('/internal/invalidate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  return { app, cache, catalog, invalidate };
}

describe('internal app', () => {
  it('POST /internal/invalidate drops the toy from the cache', async () => {
    const { cache, catalog, invalidate } = setup();
    await cache.get('Tux');
    catalog.stock.get('Tux')!.quantity = 90;
    const res = await invalidate(JSON.stringify({ name: 'Tux' }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { invalidated: 'Tux' } });
    expect(cache.peek('Tux')).toBeUndefined();
    expect(cache.stats().invalidations).toBe(1);
    expect((await cache.get('Tux')).quantity).toBe(90);
  });

  it('a pushed invalidation defeats a fill that was in flight', async () => {
    const { cache, catalog, invalidate } = setup();
    const held = catalog.hold();
    const pending = cache.get('Tux');
    await settle();
    catalog.stock.get('Tux')!.quantity = 90;
    expect((await invalidate(JSON.stringify({ name: 'Tux' }))).status).toBe(200);
    held.resolve({ ...TUX });
    expect((await pending).quantity).toBe(90);
    expect(cache.peek('Tux')?.quantity).toBe(90);
  });

  it('invalidating a toy that is not cached is fine', async () => {
    const { cache, invalidate } = setup();
    const res = await invalidate(JSON.stringify({ name: 'Whale' }));
    expect(await res.json()).toEqual({ data: { invalidated: 'Whale' } });
    expect(cache.stats()).toMatchObject({ size: 0, invalidations: 1 });
  });

  for (const [label, body] of [
    ['not JSON', 'Tux'],
    ['empty body', ''],
    ['JSON array', '["Tux"]'],
    ['missing name', '{}'],
    ['name not a string', '{"name":5}'],
    ['empty name', '{"name":""}'],
    ['name too long', JSON.stringify({ name: 'x'.repeat(101) })],
  ] as const) {
    it(`rejects ${label} with a 400 and invalidates nothing`, async () => {
      const { cache, invalidate } = setup();
      await cache.get('Tux');
      await expectError(await invalidate(body), 400);
      expect(cache.peek('Tux')).toBeDefined();
      expect(cache.stats().invalidations).toBe(0);
    });
  }

  it('rejects an oversized body with a 413', async () => {
    const { invalidate } = setup();
    await expectError(
      await invalidate(JSON.stringify({ name: 'Tux', pad: 'x'.repeat(10_000) })),
      413,
    );
  });

  it('serves only the internal route: public routes are 404s, other methods 405s', async () => {
    const { app } = setup();
    await expectError(await app.request('/products/Tux'), 404);
    await expectError(await app.request('/health'), 404);
    const get = await app.request('/internal/invalidate');
    expect(get.headers.get('allow')).toBe('POST');
    await expectError(get, 405);
  });
});
