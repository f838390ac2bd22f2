/**
 * The frontend's view of the order service, as an interface.
 *
 * The public app only needs "place an order", "read an order" and "who leads right now"; how the
 * leader is found, fenced and failed over lives behind `OrderRouter` (frontend/order-router.ts,
 * written separately). Keeping the contract here lets the app and its tests depend on the shape
 * alone, with a fake router in tests and the real one wired in by main.ts.
 */
import type { Order, OrderPlaced, OrderRequest } from '../shared/contracts.ts';

export interface ReplicaView {
  id: number;
  url: string;
  state: 'up' | 'down' | 'unknown';
  role: string | null;
  lastIndex: number | null;
  promisedEpoch: number | null;
}
export interface ElectionView {
  leaderId: number | null;
  epoch: number | null;
  electing: boolean;
  replicas: ReplicaView[];
}
export interface OrderRouter {
  /**
   * Places the order at the leader; resolves with the order number or throws an AppError
   * (400/404/409/422/503/504). With an idempotency key, the same key and body always get the same
   * outcome; `replayed` says the outcome is that of an earlier request with the key.
   */
  placeOrder(
    req: OrderRequest,
    opts?: { idempotencyKey?: string; requestId?: string },
  ): Promise<OrderPlaced & { replayed?: boolean }>;
  /** Reads an order from the leader; throws orderNotFound() (404) or a 503 AppError. */
  getOrder(orderNumber: number, opts?: { requestId?: string }): Promise<Order>;
  view(): ElectionView;
}
