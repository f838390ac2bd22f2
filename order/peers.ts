/**
 * How a replica reaches its peers and the catalog: small interfaces over the injected
 * `HttpClient`, so the same code runs over undici sockets in production and over in-process Hono
 * apps in tests. Errors come back as the peer's own AppError (e.g. stale_epoch with the epoch it
 * promised) or as a NetworkError.
 */
import { z } from 'zod';
import {
  AppendResponseSchema, FetchLogResponseSchema, PendingResponseSchema, PromiseResponseSchema, PurchaseResultSchema, ReconcileResultSchema, ReplicaStatusSchema,
  type PendingResponse, type ReconcileRequest, type ReconcileResult,
  type AppendRequest, type AppendResponse, type CatchupRequest, type FetchLogResponse, type PromiseRequest,
  type PromiseResponse, type PurchaseRequest, type PurchaseResult, type ReplicaStatus,
} from '../shared/contracts.ts';
import { expectData, type HttpClient } from '../shared/http.ts';
import { Batcher, batchResults } from '../shared/batcher.ts';
import { MAX_BATCH_ITEMS } from '../shared/contracts.ts';
import { upstreamUnavailable } from '../shared/errors.ts';

export interface PeerTransport {
  promise(peerId: number, req: PromiseRequest, timeoutMs: number): Promise<PromiseResponse>;
  /** `requestId`: the ids of the client requests whose orders it carries (for tracing). */
  append(peerId: number, req: AppendRequest, timeoutMs: number, requestId?: string): Promise<AppendResponse>;
  fetchLog(peerId: number, req: { epoch: number; from: number; limit: number }, timeoutMs: number): Promise<FetchLogResponse>;
  status(peerId: number, timeoutMs: number): Promise<ReplicaStatus>;
  catchup(peerId: number, req: CatchupRequest, timeoutMs: number): Promise<void>;
}

export function createHttpPeerTransport(http: HttpClient, peers: ReadonlyArray<{ id: number; url: string }>): PeerTransport {
  const urlOf = (id: number) => {
    const peer = peers.find((p) => p.id === id);
    if (!peer) throw new Error(`unknown peer ${id}`);
    return peer.url;
  };
  const post = async <T>(id: number, path: string, body: unknown, schema: z.ZodType<T>, timeoutMs: number, requestId?: string) =>
    expectData(await http({ method: 'POST', url: `${urlOf(id)}${path}`, body, timeoutMs, requestId }), schema);
  return {
    promise: (id, req, t) => post(id, '/internal/promise', req, PromiseResponseSchema, t),
    append: (id, req, t, requestId) => post(id, '/internal/append', req, AppendResponseSchema, t, requestId),
    fetchLog: async (id, req, t) =>
      expectData(
        await http({ method: 'GET', url: `${urlOf(id)}/internal/log?epoch=${req.epoch}&from=${req.from}&limit=${req.limit}`, timeoutMs: t }),
        FetchLogResponseSchema,
      ),
    status: async (id, t) => expectData(await http({ method: 'GET', url: `${urlOf(id)}/internal/status`, timeoutMs: t }), ReplicaStatusSchema),
    catchup: async (id, req, t) => {
      await post(id, '/internal/catchup', req, z.unknown(), t);
    },
  };
}

export interface CatalogPurchaser {
  /** Decrements stock once per key; throws the catalog's 404/409 or a NetworkError. */
  purchase(req: PurchaseRequest, requestId?: string): Promise<PurchaseResult>;
}

/**
 * What a leader needs from the catalog besides purchases: fence it with its epoch, and account
 * for purchases whose orders have committed or never will (see catalog/store.ts).
 */
export interface CatalogAccounts {
  fence(epoch: number): Promise<void>;
  pending(): Promise<PendingResponse>;
  reconcile(req: ReconcileRequest): Promise<ReconcileResult>;
}

export function createHttpCatalogAccounts(http: HttpClient, catalogUrl: string, timeoutMs = 3_000): CatalogAccounts {
  return {
    fence: async (epoch) => {
      expectData(await http({ method: 'POST', url: `${catalogUrl}/internal/fence`, body: { epoch }, timeoutMs }), z.unknown());
    },
    pending: async () => expectData(await http({ method: 'GET', url: `${catalogUrl}/internal/pending`, timeoutMs }), PendingResponseSchema),
    reconcile: async (req) => expectData(await http({ method: 'POST', url: `${catalogUrl}/internal/reconcile`, body: req, timeoutMs }), ReconcileResultSchema),
  };
}

export function createHttpCatalogPurchaser(http: HttpClient, catalogUrl: string, timeoutMs = 3_000): CatalogPurchaser {
  return {
    purchase: async (req, requestId) => expectData(await http({ method: 'POST', url: `${catalogUrl}/purchases`, body: req, timeoutMs, requestId }), PurchaseResultSchema),
  };
}

/** Batches of purchases in flight at once, and items waiting for one; past that, 503 at once. */
const PURCHASE_BATCHES_IN_FLIGHT = 4;
const PURCHASES_QUEUED = 20_000;

/**
 * The leader's purchases, batched (shared/batcher.ts): concurrent orders cost the catalog one
 * request and one ledger fsync instead of one each. A batch carries the ids of the requests in it.
 */
export function createBatchingCatalogPurchaser(http: HttpClient, catalogUrl: string, timeoutMs = 3_000): CatalogPurchaser {
  const batcher = new Batcher<{ req: PurchaseRequest; requestId?: string }, PurchaseResult>({
    maxBatch: MAX_BATCH_ITEMS,
    maxInFlight: PURCHASE_BATCHES_IN_FLIGHT,
    maxQueued: PURCHASES_QUEUED,
    overloaded: () => upstreamUnavailable('catalog (too many purchases waiting)'),
    send: async (items) => {
      const ids = [...new Set(items.map((i) => i.requestId).filter((id): id is string => id !== undefined))].slice(0, 8);
      const res = await http({ method: 'POST', url: `${catalogUrl}/purchases/batch`, body: { purchases: items.map((i) => i.req) }, timeoutMs, requestId: ids.length ? ids.join(',') : undefined });
      return batchResults(res, PurchaseResultSchema, items.length);
    },
  });
  return { purchase: (req, requestId) => batcher.submit({ req, requestId }) };
}
