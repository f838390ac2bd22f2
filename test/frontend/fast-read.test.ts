/**
 * The cached product answered before the app (shared/fast-read.ts, frontend/app.ts's
 * productFastRead): over real sockets, one observed frontend app behind two listeners, one with
 * the fast path and one without, asked the same raw requests. Whatever the fast path answers
 * must be what the app answers (status, headers, body, request line, metrics); whatever it is
 * unsure of it must leave to the app; and it must never answer stock the cache has dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFrontendApp, productFastRead } from '../../frontend/app.ts';
import { ProductCache } from '../../frontend/cache.ts';
import type { Product } from '../../shared/contracts.ts';
import type { NodeFastPath } from '../../shared/fast-read.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { observeApp } from '../../shared/observability.ts';
import { listen, type Listening } from '../../shared/serve.ts';
import { memoryLogger } from '../observability/helpers.ts';
import { connectRaw } from '../support/raw-connection.ts';
import { FakeCatalog, FakeRouter } from './helpers.ts';

const TUX: Product = { name: 'Tux', price: 25.99, quantity: 100 };
const WHALE: Product = { name: 'Whale', price: 34.99, quantity: 7 };

const servers: Listening[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

async function setup() {
  const catalog = new FakeCatalog([TUX, WHALE]);
  const cache = new ProductCache({ maxSize: 7, loader: (n) => catalog.getProduct(n) });
  const { logger, lines } = memoryLogger('frontend', 'info');
  const registry = createRegistry();
  const app = observeApp([createFrontendApp({ cache, catalog, orders: new FakeRouter() })], {
    logger,
    registry,
    fastReads: [productFastRead(cache)],
  });
  const taken: string[] = [];
  const fastPath: NodeFastPath = (req, res) => {
    const answered = app.fastPath!(req, res);
    if (answered) taken.push(req.url ?? '');
    return answered;
  };
  const fast = await listen(app.fetch, '127.0.0.1', 0, { fastPath });
  const plain = await listen(app.fetch, '127.0.0.1', 0);
  servers.push(fast, plain);
  return { catalog, cache, logger, lines, registry, fast, plain, taken };
}

interface Answer {
  status: string;
  headers: string[];
  body: string;
}

/** One request on its own connection, as bytes; the answer with its volatile headers cut. */
async function ask(port: number, head: string, body = ''): Promise<Answer> {
  const conn = await connectRaw(port);
  conn.socket.write(`${head}\r\nConnection: close\r\n\r\n${body}`);
  // Connection: close: the server's close marks the end of its answer.
  if (!conn.closed()) await new Promise((r) => conn.socket.once('close', r));
  const [top = '', rest = ''] = conn.text().split('\r\n\r\n');
  const [status = '', ...headers] = top.split('\r\n');
  const kept = headers.filter((h) => !/^(date|x-request-id):/i.test(h)).map((h) => h.toLowerCase());
  return { status, headers: kept.sort(), body: rest };
}

const get = (path: string, extra = '', host = 'localhost') =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}${extra}`;

describe('when a cached product is answered before the app', () => {
  it('sends exactly what the app sends, and leaves every unusual request to the app', async () => {
    const s = await setup();
    await ask(s.plain.port, get('/products/Tux'));
    await ask(s.plain.port, get('/products/Whale'));
    const heads: Array<[string, string?]> = [
      [get('/products/Tux')],
      [get('/products/Tux/')],
      [get('/products/Whale', '\r\nx-request-id: story-1')],
      [get('/products/Tux?verbose=1')],
      [get('/products/Tux%20')],
      [get('/products/T%75x')],
      [get('/products/..')],
      [get('/products/Tux//')],
      [get('/products/')],
      [get('/products/Nope')],
      [get(`/products/${'x'.repeat(300)}`)],
      [get('/products/Tux', '', 'LOCALHOST')],
      [`HEAD /products/Tux HTTP/1.1\r\nHost: localhost`],
      [get('/products/Tux', '\r\nContent-Length: 2'), '{}'],
    ];
    for (const [head, body] of heads) {
      const viaApp = await ask(s.plain.port, head, body);
      const viaFast = await ask(s.fast.port, head, body);
      expect(viaFast, head).toEqual(viaApp);
    }
    expect(s.taken).toEqual(['/products/Tux', '/products/Tux/', '/products/Whale']);
  });

  it('writes the same request line and counts the same series as the app', async () => {
    const s = await setup();
    await ask(s.plain.port, get('/products/Tux'));
    s.lines.length = 0;
    await ask(s.plain.port, get('/products/Tux/', '\r\nx-request-id: story-2'));
    await ask(s.fast.port, get('/products/Tux/', '\r\nx-request-id: story-2'));
    expect(s.taken).toEqual(['/products/Tux/']);
    const [viaApp, viaFast] = s.lines.map(({ time: _t, ms: _ms, msg, ...rest }) => ({
      ...rest,
      msg: String(msg).replace(/ [\d.]+ms$/, ''),
    }));
    expect(viaApp).toMatchObject({ reqId: 'story-2', route: '/products/:name', status: 200 });
    expect(viaFast).toEqual(viaApp);
    const metrics = await s.registry.metrics();
    expect(metrics).toMatch(
      /toystore_http_requests_total\{method="GET",route="\/products\/:name",status="200"\} 3/,
    );
  });

  it('never answers stock the cache has dropped: after an invalidation the app answers anew', async () => {
    const s = await setup();
    await ask(s.plain.port, get('/products/Tux'));
    expect(JSON.parse((await ask(s.fast.port, get('/products/Tux'))).body)).toEqual({
      data: TUX,
    });
    s.catalog.stock.get('Tux')!.quantity = 42;
    s.cache.invalidate('Tux');
    const refilled = await ask(s.fast.port, get('/products/Tux'));
    expect(JSON.parse(refilled.body).data.quantity).toBe(42);
    const cached = await ask(s.fast.port, get('/products/Tux'));
    expect(JSON.parse(cached.body).data.quantity).toBe(42);
    // The first (a hit), not the refill (a miss: the app's), then the refilled entry.
    expect(s.taken).toEqual(['/products/Tux', '/products/Tux']);
  });
});
