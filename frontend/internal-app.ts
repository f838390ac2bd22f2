/**
 * The frontend's internal HTTP API: cache invalidations pushed by the catalog.
 *
 * It is a separate Hono app served on its own port (FRONTEND_INTERNAL_PORT) so that nothing on
 * the public port can empty the cache; the public app mounts no /internal route at all. Bodies
 * are validated with the shared `InvalidationSchema` and size-limited, and errors use the same
 * `onAppError` shape as every other service, so the catalog can tell a bad push (400) from a
 * frontend that is down.
 */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { InvalidationSchema, MAX_PUBLIC_BODY_BYTES, parseJsonBody } from '../shared/contracts.ts';
import { createServiceApp } from '../shared/service-app.ts';
import { payloadTooLarge } from './app.ts';
import type { ProductCache } from './cache.ts';

export interface FrontendInternalAppDeps {
  cache: ProductCache;
}

export function createFrontendInternalApp(deps: FrontendInternalAppDeps): Hono {
  const { cache } = deps;
  const app = createServiceApp();

  app.post(
    '/internal/invalidate',
    bodyLimit({
      maxSize: MAX_PUBLIC_BODY_BYTES,
      onError: () => {
        throw payloadTooLarge(MAX_PUBLIC_BODY_BYTES);
      },
    }),
    async (c) => {
      const { name } = await parseJsonBody(c.req, InvalidationSchema);
      cache.invalidate(name);
      return c.json({ data: { invalidated: name } });
    },
  );

  return app;
}
