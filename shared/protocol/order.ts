/**
 * An order replica's routes: one listener (its entry's port in ORDER_REPLICAS), an internal
 * service. Everything but /health, /ready and /metrics is internal: the frontends route orders
 * and order reads here, probe and elect (status, lead, leader notices), and the replicas
 * replicate among themselves (promise, append, log pages, catch-up), all with the cluster
 * credential. order/app.ts and order/readiness.ts mount these; order/peers.ts,
 * frontend/order-router.ts, frontend/readiness.ts and the tools call them.
 */
import { z } from 'zod';
import {
  LeaderOrderBatchRequestSchema,
  MAX_BATCH_BODY_BYTES,
  MAX_LOG_PAGE,
  OrderBatchAnswerSchema,
  OrderReadBatchAnswerSchema,
  OrderReadBatchRequestSchema,
  AppendRequestSchema,
  AppendResponseSchema,
  CatchupRequestSchema,
  FetchLogResponseSchema,
  LeadRequestSchema,
  LeadResponseSchema,
  LeaderNoticeSchema,
  LeaderOrderRequestSchema,
  OrderPlacedSchema,
  OrderSchema,
  PromiseRequestSchema,
  PromiseResponseSchema,
  ReplicaStatusSchema,
} from '../contracts.ts';
import { EPOCH, ORDER_NUMBER, REPLICA_ID } from '../fields.ts';
import { metricsRoute, orderNumberParam, queryInt } from './common.ts';
import { route } from './route.ts';

/** Orders and control messages are small. */
const SMALL_BODY_BYTES = 16 * 1024;
/** Replication pages are large (a catch-up batch of 2,000 orders with long keys). */
const APPEND_BODY_BYTES = 64 * 1024 * 1024;

const positiveEpoch = () => queryInt(EPOCH).pipe(z.number().positive('epoch must be positive'));

export const FetchLogQuerySchema = z.object({
  /**
   * A candidate fetching the log to adopt it passes its epoch (fenced); a read-only reader (the
   * checker) omits it.
   */
  epoch: positiveEpoch().optional(),
  from: queryInt(ORDER_NUMBER),
  limit: z.coerce.number().int().positive().max(MAX_LOG_PAGE).default(2_000),
});

/** `GET /ready` when ready (order/readiness.ts); otherwise 503 not_ready with `detail.why`. */
export const ReplicaReadySchema = z.object({
  ready: z.literal(true),
  role: z.enum(['leader', 'follower']),
  leaderId: REPLICA_ID.schema(),
  epoch: EPOCH.schema(),
  lag: z.number().int().nonnegative(),
});

export const orderRoutes = {
  health: route({
    method: 'GET',
    path: '/health',
    access: 'public',
    response: ReplicaStatusSchema,
    quiet: true,
  }),
  ready: route({
    method: 'GET',
    path: '/ready',
    access: 'public',
    response: ReplicaReadySchema,
    quiet: true,
  }),
  metrics: metricsRoute,
  /** A frontend routes a client's order to the leader of `epoch`. */
  order: route({
    method: 'POST',
    path: '/orders',
    access: 'internal',
    body: LeaderOrderRequestSchema,
    maxBodyBytes: SMALL_BODY_BYTES,
    response: OrderPlacedSchema,
  }),
  /**
   * A frontend's concurrent orders in one request (shared/batcher.ts); each item answers as /orders
   * would, its replay flag in the item.
   */
  orderBatch: route({
    method: 'POST',
    path: '/orders/batch',
    access: 'internal',
    body: LeaderOrderBatchRequestSchema,
    maxBodyBytes: MAX_BATCH_BODY_BYTES,
    response: OrderBatchAnswerSchema,
  }),
  /** A frontend reads an order at the leader of `epoch` (fenced: a deposed leader refuses). */
  getOrder: route({
    method: 'GET',
    path: '/orders/:number',
    access: 'internal',
    params: z.object({ number: orderNumberParam }),
    query: z.object({ epoch: positiveEpoch().optional() }),
    response: OrderSchema,
  }),
  /**
   * A frontend's concurrent order reads in one request (shared/batcher.ts); each item answers as
   * GET /orders/:number?epoch= would. The answer waits for the slowest item: a read of an order
   * not yet known committed waits for its quorum round (order/intake.ts), and the others with it.
   */
  getOrderBatch: route({
    method: 'POST',
    path: '/orders/reads',
    access: 'internal',
    body: OrderReadBatchRequestSchema,
    maxBodyBytes: MAX_BATCH_BODY_BYTES,
    response: OrderReadBatchAnswerSchema,
  }),
  status: route({
    method: 'GET',
    path: '/internal/status',
    access: 'internal',
    response: ReplicaStatusSchema,
    quiet: true,
  }),
  lead: route({
    method: 'POST',
    path: '/internal/lead',
    access: 'internal',
    body: LeadRequestSchema,
    maxBodyBytes: SMALL_BODY_BYTES,
    response: LeadResponseSchema,
  }),
  leader: route({
    method: 'POST',
    path: '/internal/leader',
    access: 'internal',
    body: LeaderNoticeSchema,
    maxBodyBytes: SMALL_BODY_BYTES,
    response: ReplicaStatusSchema,
    quiet: true,
  }),
  promise: route({
    method: 'POST',
    path: '/internal/promise',
    access: 'internal',
    body: PromiseRequestSchema,
    maxBodyBytes: SMALL_BODY_BYTES,
    response: PromiseResponseSchema,
  }),
  append: route({
    method: 'POST',
    path: '/internal/append',
    access: 'internal',
    body: AppendRequestSchema,
    maxBodyBytes: APPEND_BODY_BYTES,
    response: AppendResponseSchema,
    quiet: true,
  }),
  fetchLog: route({
    method: 'GET',
    path: '/internal/log',
    access: 'internal',
    query: FetchLogQuerySchema,
    response: FetchLogResponseSchema,
  }),
  catchup: route({
    method: 'POST',
    path: '/internal/catchup',
    access: 'internal',
    body: CatchupRequestSchema,
    maxBodyBytes: SMALL_BODY_BYTES,
    response: z.object({ ok: z.literal(true) }),
  }),
} as const;
export type OrderRoutes = typeof orderRoutes;
