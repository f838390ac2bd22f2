/**
 * Every service's Hono app starts here, so the conventions clients see are one rule each, the
 * same on every port:
 * - one trailing slash is accepted on every route (`POST /orders/`, `GET /products/Tux/`): Hono's
 *   `strict: false`, which routes "/x/" as "/x". Django-style clients add it; answering 404
 *   would refuse their orders;
 * - a thrown error leaves through `onAppError` (the lab's `{"error":{"code","message"}}` shape);
 * - a request no route took is a 405 with `Allow` when the path exists under another method, a
 *   404 otherwise (`unmatchedRequestHandler`).
 */
import { Hono } from 'hono';
import { onAppError, unmatchedRequestHandler } from './errors.ts';

export function createServiceApp(): Hono {
  const app = new Hono({ strict: false });
  app.onError(onAppError);
  app.notFound(unmatchedRequestHandler(app));
  return app;
}
