/**
 * The frontend's public HTTP API: product queries through the cache, orders through the
 * OrderRouter, and a health view.
 *
 * Why it is shaped so:
 * - It is a function of its dependencies (cache, catalog client, order router), so tests drive it
 *   with `app.request()` and fakes, and main.ts wires the real ones.
 * - Every input is validated at the edge by the route table (shared/protocol/frontend.ts: body
 *   schema, order number, a body size limit) before the router is called, and every error goes
 *   through `onAppError`/`onNotFound`, so each error is `{"error":{"code":N,"message":...}}` with
 *   HTTP status == code.
 * - Read-your-writes for the ordering client: when an order succeeds the frontend invalidates
 *   the toy in its own cache BEFORE it responds, so the client's next query cannot be served the
 *   stock from before its order, even if the catalog's pushed invalidation is still on its way.
 *   The cache also discards any fill that was in flight across that invalidation. When the
 *   outcome is unknown (504) or the failure is not a plain refusal (any 5xx or unexpected error)
 *   it invalidates too; only 4xx refusals (400/404/409), which changed no stock, leave it alone.
 * - Internal routes (cache invalidation) live on a separate app and port (internal-app.ts); none
 *   is mounted here.
 */
import type { Context, Hono } from 'hono';
import type { ClusterCredential } from '../shared/auth.ts';
import {
  IDEMPOTENCY_KEY_HEADER,
  REPLAYED_HEADER,
  MAX_NAME_LENGTH,
  type OrderPlaced,
  type Product,
  countRawHeader,
  parseIdempotencyKeyHeader,
} from '../shared/contracts.ts';
import { AppError, productNotFound } from '../shared/errors.ts';
import type { FastRead } from '../shared/fast-read.ts';
import { frontendPublicRoutes } from '../shared/protocol/frontend.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { incomingOf } from '../shared/serve.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { ProductCache } from './cache.ts';
import type { CatalogClient } from './catalog-client.ts';
import type { CatalogFreshness } from './freshness.ts';
import type { OrderRouter } from './types.ts';
import { requestIdOf } from '../shared/request-context.ts';

export interface FrontendAppDeps {
  cache: ProductCache;
  catalog: CatalogClient;
  orders: OrderRouter;
  /** What the frontend has heard of the catalog's change feed; shown by /health. */
  freshness?: Pick<CatalogFreshness, 'view'>;
}

export function createFrontendApp(deps: FrontendAppDeps): Hono {
  const { cache, catalog, orders } = deps;
  const app = createServiceApp();
  // Every route here is public (the store's front door): no credential is asked.
  const public_: { credential: ClusterCredential | null } = { credential: null };
  mountRoutes(
    app,
    frontendPublicRoutes,
    {
      listProducts: async () =>
        (await catalog.listProducts()).map(({ name, price, quantity }) => ({
          name,
          price,
          quantity,
        })),
      getProduct: ({ params: { name }, c }) => {
        // No catalog name is empty or this long: answer without a trip to the catalog.
        if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw productNotFound();
        // A hit is answered synchronously (no promise between the request and its answer).
        const cached = cache.hit(name);
        if (cached !== undefined) return productView(name, cached);
        return cache.get(name, requestIdOf(c)).then((p) => productView(name, p));
      },
      placeOrder: async ({ body: req, c }) => {
        const idempotencyKey = idempotencyKeyOf(c);
        let placed: OrderPlaced & { replayed?: boolean };
        try {
          placed = await orders.placeOrder(req, { idempotencyKey, requestId: requestIdOf(c) });
        } catch (err) {
          if (!isDefiniteRejection(err)) cache.invalidate(req.name);
          throw err;
        }
        // Before responding: the client's next query must not see the stock from before its order.
        cache.invalidate(req.name);
        if (placed.replayed) c.header(REPLAYED_HEADER, 'true');
        return { order_number: placed.order_number };
      },
      getOrder: async ({ params, c }) => {
        const order = await orders.getOrder(params.order_number, { requestId: requestIdOf(c) });
        return { number: order.number, name: order.name, quantity: order.quantity };
      },
      health: () => {
        const view = orders.view();
        return {
          leaderId: view.leaderId,
          epoch: view.epoch,
          electing: view.electing,
          replicas: view.replicas,
          cache: cache.stats(),
          ...(deps.freshness && { catalogFeed: deps.freshness.view() }),
        };
      },
    },
    public_,
  );
  return app;
}

/** The public view of a toy: its name as asked, price and stock. */
const productView = (name: string, { price, quantity }: Product) => ({ name, price, quantity });

/**
 * A cache hit of `GET /products/:name`, answered before the app (shared/fast-read.ts) with the
 * very JSON `getProduct` answers: `{"data": productView}`. Its text is made once per cached toy
 * (a refill or an invalidation puts a new object in the cache, so the memo cannot outlive it);
 * a name the cache does not hold, or that getProduct refuses, is left to the app.
 */
export function productFastRead(cache: Pick<ProductCache, 'hit'>): FastRead {
  const texts = new WeakMap<Product, { name: string; text: string }>();
  return {
    spec: frontendPublicRoutes.getProduct,
    answer(name) {
      if (name.length > MAX_NAME_LENGTH) return undefined;
      const p = cache.hit(name);
      if (p === undefined) return undefined;
      let memo = texts.get(p);
      if (memo?.name !== name) {
        memo = { name, text: JSON.stringify({ data: productView(name, p) }) };
        texts.set(p, memo);
      }
      return memo.text;
    },
  };
}

/**
 * A 4xx from the router means the order was refused before it could change stock. Anything else
 * (504 outcome unknown, a 503, an unexpected error) might hide a committed order, and an extra
 * invalidation costs only one catalog read, so the cache entry is dropped.
 */
function isDefiniteRejection(err: unknown): boolean {
  return err instanceof AppError && err.status >= 400 && err.status < 500;
}

/**
 * The optional Idempotency-Key: one header, a valid key (shared/contracts.ts), counted in the raw
 * headers under @hono/node-server.
 */
function idempotencyKeyOf(c: Context): string | undefined {
  const rawHeaders = incomingOf(c.env)?.rawHeaders;
  return parseIdempotencyKeyHeader(
    c.req.header(IDEMPOTENCY_KEY_HEADER),
    rawHeaders && countRawHeader(rawHeaders, IDEMPOTENCY_KEY_HEADER),
  );
}
