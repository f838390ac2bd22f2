/**
 * The frontend's internal HTTP API: the catalog's change feed, and a manual invalidation.
 *
 * It is a separate Hono app served on its own port (FRONTEND_INTERNAL_PORT) so that nothing on
 * the public port can empty the cache; the public app mounts no /internal route at all.
 * - `POST /internal/changes` takes the catalog's notices (`ChangeNoticeSchema`, pushed by
 *   catalog/invalidator.ts until acknowledged): a notice that reveals missed changes empties the
 *   cache first (frontend/freshness.ts), then every toy it names is dropped. The 200 is the
 *   acknowledgement, so it is sent only after the cache has forgotten them.
 * - `POST /internal/invalidate` `{name}` drops one toy by hand (an operator's curl).
 * Bodies are validated with the shared schemas and size-limited, and errors use the same
 * `onAppError` shape as every other service, so the catalog can tell a bad push (400) from a
 * frontend that is down.
 */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ChangeNoticeSchema, InvalidationSchema, MAX_PUBLIC_BODY_BYTES, parseJsonBody } from '../shared/contracts.ts';
import { requestIdOf } from '../shared/request-context.ts';
import { createServiceApp } from '../shared/service-app.ts';
import { payloadTooLarge } from './app.ts';
import type { ProductCache } from './cache.ts';
import { CatalogFreshness } from './freshness.ts';

export interface FrontendInternalAppDeps {
  cache: ProductCache;
  /** What the frontend has heard of the catalog's changes; the cache's `trusted` reads it. Default: one with no silence rule. */
  freshness?: CatalogFreshness;
}

/** Room for MAX_NOTICE_NAMES names of the longest length, JSON-escaped. */
const MAX_NOTICE_BYTES = 1024 * 1024;

export function createFrontendInternalApp(deps: FrontendInternalAppDeps): Hono {
  const { cache } = deps;
  const freshness = deps.freshness ?? new CatalogFreshness();
  const app = createServiceApp();
  const limit = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError: () => {
        throw payloadTooLarge(maxSize);
      },
    });

  app.post('/internal/changes', limit(MAX_NOTICE_BYTES), async (c) => {
    const notice = await parseJsonBody(c.req, ChangeNoticeSchema);
    const { missed } = freshness.accept(notice);
    if (missed) cache.invalidateAll();
    for (const name of notice.names) cache.invalidate(name, requestIdOf(c));
    return c.json({ data: { seq: freshness.view().seq, dropped: missed } });
  });

  app.post('/internal/invalidate', limit(MAX_PUBLIC_BODY_BYTES), async (c) => {
    const { name } = await parseJsonBody(c.req, InvalidationSchema);
    cache.invalidate(name, requestIdOf(c));
    return c.json({ data: { invalidated: name } });
  });

  return app;
}
