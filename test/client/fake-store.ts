/**
 * A tiny in-memory toy store for the client tests: the frontend's public API as a Hono app
 * (products in a Map, orders in an array), with hooks to make it misbehave, plus a transport
 * wrapper that injects network failures. Counts every request so tests can tell what arrived.
 * Like the real frontend, it honours `Idempotency-Key` on POST /orders: the same key with the same
 * body replays the first outcome (with `idempotent-replayed: true`), another body is a 422.
 */
import { Hono } from 'hono';
import {
  createFetchHttp,
  NetworkError,
  type HttpClient,
  type HttpRequest,
} from '../../shared/http.ts';
import {
  IDEMPOTENCY_KEY_HEADER,
  REPLAYED_HEADER,
  type Order,
  type Product,
} from '../../shared/contracts.ts';

export interface FakeStoreOptions {
  /** name → quantity; price is fixed. Default: three toys with plenty of stock. */
  stock?: Record<string, number>;
  /**
   * Called for every POST /orders (1-based count); a returned Response replaces the normal
   * handling.
   */
  onOrder?: (n: number) => Response | undefined;
  /** Called for every GET /orders/:n; a returned Response replaces the normal handling. */
  onOrderQuery?: (order: Order | undefined) => Response | undefined;
  /** Called for every GET /products/:name (1-based count). */
  onQuery?: (n: number) => Response | undefined;
  /** Makes the number an acknowledgement carries (default: the index in the log). */
  orderNumber?: (index: number) => number;
}

export const BASE = 'http://store.test';

export function createFakeStore(opts: FakeStoreOptions = {}) {
  const products = new Map<string, Product>();
  for (const [name, quantity] of Object.entries(
    opts.stock ?? { Tux: 1000, Whale: 1000, Fox: 1000 },
  )) {
    products.set(name, { name, price: 9.99, quantity });
  }
  const orders: Order[] = [];
  const counts = { list: 0, query: 0, orderPosts: 0, orderQueries: 0, rejected: 0, replays: 0 };
  /** Idempotency key of each POST /orders as it arrived (null: none), in order. */
  const keysSeen: Array<string | null> = [];
  const outcomes = new Map<string, { body: string; status: number; json: unknown }>();
  const err = (code: number, message: string, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify({ error: { code, message } }), {
      status: code,
      headers: { 'content-type': 'application/json', ...headers },
    });

  const app = new Hono();
  app.get('/products', (c) => {
    counts.list++;
    return c.json({ data: [...products.values()] });
  });
  app.get('/products/:name', (c) => {
    counts.query++;
    const hooked = opts.onQuery?.(counts.query);
    if (hooked) return hooked;
    const p = products.get(c.req.param('name'));
    return p ? c.json({ data: p }) : err(404, 'product not found');
  });
  app.post('/orders', async (c) => {
    counts.orderPosts++;
    const key = c.req.header(IDEMPOTENCY_KEY_HEADER) ?? null;
    keysSeen.push(key);
    const hooked = opts.onOrder?.(counts.orderPosts);
    if (hooked) return hooked;
    const text = await c.req.text();
    if (key !== null) {
      const seen = outcomes.get(key);
      if (seen && seen.body !== text)
        return err(422, 'idempotency key reused with a different body');
      if (seen) {
        counts.replays++;
        return c.json(seen.json as object, seen.status as 200, { [REPLAYED_HEADER]: 'true' });
      }
    }
    const res = place(JSON.parse(text) as { name?: unknown; quantity?: unknown });
    if (key !== null && res.status !== 400) outcomes.set(key, { body: text, ...res });
    return c.json(res.json as object, res.status as 200);
  });

  function place(body: { name?: unknown; quantity?: unknown }): { status: number; json: unknown } {
    const error = (code: number, message: string) => ({
      status: code,
      json: { error: { code, message } },
    });
    if (
      typeof body.name !== 'string' ||
      typeof body.quantity !== 'number' ||
      !Number.isInteger(body.quantity) ||
      body.quantity < 1
    ) {
      return error(400, 'bad order');
    }
    const p = products.get(body.name);
    if (!p) return error(404, 'product not found');
    if (p.quantity < body.quantity) {
      counts.rejected++;
      return {
        status: 409,
        json: {
          error: {
            code: 409,
            message: `insufficient stock for ${p.name}: ${p.quantity} left`,
            reason: 'insufficient_stock',
          },
        },
      };
    }
    p.quantity -= body.quantity;
    const number = orders.length;
    orders.push({ number, name: p.name, quantity: body.quantity });
    return {
      status: 200,
      json: { data: { order_number: opts.orderNumber ? opts.orderNumber(number) : number } },
    };
  }
  app.get('/orders/:n', (c) => {
    counts.orderQueries++;
    const order = orders[Number(c.req.param('n'))];
    const hooked = opts.onOrderQuery?.(order);
    if (hooked) return hooked;
    return order ? c.json({ data: order }) : err(404, 'order not found');
  });

  return { app, products, orders, counts, keysSeen, http: createFetchHttp(app.fetch) };
}

/** A JSON error response like the real frontend's. */
export function errorResponse(
  code: number,
  message: string,
  headers: Record<string, string> = {},
  reason?: string,
): Response {
  return new Response(JSON.stringify({ error: { code, message, ...(reason && { reason }) } }), {
    status: code,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * Wraps a transport with network faults. `fault` sees each request (and how many requests
 * matched `POST /orders` so far, 1-based, for POSTs): 'refused' throws before delivering,
 * 'reset-after' delivers then throws (the server acted but the answer was lost).
 */
export function faultyHttp(
  inner: HttpClient,
  fault: (
    req: HttpRequest,
    postCount: number,
  ) => 'refused' | 'reset-after' | 'timeout-after' | undefined,
): HttpClient {
  let posts = 0;
  return async (req) => {
    if (req.method === 'POST') posts++;
    const f = fault(req, posts);
    if (f === 'refused') throw new NetworkError('refused', req.url);
    const res = await inner(req);
    if (f === 'reset-after') throw new NetworkError('reset', req.url);
    if (f === 'timeout-after') throw new NetworkError('timeout', req.url);
    return res;
  };
}
