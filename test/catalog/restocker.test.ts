/**
 * Stories about periodic restocking, with time moved by a ManualClock and the frontends replaced
 * by a recording fake HttpClient. The restocker only refills; the frontends hear of it through
 * the invalidator, which follows the store's durable changes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import { CHANGES_PATH, createInvalidator, type Invalidator } from '../../catalog/invalidator.ts';
import { createRestocker, type Restocker, type RestockerEvent } from '../../catalog/restocker.ts';
import { openFileCatalogStore, type CatalogStore } from '../../catalog/store.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { ChangeNotice } from '../../shared/contracts.ts';
import {
  diskQuantity,
  makeTempDir,
  post,
  purchaseBody,
  recordingHttp,
  removeDir,
} from './helpers.ts';

const FRONTENDS = ['http://frontend-a.test', 'http://frontend-b.test'];
const INTERVAL = 10_000;

let dir: string;
let store: CatalogStore;
let clock: ManualClock;
let restocker: Restocker;
let invalidator: Invalidator;
let rec: ReturnType<typeof recordingHttp>;
let quantityAtPush: Map<string, number | undefined>;
let events: RestockerEvent[];

beforeEach(async () => {
  dir = await makeTempDir();
  store = await openFileCatalogStore(dir, {
    initial: [
      { name: 'Tux', price: 15.99, quantity: 3 },
      { name: 'Lego', price: 49.99, quantity: 0 },
      { name: 'Slinky', price: 4.99, quantity: 5 },
    ],
  });
  clock = new ManualClock();
  quantityAtPush = new Map();
  rec = recordingHttp((req) => {
    for (const name of (req.body as ChangeNotice).names)
      quantityAtPush.set(name, diskQuantity(dir, name));
    return { status: 204, headers: {}, body: undefined };
  });
  invalidator = createInvalidator({
    http: rec.http,
    frontendUrls: FRONTENDS,
    changes: store,
    clock,
  });
  events = [];
  restocker = createRestocker({
    store,
    clock,
    intervalMs: INTERVAL,
    onEvent: (e) => events.push(e),
  });
});

/** A restock round and the pushes it caused, finished. */
async function settled(): Promise<void> {
  await restocker.whenIdle();
  await invalidator.delivered();
}

afterEach(async () => {
  await restocker.stop();
  await invalidator.stop();
  await store.close();
  await removeDir(dir);
});

function pushedNames(): string[] {
  return rec.calls.flatMap((c) => (c.body as ChangeNotice).names);
}

describe('restocking', () => {
  it('refills sold-out toys to 100 every interval, durably, and tells every frontend', async () => {
    restocker.start();
    await clock.advance(INTERVAL - 1);
    await settled();
    expect(store.get('Lego')?.quantity).toBe(0);
    expect(rec.calls).toHaveLength(0);

    await clock.advance(1);
    await settled();
    expect(store.get('Lego')?.quantity).toBe(100);
    expect(diskQuantity(dir, 'Lego')).toBe(100);
    // Toys with stock left are not touched.
    expect(store.get('Tux')?.quantity).toBe(3);
    expect(store.get('Slinky')?.quantity).toBe(5);
    expect(rec.calls.map((c) => c.url).sort()).toEqual(
      FRONTENDS.map((f) => `${f}${CHANGES_PATH}`).sort(),
    );
    expect(pushedNames()).toEqual(['Lego', 'Lego']);
    for (const c of rec.calls) expect(c.method).toBe('POST');
    // The push went out only once the refill was on disk.
    expect(quantityAtPush.get('Lego')).toBe(100);
    expect(events).toEqual([{ type: 'restocked', toys: ['Lego'] }]);

    // Sell Tux and Slinky out; the next round refills both.
    const app = createCatalogApp({ store });
    expect((await post(app, purchaseBody('Tux', 3, 'a'))).body.data.quantity).toBe(0);
    expect((await post(app, purchaseBody('Slinky', 5, 'b'))).body.data.quantity).toBe(0);
    await invalidator.delivered();
    rec.calls.length = 0;
    await clock.advance(INTERVAL);
    await settled();
    expect(store.get('Tux')?.quantity).toBe(100);
    expect(store.get('Slinky')?.quantity).toBe(100);
    expect(diskQuantity(dir, 'Tux')).toBe(100);
    expect(pushedNames().sort()).toEqual(['Slinky', 'Slinky', 'Tux', 'Tux']);
    expect(quantityAtPush.get('Tux')).toBe(100);

    // A round with nothing sold out changes nothing and pushes nothing.
    rec.calls.length = 0;
    await clock.advance(INTERVAL);
    await settled();
    expect(rec.calls).toHaveLength(0);
    // Each round that refilled something reported which toys, once; the idle round reported
    // nothing.
    expect(events.map((e) => e.type === 'restocked' && [...e.toys].sort())).toEqual([
      ['Lego'],
      ['Slinky', 'Tux'],
    ]);
  });

  it('when a round fails, it says why and the next round runs all the same', async () => {
    let failNext = true;
    const flaky = {
      restockEmpty: async () => {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
        return store.restockEmpty();
      },
    };
    const seen: RestockerEvent[] = [];
    const r = createRestocker({
      store: flaky,
      clock,
      intervalMs: INTERVAL,
      onEvent: (e) => seen.push(e),
    });
    r.start();
    await clock.advance(INTERVAL);
    await r.whenIdle();
    expect(seen).toEqual([{ type: 'restock_failed', reason: 'disk full' }]);
    expect(store.get('Lego')?.quantity).toBe(0);
    await clock.advance(INTERVAL);
    await r.whenIdle();
    expect(seen).toEqual([
      { type: 'restock_failed', reason: 'disk full' },
      { type: 'restocked', toys: ['Lego'] },
    ]);
    expect(store.get('Lego')?.quantity).toBe(100);
    await r.stop();
  });

  it('keeps going when a frontend is unreachable', async () => {
    const unreachable = createInvalidator({
      http: async (req) => {
        throw new Error(`connect ECONNREFUSED ${req.url}`);
      },
      frontendUrls: FRONTENDS,
      changes: store,
      clock,
    });
    const r = createRestocker({ store, clock, intervalMs: INTERVAL });
    r.start();
    await clock.advance(INTERVAL);
    await r.whenIdle();
    expect(store.get('Lego')?.quantity).toBe(100);
    const app = createCatalogApp({ store });
    await post(app, purchaseBody('Lego', 100, 'x'));
    await clock.advance(INTERVAL);
    await r.whenIdle();
    expect(store.get('Lego')?.quantity).toBe(100);
    expect(unreachable.view().map((l) => l.pending)).toEqual([['Lego'], ['Lego']]);
    await r.stop();
    await unreachable.stop();
  });

  it('stops restocking after stop()', async () => {
    restocker.start();
    await restocker.stop();
    await clock.advance(INTERVAL * 5);
    await settled();
    expect(store.get('Lego')?.quantity).toBe(0);
    expect(rec.calls).toHaveLength(0);
  });
});
