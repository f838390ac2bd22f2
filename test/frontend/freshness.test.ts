/**
 * Cache freshness when invalidation pushes are lost (issue 10), told as stories over the
 * in-process network with a ManualClock: the real catalog store and change feed
 * (catalog/invalidator.ts), and frontends built as frontend/main.ts builds them (ProductCache +
 * CatalogFreshness + the internal app). The catalog → frontend links go through a switch that
 * loses requests (before delivery) or their replies (after); the frontend → catalog reads work.
 *
 * The bound under test: once a cut link heals, every cached entry matches the catalog within
 * INVALIDATION_TIMEOUT_MS + RETRY_MAX_MS (the longest a lane waits before its next attempt), and
 * while a frontend hears nothing for CHANGE_SILENCE_MS it answers from the catalog, not its cache.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalogApp } from '../../catalog/app.ts';
import {
  createInvalidator,
  INVALIDATION_TIMEOUT_MS,
  RETRY_MAX_MS,
  type Invalidator,
} from '../../catalog/invalidator.ts';
import { createMemoryCatalogStore, type CatalogStore } from '../../catalog/store.ts';
import { ProductCache } from '../../frontend/cache.ts';
import { createCatalogClient } from '../../frontend/catalog-client.ts';
import { CatalogFreshness } from '../../frontend/freshness.ts';
import { createFrontendInternalApp } from '../../frontend/internal-app.ts';
import { ManualClock } from '../../shared/clock.ts';
import { CHANGE_BEAT_INTERVAL_MS, CHANGE_SILENCE_MS } from '../../shared/contracts.ts';
import { createInProcessNetwork, NetworkError, type HttpClient } from '../../shared/http.ts';

const CATALOG = 'http://catalog.test';
const HEAL_BOUND_MS = INVALIDATION_TIMEOUT_MS + RETRY_MAX_MS;
type Link = 'up' | 'lose-requests' | 'lose-replies';

interface Frontend {
  url: string;
  cache: ProductCache;
  freshness: CatalogFreshness;
}

function world(frontendCount: number) {
  const clock = new ManualClock();
  const net = createInProcessNetwork();
  const store = createMemoryCatalogStore();
  net.register(CATALOG, createCatalogApp({ store }).fetch);
  const links = new Map<string, Link>();
  const catalogToFrontends: HttpClient = async (req) => {
    const link = links.get(new URL(req.url).origin) ?? 'up';
    if (link === 'lose-requests') throw new NetworkError('reset', req.url);
    const res = await net.http(req);
    if (link === 'lose-replies') throw new NetworkError('timeout', req.url);
    return res;
  };
  const frontends: Frontend[] = Array.from({ length: frontendCount }, (_, i) => {
    const url = `http://frontend-${i + 1}.test`;
    const freshness = new CatalogFreshness({ clock, silenceMs: CHANGE_SILENCE_MS });
    const catalog = createCatalogClient(net.http, CATALOG);
    const cache = new ProductCache({
      maxSize: 7,
      loader: (n) => catalog.getProduct(n),
      trusted: () => freshness.trusted(),
    });
    net.register(url, createFrontendInternalApp({ cache, freshness }).fetch);
    return { url, cache, freshness };
  });
  const feeds: Invalidator[] = [];
  const startFeed = () => {
    const feed = createInvalidator({
      http: catalogToFrontends,
      frontendUrls: frontends.map((f) => f.url),
      changes: store,
      clock,
    });
    feed.start();
    feeds.push(feed);
    return feed;
  };
  return {
    clock,
    store,
    frontends,
    startFeed,
    setLink: (f: Frontend, link: Link) => links.set(new URL(f.url).origin, link),
    /** Cached toys whose quantity differs from the catalog's. */
    stale: (f: Frontend) =>
      f.cache.keys().filter((n) => f.cache.peek(n)!.quantity !== store.get(n)!.quantity),
    /**
     * Moves time in 10 ms steps until `cond` holds; returns how long that took, or null past
     * `limitMs`.
     */
    async until(cond: () => boolean, limitMs: number): Promise<number | null> {
      const start = clock.now();
      for (;;) {
        if (cond()) return clock.now() - start;
        if (clock.now() - start >= limitMs) return null;
        await clock.advance(10);
      }
    },
    stopAll: () => Promise.all(feeds.map((f) => f.stop())),
  };
}

let current: ReturnType<typeof world> | undefined;
afterEach(async () => {
  await current?.stopAll();
  current = undefined;
});

/** A world whose frontends have heard the feed and cached `names`. */
async function warmed(frontendCount: number, names: string[]) {
  const w = (current = world(frontendCount));
  w.startFeed();
  await w.clock.advance(0);
  for (const f of w.frontends) {
    expect(f.cache.stats().trusted).toBe(true);
    for (const n of names) await f.cache.get(n);
    expect(f.cache.keys().sort()).toEqual([...names].sort());
  }
  return w;
}

const buy = (store: CatalogStore, name: string, quantity: number, key: string) =>
  store.purchase({ name, quantity, key, epoch: 1 });

describe('when invalidation pushes are lost', () => {
  it('a restock during a short cut is stale only until the link heals, then fresh within the bound', async () => {
    const w = await warmed(1, ['Tux', 'Lego']);
    const [f] = w.frontends as [Frontend];
    await buy(w.store, 'Tux', 100, 'sell-out');
    await w.clock.advance(0);
    expect(f.cache.peek('Tux')).toBeUndefined(); // delivered while the link is up
    expect((await f.cache.get('Tux')).quantity).toBe(0);

    w.setLink(f, 'lose-requests');
    await w.store.restockEmpty(); // Tux back to 100; the push is lost
    await w.clock.advance(1_500); // the 1.5 s cut
    expect(w.stale(f)).toEqual(['Tux']);
    expect((await f.cache.get('Tux')).quantity).toBe(0); // still trusted: heard within the silence bound

    w.setLink(f, 'up');
    const healedInMs = await w.until(() => w.stale(f).length === 0, HEAL_BOUND_MS);
    expect(healedInMs).not.toBeNull();
    expect((await f.cache.get('Tux')).quantity).toBe(100);
    expect(f.cache.stats().trusted).toBe(true);
  });

  it('replies lost after delivery are retried too, and a long cut stops the cache from answering at all', async () => {
    const w = await warmed(1, ['Tux', 'Barbie']);
    const [f] = w.frontends as [Frontend];
    w.setLink(f, 'lose-replies');
    await buy(w.store, 'Barbie', 5, 'b1');
    await w.clock.advance(0);
    expect(w.stale(f)).toEqual([]); // the notice arrived; only its acknowledgement was lost
    w.setLink(f, 'lose-requests');
    await buy(w.store, 'Tux', 3, 't1');
    expect(w.stale(f)).toEqual(['Tux']);

    // Nothing heard for the silence bound: queries go to the catalog and nothing is kept.
    expect(await w.until(() => !f.cache.stats().trusted, CHANGE_SILENCE_MS)).not.toBeNull();
    expect((await f.cache.get('Tux')).quantity).toBe(97);
    expect(f.cache.keys()).toEqual([]);
    await f.cache.get('Lego');
    expect(f.cache.keys()).toEqual([]);

    w.setLink(f, 'up');
    expect(await w.until(() => f.cache.stats().trusted, HEAL_BOUND_MS)).not.toBeNull();
    expect((await f.cache.get('Tux')).quantity).toBe(97);
    expect(f.cache.keys()).toEqual(['Tux']);
  });

  it('two frontends, one cut off: the other stays fresh throughout, and each converges on its own', async () => {
    const w = await warmed(2, ['Tux', 'Lego', 'Slinky']);
    const [f1, f2] = w.frontends as [Frontend, Frontend];
    w.setLink(f2, 'lose-requests');
    for (let i = 0; i < 5; i++) {
      await buy(w.store, ['Tux', 'Lego', 'Slinky'][i % 3]!, 1 + i, `o${i}`);
      await w.clock.advance(200);
      expect(w.stale(f1)).toEqual([]);
      for (const n of ['Tux', 'Lego', 'Slinky']) await f1.cache.get(n); // f1 refills and keeps serving
    }
    expect(w.stale(f2).sort()).toEqual(['Lego', 'Slinky', 'Tux']);

    w.setLink(f2, 'up');
    expect(await w.until(() => w.stale(f2).length === 0, HEAL_BOUND_MS)).not.toBeNull();
    expect(w.stale(f1)).toEqual([]);
  });
});

describe('when the frontend sees a gap in the change sequence', () => {
  it('after a catalog restart that lost an unpushed change, it drops its entries and reloads them fresh', async () => {
    const w = await warmed(1, ['Tux', 'Lego']);
    const [f] = w.frontends as [Frontend];
    // The catalog dies right after a durable change it never pushed: its feed is gone.
    await w.stopAll();
    await buy(w.store, 'Lego', 7, 'unpushed');
    expect(w.stale(f)).toEqual(['Lego']);

    // The restarted catalog vouches only from the sequence it opened with: a gap for this frontend.
    w.startFeed();
    await w.clock.advance(0);
    expect(f.cache.keys()).toEqual([]);
    expect(f.freshness.view().seq).toBe(w.store.changeSeq());
    expect((await f.cache.get('Lego')).quantity).toBe(93);
  });

  it('a notice from above what it heard, or from below it, empties the cache; an in-order one does not', async () => {
    const cache = new ProductCache({
      maxSize: 7,
      loader: async (name) => ({ name, price: 1, quantity: 5 }),
    });
    const app = createFrontendInternalApp({ cache });
    const notify = async (notice: object) => {
      const res = await app.request('/internal/changes', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(notice),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { data: { seq: number; dropped: boolean } };
    };
    const fill = async () => {
      for (const n of ['Tux', 'Lego']) await cache.get(n);
    };
    await fill();
    expect(await notify({ seq: 5, sinceSeq: 3, names: [] })).toEqual({
      data: { seq: 5, dropped: false },
    });
    expect(await notify({ seq: 6, sinceSeq: 5, names: ['Tux'] })).toEqual({
      data: { seq: 6, dropped: false },
    });
    expect(cache.keys()).toEqual(['Lego']);
    await fill();
    expect(await notify({ seq: 9, sinceSeq: 8, names: [] })).toEqual({
      data: { seq: 9, dropped: true },
    });
    expect(cache.keys()).toEqual([]);
    await fill();
    expect(await notify({ seq: 2, sinceSeq: 2, names: [] })).toEqual({
      data: { seq: 2, dropped: true },
    });
    expect(cache.keys()).toEqual([]);
  });

  it('a fill in flight across the gap stores nothing: the query loads again and keeps the fresh value', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let loads = 0;
    const cache = new ProductCache({
      maxSize: 7,
      loader: async (name) => {
        if (++loads === 1) {
          await held; // read before the changes the gap hides
          return { name, price: 1, quantity: 5 };
        }
        return { name, price: 1, quantity: 4 };
      },
    });
    const app = createFrontendInternalApp({ cache });
    const notice = (seq: number, sinceSeq: number) =>
      app.request('/internal/changes', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ seq, sinceSeq, names: [] }),
      });
    await notice(1, 0);
    const pending = cache.get('Tux');
    await notice(4, 3);
    release();
    expect((await pending).quantity).toBe(4);
    expect(loads).toBe(2);
    expect(cache.peek('Tux')?.quantity).toBe(4);
  });
});

describe('before the first notice', () => {
  it('a frontend with the silence rule keeps nothing until it has heard the catalog once', async () => {
    const w = (current = world(1));
    const [f] = w.frontends as [Frontend];
    await f.cache.get('Tux');
    expect(f.cache.keys()).toEqual([]);
    w.startFeed();
    await w.clock.advance(CHANGE_BEAT_INTERVAL_MS);
    await f.cache.get('Tux');
    expect(f.cache.keys()).toEqual(['Tux']);
  });
});
