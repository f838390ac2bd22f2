/**
 * The status page's memory stays bounded however long the frontend runs and however many orders
 * it routes: rings keep the newest N, the per-second series keeps the last N seconds, and a
 * second's latencies are a histogram whose percentiles are within its 5 % bucket width.
 */
import { describe, expect, it } from 'vitest';
import { PerSecond, Ring } from '../../frontend/ring.ts';
import { LatencyHistogram, Timeline } from '../../frontend/timeline.ts';

describe('bounded memory for the status page', () => {
  it('a ring keeps the newest items in order, and refuses a capacity that is not a positive integer', () => {
    const r = new Ring<number>(3);
    expect(r.last()).toBeUndefined();
    for (let i = 1; i <= 7; i++) r.push(i);
    expect(r.toArray()).toEqual([5, 6, 7]);
    expect(r.length).toBe(3);
    expect(r.last()).toBe(7);
    expect(() => new Ring(0)).toThrow(RangeError);
    expect(() => new Ring(1.5)).toThrow(RangeError);
  });

  it('the per-second series keeps only the last N seconds, and a late observation never makes a new bucket behind the newest', () => {
    const s = new PerSecond(5, () => ({ n: 0 }));
    for (let sec = 0; sec < 20; sec++) s.at(sec * 1000 + 10)!.n++;
    expect(
      s
        .range(0, 19_999)
        .filter((b) => b.bucket)
        .map((b) => b.atMs),
    ).toEqual([15_000, 16_000, 17_000, 18_000, 19_000]);
    s.at(17_500)!.n++; // late but kept: lands in its own second
    expect(s.range(17_000, 17_999)[0]!.bucket).toEqual({ n: 2 });
    expect(s.at(3_000)).toBeUndefined(); // older than anything kept
    expect(s.range(0, 19_999).filter((b) => b.bucket)).toHaveLength(5);
  });

  it('a hundred thousand orders in one second take one histogram: p50 and p99 within 5 % above the true values', () => {
    const t = new Timeline(60);
    for (let i = 1; i <= 100_000; i++)
      // 0.1 .. 100 ms, uniform
      t.recordOrder(5_000, i % 100 === 0 ? 503 : 200, (i % 1000) / 10 + 0.1);
    const [p] = t.ordersBetween(5_000, 5_999);
    expect(p!.counts).toEqual({ 200: 99_000, 409: 0, 503: 1_000, 504: 0, other: 0 });
    expect(p!.p50Ms).toBeGreaterThanOrEqual(50);
    expect(p!.p50Ms).toBeLessThanOrEqual(50 * 1.05);
    expect(p!.p99Ms).toBeGreaterThanOrEqual(99);
    expect(p!.p99Ms).toBeLessThanOrEqual(99 * 1.05);
  });

  it('an empty histogram has no percentile, and any other status counts as "other"', () => {
    expect(new LatencyHistogram().quantile(0.5)).toBeNull();
    const t = new Timeline(10);
    t.recordOrder(0, 422, 1);
    t.recordOrder(0, 500, 1);
    expect(t.ordersBetween(0, 2_999).map((p) => [p.counts.other, p.p50Ms === null])).toEqual([
      [2, false],
      [0, true],
      [0, true],
    ]);
  });
});
