/**
 * One key character set on every route, public and internal (shared/fields.ts IDEMPOTENCY_KEY).
 *
 * The faults: a key with a newline, sent straight to the leader, was written into the order log
 * and the ledger, whose readers then split it in two (332 acknowledged orders lost at the next
 * restart, a catalog that refused to start); a space passed although the README says visible
 * ASCII; two `Idempotency-Key` headers were joined by Node into "a, b" and stored as one key.
 * Each bad key is now a 400 that changes nothing on disk, wherever it arrives.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { createInvalidator } from '../../catalog/invalidator.ts';
import { LEDGER_FILE, META_FILE } from '../../catalog/ledger.ts';
import { openFileCatalogStore, type CatalogStore } from '../../catalog/store.ts';
import { createFrontendApp } from '../../frontend/app.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { ManualClock } from '../../shared/clock.ts';
import { listen, type Listening } from '../../shared/serve.ts';
import { FakeCatalog, FakeRouter } from '../frontend/helpers.ts';
import { makeTempDir, recordingHttp, removeDir } from '../catalog/helpers.ts';
import { createOrderCluster, replicaUrl } from '../support/order-cluster.ts';

const BAD_KEYS = [
  'line\nbreak',
  'carriage\rreturn',
  'has space',
  'tab\there',
  'naïve',
  '',
  'x'.repeat(256),
  'a, b',
];

function frontend() {
  const catalog = new FakeCatalog([{ name: 'Tux', price: 25.99, quantity: 100 }]);
  const cache = new ProductCache({
    maxSize: 7,
    enabled: true,
    loader: (n) => catalog.getProduct(n),
  });
  const router = new FakeRouter();
  return { app: createFrontendApp({ cache, catalog, orders: router }), router };
}

async function expect400(
  res: Response | { status: number; json(): Promise<unknown> },
): Promise<string> {
  const body = (await res.json()) as { error: { code: number; message: string } };
  expect(res.status).toBe(400);
  expect(body.error.code).toBe(400);
  return body.error.message;
}

describe('the frontend: POST /orders with a bad Idempotency-Key header', () => {
  // A newline or CR cannot even be put in a header by a well-behaved client (fetch refuses it):
  // the header forms of the bad keys are the rest.
  const headerKeys = BAD_KEYS.filter((k) => !/[\r\n]/.test(k));

  it('is a 400 naming the header, and the order never reaches the router', async () => {
    const { app, router } = frontend();
    for (const key of headerKeys) {
      const res = await app.request('/orders', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ name: 'Tux', quantity: 1 }),
      });
      expect(await expect400(res)).toMatch(/Idempotency-Key/);
    }
    expect(router.placeCalls).toEqual([]);
  });

  it('a valid key of any visible ASCII characters is taken', async () => {
    const { app, router } = frontend();
    const res = await app.request('/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': '!"#$%,;~' },
      body: JSON.stringify({ name: 'Tux', quantity: 1 }),
    });
    expect(res.status).toBe(200);
    expect(router.placeCalls).toHaveLength(1);
  });
});

describe('the frontend behind a real server: two Idempotency-Key headers', () => {
  let server: Listening;
  let router: FakeRouter;
  beforeEach(async () => {
    const f = frontend();
    router = f.router;
    server = await listen(f.app.fetch, '127.0.0.1', 0);
  });
  afterEach(async () => {
    await server.close(100);
  });

  /** Sends one raw HTTP/1.1 request (so headers can repeat) and returns the status and body. */
  function rawPost(headerLines: string[]): Promise<{ status: number; body: string }> {
    const body = JSON.stringify({ name: 'Tux', quantity: 1 });
    const request = [
      'POST /orders HTTP/1.1',
      `Host: 127.0.0.1:${server.port}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...headerLines,
      '',
      body,
    ].join('\r\n');
    return new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.end(request));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('error', reject);
      socket.on('close', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
    });
  }

  it('are refused with 400, also when each alone would be a valid key, or one of them is empty', async () => {
    for (const lines of [
      ['Idempotency-Key: a', 'Idempotency-Key: b'],
      ['idempotency-key: same', 'IDEMPOTENCY-KEY: same'],
      ['Idempotency-Key: a', 'Idempotency-Key: '],
    ]) {
      const res = await rawPost(lines);
      expect(res.status).toBe(400);
      expect(res.body).toMatch(/Idempotency-Key was sent 2 times/);
    }
    expect(router.placeCalls).toEqual([]);
    const once = await rawPost(['Idempotency-Key: only-once']);
    expect(once.status).toBe(200);
  });
});

describe('an order replica: POST /orders with a bad body key', () => {
  it('is a 400 before the leader buys anything or logs anything', async () => {
    const cluster = createOrderCluster({ heartbeatIntervalMs: 10 });
    try {
      await cluster.until('a leader is elected', () => cluster.leaderId() !== null);
      const leader = cluster.leaderId()!;
      const epoch = cluster.router.view().epoch!;
      for (const key of BAD_KEYS) {
        const res = await cluster.net.http({
          method: 'POST',
          url: `${replicaUrl(leader)}/orders`,
          body: { name: 'Tux', quantity: 1, key, epoch },
          timeoutMs: 2_000,
        });
        expect(res.status).toBe(400);
      }
      expect(cluster.catalog.calls).toEqual([]);
      for (const id of [1, 2, 3]) expect(cluster.log(id)).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });
});

describe('the catalog: POST /purchases and POST /internal/reconcile with a bad key', () => {
  let dir: string;
  let store: CatalogStore;
  beforeEach(async () => {
    dir = await makeTempDir();
    store = await openFileCatalogStore(dir);
  });
  afterEach(async () => {
    await store.close();
    await removeDir(dir);
  });

  const onDisk = async () => ({
    ledger: await fs.readFile(path.join(dir, LEDGER_FILE), 'utf8'),
    meta: await fs.readFile(path.join(dir, META_FILE), 'utf8').catch(() => null),
  });

  it('is a 400 and nothing changes on disk: no purchase, no refusal, no release, no meta', async () => {
    await store.purchase({ name: 'Tux', quantity: 1, key: 'good', epoch: 1 });
    // The invalidator follows the store's durable changes: any change from here on would be pushed.
    const http = recordingHttp();
    createInvalidator({
      http: http.http,
      frontendUrls: ['http://f.test'],
      changes: store,
      clock: new ManualClock(),
    });
    const app = createCatalogApp({ store });
    const post = (url: string, body: unknown) =>
      app.request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const before = await onDisk();
    for (const key of BAD_KEYS) {
      expect(
        await expect400(await post('/purchases', { name: 'Tux', quantity: 1, key, epoch: 1 })),
      ).toMatch(/key/);
      await expect400(
        await post('/internal/reconcile', { epoch: 1, committed: [{ key, seq: 0 }], release: [] }),
      );
      await expect400(
        await post('/internal/reconcile', {
          epoch: 1,
          committed: [],
          release: [
            { key: 'good', seq: 0 },
            { key, seq: 0 },
          ],
        }),
      );
    }
    await store.flush();
    expect(await onDisk()).toEqual(before);
    expect(store.pending().entries.map((p) => p.key)).toEqual(['good']);
    expect(http.calls).toEqual([]);
  });

  it('the store itself refuses such a key too, before it touches stock or the ledger', async () => {
    const before = await onDisk();
    for (const key of BAD_KEYS) {
      await expect(
        store.purchase({ name: 'Tux', quantity: 1, key, epoch: 1 }),
      ).rejects.toMatchObject({ status: 400 });
    }
    expect(store.get('Tux')?.quantity).toBe(100);
    expect(await onDisk()).toEqual(before);
  });
});
