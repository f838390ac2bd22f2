/**
 * The order replica's HTTP surface: a thin Hono layer over `Replica`. Every body is validated
 * against shared/contracts.ts before the replica sees it; every error leaves through onAppError.
 * These routes are internal: the public API is the frontend's, which forwards orders here.
 */
import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import {
  AppendRequestSchema, CatchupRequestSchema, LeadRequestSchema, LeaderNoticeSchema, LeaderOrderBatchRequestSchema, LeaderOrderRequestSchema,
  MAX_BATCH_BODY_BYTES, PromiseRequestSchema, REPLAYED_HEADER, parseJsonBody, parseOrderNumber, parseWith,
} from '../shared/contracts.ts';
import { toBatchResult } from '../shared/batcher.ts';
import { AppError } from '../shared/errors.ts';
import { createServiceApp } from '../shared/service-app.ts';
import { z } from 'zod';
import type { Replica } from './replica.ts';
import { requestIdOf } from '../shared/request-context.ts';

const EpochQuerySchema = z.object({ epoch: z.coerce.number().int().positive().optional() });
const FetchLogQuerySchema = z.object({
  /** A candidate fetching the log to adopt it passes its epoch (fenced); a read-only reader (the checker) omits it. */
  epoch: z.coerce.number().int().positive().optional(),
  from: z.coerce.number().int().nonnegative(),
  limit: z.coerce.number().int().positive().default(2_000),
});

export function createOrderApp(deps: { replica: Replica }): Hono {
  const { replica } = deps;
  const app = createServiceApp();
  // Replication pages are large; orders and control messages are small.
  const small = bodyLimit({ maxSize: 16 * 1024, onError: () => { throw new AppError(413, 'payload_too_large', 'request body too large'); } });
  const large = bodyLimit({ maxSize: 64 * 1024 * 1024, onError: () => { throw new AppError(413, 'payload_too_large', 'request body too large'); } });

  app.post('/orders', small, async (c) => {
    const req = await parseJsonBody(c.req, LeaderOrderRequestSchema);
    const { orderNumber, replayed } = await replica.order(req, requestIdOf(c));
    if (replayed) c.header(REPLAYED_HEADER, 'true');
    return c.json({ data: { order_number: orderNumber } });
  });
  // The frontend's concurrent orders in one request (shared/batcher.ts): each is the same call as
  // POST /orders, and each item carries its own outcome. Their records are appended together,
  // so they commit together, and the answer goes out when the last one has.
  const batchBody = bodyLimit({ maxSize: MAX_BATCH_BODY_BYTES, onError: () => { throw new AppError(413, 'payload_too_large', 'request body too large'); } });
  app.post('/orders/batch', batchBody, async (c) => {
    const { orders } = await parseJsonBody(c.req, LeaderOrderBatchRequestSchema);
    const requestId = requestIdOf(c);
    const settled = await Promise.allSettled(orders.map(async (o) => {
      const { orderNumber, replayed } = await replica.order(o, requestId);
      return { order_number: orderNumber, replayed };
    }));
    return c.json({ data: { results: settled.map(toBatchResult) } });
  });
  app.get('/orders/:number', async (c) => {
    const n = parseOrderNumber(c.req.param('number'));
    const { epoch } = parseWith(EpochQuerySchema, c.req.query(), 'query');
    return c.json({ data: await replica.getOrder(n, epoch) });
  });

  app.get('/internal/status', (c) => c.json({ data: replica.status() }));
  app.post('/internal/lead', small, async (c) => c.json({ data: await replica.lead((await parseJsonBody(c.req, LeadRequestSchema)).epoch) }));
  app.post('/internal/leader', small, async (c) => {
    replica.handleLeaderNotice(await parseJsonBody(c.req, LeaderNoticeSchema));
    return c.json({ data: replica.status() });
  });
  app.post('/internal/promise', small, async (c) => c.json({ data: await replica.handlePromise(await parseJsonBody(c.req, PromiseRequestSchema)) }));
  app.post('/internal/append', large, async (c) => c.json({ data: await replica.handleAppend(await parseJsonBody(c.req, AppendRequestSchema)) }));
  app.get('/internal/log', (c) => c.json({ data: replica.handleFetchLog(parseWith(FetchLogQuerySchema, c.req.query(), 'query')) }));
  app.post('/internal/catchup', small, async (c) => {
    replica.handleCatchup(await parseJsonBody(c.req, CatchupRequestSchema));
    return c.json({ data: { ok: true } });
  });
  app.get('/health', (c) => c.json({ data: replica.status() }));
  return app;
}
