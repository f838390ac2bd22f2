/**
 * Catalog client stories: products come back validated, a 404 is the lab's "product not found",
 * an unreachable catalog is a 503 with Retry-After, other catalog errors pass through, and reads
 * made at once share one request (POST /products/reads), each with its own answer.
 */
import { describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createMemoryCatalogStore } from '../../catalog/store.ts';
import { createCatalogClient } from '../../frontend/catalog-client.ts';
import type { Product } from '../../shared/contracts.ts';
import { AppError, productNotFound } from '../../shared/errors.ts';
import { catalogRoutes } from '../../shared/protocol/catalog.ts';
import { mountRoutes } from '../../shared/protocol/mount.ts';
import { createServiceApp } from '../../shared/service-app.ts';
import {
  createInProcessNetwork,
  NetworkError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../../shared/http.ts';

const CATALOG = 'http://catalog.test:8001';

function fakeHttp(answer: (req: HttpRequest) => HttpResponse | Promise<HttpResponse>) {
  const calls: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    calls.push(req);
    return answer(req);
  };
  return { http, calls };
}

const ok = (data: unknown): HttpResponse => ({ status: 200, headers: {}, body: { data } });

/** A product-read batch answered per name: a toy from `toys`, or the catalog's 404 item. */
const answerReads =
  (toys: Record<string, unknown>) =>
  (req: HttpRequest): HttpResponse =>
    ok({
      results: (req.body as { names: string[] }).names.map((name) =>
        toys[name] !== undefined
          ? { ok: true, data: toys[name] }
          : { ok: false, status: 404, error: { code: 404, message: 'no such toy here' } },
      ),
    });

describe('catalog client', () => {
  it('reads made at once go as one internal call (with the cluster credential), each answered on its own', async () => {
    const lego = { name: 'Lego Set', price: 19.99, quantity: 3 };
    const { http, calls } = fakeHttp(answerReads({ 'Lego Set': lego, Tux: lego }));
    const client = createCatalogClient(http, `${CATALOG}/`);
    const [a, b, c] = await Promise.allSettled([
      client.getProduct('Lego Set'),
      client.getProduct('Ghost'),
      client.getProduct('Lego Set'),
    ]);
    expect(a).toEqual({ status: 'fulfilled', value: lego });
    expect(b).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(c).toEqual({ status: 'fulfilled', value: lego });
    expect(calls).toEqual([
      {
        method: 'POST',
        url: `${CATALOG}/products/reads`,
        body: { names: ['Lego Set', 'Ghost', 'Lego Set'] },
        internal: true,
      },
    ]);
  });

  it('lists every toy', async () => {
    const list = [
      { name: 'Tux', price: 25.99, quantity: 100 },
      { name: 'Whale', price: 34.99, quantity: 0 },
    ];
    const { http, calls } = fakeHttp(() => ok(list));
    const client = createCatalogClient(http, CATALOG, { timeoutMs: 250 });
    expect(await client.listProducts()).toEqual(list);
    expect(calls).toEqual([
      { method: 'GET', url: `${CATALOG}/products`, timeoutMs: 250, internal: true },
    ]);
  });

  it('a 404 is productNotFound, whatever the body says', async () => {
    for (const answer of [
      answerReads({}),
      (): HttpResponse => ({ status: 404, headers: {}, body: 'nope' }),
    ]) {
      const { http } = fakeHttp(answer);
      const err = await createCatalogClient(http, CATALOG)
        .getProduct('Ghost')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({
        status: 404,
        reason: 'product_not_found',
        message: 'product not found',
      });
    }
  });

  it('a network failure is a 503 upstream_unavailable with Retry-After', async () => {
    const { http } = fakeHttp(() => {
      throw new NetworkError('refused', `${CATALOG}/products/Tux`);
    });
    const client = createCatalogClient(http, CATALOG);
    await expect(client.getProduct('Tux')).rejects.toMatchObject({
      status: 503,
      reason: 'upstream_unavailable',
      retryAfterSeconds: 1,
    });
    await expect(client.listProducts()).rejects.toMatchObject({
      status: 503,
      reason: 'upstream_unavailable',
    });
  });

  it('other catalog errors pass through; a malformed success is a 502; a 4xx on the list is a 502', async () => {
    const busy = fakeHttp(() => ({
      status: 503,
      headers: {},
      body: { error: { code: 503, message: 'catalog is starting' } },
    }));
    await expect(createCatalogClient(busy.http, CATALOG).getProduct('Tux')).rejects.toMatchObject({
      status: 503,
      message: 'catalog is starting',
    });

    const bad = fakeHttp(answerReads({ Tux: { name: 'Tux', price: 'cheap', quantity: -1 } }));
    await expect(createCatalogClient(bad.http, CATALOG).getProduct('Tux')).rejects.toMatchObject({
      status: 502,
    });

    const missing = fakeHttp(() => ({ status: 404, headers: {}, body: undefined }));
    await expect(createCatalogClient(missing.http, CATALOG).listProducts()).rejects.toMatchObject({
      status: 502,
    });
  });

  it('works over the in-process network against the catalog app, and a crashed catalog is a 503', async () => {
    const catalog = createCatalogApp({ store: createMemoryCatalogStore() });
    const net = createInProcessNetwork();
    net.register(CATALOG, (req) => catalog.fetch(req));
    const client = createCatalogClient(net.http, CATALOG);

    expect(await client.getProduct('Tux')).toEqual({ name: 'Tux', price: 15.99, quantity: 100 });
    await expect(client.getProduct('Ghost')).rejects.toMatchObject({
      status: 404,
      message: 'product not found',
    });
    net.setState(CATALOG, 'down');
    await expect(client.getProduct('Tux')).rejects.toMatchObject({
      status: 503,
      reason: 'upstream_unavailable',
    });
  });
});

describe('when the catalog is older than the frontend (a rolling upgrade)', () => {
  it('each read goes on its own (GET /products/:name) and still gets its answer', async () => {
    // An older catalog in miniature: the same route table, without the batch read route.
    const toys: Record<string, Product> = { Tux: { name: 'Tux', price: 25.99, quantity: 4 } };
    const older = createServiceApp();
    mountRoutes(
      older,
      catalogRoutes,
      {
        getProduct: ({ params: { name } }) => {
          const toy = toys[name];
          if (!toy) throw productNotFound();
          return toy;
        },
      },
      { credential: null },
    );
    const net = createInProcessNetwork();
    net.register(CATALOG, older.fetch);
    const sent: string[] = [];
    const client = createCatalogClient(async (req) => {
      sent.push(`${req.method} ${new URL(req.url).pathname}`);
      return net.http(req);
    }, CATALOG);
    const [tux, ghost] = await Promise.allSettled([
      client.getProduct('Tux'),
      client.getProduct('Ghost'),
    ]);
    expect(tux).toEqual({ status: 'fulfilled', value: toys.Tux });
    expect(ghost).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(sent).toEqual(['POST /products/reads', 'GET /products/Tux', 'GET /products/Ghost']);
    // It remembers: the next read does not ask for the batch route first.
    sent.length = 0;
    await expect(client.getProduct('Tux')).resolves.toEqual(toys.Tux);
    expect(sent).toEqual(['GET /products/Tux']);
  });
});
