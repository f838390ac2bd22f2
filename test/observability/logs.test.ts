/**
 * Structured logs and request ids, in-process: one line per request with its id, method, path,
 * route pattern, status and time; the id a request came with (or a new one) goes out on every
 * call the service makes for it, through both HTTP clients; quiet routes stay at debug; the
 * free-text messages of the replica and the router become structured lines; LOG_LEVEL and
 * LOG_FORMAT are parsed by the config module.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createFrontendApp } from '../../frontend/app.ts';
import { createCatalogClient } from '../../frontend/catalog-client.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { ObservedProductCache, routerEventLogger } from '../../frontend/observe.ts';
import { replicaEventLogger } from '../../order/observe.ts';
import { loadConfig, ConfigError } from '../../shared/config.ts';
import { createFetchHttp, createPooledHttp } from '../../shared/http.ts';
import { announce, createLogger } from '../../shared/logger.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { observeApp } from '../../shared/observability.ts';
import { acceptRequestId, requestIdOf } from '../../shared/request-context.ts';
import { FakeRouter } from '../frontend/helpers.ts';
import { LEVEL, memoryLogger, recordingFetch } from './helpers.ts';

const TUX = { name: 'Tux', price: 15.99, quantity: 100 };

/**
 * The public frontend wrapped as main.ts does, over a catalog twin that records what it is sent.
 */
function frontend() {
  const { logger, lines } = memoryLogger('frontend');
  // The catalog's product reads (POST /products/reads): Tux, and a 404 item for anything else.
  const catalogFetch = recordingFetch(async (req) => {
    const { names } = (await req.json()) as { names: string[] };
    const results = names.map((name) =>
      name === 'Tux'
        ? { ok: true, data: TUX }
        : { ok: false, status: 404, error: { code: 404, message: 'product not found' } },
    );
    return Response.json({ data: { results } });
  });
  const catalog = createCatalogClient(createFetchHttp(catalogFetch.fetchFn), 'http://catalog.test');
  const cache = new ObservedProductCache(
    { maxSize: 7, loader: (n, requestId) => catalog.getProduct(n, requestId) },
    { logger },
  );
  const registry = createRegistry();
  const app = observeApp(createFrontendApp({ cache, catalog, orders: new FakeRouter() }), {
    logger,
    registry,
  });
  const internal = observeApp(createFrontendInternalApp({ cache }), {
    logger,
    registry,
    serveMetrics: true,
  });
  return { app, internal, lines, seen: catalogFetch.seen, cache };
}

describe('request ids', () => {
  it('a request with x-request-id: abc makes the outgoing HttpClient call carry x-request-id: abc', async () => {
    const f = frontend();
    const res = await f.app.request('/products/Tux', { headers: { 'x-request-id': 'abc' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('abc');
    expect(f.seen).toHaveLength(1);
    expect(f.seen[0]!.url).toBe('http://catalog.test/products/reads');
    expect(f.seen[0]!.headers['x-request-id']).toBe('abc');
  });

  it('a request without an id gets a new one, used for its outgoing calls and echoed back', async () => {
    const f = frontend();
    const res = await f.app.request('/products/Tux');
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(f.seen[0]!.headers['x-request-id']).toBe(id);
    // Two requests, two ids.
    const again = await f.app.request('/products/Tux');
    expect(again.headers.get('x-request-id')).not.toBe(id);
  });

  it('an unusable id from outside is replaced, never logged or forwarded', async () => {
    expect(acceptRequestId('order-42,abc.def')).toBe('order-42,abc.def');
    for (const bad of ['', '   ', 'a b', 'x'.repeat(201), 'evil\nline', '<script>'])
      expect(acceptRequestId(bad)).toBeNull();
    const f = frontend();
    const res = await f.app.request('/products/Tux', {
      headers: { 'x-request-id': 'x'.repeat(300) },
    });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
    expect(f.seen[0]!.headers['x-request-id']).toBe(res.headers.get('x-request-id'));
  });

  it('a handler reads the id from its context; work it leaves running carries none', async () => {
    const { logger, lines } = memoryLogger('order-3');
    const { Hono } = await import('hono');
    const inner = new Hono();
    let seen: string | undefined;
    inner.post('/internal/lead', (c) => {
      seen = requestIdOf(c);
      // Like a replication loop begun by an election: it outlives the request and logs plainly.
      queueMicrotask(() => logger.info('still looping'));
      return c.json({ data: {} });
    });
    const app = observeApp(inner, { logger, registry: createRegistry() });
    await app.request('/internal/lead', { method: 'POST', headers: { 'x-request-id': 'elect-1' } });
    expect(seen).toBe('elect-1');
    expect(lines.find((l) => l.msg === 'still looping')?.reqId).toBeUndefined();
    expect(lines.find((l) => l.route === '/internal/lead')?.reqId).toBe('elect-1');
  });

  it('createPooledHttp sends the id a call carries over a real socket, and never one of its own', async () => {
    const received: Array<string | undefined> = [];
    const server = http.createServer((req, res) => {
      received.push(req.headers['x-request-id'] as string | undefined);
      res.setHeader('content-type', 'application/json');
      res.end('{"data":{}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    const client = createPooledHttp();
    try {
      await client({ method: 'GET', url, requestId: 'abc' });
      await client({ method: 'GET', url });
      await client({
        method: 'POST',
        url,
        body: {},
        headers: { 'x-request-id': 'chosen' },
        requestId: 'abc',
      });
    } finally {
      await client.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(received).toEqual(['abc', undefined, 'chosen']);
  });
});

describe('request log lines', () => {
  it('one line per request: reqId, method, path, route pattern, status and service time in ms', async () => {
    const f = frontend();
    await f.app.request('/products/Tux', { headers: { 'x-request-id': 'abc' } });
    await f.app.request('/products/Nope');
    await f.app.request('/no/such/route');
    const requests = f.lines.filter((l) => l.method !== undefined);
    expect(requests).toHaveLength(3);
    expect(requests[0]).toMatchObject({
      level: LEVEL.info,
      service: 'frontend',
      reqId: 'abc',
      method: 'GET',
      path: '/products/Tux',
      route: '/products/:name',
      status: 200,
    });
    expect(typeof requests[0]!.ms).toBe('number');
    expect(requests[0]!.ms as number).toBeGreaterThanOrEqual(0);
    expect(typeof requests[0]!.time).toBe('string');
    expect(requests[1]).toMatchObject({ route: '/products/:name', status: 404 });
    expect(requests[2]).toMatchObject({ route: 'unmatched', status: 404 });
  });

  it('lines written while serving a request carry its id (the cache invalidation a push causes)', async () => {
    const f = frontend();
    await f.app.request('/products/Tux');
    const res = await f.internal.request('/internal/invalidate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'order-7' },
      body: JSON.stringify({ name: 'Tux' }),
    });
    expect(res.status).toBe(200);
    const inv = f.lines.find((l) => l.event === 'cache_invalidate');
    expect(inv).toMatchObject({ reqId: 'order-7', toy: 'Tux', wasCached: true, level: LEVEL.info });
  });

  it('heartbeat-like routes are debug unless they belong to a traced request; a 5xx is a warning', async () => {
    const { logger, lines } = memoryLogger('order-1');
    const { Hono } = await import('hono');
    const inner = new Hono();
    inner.get('/internal/status', (c) => c.json({ data: {} }));
    inner.get('/boom', (c) => c.json({ error: { code: 503, message: 'no' } }, 503));
    const app = observeApp(inner, { logger, registry: createRegistry() });
    await app.request('/internal/status');
    await app.request('/internal/status', { headers: { 'x-request-id': 'traced' } });
    await app.request('/boom');
    expect(lines.map((l) => [l.route, l.level])).toEqual([
      ['/internal/status', LEVEL.debug],
      ['/internal/status', LEVEL.info],
      ['/boom', LEVEL.warn],
    ]);
  });
});

describe('typed events from the replica and the router', () => {
  it('become structured lines: the event type, its fields, the level and sentence from one describer', () => {
    const { logger, lines } = memoryLogger('order-2');
    const log = replicaEventLogger(logger);
    log({ type: 'became_leader', epoch: 5, orders: 12, logFrom: 3 });
    log({ type: 'stepped_down', epoch: 5, reason: 'a peer promised newer epoch 6' });
    log({ type: 'follower_down', follower: 1, reason: 'refused: http://x' });
    log({ type: 'purchases_released', epoch: 5, released: 2 });
    expect(
      lines.map(({ level, event, msg, ...rest }) => ({
        level,
        event,
        msg,
        epoch: rest.epoch,
        orders: rest.orders,
      })),
    ).toEqual([
      {
        level: LEVEL.info,
        event: 'became_leader',
        msg: 'leading epoch 5 with 12 orders (log from replica 3)',
        epoch: 5,
        orders: 12,
      },
      {
        level: LEVEL.warn,
        event: 'stepped_down',
        msg: 'stepping down from epoch 5: a peer promised newer epoch 6',
        epoch: 5,
        orders: undefined,
      },
      {
        level: LEVEL.warn,
        event: 'follower_down',
        msg: 'follower 1 unreachable: refused: http://x',
        epoch: undefined,
        orders: undefined,
      },
      {
        level: LEVEL.warn,
        event: 'purchases_released',
        msg: 'released 2 catalog purchases whose orders never committed (epoch 5)',
        epoch: 5,
        orders: undefined,
      },
    ]);

    const fe = memoryLogger('frontend');
    routerEventLogger(fe.logger)({ type: 'leader_change', leaderId: 2, epoch: 6, why: 'elected' });
    routerEventLogger(fe.logger)({
      type: 'leader_change',
      leaderId: null,
      epoch: null,
      why: 'none',
    });
    expect(fe.lines[0]).toMatchObject({
      event: 'leader_change',
      leaderId: 2,
      epoch: 6,
      level: LEVEL.info,
    });
    expect(fe.lines[1]).toMatchObject({
      event: 'leader_change',
      leaderId: null,
      level: LEVEL.warn,
    });
  });
});

describe('levels and formats', () => {
  it('LOG_LEVEL and LOG_FORMAT are parsed by the config module, bad values reported by name', () => {
    expect(loadConfig({}).logging).toEqual({ level: 'info', format: 'auto' });
    expect(loadConfig({ LOG_LEVEL: 'DEBUG', LOG_FORMAT: 'pretty' }).logging).toEqual({
      level: 'debug',
      format: 'pretty',
    });
    try {
      loadConfig({ LOG_LEVEL: 'loud', LOG_FORMAT: 'xml' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        expect.stringContaining('LOG_LEVEL="loud"'),
        expect.stringContaining('LOG_FORMAT="xml"'),
      ]);
    }
  });

  it('the level filters lines, but the listening line always appears (the launcher waits for it)', () => {
    const { logger, lines } = memoryLogger('catalog', 'silent');
    logger.error('hidden');
    announce(logger, { url: 'http://127.0.0.1:1' }, 'catalog listening on http://127.0.0.1:1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'catalog listening on http://127.0.0.1:1',
      level: LEVEL.info,
    });
    const warn = memoryLogger('catalog', 'warn');
    warn.logger.info('hidden');
    warn.logger.warn('shown');
    expect(warn.lines.map((l) => l.msg)).toEqual(['shown']);
  });

  it('LOG_FORMAT=pretty renders one readable line per entry; json (and auto off a terminal) writes JSON', () => {
    const out: string[] = [];
    const destination = { write: (s: string) => void out.push(s) };
    createLogger('frontend', { format: 'pretty', destination }).info(
      { reqId: 'abc', method: 'GET', path: '/x', status: 200, ms: 1 },
      'GET /x 200 1ms',
    );
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/INFO.*GET \/x 200 1ms/);
    expect(out[0]).toContain('"reqId":"abc"');
    expect(() => JSON.parse(out[0]!)).toThrow();
    out.length = 0;
    createLogger('frontend', { format: 'auto', isTTY: false, destination }).info('x');
    expect(JSON.parse(out[0]!)).toMatchObject({ msg: 'x', service: 'frontend' });
  });
});
