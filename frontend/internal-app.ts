/**
 * The frontend's internal HTTP API: the catalog's change feed, and a manual invalidation.
 *
 * It is a separate Hono app served on its own port (FRONTEND_INTERNAL_PORT) so that nothing on
 * the public port can empty the cache; the public app mounts no /internal route at all. Its
 * routes and schemas are shared/protocol/frontend.ts (`frontendInternalRoutes`); both need the
 * cluster credential when the cluster has one.
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
import type { ClusterCredential } from '../shared/auth.ts';
import { frontendInternalRoutes } from '../shared/protocol/frontend.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { requestIdOf } from '../shared/request-context.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { ProductCache } from './cache.ts';
import { CatalogFreshness } from './freshness.ts';

export interface FrontendInternalAppDeps {
  cache: ProductCache;
  /**
   * What the frontend has heard of the catalog's changes; the cache's `trusted` reads it. Default:
   * one with no silence rule.
   */
  freshness?: CatalogFreshness;
  /**
   * Required on every internal route; null or absent: an open cluster (loopback only,
   * shared/config.ts).
   */
  credential?: ClusterCredential | null;
}

export function createFrontendInternalApp(deps: FrontendInternalAppDeps): Hono {
  const { cache } = deps;
  const freshness = deps.freshness ?? new CatalogFreshness();
  const app = createServiceApp();
  mountRoutes(
    app,
    frontendInternalRoutes,
    {
      changes: ({ body: notice, c }) => {
        const { missed } = freshness.accept(notice);
        if (missed) cache.invalidateAll();
        for (const name of notice.names) cache.invalidate(name, requestIdOf(c));
        return { seq: freshness.view().seq, dropped: missed };
      },
      invalidate: ({ body: { name }, c }) => {
        cache.invalidate(name, requestIdOf(c));
        return { invalidated: name };
      },
    },
    { credential: deps.credential ?? null },
  );
  return app;
}
