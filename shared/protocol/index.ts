/**
 * Every service's route table (issue 11: one protocol definition per service), and what is
 * derived from all of them at once.
 */
import { catalogRoutes } from './catalog.ts';
import { frontendInternalRoutes, frontendPublicRoutes } from './frontend.ts';
import { orderRoutes } from './order.ts';
import type { RouteTable } from './route.ts';

export * from './route.ts';
export * from './client.ts';
export * from './mount.ts';
export { metricsRoute } from './common.ts';
export { catalogRoutes } from './catalog.ts';
export { orderRoutes } from './order.ts';
export { frontendPublicRoutes, frontendInternalRoutes } from './frontend.ts';

/** Each listener of the store and the table it serves. */
export const LISTENER_TABLES = {
  catalog: catalogRoutes,
  order: orderRoutes,
  'frontend public': frontendPublicRoutes,
  'frontend internal': frontendInternalRoutes,
} as const satisfies Record<string, RouteTable>;
export type ListenerName = keyof typeof LISTENER_TABLES;

/**
 * `METHOD /pattern` of every route marked `quiet`: their request lines are logged at debug
 * unless traced (shared/observability.ts).
 */
export const QUIET_ROUTES: ReadonlySet<string> = new Set(
  Object.values(LISTENER_TABLES).flatMap((t: RouteTable) =>
    Object.values(t)
      .filter((r) => r.quiet)
      .map((r) => `${r.method} ${r.path}`),
  ),
);
