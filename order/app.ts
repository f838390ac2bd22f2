/**
 * The order replica's HTTP surface: a thin Hono layer over `Replica`. Its routes, their schemas
 * and which are internal are shared/protocol/order.ts: every body and query is validated by the
 * table before the replica sees it, internal routes need the cluster credential, and every error
 * leaves through onAppError. All but /health are internal: the public API is the frontend's,
 * which forwards orders here. (`/ready` is order/readiness.ts, `/metrics` the observer's.)
 */
import type { Hono } from 'hono';
import type { ClusterCredential } from '../shared/auth.ts';
import { answerEach } from '../shared/batcher.ts';
import { REPLAYED_HEADER } from '../shared/contracts.ts';
import { mountRoutes } from '../shared/protocol/mount.ts';
import { orderRoutes } from '../shared/protocol/order.ts';
import { requestIdOf } from '../shared/request-context.ts';
import { createServiceApp } from '../shared/service-app.ts';
import type { Replica } from './replica.ts';

export interface OrderAppDeps {
  replica: Replica;
  /**
   * Required on every internal route; null or absent: an open cluster (loopback only,
   * shared/config.ts).
   */
  credential?: ClusterCredential | null;
}

export function createOrderApp(deps: OrderAppDeps): Hono {
  const { replica } = deps;
  const app = createServiceApp();
  mountRoutes(
    app,
    orderRoutes,
    {
      order: async ({ body, c }) => {
        const { orderNumber, replayed } = await replica.order(body, requestIdOf(c));
        if (replayed) c.header(REPLAYED_HEADER, 'true');
        return { order_number: orderNumber };
      },
      // The frontend's concurrent orders in one request (shared/batcher.ts): each is the same call
      // as POST /orders, and each item carries its own outcome. Their records are appended
      // together, so they commit together, and the answer goes out when the last one has.
      orderBatch: ({ body, c }) => {
        const requestId = requestIdOf(c);
        return answerEach(body.orders, async (o) => {
          const { orderNumber, replayed } = await replica.order(o, requestId);
          return { order_number: orderNumber, replayed };
        });
      },
      getOrder: ({ params, query }) => replica.getOrder(params.number, query.epoch),
      getOrderBatch: ({ body }) =>
        answerEach(body.reads, (r) => replica.getOrder(r.number, r.epoch)),
      status: () => replica.status(),
      lead: ({ body }) => replica.lead(body.epoch),
      leader: ({ body }) => {
        replica.handleLeaderNotice(body);
        return replica.status();
      },
      promise: ({ body }) => replica.handlePromise(body),
      append: ({ body }) => replica.handleAppend(body),
      fetchLog: ({ query }) => replica.handleFetchLog(query),
      catchup: ({ body }) => {
        replica.handleCatchup(body);
        return { ok: true as const };
      },
      health: () => replica.status(),
    },
    { credential: deps.credential ?? null },
  );
  return app;
}
