/**
 * The whole store in one process: the real catalog app (in-memory store), the frontend's public
 * and internal apps, and three order replicas, all talking over the in-process network exactly as
 * they would over sockets (the catalog pushes invalidations to the frontend's internal app, the
 * leader buys from the catalog app). `request` is the client's view: the public frontend only.
 */
import { createCatalogApp } from '../../catalog/app.ts';
import { createInvalidator } from '../../catalog/invalidator.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { createFrontendApp } from '../../frontend/app.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { createCatalogClient } from '../../frontend/catalog-client.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { createInProcessNetwork } from '../../shared/http.ts';
import { createBatchingCatalogPurchaser, createHttpCatalogAccounts } from '../../order/peers.ts';
import { createOrderCluster, replicaUrl } from './order-cluster.ts';
import { createOrderRouter } from '../../frontend/order-router.ts';
import { systemClock } from '../../shared/clock.ts';

export const CATALOG_URL = 'http://catalog.test';
export const FRONTEND_INTERNAL_URL = 'http://frontend-internal.test';

export function createStack(opts: { cacheSize?: number; cacheEnabled?: boolean; reconcileIntervalMs?: number } = {}) {
  const net = createInProcessNetwork();
  const store = createMemoryCatalogStore();
  const invalidator = createInvalidator({ http: net.http, frontendUrls: [FRONTEND_INTERNAL_URL], changes: store });
  net.register(CATALOG_URL, createCatalogApp({ store }).fetch);
  const orders = createOrderCluster({
    net,
    catalog: createBatchingCatalogPurchaser(net.http, CATALOG_URL),
    catalogAccounts: createHttpCatalogAccounts(net.http, CATALOG_URL),
    reconcileIntervalMs: opts.reconcileIntervalMs ?? 50,
  });
  const catalog = createCatalogClient(net.http, CATALOG_URL);
  const cache = new ProductCache({ maxSize: opts.cacheSize ?? 7, enabled: opts.cacheEnabled ?? true, loader: (n) => catalog.getProduct(n) });
  const app = createFrontendApp({ cache, catalog, orders: orders.router });
  net.register(FRONTEND_INTERNAL_URL, createFrontendInternalApp({ cache }).fetch);

  const request = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await app.request(path, init);
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json };
  };

  /** A fresh frontend (new router, empty memory) over the same cluster: a frontend restart. */
  const restartFrontend = () => {
    const router = createOrderRouter({ http: net.http, replicas: [1, 2, 3].map((id) => ({ id, url: replicaUrl(id), port: 80 })), clock: systemClock, heartbeatIntervalMs: 20 });
    router.start();
    routers.push(router);
    return createFrontendApp({ cache: new ProductCache({ maxSize: 7, loader: (n) => catalog.getProduct(n) }), catalog, orders: router });
  };
  const routers: Array<{ stop(): void }> = [];

  return {
    ...orders,
    store,
    cache,
    app,
    request,
    restartFrontend,
    stopAll: async () => {
      for (const r of routers) r.stop();
      await orders.stop();
      await invalidator.stop();
    },
  };
}
export type Stack = ReturnType<typeof createStack>;
