/**
 * The frontend's client for the catalog's internal product reads.
 *
 * It turns every outcome into either a validated `Product` or an AppError the public app can pass
 * straight through: a 404 becomes `productNotFound()` (the lab's exact 404 message whatever the
 * catalog's body says), a network failure becomes `upstreamUnavailable('catalog')` (503 with
 * Retry-After), any other catalog error is rethrown as the catalog sent it, and a malformed 2xx
 * body is a 502 (the route table's response schema, shared/protocol/catalog.ts). It takes an
 * `HttpClient` so tests and the in-process network can run it without sockets.
 */
import {
  Batcher,
  batchOrEach,
  batchRequestId,
  itemResults,
  PEER_BATCH_LIMITS,
} from '../shared/batcher.ts';
import type { Product } from '../shared/contracts.ts';
import { AppError, productNotFound, upstreamUnavailable } from '../shared/errors.ts';
import { NetworkError, type HttpClient } from '../shared/http.ts';
import { catalogRoutes } from '../shared/protocol/catalog.ts';
import { createRouteClient, type CallOptions } from '../shared/protocol/client.ts';

export interface CatalogClient {
  /**
   * One toy; throws productNotFound() (404) for an unknown name, a 503 when the catalog is
   * unreachable.
   */
  getProduct(name: string, requestId?: string): Promise<Product>;
  /** Every toy, in the catalog's order. */
  listProducts(): Promise<Product[]>;
}

export interface CatalogClientOptions {
  /** Per-request timeout; defaults to the HttpClient's. */
  timeoutMs?: number;
}

export function createCatalogClient(
  http: HttpClient,
  catalogUrl: string,
  opts: CatalogClientOptions = {},
): CatalogClient {
  const catalog = createRouteClient(http, catalogRoutes);
  const options = (requestId?: string): CallOptions => ({
    ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
    ...(requestId !== undefined && { requestId }),
  });

  /** `send`'s answer; a network failure on the way is the catalog being unreachable (503). */
  async function reach<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof NetworkError) throw upstreamUnavailable('catalog');
      throw err;
    }
  }

  // Concurrent reads share one request (the catalog answers each as GET /products/:name): a read
  // costs both processes a request of its own only when it is alone.
  const reads = new Batcher<{ name: string; requestId?: string }, Product>({
    ...PEER_BATCH_LIMITS,
    overloaded: () => upstreamUnavailable('catalog'),
    // An older catalog (a rolling upgrade) has no batch route: then each read goes on its own.
    send: batchOrEach(
      async (items) => {
        const body = { names: items.map((i) => i.name) };
        const answer = await catalog.call(
          catalogUrl,
          'productBatch',
          { body },
          options(batchRequestId(items)),
        );
        return itemResults(answer, items.length);
      },
      ({ name, requestId }) =>
        catalog.call(catalogUrl, 'getProduct', { params: { name } }, options(requestId)),
    ),
  });

  return {
    async getProduct(name, requestId) {
      try {
        return await reach(() => reads.submit({ name, requestId }));
      } catch (err) {
        if (err instanceof AppError && err.status === 404) throw productNotFound();
        throw err;
      }
    },
    async listProducts() {
      const res = await reach(() => catalog.send(catalogUrl, 'listProducts', {}, options()));
      // The list route always exists; a 4xx here is a misrouted catalog, not the client's fault.
      if (res.status >= 400 && res.status < 500) {
        throw new AppError(502, 'internal', `unexpected catalog response (HTTP ${res.status})`);
      }
      return catalog.data('listProducts', res);
    },
  };
}
