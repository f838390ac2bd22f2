/**
 * ProductCache stories: read-through, true LRU, invalidation, the stale-fill race, single flight,
 * errors never cached, and the disabled pass-through.
 */
import { describe, expect, it, vi } from 'vitest';
import { ProductCache } from '../../frontend/cache.ts';
import type { Product } from '../../shared/contracts.ts';
import { AppError, productNotFound } from '../../shared/errors.ts';
import { deferred, settle, type Deferred } from './helpers.ts';

const toy = (name: string, quantity = 100, price = 10): Product => ({ name, price, quantity });

/** A loader answering from a mutable stock map, counting calls per name. */
function stockLoader(stock: Map<string, Product>) {
  return vi.fn(async (name: string) => {
    const p = stock.get(name);
    if (!p) throw productNotFound();
    return { ...p };
  });
}

/** A loader whose every call waits on its own deferred, in call order. */
function manualLoader() {
  const pending: { name: string; d: Deferred<Product> }[] = [];
  const loader = vi.fn((name: string) => {
    const d = deferred<Product>();
    pending.push({ name, d });
    return d.promise;
  });
  return { loader, pending };
}

describe('ProductCache', () => {
  it('starts empty', () => {
    const cache = new ProductCache({ maxSize: 7, loader: async (n) => toy(n) });
    expect(cache.keys()).toEqual([]);
    expect(cache.stats()).toEqual({
      size: 0,
      capacity: 7,
      enabled: true,
      trusted: true,
      hits: 0,
      misses: 0,
      evictions: 0,
      invalidations: 0,
    });
  });

  it('misses on the first query and hits on the second, calling the loader once', async () => {
    const loader = stockLoader(new Map([['Tux', toy('Tux', 5)]]));
    const cache = new ProductCache({ maxSize: 7, loader });
    expect(await cache.get('Tux')).toEqual(toy('Tux', 5));
    expect(cache.stats()).toMatchObject({ size: 1, hits: 0, misses: 1 });
    expect(await cache.get('Tux')).toEqual(toy('Tux', 5));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(cache.stats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  it('evicts the least recently used toy, and a hit refreshes recency', async () => {
    const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
    const loader = stockLoader(new Map([...names, 'H'].map((n) => [n, toy(n)])));
    const cache = new ProductCache({ maxSize: 7, loader });
    for (const n of names) await cache.get(n);
    expect(cache.stats()).toMatchObject({ size: 7, evictions: 0 });
    expect(cache.keys()).toEqual(['G', 'F', 'E', 'D', 'C', 'B', 'A']);

    await cache.get('A'); // hit: A becomes most recent, B is now the oldest
    expect(cache.keys()[0]).toBe('A');
    await cache.get('H');

    expect(cache.keys()).toEqual(['H', 'A', 'G', 'F', 'E', 'D', 'C']);
    expect(cache.peek('B')).toBeUndefined();
    expect(cache.peek('A')).toEqual(toy('A'));
    expect(cache.stats()).toMatchObject({ size: 7, evictions: 1, hits: 1, misses: 8 });

    loader.mockClear();
    await cache.get('B'); // was evicted: goes back to the loader, evicting C
    expect(loader).toHaveBeenCalledWith('B', undefined);
    expect(cache.peek('C')).toBeUndefined();
    expect(cache.stats().evictions).toBe(2);
  });

  it('without the touch, the oldest toy is the one evicted', async () => {
    const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    const cache = new ProductCache({ maxSize: 7, loader: async (n) => toy(n) });
    for (const n of names) await cache.get(n);
    expect(cache.peek('A')).toBeUndefined();
    expect(cache.peek('B')).toEqual(toy('B'));
    expect(cache.stats().evictions).toBe(1);
  });

  it('invalidation removes an entry, so the next query reloads, and is counted but not as an eviction', async () => {
    const stock = new Map([['Tux', toy('Tux', 5)]]);
    const loader = stockLoader(stock);
    const cache = new ProductCache({ maxSize: 7, loader });
    await cache.get('Tux');
    stock.set('Tux', toy('Tux', 3));
    cache.invalidate('Tux');
    expect(cache.peek('Tux')).toBeUndefined();
    expect(cache.keys()).toEqual([]);
    expect(cache.stats()).toMatchObject({ size: 0, invalidations: 1, evictions: 0 });
    expect(await cache.get('Tux')).toEqual(toy('Tux', 3));
    expect(loader).toHaveBeenCalledTimes(2);
    cache.invalidate('never-cached'); // harmless
    expect(cache.stats()).toMatchObject({ size: 1, invalidations: 2 });
  });

  it('stale-fill race: a load in flight across an invalidation does not store what it fetched', async () => {
    const { loader, pending } = manualLoader();
    const cache = new ProductCache({ maxSize: 7, loader });

    const first = cache.get('Tux'); // load #1 starts, reads stock 5 at the catalog...
    await settle();
    expect(pending).toHaveLength(1);
    cache.invalidate('Tux'); // ...an order drops stock to 3 and the invalidation arrives...
    pending[0]!.d.resolve(toy('Tux', 5)); // ...then load #1 finishes with the old stock
    await settle();

    // Nothing stale is stored; the caller whose load was superseded loads again.
    expect(cache.peek('Tux')).toBeUndefined();
    expect(pending).toHaveLength(2);
    pending[1]!.d.resolve(toy('Tux', 3));
    expect(await first).toEqual(toy('Tux', 3));
    expect(cache.peek('Tux')).toEqual(toy('Tux', 3));

    // Later queries hit the fresh value and never the old one.
    expect(await cache.get('Tux')).toEqual(toy('Tux', 3));
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('stale-fill race: an old load finishing after a newer one does not overwrite it', async () => {
    const { loader, pending } = manualLoader();
    const cache = new ProductCache({ maxSize: 7, loader });

    const a = cache.get('Tux');
    const b = cache.get('Tux'); // joins load #1
    await settle();
    expect(pending).toHaveLength(1);
    cache.invalidate('Tux');
    const c = cache.get('Tux'); // after the invalidation: must not join load #1
    await settle();
    expect(pending).toHaveLength(2);

    pending[1]!.d.resolve(toy('Tux', 3)); // the newer load lands first
    await settle();
    expect(cache.peek('Tux')).toEqual(toy('Tux', 3));
    pending[0]!.d.resolve(toy('Tux', 5)); // the old one lands late
    await settle();

    expect(cache.peek('Tux')).toEqual(toy('Tux', 3));
    expect(await Promise.all([a, b, c])).toEqual([toy('Tux', 3), toy('Tux', 3), toy('Tux', 3)]);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('stale-fill race: invalidations that keep superseding loads never let a stale value be stored', async () => {
    const { loader, pending } = manualLoader();
    const cache = new ProductCache({ maxSize: 7, loader });
    const got = cache.get('Tux');
    for (let i = 0; i < 3; i++) {
      await settle();
      expect(pending).toHaveLength(i + 1);
      cache.invalidate('Tux');
      pending[i]!.d.resolve(toy('Tux', 10 - i));
    }
    // The caller gives up reloading after a bounded number of attempts, but nothing was stored.
    expect(await got).toEqual(toy('Tux', 8));
    expect(cache.peek('Tux')).toBeUndefined();
    expect(cache.stats().size).toBe(0);
  });

  it('concurrent misses for one toy share a single load', async () => {
    const { loader, pending } = manualLoader();
    const cache = new ProductCache({ maxSize: 7, loader });
    const gets = Array.from({ length: 5 }, () => cache.get('Tux'));
    const other = cache.get('Whale');
    await settle();
    expect(loader).toHaveBeenCalledTimes(2);
    expect(pending.map((p) => p.name)).toEqual(['Tux', 'Whale']);
    pending[0]!.d.resolve(toy('Tux', 4));
    pending[1]!.d.resolve(toy('Whale', 9));
    expect(await Promise.all(gets)).toEqual(Array(5).fill(toy('Tux', 4)));
    expect(await other).toEqual(toy('Whale', 9));
    expect(cache.stats()).toMatchObject({ size: 2, misses: 6, hits: 0 });
  });

  it('errors are never cached: a 404 or a network failure is retried on the next query', async () => {
    const { loader, pending } = manualLoader();
    const cache = new ProductCache({ maxSize: 7, loader });

    const a = cache.get('Tux');
    const b = cache.get('Tux');
    await settle();
    pending[0]!.d.reject(productNotFound());
    await expect(a).rejects.toMatchObject({ status: 404, message: 'product not found' });
    await expect(b).rejects.toBeInstanceOf(AppError);
    expect(cache.stats().size).toBe(0);

    const c = cache.get('Tux');
    await settle();
    expect(pending).toHaveLength(2); // a new load, not a remembered failure
    pending[1]!.d.reject(new AppError(503, 'upstream_unavailable', 'catalog is unavailable', 1));
    await expect(c).rejects.toMatchObject({ status: 503 });
    expect(cache.stats().size).toBe(0);

    const d = cache.get('Tux');
    await settle();
    pending[2]!.d.resolve(toy('Tux', 2));
    expect(await d).toEqual(toy('Tux', 2));
    expect(cache.peek('Tux')).toEqual(toy('Tux', 2));
  });

  it('a loader that throws synchronously does not wedge the toy', async () => {
    let calls = 0;
    const cache = new ProductCache({
      maxSize: 7,
      loader: (name) => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return Promise.resolve(toy(name));
      },
    });
    await expect(cache.get('Tux')).rejects.toThrow('boom');
    expect(await cache.get('Tux')).toEqual(toy('Tux'));
    expect(calls).toBe(2);
  });

  it('a cached value cannot be changed by a caller mutating what it got', async () => {
    const cache = new ProductCache({ maxSize: 7, loader: async (n) => toy(n, 5) });
    const got = await cache.get('Tux');
    expect(() => {
      (got as { quantity: number }).quantity = 0;
    }).toThrow();
    expect((await cache.get('Tux')).quantity).toBe(5);
  });

  it('disabled: every query goes to the loader and nothing is stored', async () => {
    const stock = new Map([['Tux', toy('Tux', 5)]]);
    const loader = stockLoader(stock);
    const cache = new ProductCache({ maxSize: 7, enabled: false, loader });
    await cache.get('Tux');
    stock.set('Tux', toy('Tux', 4));
    expect(await cache.get('Tux')).toEqual(toy('Tux', 4));
    await Promise.all([cache.get('Tux'), cache.get('Tux')]);
    expect(loader).toHaveBeenCalledTimes(4);
    expect(cache.keys()).toEqual([]);
    expect(cache.stats()).toEqual({
      size: 0,
      capacity: 7,
      enabled: false,
      trusted: true,
      hits: 0,
      misses: 4,
      evictions: 0,
      invalidations: 0,
    });
  });

  it('rejects a capacity that is not a positive integer', () => {
    const loader = async (n: string) => toy(n);
    expect(() => new ProductCache({ maxSize: 0, loader })).toThrow(RangeError);
    expect(() => new ProductCache({ maxSize: 1.5, loader })).toThrow(RangeError);
  });
});
