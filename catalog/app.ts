/**
 * The catalog's HTTP surface as a Hono app, with its store injected so tests drive it with
 * `app.request()` and no sockets. Its routes, their schemas and which are internal are
 * shared/protocol/catalog.ts; this file says only what each one does.
 *
 * A purchase answers once the store has made the decrement durable. Telling the frontends is
 * not this app's job: the invalidator (catalog/invalidator.ts) follows the store's durable change
 * feed, so purchases, releases and restocks are all pushed, whoever made them, and an order does
 * not wait on a frontend. The frontend that routed the order drops the toy from its own cache
 * before it answers its client, and any fill in flight cannot store a stale value
 * (frontend/cache.ts); other frontends converge when the push lands.
 */
import type { Hono } from 'hono';
import type { ClusterCredential } from '../shared/auth.ts';
import { answerEach, settleNow, toBatchResult } from '../shared/batcher.ts';
import { productNotFound } from '../shared/errors.ts';
import { catalogRoutes } from '../shared/protocol/catalog.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { CatalogStore } from './store.ts';

export interface CatalogDeps {
  store: CatalogStore;
  /**
   * Required on every internal route; null or absent: an open cluster (loopback only,
   * shared/config.ts).
   */
  credential?: ClusterCredential | null;
}

export function createCatalogApp(deps: CatalogDeps): Hono {
  const { store } = deps;
  const productNamed = (name: string) => {
    const product = store.get(name);
    if (!product) throw productNotFound();
    return product;
  };
  const app = createServiceApp();
  mountRoutes(
    app,
    catalogRoutes,
    {
      health: () => ({ ok: true as const }),
      listProducts: () => store.list(),
      getProduct: ({ params }) => productNamed(params.name),
      // A frontend's concurrent product reads in one request: each as GET /products/:name.
      productBatch: ({ body }) => ({
        results: body.names.map((name) => toBatchResult(settleNow(() => productNamed(name)))),
      }),
      purchase: ({ body }) => store.purchase(body),
      // A leader's concurrent purchases in one request (shared/batcher.ts): each is the same call
      // as /purchases, in order, and the answer waits until every one is durable (group commit
      // makes that one fsync); each item carries its own outcome.
      purchaseBatch: ({ body }) => answerEach(body.purchases, (p) => store.purchase(p)),
      // Leaders fence the catalog and account for purchases; the checker reads the ledger.
      fence: async ({ body }) => ({ fenceEpoch: await store.fence(body.epoch) }),
      pending: () => store.pending(),
      // A release puts stock back; the invalidator pushes it like any other durable change.
      reconcile: ({ body }) => store.reconcile(body),
      ledger: ({ query }) => store.ledger(query.from, query.limit),
    },
    { credential: deps.credential ?? null },
  );
  return app;
}
