/**
 * The catalog's change feed (catalog/invalidator.ts), with the frontends replaced by a recording
 * HttpClient and time moved by a ManualClock: every durable change reaches every frontend with
 * the change sequence, changes made meanwhile share one later notice, a lost notice is retried
 * until acknowledged, an idle lane beats, and a restarted catalog vouches only for what it saw.
 */
import { describe, expect, it } from 'vitest';
import {
  CHANGES_PATH,
  createInvalidator,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
} from '../../catalog/invalidator.ts';
import { createMemoryCatalogStore, type CatalogStore } from '../../catalog/store.ts';
import { ManualClock } from '../../shared/clock.ts';
import { CHANGE_BEAT_INTERVAL_MS, type ChangeNotice } from '../../shared/contracts.ts';
import { NetworkError, type HttpRequest } from '../../shared/http.ts';
import { deferred, ok, recordingHttp } from './helpers.ts';

const A = 'http://frontend-a.test';
const B = 'http://frontend-b.test';

const buy = (store: CatalogStore, name: string, quantity: number, key: string) =>
  store.purchase({ name, quantity, key, epoch: 1 });
const notices = (calls: HttpRequest[], frontend = A) =>
  calls.filter((c) => c.url === `${frontend}${CHANGES_PATH}`).map((c) => c.body as ChangeNotice);

describe('the change feed', () => {
  it('pushes each durable purchase to every frontend with the change sequence it ends', async () => {
    const store = createMemoryCatalogStore();
    const { http, calls } = recordingHttp();
    const invalidator = createInvalidator({
      http,
      frontendUrls: [A, B],
      changes: store,
      clock: new ManualClock(),
    });
    await buy(store, 'Tux', 2, 'k1');
    await invalidator.delivered();
    expect(store.changeSeq()).toBe(0);
    for (const f of [A, B])
      expect(notices(calls, f)).toEqual([{ seq: 0, sinceSeq: -1, names: ['Tux'] }]);
    for (const c of calls) expect(c.timeoutMs).toBeLessThanOrEqual(1_000);

    // The next notice vouches from what each frontend acknowledged.
    await buy(store, 'Lego', 1, 'k2');
    await invalidator.delivered();
    expect(notices(calls).at(-1)).toEqual({ seq: 1, sinceSeq: 0, names: ['Lego'] });
  });

  it('changes made while a notice is in flight share exactly one later notice, which starts after them', async () => {
    const store = createMemoryCatalogStore();
    const gates = [deferred<void>(), deferred<void>()];
    let sent = 0;
    const { http, calls } = recordingHttp(async () => {
      await gates[Math.min(sent++, 1)]!.promise;
      return ok();
    });
    const invalidator = createInvalidator({
      http,
      frontendUrls: [A],
      changes: store,
      clock: new ManualClock(),
    });
    await buy(store, 'Tux', 1, 'k0');
    for (let i = 1; i <= 10; i++) await buy(store, i % 2 ? 'Tux' : 'Lego', 1, `k${i}`);
    expect(calls).toHaveLength(1);
    gates[0]!.resolve();
    await new Promise<void>((r) => setImmediate(r));
    gates[1]!.resolve();
    await invalidator.delivered();
    expect(notices(calls)).toEqual([
      { seq: 0, sinceSeq: -1, names: ['Tux'] },
      { seq: 10, sinceSeq: 0, names: ['Tux', 'Lego'] },
    ]);
  });

  it('a refused purchase changes no stock, so it pushes nothing, but the next notice carries its seq', async () => {
    const store = createMemoryCatalogStore();
    const { http, calls } = recordingHttp();
    const invalidator = createInvalidator({
      http,
      frontendUrls: [A],
      changes: store,
      clock: new ManualClock(),
    });
    await expect(buy(store, 'Tux', 500, 'big')).rejects.toMatchObject({ status: 409 });
    await invalidator.delivered();
    expect(calls).toHaveLength(0);
    await buy(store, 'Tux', 1, 'small');
    await invalidator.delivered();
    expect(notices(calls)).toEqual([{ seq: 1, sinceSeq: -1, names: ['Tux'] }]);
  });
});

describe('when pushes are lost', () => {
  it('retries with backoff until the frontend acknowledges, keeping every toy it has not heard of', async () => {
    const clock = new ManualClock();
    const store = createMemoryCatalogStore();
    let reachable = false;
    const { http, calls } = recordingHttp((req) => {
      if (!reachable) throw new NetworkError('reset', req.url);
      return ok();
    });
    const events: string[] = [];
    const invalidator = createInvalidator({
      http,
      frontendUrls: [A],
      changes: store,
      clock,
      onEvent: (e) => events.push(e.kind),
    });
    await buy(store, 'Tux', 1, 'k1');
    await clock.advance(0);
    expect(calls).toHaveLength(1);
    // Backoff: 50, 100, 200, 400, then 500 ms between attempts, never more.
    const gaps: number[] = [];
    let last = clock.now();
    await buy(store, 'Lego', 1, 'k2'); // waits for the next retry, it does not jump the backoff
    expect(calls).toHaveLength(1);
    while (calls.length < 7) {
      const before = calls.length;
      await clock.advance(10);
      if (calls.length > before) {
        gaps.push(clock.now() - last);
        last = clock.now();
      }
    }
    expect(gaps).toEqual([RETRY_MIN_MS, 100, 200, 400, RETRY_MAX_MS, RETRY_MAX_MS]);
    for (const n of notices(calls).slice(1))
      expect(n).toEqual({ seq: 1, sinceSeq: -1, names: ['Tux', 'Lego'] });
    expect(events).toEqual(['push_failed']);

    reachable = true;
    await clock.advance(RETRY_MAX_MS);
    await invalidator.delivered();
    expect(invalidator.view()).toEqual([{ frontend: A, ackedSeq: 1, pending: [], failures: 0 }]);
    expect(events).toEqual(['push_failed', 'push_recovered']);
  });

  it('treats an error answer like a lost push, and a reply lost after delivery is simply sent again', async () => {
    const clock = new ManualClock();
    const store = createMemoryCatalogStore();
    const answers = [500, 'lost-reply', 200] as const;
    const { http, calls } = recordingHttp((req) => {
      const a = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      if (a === 'lost-reply') throw new NetworkError('timeout', req.url);
      return { status: a, headers: {}, body: undefined };
    });
    const invalidator = createInvalidator({ http, frontendUrls: [A], changes: store, clock });
    await buy(store, 'Barbie', 3, 'k');
    for (let i = 0; i < 10 && calls.length < 3; i++) await clock.advance(RETRY_MAX_MS);
    await invalidator.delivered();
    expect(notices(calls)).toEqual(Array(3).fill({ seq: 0, sinceSeq: -1, names: ['Barbie'] }));
  });

  it('a frontend that is down holds up no other frontend', async () => {
    const clock = new ManualClock();
    const store = createMemoryCatalogStore();
    const { http, calls } = recordingHttp((req) => {
      if (req.url.startsWith(B)) throw new NetworkError('refused', req.url);
      return ok();
    });
    const invalidator = createInvalidator({ http, frontendUrls: [A, B], changes: store, clock });
    await buy(store, 'Tux', 1, 'k1');
    await clock.advance(0);
    await buy(store, 'Lego', 1, 'k2');
    await clock.advance(0);
    expect(notices(calls, A)).toEqual([
      { seq: 0, sinceSeq: -1, names: ['Tux'] },
      { seq: 1, sinceSeq: 0, names: ['Lego'] },
    ]);
    expect(invalidator.view()[1]).toMatchObject({
      frontend: B,
      ackedSeq: -1,
      pending: ['Tux', 'Lego'],
    });
    await invalidator.stop();
  });
});

describe('beats and restarts', () => {
  it('an idle lane sends "still at seq N" every beat interval once started, and stops on stop()', async () => {
    const clock = new ManualClock();
    const store = createMemoryCatalogStore();
    const { http, calls } = recordingHttp();
    const invalidator = createInvalidator({ http, frontendUrls: [A], changes: store, clock });
    await clock.advance(CHANGE_BEAT_INTERVAL_MS * 2);
    expect(calls).toHaveLength(0); // not started: changes only
    invalidator.start();
    await clock.advance(0);
    expect(notices(calls)).toEqual([{ seq: -1, sinceSeq: -1, names: [] }]);
    await expect(buy(store, 'Tux', 500, 'refused')).rejects.toMatchObject({ status: 409 });
    await clock.advance(CHANGE_BEAT_INTERVAL_MS);
    expect(notices(calls).at(-1)).toEqual({ seq: 0, sinceSeq: -1, names: [] });
    await clock.advance(CHANGE_BEAT_INTERVAL_MS - 1);
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    expect(notices(calls).at(-1)).toEqual({ seq: 0, sinceSeq: 0, names: [] });
    await invalidator.stop();
    await clock.advance(CHANGE_BEAT_INTERVAL_MS * 5);
    expect(calls).toHaveLength(3);
  });

  it('a restarted catalog vouches only from the sequence it opened with, so a frontend can see what it missed', async () => {
    const clock = new ManualClock();
    const store = createMemoryCatalogStore();
    const { http, calls } = recordingHttp();
    const first = createInvalidator({ http, frontendUrls: [A], changes: store, clock });
    await buy(store, 'Tux', 1, 'k1');
    await first.delivered();
    await first.stop(); // the catalog process dies...
    await buy(store, 'Lego', 1, 'k2'); // ...right after a change it never pushed
    const second = createInvalidator({ http, frontendUrls: [A], changes: store, clock });
    second.start();
    await clock.advance(0);
    expect(notices(calls)).toEqual([
      { seq: 0, sinceSeq: -1, names: ['Tux'] },
      { seq: 1, sinceSeq: 1, names: [] },
    ]);
    await second.stop();
  });
});
