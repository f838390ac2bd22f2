/**
 * The whole store in one process, each service built the way its main.ts builds it
 * (catalog/build.ts, order/build.ts, frontend/build.ts) with only the IO swapped: the catalog
 * over its memory store, three order replicas over in-memory logs, the frontend, all talking over
 * the in-process network exactly as they would over sockets (the catalog pushes its change feed
 * to the frontend's internal app, the leader buys, fences and accounts at the catalog app).
 * It is a secured cluster: every internal route checks STACK_SECRET and every service-to-service
 * call carries it, so a client that forgets to mark a call internal fails here.
 * `request` is the client's view: the public frontend only. With `clock: new ManualClock()` the
 * whole store runs on logical time (`until` and `settle` advance it).
 */
import { buildCatalog } from '../../catalog/build.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { buildFrontend, type BuiltFrontend } from '../../frontend/build.ts';
import { systemClock, type Clock } from '../../shared/clock.ts';
import { createInProcessNetwork } from '../../shared/http.ts';
import { CATALOG_URL, createOrderCluster, replicaUrl } from './order-cluster.ts';

export { CATALOG_URL };
export const FRONTEND_INTERNAL_URL = 'http://frontend-internal.test';
/** The stack's CLUSTER_SECRET, given to every service it builds. */
export const STACK_SECRET = 'stack-test-secret-0123456789abcdefghijklmnop';

export interface StackOptions {
  cacheSize?: number;
  cacheEnabled?: boolean;
  reconcileIntervalMs?: number;
  /** Default: an hour, so no story sees a restock it did not ask for. */
  restockIntervalMs?: number;
  clock?: Clock;
}

export function createStack(opts: StackOptions = {}) {
  const clock = opts.clock ?? systemClock;
  // Every call's timeout runs on the stack's clock (logical time on a ManualClock).
  const net = createInProcessNetwork({ clock });
  const store = createMemoryCatalogStore();
  const catalog = buildCatalog(
    {
      frontendUrls: [FRONTEND_INTERNAL_URL],
      restockIntervalMs: opts.restockIntervalMs ?? 3_600_000,
      clusterSecret: STACK_SECRET,
    },
    { clock, http: net.http, store },
  );
  net.register(CATALOG_URL, catalog.app.fetch);
  const orders = createOrderCluster({
    net,
    clock,
    catalogUrl: CATALOG_URL,
    clusterSecret: STACK_SECRET,
    reconcileIntervalMs: opts.reconcileIntervalMs ?? 50,
    cacheSize: opts.cacheSize,
    cacheEnabled: opts.cacheEnabled,
    nodeOf: (origin) => (origin === CATALOG_URL ? 'catalog' : undefined),
  });
  net.register(FRONTEND_INTERNAL_URL, orders.frontend.internalApp.fetch);
  catalog.start();
  const app = orders.frontend.publicApp;

  const request = async (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await orders.settle(Promise.resolve(app.request(path, init)));
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json };
  };

  /**
   * A fresh frontend (new router, empty memory) over the same cluster: a frontend restart. It
   * hears no change feed (its internal app is not on the network), so it serves product reads
   * from the catalog.
   */
  const restartFrontend = () => {
    const fresh = buildFrontend(
      {
        replicas: [1, 2, 3].map((id) => ({ id, url: replicaUrl(id), port: 80 })),
        catalogUrl: CATALOG_URL,
        heartbeatIntervalMs: 20,
        commitQuorum: 2,
        cacheSize: 7,
        cacheEnabled: true,
        clusterSecret: STACK_SECRET,
      },
      { clock, http: net.http },
    );
    fresh.start();
    restarted.push(fresh);
    return fresh.publicApp;
  };
  const restarted: BuiltFrontend[] = [];

  return {
    ...orders,
    store,
    catalogService: catalog,
    cache: orders.frontend.cache,
    app,
    request,
    restartFrontend,
    stopAll: async () => {
      for (const f of restarted) f.stop();
      await orders.stop();
      await catalog.stop();
    },
  };
}
export type Stack = ReturnType<typeof createStack>;
