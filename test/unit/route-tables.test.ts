/**
 * The route tables (shared/protocol/) are the protocol: each listener of each service serves
 * exactly its table's routes, every one of them and nothing else, so a route added to a server
 * without its table entry (or the other way round) fails here. Each listener is composed as its
 * main.ts composes it (the same app factories, the same observer with /metrics).
 *
 * And the client side reads the same entries: paths with encoded parameters and query strings,
 * the internal mark that carries the credential, and the response schema.
 */
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { createFrontendApp } from '../../frontend/app.ts';
import { createIndexApp } from '../../frontend/index-page.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { createFrontendReadinessApp } from '../../frontend/readiness.ts';
import { createStatusPage } from '../../frontend/status.ts';
import { createOrderApp } from '../../order/app.ts';
import { createReplicaReadinessApp } from '../../order/readiness.ts';
import type { Replica } from '../../order/replica.ts';
import type { HttpRequest } from '../../shared/http.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { observeApp, QUIET_ROUTES } from '../../shared/observability.ts';
import {
  catalogRoutes,
  createRouteClient,
  frontendInternalRoutes,
  frontendPublicRoutes,
  LISTENER_TABLES,
  orderRoutes,
  type ListenerName,
  pathOf,
  requestOf,
  routeKeys,
  type RouteTable,
} from '../../shared/protocol/index.ts';
import type { Hono } from 'hono';
import { FakeCatalog, FakeRouter } from '../frontend/helpers.ts';

const observe = { logger: pino({ level: 'silent' }), registry: createRegistry() };

/** `METHOD /path` of every route an app serves (middleware excluded). */
function served(app: Hono): string[] {
  return [
    ...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`)),
  ].sort();
}

/** Every listener, composed as main.ts composes it. */
function listeners(): { apps: Record<ListenerName, Hono>; close(): void } {
  const replica = {} as Replica;
  const catalog = new FakeCatalog([]);
  const router = new FakeRouter();
  const cache = new ProductCache({ maxSize: 2, loader: (n) => catalog.getProduct(n) });
  const status = createStatusPage({
    cache,
    orders: router,
    catalog,
    recorder: { report: () => ({}) as never },
    sampleEveryMs: 0,
  });
  const apps: Record<ListenerName, Hono> = {
    catalog: observeApp(createCatalogApp({ store: createMemoryCatalogStore() }), {
      ...observe,
      serveMetrics: true,
    }),
    order: observeApp(
      [
        createOrderApp({ replica }),
        createReplicaReadinessApp({ replica, peerStatus: () => Promise.reject(new Error('none')) }),
      ],
      { ...observe, serveMetrics: true },
    ),
    'frontend public': observeApp(
      [
        createIndexApp(),
        status.app,
        createFrontendReadinessApp({
          orders: router,
          http: () => Promise.reject(new Error('none')),
          commitQuorum: 2,
        }),
        createFrontendApp({ cache, catalog, orders: router }),
      ],
      observe,
    ),
    'frontend internal': observeApp(createFrontendInternalApp({ cache }), {
      ...observe,
      serveMetrics: true,
    }),
  };
  return { apps, close: () => status.close() };
}

describe('every listener serves exactly its route table', () => {
  const { apps, close } = listeners();
  for (const [listener, table] of Object.entries(LISTENER_TABLES) as Array<
    [ListenerName, RouteTable]
  >) {
    it(`the ${listener} listener: every route of its table is mounted, and nothing else`, () => {
      expect(served(apps[listener])).toEqual(routeKeys(table).sort());
    });
  }

  it('nothing internal is on the frontend public port, and the public API is not on its internal port', () => {
    expect(Object.values(frontendPublicRoutes).every((r) => r.access === 'public')).toBe(true);
    expect(served(apps['frontend public']).some((r) => r.includes('/internal/'))).toBe(false);
    expect(served(apps['frontend internal']).some((r) => /\/(products|orders)/.test(r))).toBe(
      false,
    );
  });

  it('the catalog and the replicas are internal services: everything but /health, /ready and /metrics needs the credential', () => {
    for (const table of [catalogRoutes, orderRoutes, frontendInternalRoutes] as RouteTable[]) {
      for (const r of Object.values(table))
        expect(`${r.path} ${r.access}`).toBe(
          `${r.path} ${['/health', '/ready', '/metrics'].includes(r.path) ? 'public' : 'internal'}`,
        );
    }
  });

  it('the request log keeps heartbeat-like routes quiet, as read from the tables', () => {
    expect([...QUIET_ROUTES].sort()).toEqual([
      'GET /health',
      'GET /internal/pending',
      'GET /internal/status',
      'GET /metrics',
      'GET /ready',
      'GET /status',
      'GET /status.json',
      'POST /internal/append',
      'POST /internal/changes',
      'POST /internal/leader',
    ]);
  });
  afterAll(close);
});

describe('a client reads the same entries', () => {
  it('fills path parameters percent-encoded and writes the query, leaving out what is undefined', () => {
    expect(pathOf(frontendPublicRoutes.getProduct, { params: { name: "Rubik's Cube/2" } })).toBe(
      "/products/Rubik's%20Cube%2F2",
    );
    expect(pathOf(orderRoutes.getOrder, { params: { number: 7 }, query: { epoch: 3 } })).toBe(
      '/orders/7?epoch=3',
    );
    expect(pathOf(orderRoutes.fetchLog, { query: { epoch: undefined, from: 0, limit: 10 } })).toBe(
      '/internal/log?from=0&limit=10',
    );
    // The same template twice (it is compiled once), and a parameter left out is a caller's bug.
    expect(pathOf(orderRoutes.getOrder, { params: { number: 8 } })).toBe('/orders/8');
    expect(() => pathOf(frontendPublicRoutes.getProduct, {})).toThrow(
      /missing path parameter name/,
    );
  });

  it('marks a call of an internal route internal (so the credential goes along) and a public one not', () => {
    expect(
      requestOf('http://r1/', orderRoutes.append, { body: {} as never }, { timeoutMs: 5 }),
    ).toEqual({
      method: 'POST',
      url: 'http://r1/internal/append',
      body: {},
      timeoutMs: 5,
      internal: true,
    });
    expect(requestOf('http://r1', orderRoutes.health, {})).toEqual({
      method: 'GET',
      url: 'http://r1/health',
    });
  });

  it("validates the answer with the table's schema: a malformed one is a 502, a peer refusing the credential a 502 naming it", async () => {
    const answers: Array<{ status: number; body: unknown }> = [
      { status: 200, body: { data: { ok: true } } },
      { status: 200, body: { data: { ok: 'yes' } } },
      {
        status: 403,
        body: {
          error: { code: 403, message: 'the cluster credential is wrong', reason: 'forbidden' },
        },
      },
    ];
    const calls: HttpRequest[] = [];
    const client = createRouteClient(
      async (req) => (calls.push(req), { headers: {}, ...answers.shift()! }),
      catalogRoutes,
    );
    expect(await client.call('http://c', 'health', {})).toEqual({ ok: true });
    await expect(client.call('http://c', 'health', {})).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(/malformed response/),
    });
    await expect(client.call('http://c', 'pending', {})).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(/refused the cluster credential.*CLUSTER_SECRET/),
    });
    expect(calls.map((c) => `${c.method} ${c.url} ${c.internal ?? false}`)).toEqual([
      'GET http://c/health false',
      'GET http://c/health false',
      'GET http://c/internal/pending true',
    ]);
  });
});
