/**
 * The catalog's HTTP surface as a Hono app, with its store and invalidator injected so tests
 * drive it with `app.request()` and no sockets.
 *
 * A purchase answers only after two things: the store has made the decrement durable, and every
 * reachable frontend has been told to drop the toy. In that order, a frontend that re-reads after
 * the invalidation can only see the new stock (reads serve durable state), and once the order
 * service hears "done", no frontend cache still holds the stock from before the order.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MAX_PUBLIC_BODY_BYTES, PurchaseRequestSchema, parseJsonBody } from '../shared/contracts.ts';
import { AppError, onAppError, onNotFound, productNotFound } from '../shared/errors.ts';
import type { Invalidator } from './invalidator.ts';
import type { CatalogStore } from './store.ts';

export interface CatalogDeps {
  store: CatalogStore;
  invalidator: Invalidator;
}

export function createCatalogApp(deps: CatalogDeps): Hono {
  const { store, invalidator } = deps;
  const app = new Hono();

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
      await invalidator.invalidate(result.name);
      return c.json({ data: result });
    },
  );

  app.onError(onAppError);
  app.notFound(onNotFound);
  return app;
}
