/**
 * The chaos tool's check after healing: product reads through the frontend must match the
 * catalog within the bound. Served in-process (a catalog and a frontend as tiny Hono apps behind
 * one fetch transport): a frontend that lost an invalidation keeps serving old stock and is
 * reported; one that catches up within the bound, or a catalog restock mid-comparison, is not.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createFetchHttp } from '../../shared/http.ts';
import { checkCacheAfterHeal } from '../../scripts/lib/chaos/index.ts';
import type { ClusterUrls } from '../../scripts/lib/cluster/index.ts';

const urls = { catalog: 'http://catalog.test', frontend: 'http://frontend.test' } as ClusterUrls;

function store(catalog: Map<string, number>, served: (name: string) => number) {
  const cat = new Hono().get('/products', (c) =>
    c.json({ data: [...catalog].map(([name, quantity]) => ({ name, price: 1, quantity })) }),
  );
  const fe = new Hono().get('/products/:name', (c) =>
    c.json({
      data: { name: c.req.param('name'), price: 1, quantity: served(c.req.param('name')) },
    }),
  );
  return createFetchHttp((req) =>
    new URL(req.url).host === 'catalog.test' ? cat.fetch(req) : fe.fetch(req),
  );
}

describe('product reads after healing', () => {
  it('when the frontend keeps a toy whose invalidation was lost, reports it stale after the bound', async () => {
    const catalog = new Map([
      ['Tux', 100],
      ['Lego', 37],
    ]);
    // Lego restocked, cache still says 0
    const http = store(catalog, (name) => (name === 'Lego' ? 0 : catalog.get(name)!));
    const r = await checkCacheAfterHeal(http, urls, undefined, 300);
    expect(r.freshAfterMs).toBeNull();
    expect(r.violations).toEqual([
      {
        source: 'cache',
        kind: 'stale-cache',
        message: '300 ms after healing, the frontend serves Lego with stock 0, the catalog has 37',
      },
    ]);
  });

  it('a frontend that catches up within the bound is fresh', async () => {
    const catalog = new Map([['Tux', 100]]);
    let reads = 0;
    const http = store(catalog, () => (++reads < 3 ? 98 : 100)); // the push arrives after two reads
    const r = await checkCacheAfterHeal(http, urls, undefined, 5_000);
    expect(r.violations).toEqual([]);
    expect(r.freshAfterMs).not.toBeNull();
    expect(r.toys).toBe(1);
  });

  it('a restock landing between the two catalog reads is not mistaken for staleness', async () => {
    let catalogReads = 0;
    const cat = new Hono().get('/products', (c) =>
      c.json({ data: [{ name: 'Tux', price: 1, quantity: ++catalogReads === 1 ? 0 : 100 }] }),
    );
    const fe = new Hono().get('/products/:name', (c) =>
      c.json({ data: { name: 'Tux', price: 1, quantity: 100 } }),
    );
    const http = createFetchHttp((req) =>
      new URL(req.url).host === 'catalog.test' ? cat.fetch(req) : fe.fetch(req),
    );
    const r = await checkCacheAfterHeal(http, urls, undefined, 5_000);
    expect(r.violations).toEqual([]);
    expect(catalogReads).toBeGreaterThanOrEqual(4); // judged in a second, stable round
  });
});
