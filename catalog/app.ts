/**
 * The catalog's HTTP surface as a Hono app, with its store injected so tests drive it with
 * `app.request()` and no sockets.
 *
 * A purchase answers once the store has made the decrement durable. Telling the frontends is
 * not this app's job: the invalidator (catalog/invalidator.ts) follows the store's durable change
 * feed, so purchases, releases and restocks are all pushed, whoever made them, and an order does
 * not wait on a frontend. The frontend that routed the order drops the toy from its own cache
 * before it answers its client, and any fill in flight cannot store a stale value
 * (frontend/cache.ts); other frontends converge when the push lands.
 */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import {
  FenceRequestSchema, MAX_BATCH_BODY_BYTES, MAX_PUBLIC_BODY_BYTES, PurchaseBatchRequestSchema, PurchaseRequestSchema, ReconcileRequestSchema, parseJsonBody, parseWith,
} from '../shared/contracts.ts';
import { toBatchResult } from '../shared/batcher.ts';

const LedgerQuerySchema = z.object({
  from: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().positive().max(100_000).default(10_000),
});
import { AppError, productNotFound } from '../shared/errors.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { CatalogStore } from './store.ts';

export interface CatalogDeps {
  store: CatalogStore;
}

export function createCatalogApp(deps: CatalogDeps): Hono {
  const { store } = deps;
  const app = createServiceApp();

  app.get('/health', (c) => c.json({ data: { ok: true } }));

  app.get('/products', (c) => c.json({ data: store.list() }));

  app.get('/products/:name', (c) => {
    const product = store.get(c.req.param('name'));
    if (!product) throw productNotFound();
    return c.json({ data: product });
  });

  app.post(
    '/purchases',
    bodyLimit({
      maxSize: MAX_PUBLIC_BODY_BYTES,
      onError: () => {
        throw new AppError(413, 'payload_too_large', `body is larger than ${MAX_PUBLIC_BODY_BYTES} bytes`);
      },
    }),
    async (c) => {
      const req = await parseJsonBody(c.req, PurchaseRequestSchema);
      return c.json({ data: await store.purchase(req) });
    },
  );

  // A leader's concurrent purchases in one request (shared/batcher.ts): each is the same call as
  // /purchases, in order, and the answer waits until every one is durable (group commit makes
  // that one fsync); each item carries its own outcome.
  app.post(
    '/purchases/batch',
    bodyLimit({
      maxSize: MAX_BATCH_BODY_BYTES,
      onError: () => {
        throw new AppError(413, 'payload_too_large', `body is larger than ${MAX_BATCH_BODY_BYTES} bytes`);
      },
    }),
    async (c) => {
      const { purchases } = await parseJsonBody(c.req, PurchaseBatchRequestSchema);
      const settled = await Promise.allSettled(purchases.map((p) => store.purchase(p)));
      return c.json({ data: { results: settled.map(toBatchResult) } });
    },
  );

  // ---- internal: leaders fence the catalog, account for purchases, and the checker reads the ledger
  const internalBody = bodyLimit({
    maxSize: 32 * 1024 * 1024,
    onError: () => {
      throw new AppError(413, 'payload_too_large', 'body too large');
    },
  });
  app.post('/internal/fence', internalBody, async (c) => {
    const { epoch } = await parseJsonBody(c.req, FenceRequestSchema);
    return c.json({ data: { fenceEpoch: await store.fence(epoch) } });
  });
  app.get('/internal/pending', (c) => c.json({ data: store.pending() }));
  app.post('/internal/reconcile', internalBody, async (c) => {
    // A release puts stock back; the invalidator pushes it like any other durable change.
    return c.json({ data: await store.reconcile(await parseJsonBody(c.req, ReconcileRequestSchema)) });
  });
  app.get('/internal/ledger', (c) => {
    const { from, limit } = parseWith(LedgerQuerySchema, c.req.query(), 'query');
    return c.json({ data: store.ledger(from, limit) });
  });

  return app;
}
