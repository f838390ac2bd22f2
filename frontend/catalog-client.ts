/**
 * The frontend's client for the catalog's internal product reads.
 *
 * It turns every outcome into either a validated `Product` or an AppError the public app can pass
 * straight through: a 404 becomes `productNotFound()` (the lab's exact 404 message whatever the
 * catalog's body says), a network failure becomes `upstreamUnavailable('catalog')` (503 with
 * Retry-After), any other catalog error is rethrown as the catalog sent it, and a malformed 2xx
 * body is a 502 (via `expectData` and `ProductSchema`). It takes an `HttpClient` so tests and
 * the in-process network can run it without sockets.
 */
import { z } from 'zod';
import { ProductSchema, type Product } from '../shared/contracts.ts';
import { AppError, productNotFound, upstreamUnavailable } from '../shared/errors.ts';
import { expectData, NetworkError, type HttpClient, type HttpRequest, type HttpResponse } from '../shared/http.ts';

export interface CatalogClient {
  /** One toy; throws productNotFound() (404) for an unknown name, a 503 when the catalog is unreachable. */
  getProduct(name: string, requestId?: string): Promise<Product>;
  /** Every toy, in the catalog's order. */
  listProducts(): Promise<Product[]>;
}

export interface CatalogClientOptions {
  /** Per-request timeout; defaults to the HttpClient's. */
  timeoutMs?: number;
}

const ProductListSchema = z.array(ProductSchema);

export function createCatalogClient(http: HttpClient, catalogUrl: string, opts: CatalogClientOptions = {}): CatalogClient {
  const base = catalogUrl.replace(/\/+$/, '');

  async function call(url: string, requestId?: string): Promise<HttpResponse> {
    const req: HttpRequest = { method: 'GET', url, requestId };
    if (opts.timeoutMs !== undefined) req.timeoutMs = opts.timeoutMs;
    try {
      return await http(req);
    } catch (err) {
      if (err instanceof NetworkError) throw upstreamUnavailable('catalog');
      throw err;
    }
  }

  return {
    async getProduct(name, requestId) {
      const res = await call(`${base}/products/${encodeURIComponent(name)}`, requestId);
      if (res.status === 404) throw productNotFound();
      return expectData(res, ProductSchema);
    },
    async listProducts() {
      const res = await call(`${base}/products`);
      // The list route always exists; a 4xx here is a misrouted catalog, not the client's fault.
      if (res.status >= 400 && res.status < 500) {
        throw new AppError(502, 'internal', `unexpected catalog response (HTTP ${res.status})`);
      }
      return expectData(res, ProductListSchema);
    },
  };
}
