/**
 * The consistency checker, live: the loader reads replicas' `GET /internal/log` and the catalog's
 * `GET /internal/ledger` and `GET /products` through an injected `HttpClient`, here an in-process
 * network of small Hono fakes that serve the documented shapes and page in tiny pages, so paging,
 * a log cut between pages, a missing ledger route and an unreachable replica are all exercised.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry, OrderEntry, Product } from '../../shared/contracts.ts';
import { createInProcessNetwork } from '../../shared/http.ts';
import {
  checkLive,
  fetchReplicaLog,
  loadLive,
  parseReplicaList,
  runChecks,
} from '../../scripts/lib/check/index.ts';
import { buildLog, cleanScenario, kinds } from './fixtures.ts';

const R = {
  1: 'http://127.0.0.1:18011',
  2: 'http://127.0.0.1:18012',
  3: 'http://127.0.0.1:18013',
} as const;
const CATALOG = 'http://127.0.0.1:18001';
const targets = parseReplicaList(`1=${R[1]},2=${R[2]},3=${R[3]}`);

/**
 * Serves `/internal/log` like order/replica.ts handleFetchLog, at most `maxPage` entries a page.
 */
function fakeReplica(getLog: () => OrderEntry[], maxPage = 2): Hono {
  const app = new Hono();
  app.get('/internal/log', (c) => {
    const log = getLog();
    const from = Number(c.req.query('from'));
    const limit = Math.min(Number(c.req.query('limit') ?? 2000), maxPage);
    return c.json({
      data: {
        prevCrc: from === 0 ? 0 : (log[from - 1]?.crc ?? null),
        entries: log.slice(from, from + limit),
        lastIndex: log.length - 1,
      },
    });
  });
  return app;
}

function fakeCatalog(ledger: LedgerEntry[] | null, products: Product[], maxPage = 4): Hono {
  const app = new Hono();
  app.get('/products', (c) => c.json({ data: products }));
  if (ledger) {
    app.get('/internal/ledger', (c) => {
      const from = Number(c.req.query('from') ?? 0);
      const limit = Math.min(Number(c.req.query('limit') ?? 10_000), maxPage);
      return c.json({
        data: { entries: ledger.slice(from, from + limit), lastSeq: ledger.length - 1 },
      });
    });
  }
  return app;
}

function network(logs: Record<1 | 2 | 3, OrderEntry[]>, catalog: Hono | null) {
  const net = createInProcessNetwork();
  for (const id of [1, 2, 3] as const) net.register(R[id], fakeReplica(() => logs[id]).fetch);
  if (catalog) net.register(CATALOG, catalog.fetch);
  return net;
}

describe('live check', () => {
  it('clean: replicas and catalog that agree report zero violations, read page by page', async () => {
    const s = cleanScenario();
    const net = network(
      { 1: s.log, 2: s.log, 3: s.log },
      fakeCatalog(s.catalog.entries, s.catalog.products()),
    );
    const r = runChecks(await loadLive({ replicas: targets, catalog: CATALOG, http: net.http }), [
      s.history.events,
    ]);
    expect(r.violations).toEqual([]);
    expect(r.mode).toBe('live');
    expect(r.orders).toBe(5);
    expect(r.ledgerEntries).toBe(9);
    expect(r.reference).toBe('order-1/order-2/order-3');
  });

  it('divergence: a lagging replica, compared by records', async () => {
    const s = cleanScenario();
    const net = network(
      { 1: s.log, 2: s.log.slice(0, 3), 3: s.log },
      fakeCatalog(s.catalog.entries, s.catalog.products()),
    );
    const r = runChecks(await loadLive({ replicas: targets, catalog: CATALOG, http: net.http }));
    expect(kinds(r.violations)).toEqual(['divergence']);
    expect(r.violations[0]!.message).toBe('order-2 has 3 orders, order-1/order-3 has 5');
  });

  it('stock: GET /products disagrees with the ledger; a decrement without an order', async () => {
    const s = cleanScenario();
    s.catalog.purchase('k-extra', 'Lego', 1, 3);
    const products = s.catalog
      .products()
      .map((p) => (p.name === 'Barbie' ? { ...p, quantity: 0 } : p));
    const net = network({ 1: s.log, 2: s.log, 3: s.log }, fakeCatalog(s.catalog.entries, products));
    const r = runChecks(await loadLive({ replicas: targets, catalog: CATALOG, http: net.http }));
    expect(r.violations.map((v) => `${v.kind}: ${v.message}`)).toEqual([
      'stock: Barbie: the catalog serves stock 0, the ledger says 100',
      'stock: ledger seq 9 decremented 1 Lego for key k-extra, but order-1/order-2/order-3 has no order with that key',
    ]);
  });

  it('a catalog without a ledger: stock conservation "skipped: no ledger"; no catalog: skipped too', async () => {
    const s = cleanScenario();
    const net = network({ 1: s.log, 2: s.log, 3: s.log }, fakeCatalog(null, s.catalog.products()));
    const r = await checkLive({ replicas: targets, catalog: CATALOG, http: net.http });
    expect(r.violations).toEqual([]);
    expect(r.skipped).toContain('stock conservation: skipped: no ledger');
    const r2 = await checkLive({ replicas: targets, http: net.http });
    expect(r2.skipped).toContain('stock conservation: skipped: no catalog given');
  });

  it('a log cut between two pages is read again from the start', async () => {
    const before = buildLog([
      { name: 'Tux', quantity: 1, key: 'a' },
      { name: 'Tux', quantity: 1, key: 'b' },
      { name: 'Tux', quantity: 1, key: 'c' },
    ]);
    const after = buildLog([
      { name: 'Tux', quantity: 1, key: 'a' },
      { name: 'Lego', quantity: 2, key: 'x' },
      { name: 'Lego', quantity: 2, key: 'y' },
    ]);
    let calls = 0;
    const net = createInProcessNetwork();
    net.register(R[1], fakeReplica(() => (calls++ === 0 ? before : after), 2).fetch);
    const log = await fetchReplicaLog(net.http, { id: 1, url: R[1] });
    expect(log.entries).toEqual(after);
  });

  it('an unreachable replica is an input error, not a report', async () => {
    const s = cleanScenario();
    const net = network({ 1: s.log, 2: s.log, 3: s.log }, null);
    net.setState(R[3], 'down');
    await expect(loadLive({ replicas: targets, http: net.http })).rejects.toThrow(
      /order-3: .*refused/,
    );
  });
});
