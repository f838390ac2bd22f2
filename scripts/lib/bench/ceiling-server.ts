/**
 * The bare servers the store's throughput is compared with: the same framework (Hono on
 * @hono/node-server), the same JSON, the same undici pool between hops, and nothing else (no
 * validation, no cache, no disk, no replication, no logging or metrics). What the store achieves
 * over what these achieve on the same machine in the same run is the share its own work costs.
 *
 *   ROLE=origin    GET /products/:name answers the product from a Map (the cached-GET ceiling, and
 *                  the last hop of the others); POST /purchases answers `{"data":{"ok":true}}`.
 *   ROLE=order     POST /orders calls UPSTREAM_URL/purchases, then answers the next order number
 *                  (the middle hop of the three-hop chain); GET /orders/:n answers an order from
 *                  memory, as a leader answers from its in-memory log.
 *   ROLE=frontend  GET /products/:name is forwarded to UPSTREAM_URL (two-hop ceiling); GET
 *                  /orders/:n to ORDER_URL (the order-read two-hop); POST /orders to
 *                  ORDER_URL/orders (three-hop ceiling: frontend -> order -> origin).
 *
 * Started by the bench (scripts/lib/bench/ceilings.ts) as `node --import tsx <this file>`, like a
 * service; listens on HOST (127.0.0.1) and PORT (0: ephemeral) and prints `listening on <url>`.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { initialToys, TOY_NAMES } from '../../../catalog/toys.ts';

const role = process.env.ROLE;
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);

const app = new Hono();
// The same pool settings as shared/http.ts's createPooledHttp.
const agent = new Agent({ connections: 64, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 });

async function forward(
  url: string,
  method: 'GET' | 'POST',
  body?: string,
): Promise<{ status: number; json: unknown }> {
  const res = await request(url, {
    dispatcher: agent,
    method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  return { status: res.statusCode, json: await res.body.json() };
}

if (role === 'origin') {
  const products = new Map(initialToys().map((p) => [p.name, p]));
  app.get('/products/:name', (c) => {
    const p = products.get(c.req.param('name'));
    return p
      ? c.json({ data: p })
      : c.json({ error: { code: 404, message: 'product not found' } }, 404);
  });
  app.post('/purchases', async (c) => {
    await c.req.json();
    return c.json({ data: { ok: true } });
  });
} else if (role === 'order') {
  const upstream = required('UPSTREAM_URL');
  let next = 0;
  app.post('/orders', async (c) => {
    const body = await c.req.text();
    const res = await forward(`${upstream}/purchases`, 'POST', body);
    if (res.status !== 200) return c.json(res.json as object, res.status as 400);
    return c.json({ data: { order_number: next++ } });
  });
  app.get('/orders/:n', (c) => {
    const n = Number(c.req.param('n'));
    if (!Number.isSafeInteger(n) || n < 0)
      return c.json({ error: { code: 400, message: 'bad order number' } }, 400);
    return c.json({
      data: { number: n, name: TOY_NAMES[n % TOY_NAMES.length], quantity: 1 + (n % 5) },
    });
  });
} else if (role === 'frontend') {
  const upstream = required('UPSTREAM_URL');
  const orderUrl = required('ORDER_URL');
  app.get('/products/:name', async (c) => {
    const res = await forward(
      `${upstream}/products/${encodeURIComponent(c.req.param('name'))}`,
      'GET',
    );
    return c.json(res.json as object, res.status as 200);
  });
  app.get('/orders/:n', async (c) => {
    const res = await forward(`${orderUrl}/orders/${encodeURIComponent(c.req.param('n'))}`, 'GET');
    return c.json(res.json as object, res.status as 200);
  });
  app.post('/orders', async (c) => {
    const res = await forward(`${orderUrl}/orders`, 'POST', await c.req.text());
    return c.json(res.json as object, res.status as 200);
  });
} else {
  console.error(
    `ceiling-server: ROLE must be origin, order or frontend, got ${JSON.stringify(role)}`,
  );
  process.exit(2);
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`ceiling-server: ${name} is required for ROLE=${role}`);
    process.exit(2);
  }
  return v.replace(/\/+$/, '');
}

const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
  (server as Server).keepAliveTimeout = 5_000; // as shared/serve.ts
  console.log(`ceiling ${role} listening on http://${host}:${info.port}`);
});
const shutdown = () => {
  server.close();
  void agent.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
