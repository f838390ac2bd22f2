/**
 * Fakes shared by the frontend tests: a promise resolved by hand, the catalog twin
 * (test/support/fake-catalog.ts), and an OrderRouter that records calls and answers as told. No
 * sockets, no sleeps.
 */
import { expect } from 'vitest';
import type { Order, OrderPlaced, OrderRequest } from '../../shared/contracts.ts';
import type { ElectionView, OrderRouter } from '../../frontend/types.ts';

import { deferred, type Deferred } from '../support/async.ts';
import { FakeCatalog } from '../support/fake-catalog.ts';

export { deferred, FakeCatalog, type Deferred };

/** Lets every pending promise callback run (no timers involved). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

export const electionView: ElectionView = {
  leaderId: 3,
  epoch: 7,
  electing: false,
  replicas: [
    {
      id: 3,
      url: 'http://127.0.0.1:8013',
      state: 'up',
      role: 'leader',
      lastIndex: 4,
      promisedEpoch: 7,
    },
    {
      id: 2,
      url: 'http://127.0.0.1:8012',
      state: 'up',
      role: 'follower',
      lastIndex: 4,
      promisedEpoch: 7,
    },
    {
      id: 1,
      url: 'http://127.0.0.1:8011',
      state: 'down',
      role: null,
      lastIndex: null,
      promisedEpoch: null,
    },
  ],
};

/** An OrderRouter that records calls; `place`/`get` decide each answer. */
export class FakeRouter implements OrderRouter {
  placeCalls: OrderRequest[] = [];
  getCalls: number[] = [];
  place: (req: OrderRequest) => Promise<OrderPlaced> = async () => ({
    order_number: this.placeCalls.length - 1,
  });
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

/**
 * Asserts the error shape: HTTP status == body.error.code, and a message. Returns the error object.
 */
export async function expectError(
  res: Response,
  status: number,
): Promise<{ code: number; message: string; reason?: string }> {
  const body = (await res.json()) as { error?: { code: number; message: string; reason?: string } };
  expect(res.status).toBe(status);
  expect(body.error).toBeDefined();
  expect(body.error!.code).toBe(status);
  expect(typeof body.error!.message).toBe('string');
  expect(body.error!.message.length).toBeGreaterThan(0);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return body.error!;
}
