/**
 * The batcher (shared/batcher.ts) under the loads it meets: a burst becomes one batch, a busy
 * peer gets fewer larger ones, a network failure fails every item as a single call would, each
 * item keeps its own outcome, and nothing waits without bound.
 */
import { describe, expect, it } from 'vitest';
import {
  BATCH_ROUTE_RETRY_EVERY,
  Batcher,
  batchOrEach,
  isUnknownRoute,
  type ItemResult,
} from '../../shared/batcher.ts';
import { AppError } from '../../shared/errors.ts';
import { deferred, type Deferred } from '../support/async.ts';

function recording(maxInFlight = 1, maxBatch = 100, maxQueued = 1_000) {
  const sent: number[][] = [];
  const answers: Array<Deferred<Array<ItemResult<number>>>> = [];
  const b = new Batcher<number, number>({
    maxBatch,
    maxInFlight,
    maxQueued,
    overloaded: () => new Error('overloaded'),
    send: (items) => {
      sent.push(items);
      const d = deferred<Array<ItemResult<number>>>();
      answers.push(d);
      return d.promise;
    },
  });
  return { b, sent, answers };
}
const turn = () => new Promise<void>((r) => setImmediate(r));
const doubled = (items: number[]): Array<ItemResult<number>> =>
  items.map((n) => ({ ok: true, value: n * 2 }));

describe('the batcher', () => {
  it('sends the calls of one turn as one batch, and each caller gets its own answer', async () => {
    const { b, sent, answers } = recording();
    const calls = [1, 2, 3].map((n) => b.submit(n));
    await turn();
    expect(sent).toEqual([[1, 2, 3]]);
    answers[0]!.resolve([
      { ok: true, value: 10 },
      { ok: false, error: new Error('refused') },
      { ok: true, value: 30 },
    ]);
    expect(await Promise.allSettled(calls)).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'rejected', reason: new Error('refused') },
      { status: 'fulfilled', value: 30 },
    ]);
  });

  it('while the peer is busy, later calls wait and go out together in the next batch', async () => {
    const { b, sent, answers } = recording(1);
    const first = b.submit(1);
    await turn();
    const later = [b.submit(2), b.submit(3)];
    await turn();
    const more = b.submit(4);
    await turn();
    expect(sent).toEqual([[1]]);
    answers[0]!.resolve(doubled([1]));
    expect(await first).toBe(2);
    await turn();
    await turn();
    expect(sent).toEqual([[1], [2, 3, 4]]);
    answers[1]!.resolve(doubled([2, 3, 4]));
    expect(await Promise.all([...later, more])).toEqual([4, 6, 8]);
  });

  it('a batch that fails as a whole fails each of its calls with that error', async () => {
    const { b, answers } = recording();
    const calls = [1, 2].map((n) => b.submit(n).catch((e: Error) => e.message));
    await turn();
    answers[0]!.reject(new Error('connection reset'));
    expect(await Promise.all(calls)).toEqual(['connection reset', 'connection reset']);
  });

  it("a batch answered with the wrong number of results fails every call, none gets a neighbour's answer", async () => {
    const { b, answers } = recording();
    const calls = [1, 2].map((n) => b.submit(n).catch((e: Error) => e.message));
    await turn();
    answers[0]!.resolve(doubled([1]));
    expect(await Promise.all(calls)).toEqual([
      'batch of 2 answered with 1 results',
      'batch of 2 answered with 1 results',
    ]);
  });

  it('splits at maxBatch, and refuses at once past maxQueued', async () => {
    const { b, sent, answers } = recording(2, 2, 3);
    const calls = [1, 2, 3].map((n) => b.submit(n));
    await expect(b.submit(4)).rejects.toThrow('overloaded');
    await turn();
    expect(sent).toEqual([[1, 2], [3]]);
    answers[0]!.resolve(doubled([1, 2]));
    answers[1]!.resolve(doubled([3]));
    expect(await Promise.all(calls)).toEqual([2, 4, 6]);
    expect(b.pending).toBe(0);
  });
});

describe('when the peer is older than the batch route (a rolling upgrade)', () => {
  const noRoute = new AppError(405, 'method_not_allowed', 'POST is not allowed on /x/reads');

  it('sends each item on its own, keeps doing so for a while, then tries the batch route again', async () => {
    let batchKnown = false;
    const log: string[] = [];
    const send = batchOrEach<number, number>(
      async (items) => {
        log.push(`batch ${items.join(',')}`);
        if (!batchKnown) throw noRoute;
        return doubled(items);
      },
      async (n) => {
        log.push(`single ${n}`);
        if (n === 0) throw new AppError(404, 'product_not_found', 'product not found');
        return n * 2;
      },
    );
    expect(await send([1, 0])).toEqual([
      { ok: true, value: 2 },
      { ok: false, error: expect.objectContaining({ reason: 'product_not_found' }) },
    ]);
    expect(log).toEqual(['batch 1,0', 'single 1', 'single 0']);
    batchKnown = true; // upgraded meanwhile
    log.length = 0;
    for (let i = 0; i < BATCH_ROUTE_RETRY_EVERY; i++) await send([3]);
    expect(log).toEqual(Array(BATCH_ROUTE_RETRY_EVERY).fill('single 3'));
    expect(await send([4, 5])).toEqual(doubled([4, 5]));
    expect(log.at(-1)).toBe('batch 4,5');
  });

  it('passes any other failure of the batch on as it is: nothing is sent again', async () => {
    let singles = 0;
    const down = new AppError(503, 'upstream_unavailable', 'catalog unavailable');
    const send = batchOrEach<number, number>(
      async () => {
        throw down;
      },
      async (n) => {
        singles++;
        return n;
      },
    );
    await expect(send([1])).rejects.toBe(down);
    expect(isUnknownRoute(down)).toBe(false);
    expect(isUnknownRoute(new AppError(404, 'order_not_found', 'order not found'))).toBe(false);
    expect(isUnknownRoute(new AppError(404, 'not_found', 'no route for POST /x'))).toBe(true);
    expect(singles).toBe(0);
  });
});
