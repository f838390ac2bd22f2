/**
 * Coalesces concurrent calls to one peer into batch requests (the frontend's orders to the
 * leader, the leader's purchases at the catalog): one HTTP exchange, one request line and one
 * parse for many calls, which is most of what an order costs each process.
 *
 * Items submitted in the same turn of the event loop go out together; while `maxInFlight`
 * batches are already in flight, later items wait and go in the next one (so a busy peer gets
 * fewer, larger batches, and an idle one gets each call at once: no added latency). A batch that
 * fails as a whole (the network) fails each of its items with that error, exactly as a single
 * call would have; otherwise each item gets its own result.
 *
 * Bounded: at most `maxBatch` items per batch and `maxQueued` waiting; past that a submit is
 * refused at once with `overloaded()`, before anything is sent.
 */
import { MAX_BATCH_ITEMS, type BatchResult } from './contracts.ts';
import { AppError, fromErrorBody } from './errors.ts';

export type ItemResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * The limits every peer's batcher uses (the frontend's orders and reads, the leader's purchases):
 * at most MAX_BATCH_ITEMS a batch, four batches in flight to one peer (two gave no more
 * throughput at 32 clients: 1838 orders/s against 1928), and 20,000 calls waiting.
 */
export const PEER_BATCH_LIMITS = {
  maxBatch: MAX_BATCH_ITEMS,
  maxInFlight: 4,
  maxQueued: 20_000,
} as const;

/** The ids of the client requests a batch carries, as one request id: the first eight. */
export function batchRequestId(items: ReadonlyArray<{ requestId?: string }>): string | undefined {
  const ids = [
    ...new Set(items.map((i) => i.requestId).filter((x): x is string => x !== undefined)),
  ].slice(0, 8);
  return ids.length ? ids.join(',') : undefined;
}

export interface BatcherOptions<T, R> {
  /** Sends one batch; resolves with one result per item, in order, or rejects for all. */
  send(items: T[]): Promise<Array<ItemResult<R>>>;
  maxBatch: number;
  maxInFlight: number;
  maxQueued: number;
  overloaded(): Error;
}

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

export class Batcher<T, R> {
  private queue: Array<Waiting<T, R>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly o: BatcherOptions<T, R>) {}

  submit(item: T): Promise<R> {
    if (this.queue.length >= this.o.maxQueued) return Promise.reject(this.o.overloaded());
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Calls waiting or in flight (for views and tests). */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.o.maxInFlight) return;
    this.scheduled = true;
    // One turn of the event loop: the calls the same burst of I/O produced share a batch.
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length && this.inFlight < this.o.maxInFlight) {
      const batch = this.queue.splice(0, this.o.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length) this.schedule();
      });
    }
  }

  private async run(batch: Array<Waiting<T, R>>): Promise<void> {
    let results: Array<ItemResult<R>>;
    try {
      results = await this.o.send(batch.map((w) => w.item));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    if (results.length !== batch.length) {
      const err = new Error(`batch of ${batch.length} answered with ${results.length} results`);
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const r = results[i]!;
      if (r.ok) w.resolve(r.value);
      else w.reject(r.error);
    });
  }
}

/** Batches sent one call per item before the batch route is tried again (`batchOrEach`). */
export const BATCH_ROUTE_RETRY_EVERY = 100;

/**
 * A peer that does not serve the route asked: Hono answers 405 when the path exists under
 * another method (`POST /products/reads` at a catalog that only has `GET /products/:name`), 404
 * `not_found` when it does not exist at all. A batch route never answers either as a whole.
 */
export function isUnknownRoute(err: unknown): boolean {
  return (
    err instanceof AppError &&
    (err.status === 405 || (err.status === 404 && err.reason === 'not_found'))
  );
}

/**
 * A batch `send` for reads that falls back to one call per item while the peer does not know the
 * batch route: an older catalog or replica during a rolling upgrade, which would otherwise make a
 * newer frontend answer every read with its 405. After a fallback the next
 * BATCH_ROUTE_RETRY_EVERY batches go one call per item, then the batch route is tried again (the
 * peer may have been upgraded meanwhile). Only for reads: a single call must be as safe to send
 * as its share of the batch.
 */
export function batchOrEach<T, R>(
  batch: (items: T[]) => Promise<Array<ItemResult<R>>>,
  single: (item: T) => Promise<R>,
): (items: T[]) => Promise<Array<ItemResult<R>>> {
  let singlesLeft = 0;
  const each = (items: T[]) =>
    Promise.all(
      items.map((item) =>
        single(item).then(
          (value): ItemResult<R> => ({ ok: true, value }),
          (error: unknown): ItemResult<R> => ({ ok: false, error }),
        ),
      ),
    );
  return async (items) => {
    if (singlesLeft > 0) {
      singlesLeft--;
      return each(items);
    }
    try {
      return await batch(items);
    } catch (err) {
      if (!isUnknownRoute(err)) throw err;
      singlesLeft = BATCH_ROUTE_RETRY_EVERY;
      return each(items);
    }
  };
}

/** The server side: one item's outcome as the batch answer carries it. */
export function toBatchResult<T>(s: PromiseSettledResult<T>): BatchResult<T> {
  if (s.status === 'fulfilled') return { ok: true, data: s.value };
  const err = s.reason;
  if (err instanceof AppError) return { ok: false, status: err.status, error: err.toBody().error };
  console.error('unhandled error in a batch item', err);
  return {
    ok: false,
    status: 500,
    error: { code: 500, message: 'internal error', reason: 'internal' },
  };
}

/**
 * The server side of a batch route: runs `f` on every item at once and answers when all have
 * settled, each item with its own outcome (what the single route would have answered).
 */
export async function answerEach<T, R>(
  items: readonly T[],
  f: (item: T) => Promise<R>,
): Promise<{ results: Array<BatchResult<R>> }> {
  return { results: (await Promise.allSettled(items.map(f))).map(toBatchResult) };
}

/** `f()`'s outcome as a settled promise would hold it, for items answered synchronously. */
export function settleNow<T>(f: () => T): PromiseSettledResult<T> {
  try {
    return { status: 'fulfilled', value: f() };
  } catch (reason) {
    return { status: 'rejected', reason };
  }
}

/** The client side: one item's answer, as the AppError the single call would have thrown. */
export function fromBatchResult<T>(r: BatchResult<T>): ItemResult<T> {
  return r.ok
    ? { ok: true, value: r.data }
    : { ok: false, error: fromErrorBody(r.status, { error: r.error }) };
}

/**
 * Answers of a batch response whose shape its route's schema has checked (shared/protocol/):
 * one per item sent, each as the single call's value or error.
 */
export function itemResults<T>(
  answer: { results: Array<BatchResult<T>> },
  sent: number,
): Array<ItemResult<T>> {
  const { results } = answer;
  if (results.length !== sent)
    throw new AppError(
      502,
      'internal',
      `a batch of ${sent} was answered with ${results.length} results`,
    );
  return results.map(fromBatchResult);
}
