/**
 * Bounded memory for what the frontend records about itself (frontend/status-recorder.ts): a ring
 * of the last N items, and a ring of one bucket per wall-clock second. Both have a fixed
 * capacity, so a frontend that runs for months, or records thousands of orders a second, keeps
 * the same few kilobytes: the oldest entry is dropped when a new one arrives.
 */

/** The last `capacity` items pushed, oldest first. */
export class Ring<T> {
  private readonly items: T[] = [];
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
  }

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  get length(): number {
    return this.items.length;
  }

  last(): T | undefined {
    if (this.items.length === 0) return undefined;
    return this.items[(this.start + this.items.length - 1) % this.items.length];
  }

  toArray(): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
}

export const SECOND_MS = 1_000;

/**
 * One bucket per wall-clock second for the last `capacity` seconds. `at(ms)` returns the bucket
 * of that second, making it (and dropping the oldest) when it is new; a time older than the
 * newest bucket's second still lands in its own bucket if that one is kept, and is dropped
 * otherwise (a late observation never reorders the series).
 */
export class PerSecond<B> {
  private readonly buckets: Ring<{ second: number; bucket: B }>;

  constructor(
    capacity: number,
    private readonly make: () => B,
  ) {
    this.buckets = new Ring(capacity);
  }

  at(ms: number): B | undefined {
    const second = Math.floor(ms / SECOND_MS);
    const newest = this.buckets.last();
    if (!newest || second > newest.second) {
      const bucket = this.make();
      this.buckets.push({ second, bucket });
      return bucket;
    }
    if (second === newest.second) return newest.bucket;
    return this.buckets.toArray().find((b) => b.second === second)?.bucket;
  }

  /**
   * Every second from `fromMs` to `toMs` (both included), with `undefined` where nothing was
   * recorded.
   */
  range(fromMs: number, toMs: number): Array<{ atMs: number; bucket: B | undefined }> {
    const bySecond = new Map(this.buckets.toArray().map((b) => [b.second, b.bucket]));
    const out: Array<{ atMs: number; bucket: B | undefined }> = [];
    for (let s = Math.floor(fromMs / SECOND_MS); s <= Math.floor(toMs / SECOND_MS); s++)
      out.push({ atMs: s * SECOND_MS, bucket: bySecond.get(s) });
    return out;
  }
}
