/**
 * Stories about the catalog's HTTP API, driven with app.request() against a file-backed store in
 * a temp dir, so "persisted" is checked by reading the file (or reopening the store) for real.
 */
import { pendingRefs } from '../support/purchase-refs.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { CHANGES_PATH, createInvalidator, type Invalidator } from '../../catalog/invalidator.ts';
import { openFileCatalogStore, type CatalogStore } from '../../catalog/store.ts';
import { INITIAL_STOCK, TOY_NAMES } from '../../catalog/toys.ts';
import { ManualClock } from '../../shared/clock.ts';
import { MAX_PUBLIC_BODY_BYTES } from '../../shared/contracts.ts';
import { NetworkError } from '../../shared/http.ts';
import {
  deferred,
  diskQuantity,
  get,
  makeTempDir,
  ok,
  post,
  purchaseBody,
  readDisk,
  recordingHttp,
  removeDir,
} from './helpers.ts';

const FRONTENDS = ['http://frontend-a.test', 'http://frontend-b.test'];

let dir: string;
let store: CatalogStore;
const invalidators: Invalidator[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
  store = await openFileCatalogStore(dir);
});

afterEach(async () => {
  for (const i of invalidators.splice(0)) await i.stop();
  await store.close();
  await removeDir(dir);
});

/** The app, and the invalidator following the same store (as catalog/main.ts wires them). */
function appWith(http = recordingHttp()) {
  const invalidator = createInvalidator({
    http: http.http,
    frontendUrls: FRONTENDS,
    changes: store,
    clock: new ManualClock(),
  });
  invalidators.push(invalidator);
  return { app: createCatalogApp({ store }), calls: http.calls, invalidator };
}

describe('browsing the catalog', () => {
  it('lists every toy with a price and the initial stock, including Tux at 15.99', async () => {
    const { app } = appWith();
    const res = await get(app, '/products');
    expect(res.status).toBe(200);
    const products = res.body.data as Array<{ name: string; price: number; quantity: number }>;
    expect(products.map((p) => p.name)).toEqual([...TOY_NAMES]);
    expect(products.length).toBeGreaterThanOrEqual(10);
    for (const p of products) {
      expect(p.quantity).toBe(INITIAL_STOCK);
      expect(p.price).toBeGreaterThan(0);
      expect(p.name).not.toContain(',');
    }
    expect(products.find((p) => p.name === 'Tux')).toEqual({
      name: 'Tux',
      price: 15.99,
      quantity: 100,
    });
  });

  it('returns one product by name, including a name with spaces', async () => {
    const { app } = appWith();
    expect(await get(app, '/products/Tux')).toEqual({
      status: 200,
      body: { data: { name: 'Tux', price: 15.99, quantity: 100 } },
    });
    const etch = await get(app, `/products/${encodeURIComponent('Etch A Sketch')}`);
    expect(etch.status).toBe(200);
    expect(etch.body.data.name).toBe('Etch A Sketch');
  });

  it('answers an unknown toy with 404 in the exact error shape', async () => {
    const { app } = appWith();
    const res = await get(app, '/products/Whatsit');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 404, message: 'product not found' });
    expect(Object.keys(res.body)).toEqual(['error']);
  });

  it('reports health, and an unknown route is a 404 in the error shape', async () => {
    const { app } = appWith();
    expect(await get(app, '/health')).toEqual({ status: 200, body: { data: { ok: true } } });
    const res = await get(app, '/nowhere');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe(404);
  });
});

describe('purchasing', () => {
  it('decrements the stock, answers with what is left, and the change survives a reopen', async () => {
    const { app } = appWith();
    const res = await post(app, purchaseBody('Tux', 3, 'k1'));
    expect(res).toEqual({ status: 200, body: { data: { name: 'Tux', quantity: 97 } } });
    expect((await get(app, '/products/Tux')).body.data.quantity).toBe(97);
    // Answered means durable: the file already says 97 without any flush.
    expect(diskQuantity(dir, 'Tux')).toBe(97);

    const reopened = await openFileCatalogStore(dir);
    expect(reopened.get('Tux')?.quantity).toBe(97);
    expect(reopened.get('Lego')?.quantity).toBe(100);
    await reopened.close();
  });

  it('refuses more than is left with 409 naming how many are left, and changes nothing on disk', async () => {
    const { app } = appWith();
    expect((await post(app, purchaseBody('Lego', 95, 'a'))).status).toBe(200);
    const res = await post(app, purchaseBody('Lego', 10, 'b'));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe(409);
    expect(res.body.error.message).toContain('5 left');
    expect(res.body.error.message).toContain('Lego');
    expect(diskQuantity(dir, 'Lego')).toBe(5);
    expect((await get(app, '/products/Lego')).body.data.quantity).toBe(5);
    // Exactly what is left is still fine.
    expect((await post(app, purchaseBody('Lego', 5, 'c'))).body).toEqual({
      data: { name: 'Lego', quantity: 0 },
    });
    expect(diskQuantity(dir, 'Lego')).toBe(0);
  });

  it('answers a purchase of an unknown toy with 404 product not found', async () => {
    const { app, calls } = appWith();
    const res = await post(app, purchaseBody('Whatsit', 1, 'k'));
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 404, message: 'product not found' });
    expect(calls).toHaveLength(0);
  });

  const badBodies: Array<[string, unknown]> = [
    ['not JSON', '{"name": "Tux", "quantity": 1,'],
    ['a JSON array', '[1,2]'],
    ['JSON null', 'null'],
    ['missing name', { quantity: 1, key: 'k', epoch: 1 }],
    ['empty name', { name: '', quantity: 1, key: 'k', epoch: 1 }],
    ['name not a string', { name: 7, quantity: 1, key: 'k', epoch: 1 }],
    ['missing quantity', { name: 'Tux', key: 'k', epoch: 1 }],
    ['quantity 0', purchaseBody('Tux', 0, 'k')],
    ['quantity -1', purchaseBody('Tux', -1, 'k')],
    ['quantity 1.5', purchaseBody('Tux', 1.5, 'k')],
    ['quantity "2"', { name: 'Tux', quantity: '2', key: 'k', epoch: 1 }],
    ['quantity absurdly large', purchaseBody('Tux', 1e20, 'k')],
    ['quantity just over the maximum', purchaseBody('Tux', 10_001, 'k')],
    ['missing key', { name: 'Tux', quantity: 1, epoch: 1 }],
    ['missing epoch', { name: 'Tux', quantity: 1, key: 'k' }],
    ['negative epoch', purchaseBody('Tux', 1, 'k', -1)],
  ];
  for (const [what, body] of badBodies) {
    it(`rejects ${what} with 400 and leaves the stock alone`, async () => {
      const { app, calls } = appWith();
      const res = await post(app, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(res.status);
      expect(typeof res.body.error.message).toBe('string');
      expect(diskQuantity(dir, 'Tux')).toBe(100);
      expect(store.get('Tux')?.quantity).toBe(100);
      expect(calls).toHaveLength(0);
    });
  }

  it('rejects an oversized body with 413 in the error shape and leaves the stock alone', async () => {
    const { app } = appWith();
    const body = JSON.stringify({
      ...purchaseBody('Tux', 1, 'k'),
      padding: 'x'.repeat(MAX_PUBLIC_BODY_BYTES),
    });
    const res = await post(app, body);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe(res.status);
    expect(diskQuantity(dir, 'Tux')).toBe(100);
  });

  it('sells exactly the stock under 150 concurrent single-unit purchases', async () => {
    const { app } = appWith();
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) => post(app, purchaseBody('Slinky', 1, `c-${i}`))),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 409)).toHaveLength(50);
    for (const r of results) expect(r.body.data ?? r.body.error.code).toBeTruthy();
    // Every remaining count from 0 to 99 was handed out exactly once.
    const remaining = results
      .filter((r) => r.status === 200)
      .map((r) => r.body.data.quantity as number)
      .sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect((await get(app, '/products/Slinky')).body.data.quantity).toBe(0);
    expect(diskQuantity(dir, 'Slinky')).toBe(0);
    const reopened = await openFileCatalogStore(dir);
    expect(reopened.get('Slinky')?.quantity).toBe(0);
    await reopened.close();
  });

  it('decrements once for the same key sent twice, in turn or at once', async () => {
    const { app } = appWith();
    const first = await post(app, purchaseBody('Frisbee', 4, 'order-7'));
    const again = await post(app, purchaseBody('Frisbee', 4, 'order-7', 2));
    expect(first).toEqual({ status: 200, body: { data: { name: 'Frisbee', quantity: 96 } } });
    expect(again).toEqual(first);
    expect(diskQuantity(dir, 'Frisbee')).toBe(96);

    const both = await Promise.all([
      post(app, purchaseBody('Frisbee', 6, 'order-8')),
      post(app, purchaseBody('Frisbee', 6, 'order-8')),
    ]);
    expect(both[0]).toEqual({ status: 200, body: { data: { name: 'Frisbee', quantity: 90 } } });
    expect(both[1]).toEqual(both[0]);
    expect(diskQuantity(dir, 'Frisbee')).toBe(90);
  });

  it('repeats the same refusal for a key that was refused, and rejects a key reused for another purchase with 422', async () => {
    const { app } = appWith();
    const refused = await post(app, purchaseBody('Yo-Yo', 101, 'big'));
    expect(refused.status).toBe(409);
    expect(await post(app, purchaseBody('Yo-Yo', 101, 'big'))).toEqual(refused);
    // The README: the same key with a different body is a 422, a refused key included.
    const refusedReused = await post(app, purchaseBody('Yo-Yo', 1, 'big'));
    expect(refusedReused.status).toBe(422);
    expect(refusedReused.body.error).toMatchObject({ code: 422, reason: 'idempotency_key_reused' });

    expect((await post(app, purchaseBody('Yo-Yo', 1, 'k'))).status).toBe(200);
    const reused = await post(app, purchaseBody('Yo-Yo', 2, 'k'));
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 422, reason: 'idempotency_key_reused' });
    expect(diskQuantity(dir, 'Yo-Yo')).toBe(99);
  });
});

describe('purchasing in batches (what a leader sends)', () => {
  const batch = async (
    app: { request(path: string, init?: RequestInit): Response | Promise<Response> },
    purchases: unknown,
  ) => {
    const res = await app.request('/purchases/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ purchases }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('answers each purchase as its own call would, in order, the last units to the first askers', async () => {
    const { app } = appWith();
    expect((await post(app, purchaseBody('Scrabble', 98, 'first'))).status).toBe(200);
    const res = await batch(app, [
      purchaseBody('Scrabble', 1, 'a'),
      purchaseBody('Scrabble', 5, 'b'),
      purchaseBody('Scrabble', 1, 'c'),
      purchaseBody('Nope', 1, 'd'),
      purchaseBody('Scrabble', 1, 'first'),
    ]);
    expect(res.status).toBe(200);
    expect(res.body.data.results).toEqual([
      { ok: true, data: { name: 'Scrabble', quantity: 1 } },
      {
        ok: false,
        status: 409,
        error: expect.objectContaining({ code: 409, reason: 'insufficient_stock' }),
      },
      { ok: true, data: { name: 'Scrabble', quantity: 0 } },
      {
        ok: false,
        status: 404,
        error: expect.objectContaining({ code: 404, reason: 'product_not_found' }),
      },
      {
        ok: false,
        status: 422,
        error: expect.objectContaining({ reason: 'idempotency_key_reused' }),
      },
    ]);
    expect(diskQuantity(dir, 'Scrabble')).toBe(0);
    // The same keys again: the same outcomes, no second decrement.
    const again = await batch(app, [
      purchaseBody('Scrabble', 1, 'a'),
      purchaseBody('Scrabble', 5, 'b'),
    ]);
    expect(again.body.data.results.map((r: any) => r.ok)).toEqual([true, false]);
    expect(diskQuantity(dir, 'Scrabble')).toBe(0);
  });

  it('refuses a malformed batch whole, with 400, and changes nothing', async () => {
    const { app } = appWith();
    for (const bad of [
      [],
      [purchaseBody('Tux', 1, 'x'), { name: 'Tux', quantity: 0, key: 'y', epoch: 1 }],
      Array.from({ length: 513 }, (_, i) => purchaseBody('Tux', 1, `k${i}`)),
    ]) {
      const res = await batch(app, bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(400);
    }
    expect(diskQuantity(dir, 'Tux')).toBe(100);
  });
});

describe('cache invalidation on purchase', () => {
  it('pushes the invalidation to every frontend once the decrement is durable, without holding the purchase on it', async () => {
    const release = deferred<void>();
    const seenAtPush: Array<{ url: string; disk: number | undefined; served: number | undefined }> =
      [];
    const http = recordingHttp(async (req) => {
      seenAtPush.push({
        url: req.url,
        disk: diskQuantity(dir, 'Barbie'),
        served: store.get('Barbie')?.quantity,
      });
      await release.promise;
      return ok();
    });
    const { app, calls } = appWith(http);

    // The purchase is answered while both pushes are still unanswered (a slow frontend does not
    // slow orders down; the ordering frontend invalidates its own cache before replying).
    expect(await post(app, purchaseBody('Barbie', 2, 'k'))).toEqual({
      status: 200,
      body: { data: { name: 'Barbie', quantity: 98 } },
    });
    while (calls.length < FRONTENDS.length) await new Promise<void>((r) => setImmediate(r));
    expect(calls.map((c) => c.url).sort()).toEqual(
      FRONTENDS.map((f) => `${f}${CHANGES_PATH}`).sort(),
    );
    for (const c of calls) {
      expect(c.method).toBe('POST');
      expect(c.body).toEqual({ seq: 0, sinceSeq: -1, names: ['Barbie'] });
      expect(c.timeoutMs).toBeLessThanOrEqual(1_000);
    }
    // A frontend re-reading on the invalidation already gets the new stock.
    for (const s of seenAtPush) expect(s).toMatchObject({ disk: 98, served: 98 });
    release.resolve();
  });

  it('still answers the purchase when a frontend is down or answers with an error', async () => {
    const http = recordingHttp((req) => {
      if (req.url.startsWith(FRONTENDS[0]!)) throw new NetworkError('refused', req.url);
      return { status: 500, headers: {}, body: undefined };
    });
    const { app, calls } = appWith(http);
    const res = await post(app, purchaseBody('Monopoly', 1, 'k'));
    expect(res).toEqual({ status: 200, body: { data: { name: 'Monopoly', quantity: 99 } } });
    expect(calls).toHaveLength(2);
  });

  it('pushes a release that a new leader made through reconcile, like a purchase', async () => {
    const { app, calls, invalidator } = appWith();
    await post(app, purchaseBody('Scrabble', 5, 'never-committed'));
    await invalidator.delivered();
    calls.length = 0;
    const res = await app.request('/internal/reconcile', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ epoch: 2, committed: [], release: pendingRefs(store) }),
    });
    expect(res.status).toBe(200);
    await invalidator.delivered();
    expect(store.get('Scrabble')?.quantity).toBe(100);
    expect(calls.map((c) => c.body)).toEqual([
      { seq: 1, sinceSeq: 0, names: ['Scrabble'] },
      { seq: 1, sinceSeq: 0, names: ['Scrabble'] },
    ]);
  });

  it('pushes nothing when the purchase is refused', async () => {
    const { app, calls } = appWith();
    expect((await post(app, purchaseBody('Monopoly', 500, 'k'))).status).toBe(409);
    expect(calls).toHaveLength(0);
  });
});

describe('the file on disk', () => {
  it('is a valid products CSV after a storm of concurrent purchases', async () => {
    const { app } = appWith();
    const names = ['Tux', 'Lego', 'Play-Doh', "Rubik's Cube", 'Teddy Bear'];
    const bodies = Array.from({ length: 300 }, (_, i) =>
      purchaseBody(names[i % names.length]!, 1 + (i % 3), `s-${i}`),
    );
    const results = await Promise.all(bodies.map((b) => post(app, b)));
    const disk = readDisk(dir);
    expect([...disk.keys()]).toEqual([...TOY_NAMES]);
    for (const name of names) {
      const sold = bodies
        .filter((b, i) => b.name === name && results[i]!.status === 200)
        .reduce((n, b) => n + b.quantity, 0);
      expect(sold).toBeGreaterThan(90);
      expect(disk.get(name)?.quantity).toBe(100 - sold);
      expect(store.get(name)?.quantity).toBe(100 - sold);
    }
    expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    expect(disk.get("Rubik's Cube")?.price).toBe(11.99);
  });
});
