/**
 * The catalog's HTTP surface as a Hono app, with its store and invalidator injected so tests
 * drive it with `app.request()` and no sockets.
 *
 * A purchase answers only after two things: the store has made the decrement durable, and every
 * reachable frontend has been told to drop the toy. In that order, a frontend that re-reads after
 * the invalidation can only see the new stock (reads serve durable state), and once the order
 * service hears "done", no frontend cache still holds the stock from before the order.
 */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { FenceRequestSchema, MAX_PUBLIC_BODY_BYTES, PurchaseRequestSchema, ReconcileRequestSchema, parseJsonBody, parseWith } from '../shared/contracts.ts';

const LedgerQuerySchema = z.object({
  from: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().positive().max(100_000).default(10_000),
});
import { AppError, productNotFound } from '../shared/errors.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { Invalidator } from './invalidator.ts';
import type { CatalogStore } from './store.ts';

export interface CatalogDeps {
  store: CatalogStore;
  invalidator: Invalidator;
}

export function createCatalogApp(deps: CatalogDeps): Hono {
  const { store, invalidator } = deps;
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
      const result = await store.purchase(req);
      // Pushed, not awaited: the frontend that routed this order drops the toy from its own cache
      // before it answers the client (so that client never sees pre-order stock), and any fill
      // in flight cannot store a stale value (frontend/cache.ts). Other frontends converge when
      // the push lands; an extra round trip on every order's critical path buys nothing more.
      void invalidator.invalidate(result.name);
      return c.json({ data: result });
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
    const req = await parseJsonBody(c.req, ReconcileRequestSchema);
    const releasing = new Set(req.release);
    const names = new Set(store.pending().entries.filter((p) => releasing.has(p.key)).map((p) => p.name));
    const result = await store.reconcile(req);
    // A release puts stock back: frontends must drop what they cached, as after a purchase.
    if (result.released) for (const name of names) await invalidator.invalidate(name);
    return c.json({ data: result });
  });
  app.get('/internal/ledger', (c) => {
    const { from, limit } = parseWith(LedgerQuerySchema, c.req.query(), 'query');
    return c.json({ data: store.ledger(from, limit) });
  });

  return app;
}
