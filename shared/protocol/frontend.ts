/**
 * The frontend's routes, on its two listeners:
 * - `frontendPublicRoutes` on FRONTEND_PORT: the lab's API (products, orders), /health, /ready,
 *   the index and the status page. All public: this is the store's front door.
 * - `frontendInternalRoutes` on FRONTEND_INTERNAL_PORT: the catalog's change feed and a manual
 *   invalidation (internal, with the cluster credential), and /metrics (public, like every
 *   service's). Nothing internal is served on the public port, nor public API on the internal one.
 * frontend/app.ts, internal-app.ts, readiness.ts, index-page.ts and status.ts mount these;
 * catalog/invalidator.ts, the lab's clients and the tools call them.
 */
import { z } from 'zod';
import {
  ChangeNoticeSchema,
  InvalidationSchema,
  MAX_PUBLIC_BODY_BYTES,
  OrderPlacedSchema,
  OrderRequestSchema,
  OrderSchema,
  ProductSchema,
} from '../contracts.ts';
import { EPOCH, LEDGER_POSITION, LOG_POSITION, REPLICA_ID, TOY_NAME } from '../fields.ts';
import { metricsRoute, orderNumberParam } from './common.ts';
import { route } from './route.ts';

/** Room for MAX_NOTICE_NAMES names of the longest length, JSON-escaped. */
const NOTICE_BODY_BYTES = 1024 * 1024;

const count = () => z.number().int().nonnegative();

/** `GET /health`: the frontend's view of the store (frontend/app.ts). */
export const FrontendHealthSchema = z.object({
  leaderId: REPLICA_ID.schema().nullable(),
  epoch: EPOCH.schema().nullable(),
  electing: z.boolean(),
  replicas: z.array(
    z.object({
      id: REPLICA_ID.schema(),
      url: z.string(),
      state: z.enum(['up', 'down', 'unknown']),
      role: z.string().nullable(),
      lastIndex: LOG_POSITION.schema().nullable(),
      promisedEpoch: EPOCH.schema().nullable(),
    }),
  ),
  cache: z.object({
    size: count(),
    capacity: count(),
    enabled: z.boolean(),
    trusted: z.boolean(),
    hits: count(),
    misses: count(),
    evictions: count(),
    invalidations: count(),
  }),
  /** What the frontend has heard of the catalog's change feed (frontend/freshness.ts). */
  catalogFeed: z
    .object({
      seq: LEDGER_POSITION.schema().nullable(),
      heardAgoMs: z.number().nullable(),
      trusted: z.boolean(),
    })
    .optional(),
});

/** `GET /ready` when ready (frontend/readiness.ts); otherwise 503 not_ready with `detail.why`. */
export const FrontendReadySchema = z.object({
  ready: z.literal(true),
  leaderId: REPLICA_ID.schema(),
  epoch: EPOCH.schema(),
  followersReachable: count(),
});

export const frontendPublicRoutes = {
  listProducts: route({
    method: 'GET',
    path: '/products',
    access: 'public',
    response: z.array(ProductSchema),
  }),
  getProduct: route({
    method: 'GET',
    path: '/products/:name',
    access: 'public',
    params: z.object({ name: z.string() }),
    response: ProductSchema,
  }),
  /** The lab's order; an optional Idempotency-Key header makes retries safe (frontend/app.ts). */
  placeOrder: route({
    method: 'POST',
    path: '/orders',
    access: 'public',
    body: OrderRequestSchema,
    maxBodyBytes: MAX_PUBLIC_BODY_BYTES,
    response: OrderPlacedSchema,
  }),
  getOrder: route({
    method: 'GET',
    path: '/orders/:order_number',
    access: 'public',
    params: z.object({ order_number: orderNumberParam }),
    response: OrderSchema,
  }),
  health: route({
    method: 'GET',
    path: '/health',
    access: 'public',
    response: FrontendHealthSchema,
    quiet: true,
  }),
  ready: route({
    method: 'GET',
    path: '/ready',
    access: 'public',
    response: FrontendReadySchema,
    quiet: true,
  }),
  /** Links, as HTML for a browser or JSON otherwise (frontend/index-page.ts). */
  index: route({ method: 'GET', path: '/', access: 'public', response: null }),
  /** The status page and its data, read only by that page (frontend/status.ts). */
  statusPage: route({
    method: 'GET',
    path: '/status',
    access: 'public',
    response: null,
    quiet: true,
  }),
  statusData: route({
    method: 'GET',
    path: '/status.json',
    access: 'public',
    response: null,
    quiet: true,
  }),
} as const;
export type FrontendPublicRoutes = typeof frontendPublicRoutes;

export const frontendInternalRoutes = {
  metrics: metricsRoute,
  /** The catalog's change notices (catalog/invalidator.ts); the 200 is the acknowledgement. */
  changes: route({
    method: 'POST',
    path: '/internal/changes',
    access: 'internal',
    body: ChangeNoticeSchema,
    maxBodyBytes: NOTICE_BODY_BYTES,
    response: z.object({ seq: LEDGER_POSITION.schema().nullable(), dropped: z.boolean() }),
    quiet: true,
  }),
  /** Drops one toy by hand (an operator's curl, with the credential). */
  invalidate: route({
    method: 'POST',
    path: '/internal/invalidate',
    access: 'internal',
    body: InvalidationSchema,
    maxBodyBytes: MAX_PUBLIC_BODY_BYTES,
    response: z.object({ invalidated: TOY_NAME.schema() }),
  }),
} as const;
export type FrontendInternalRoutes = typeof frontendInternalRoutes;
