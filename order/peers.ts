/**
 * How a replica reaches its peers and the catalog: small interfaces over the injected `HttpClient`,
 * so the same code runs over undici sockets in production and over in-process Hono apps in tests.
 * Every call goes by route id through the route tables (shared/protocol/), which give its path,
 * method, credential and response schema. Errors come back as the peer's own AppError (e.g.
 * stale_epoch with the epoch it promised) or as a NetworkError.
 */
import type {
  AppendRequest,
  AppendResponse,
  CatchupRequest,
  FetchLogResponse,
  PendingResponse,
  PromiseRequest,
  PromiseResponse,
  PurchaseRequest,
  PurchaseResult,
  ReconcileRequest,
  ReconcileResult,
  ReplicaStatus,
} from '../shared/contracts.ts';
import { NetworkError, type HttpClient } from '../shared/http.ts';
import { catalogRoutes } from '../shared/protocol/catalog.ts';
import { createRouteClient } from '../shared/protocol/client.ts';
import { orderRoutes } from '../shared/protocol/order.ts';
import { Batcher, batchRequestId, itemResults, PEER_BATCH_LIMITS } from '../shared/batcher.ts';
import { upstreamUnavailable } from '../shared/errors.ts';

export interface PeerTransport {
  promise(peerId: number, req: PromiseRequest, timeoutMs: number): Promise<PromiseResponse>;
  /** `requestId`: the ids of the client requests whose orders it carries (for tracing). */
  append(
    peerId: number,
    req: AppendRequest,
    timeoutMs: number,
    requestId?: string,
  ): Promise<AppendResponse>;
  fetchLog(
    peerId: number,
    req: { epoch: number; from: number; limit: number },
    timeoutMs: number,
  ): Promise<FetchLogResponse>;
  status(peerId: number, timeoutMs: number): Promise<ReplicaStatus>;
  catchup(peerId: number, req: CatchupRequest, timeoutMs: number): Promise<void>;
}

export function createHttpPeerTransport(
  http: HttpClient,
  peers: ReadonlyArray<{ id: number; url: string }>,
): PeerTransport {
  const urlOf = (id: number) => {
    const peer = peers.find((p) => p.id === id);
    if (!peer) throw new Error(`unknown peer ${id}`);
    return peer.url;
  };
  const replicas = createRouteClient(http, orderRoutes);
  return {
    promise: (id, body, timeoutMs) => replicas.call(urlOf(id), 'promise', { body }, { timeoutMs }),
    append: (id, body, timeoutMs, requestId) =>
      replicas.call(urlOf(id), 'append', { body }, { timeoutMs, requestId }),
    fetchLog: (id, query, timeoutMs) =>
      replicas.call(urlOf(id), 'fetchLog', { query }, { timeoutMs }),
    status: (id, timeoutMs) => replicas.call(urlOf(id), 'status', {}, { timeoutMs }),
    catchup: async (id, body, timeoutMs) => {
      await replicas.call(urlOf(id), 'catchup', { body }, { timeoutMs });
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

export function createHttpCatalogAccounts(
  http: HttpClient,
  catalogUrl: string,
  timeoutMs = 3_000,
): CatalogAccounts {
  const catalog = createRouteClient(http, catalogRoutes);
  return {
    fence: async (epoch) => {
      await catalog.call(catalogUrl, 'fence', { body: { epoch } }, { timeoutMs });
    },
    pending: () => catalog.call(catalogUrl, 'pending', {}, { timeoutMs }),
    reconcile: (body) => catalog.call(catalogUrl, 'reconcile', { body }, { timeoutMs }),
  };
}

/** Sends of one purchase batch whose answer does not come, each a third of the timeout. */
const PURCHASE_SENDS = 3;

/**
 * The leader's purchases, batched (shared/batcher.ts): concurrent orders cost the catalog one
 * request and one ledger fsync instead of one each. A batch carries the ids of the requests in it.
 */
export function createBatchingCatalogPurchaser(
  http: HttpClient,
  catalogUrl: string,
  timeoutMs = 3_000,
): CatalogPurchaser {
  const catalog = createRouteClient(http, catalogRoutes);
  const batcher = new Batcher<{ req: PurchaseRequest; requestId?: string }, PurchaseResult>({
    ...PEER_BATCH_LIMITS,
    overloaded: () => upstreamUnavailable('catalog (too many purchases waiting)'),
    send: async (items) => {
      const body = { purchases: items.map((i) => i.req) };
      const requestId = batchRequestId(items);
      // A batch whose answer is lost is sent again, PURCHASE_SENDS times within the same timeout
      // in all. Safe: the catalog answers a key it has seen with that key's first outcome, and a
      // key still in flight there waits for it, so a re-send never buys twice. Without it, an
      // order behind one lost reply waited the whole timeout (sim seed 379: 504 2.76 s after the
      // network healed).
      for (let send = 1; ; send++) {
        try {
          const answer = await catalog.call(
            catalogUrl,
            'purchaseBatch',
            { body },
            { timeoutMs: Math.ceil(timeoutMs / PURCHASE_SENDS), requestId },
          );
          return itemResults(answer, items.length);
        } catch (err) {
          const timedOut = err instanceof NetworkError && err.kind === 'timeout';
          if (!timedOut || send >= PURCHASE_SENDS) throw err;
        }
      }
    },
  });
  return { purchase: (req, requestId) => batcher.submit({ req, requestId }) };
}
