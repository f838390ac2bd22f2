/**
 * Fakes shared by the frontend tests: a promise resolved by hand, a catalog whose answers can be
 * held back, and an OrderRouter that records calls and answers as told. No sockets, no sleeps.
 */
import { expect } from 'vitest';
import type { Order, OrderPlaced, OrderRequest, Product } from '../../shared/contracts.ts';
import { productNotFound } from '../../shared/errors.ts';
import type { CatalogClient } from '../../frontend/catalog-client.ts';
import type { ElectionView, OrderRouter } from '../../frontend/types.ts';

import { deferred, type Deferred } from '../support/async.ts';

export { deferred, type Deferred };

/** Lets every pending promise callback run (no timers involved). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * A catalog held in memory. `getProduct` answers from `stock` at the moment it is called unless
 * `hold()` was called, in which case the next call waits for the returned deferred.
 */
export class FakeCatalog implements CatalogClient {
  readonly stock = new Map<string, Product>();
  getCalls: string[] = [];
  listCalls = 0;
  failWith: unknown = null;
  private held: Deferred<Product>[] = [];

  constructor(products: Product[] = []) {
    for (const p of products) this.stock.set(p.name, { ...p });
  }

  /** The next getProduct call waits for the returned deferred instead of answering at once. */
  hold(): Deferred<Product> {
    const d = deferred<Product>();
    this.held.push(d);
    return d;
  }

  async getProduct(name: string): Promise<Product> {
    this.getCalls.push(name);
    const held = this.held.shift();
    if (held) return held.promise;
    if (this.failWith) throw this.failWith;
    const p = this.stock.get(name);
    if (!p) throw productNotFound();
    return { ...p };
  }

  async listProducts(): Promise<Product[]> {
    this.listCalls++;
    if (this.failWith) throw this.failWith;
    return [...this.stock.values()].map((p) => ({ ...p }));
  }
}

export const electionView: ElectionView = {
  leaderId: 3,
  epoch: 7,
  electing: false,
  replicas: [
    { id: 3, url: 'http://127.0.0.1:8013', state: 'up', role: 'leader', lastIndex: 4, promisedEpoch: 7 },
    { id: 2, url: 'http://127.0.0.1:8012', state: 'up', role: 'follower', lastIndex: 4, promisedEpoch: 7 },
    { id: 1, url: 'http://127.0.0.1:8011', state: 'down', role: null, lastIndex: null, promisedEpoch: null },
  ],
};

/** An OrderRouter that records calls; `place`/`get` decide each answer. */
export class FakeRouter implements OrderRouter {
  placeCalls: OrderRequest[] = [];
  getCalls: number[] = [];
  place: (req: OrderRequest) => Promise<OrderPlaced> = async () => ({ order_number: this.placeCalls.length - 1 });
  get: (n: number) => Promise<Order> = async (n) => ({ number: n, name: 'Tux', quantity: 1 });

  placeOrder(req: OrderRequest): Promise<OrderPlaced> {
    this.placeCalls.push(req);
    return this.place(req);
  }
  getOrder(orderNumber: number): Promise<Order> {
    this.getCalls.push(orderNumber);
    return this.get(orderNumber);
  }
  view(): ElectionView {
    return electionView;
  }
}

/** Asserts the error shape: HTTP status == body.error.code, and a message. Returns the error object. */
export async function expectError(res: Response, status: number): Promise<{ code: number; message: string; reason?: string }> {
  const body = (await res.json()) as { error?: { code: number; message: string; reason?: string } };
  expect(res.status).toBe(status);
  expect(body.error).toBeDefined();
  expect(body.error!.code).toBe(status);
  expect(typeof body.error!.message).toBe('string');
  expect(body.error!.message.length).toBeGreaterThan(0);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return body.error!;
}
