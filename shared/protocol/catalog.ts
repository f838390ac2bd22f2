/**
 * The catalog's routes: one listener (CATALOG_PORT), an internal service. Everything but /health
 * and /metrics is internal: the frontends read products, the order leaders buy, fence and account
 * for purchases, and the checker reads the ledger, all with the cluster credential.
 * catalog/app.ts mounts these; frontend/catalog-client.ts, order/peers.ts and the tools call them.
 */
import { z } from 'zod';
import {
  FenceRequestSchema,
  LedgerEntrySchema,
  MAX_BATCH_BODY_BYTES,
  MAX_PUBLIC_BODY_BYTES,
  PendingResponseSchema,
  ProductReadBatchAnswerSchema,
  ProductReadBatchRequestSchema,
  ProductSchema,
  PurchaseBatchAnswerSchema,
  PurchaseBatchRequestSchema,
  PurchaseRequestSchema,
  PurchaseResultSchema,
  ReconcileRequestSchema,
  ReconcileResultSchema,
} from '../contracts.ts';
import { EPOCH, LEDGER_POSITION, LEDGER_SEQ } from '../fields.ts';
import { metricsRoute } from './common.ts';
import { route } from './route.ts';

/** Fences and reconciliations carry key lists; far above any real one, still a bound. */
const ACCOUNTS_BODY_BYTES = 32 * 1024 * 1024;
/** The most ledger records one page may ask for. */
export const MAX_LEDGER_PAGE = 100_000;

export const LedgerQuerySchema = z.object({
  from: z.coerce.number().pipe(LEDGER_SEQ.schema()).default(0),
  limit: z.coerce.number().int().positive().max(MAX_LEDGER_PAGE).default(10_000),
});
/** One page of the ledger, in seq order; `lastSeq` is the last durable seq (-1: none). */
export const LedgerPageSchema = z.object({
  entries: z.array(LedgerEntrySchema),
  lastSeq: LEDGER_POSITION.schema(),
});

export const catalogRoutes = {
  health: route({
    method: 'GET',
    path: '/health',
    access: 'public',
    response: z.object({ ok: z.literal(true) }),
    quiet: true,
  }),
  metrics: metricsRoute,
  listProducts: route({
    method: 'GET',
    path: '/products',
    access: 'internal',
    response: z.array(ProductSchema),
  }),
  getProduct: route({
    method: 'GET',
    path: '/products/:name',
    access: 'internal',
    params: z.object({ name: z.string() }),
    response: ProductSchema,
  }),
  /**
   * A frontend's concurrent product reads in one request (shared/batcher.ts); each name answers as
   * GET /products/:name would.
   */
  productBatch: route({
    method: 'POST',
    path: '/products/reads',
    access: 'internal',
    body: ProductReadBatchRequestSchema,
    maxBodyBytes: MAX_BATCH_BODY_BYTES,
    response: ProductReadBatchAnswerSchema,
  }),
  /** One decrement per key, durable before the answer (a leader buying for an order). */
  purchase: route({
    method: 'POST',
    path: '/purchases',
    access: 'internal',
    body: PurchaseRequestSchema,
    maxBodyBytes: MAX_PUBLIC_BODY_BYTES,
    response: PurchaseResultSchema,
  }),
  /**
   * A leader's concurrent purchases in one request (shared/batcher.ts); each item answers as
   * /purchases would.
   */
  purchaseBatch: route({
    method: 'POST',
    path: '/purchases/batch',
    access: 'internal',
    body: PurchaseBatchRequestSchema,
    maxBodyBytes: MAX_BATCH_BODY_BYTES,
    response: PurchaseBatchAnswerSchema,
  }),
  fence: route({
    method: 'POST',
    path: '/internal/fence',
    access: 'internal',
    body: FenceRequestSchema,
    maxBodyBytes: ACCOUNTS_BODY_BYTES,
    response: z.object({ fenceEpoch: EPOCH.schema() }),
  }),
  pending: route({
    method: 'GET',
    path: '/internal/pending',
    access: 'internal',
    response: PendingResponseSchema,
    quiet: true,
  }),
  reconcile: route({
    method: 'POST',
    path: '/internal/reconcile',
    access: 'internal',
    body: ReconcileRequestSchema,
    maxBodyBytes: ACCOUNTS_BODY_BYTES,
    response: ReconcileResultSchema,
  }),
  ledger: route({
    method: 'GET',
    path: '/internal/ledger',
    access: 'internal',
    query: LedgerQuerySchema,
    response: LedgerPageSchema,
  }),
} as const;
export type CatalogRoutes = typeof catalogRoutes;
