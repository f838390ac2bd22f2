/**
 * Asking a running store what state it is in, for the scenarios: which replica the frontend
 * routes orders to (through its /health), and a few real orders to read back.
 */
import { randomUUID } from 'node:crypto';
import { TOY_NAMES } from '../../../catalog/toys.ts';
import { IDEMPOTENCY_KEY_HEADER } from '../../../shared/contracts.ts';
import { createPooledHttp, type HttpRequest } from '../../../shared/http.ts';
import { frontendPublicRoutes, pathOf, requestOf } from '../../../shared/protocol/index.ts';
import { sleep } from './util.ts';

interface HealthView {
  leaderId: number | null;
  epoch: number | null;
  electing: boolean;
}

/**
 * Polls the frontend's /health until it routes to a leader (other than `not`); returns the leader's
 * id.
 */
export async function waitForLeader(
  frontendUrl: string,
  timeoutMs = 20_000,
  not?: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${frontendUrl}${pathOf(frontendPublicRoutes.health)}`, {
        signal: AbortSignal.timeout(2_000),
      });
      const view = ((await res.json()) as { data?: HealthView }).data;
      last = JSON.stringify(view);
      if (view && view.leaderId !== null && !view.electing && view.leaderId !== not)
        return view.leaderId;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(20);
  }
  throw new Error(`no leader at ${frontendUrl} within ${timeoutMs} ms (last: ${last})`);
}

/** A random toy name. */
export const pickToy = () => TOY_NAMES[Math.floor(Math.random() * TOY_NAMES.length)]!;

/**
 * The frontend's `POST /orders` (its route table's `placeOrder`) of one `name`, under a fresh
 * Idempotency-Key.
 */
export function orderRequest(
  frontendUrl: string,
  name = pickToy(),
  timeoutMs?: number,
): HttpRequest {
  return requestOf(
    frontendUrl,
    frontendPublicRoutes.placeOrder,
    { body: { name, quantity: 1 } },
    { headers: { [IDEMPOTENCY_KEY_HEADER]: randomUUID() }, timeoutMs },
  );
}

/**
 * Places `count` orders (8 at a time, a fresh Idempotency-Key each) and returns the numbers the
 * store acknowledged: orders that exist, for the order-read figure.
 */
export async function placeOrders(frontendUrl: string, count: number): Promise<number[]> {
  const http = createPooledHttp({ connectionsPerOrigin: 8 });
  const numbers: number[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < count) {
          const res = await http(orderRequest(frontendUrl));
          const n = (res.body as { data?: { order_number?: number } } | undefined)?.data
            ?.order_number;
          if (res.status === 200 && typeof n === 'number') numbers.push(n);
        }
      }),
    );
  } finally {
    await http.close();
  }
  if (numbers.length === 0)
    throw new Error(`placeOrders: none of ${count} orders was acknowledged`);
  return numbers;
}
