/**
 * The status page's time series, one point per wall-clock second: orders by outcome, order
 * latency p50/p99, and replication lag per follower.
 *
 * Shaped for bounded memory at any order rate: a second holds five counters and a log-bucketed
 * latency histogram (buckets 5 % wide from 0.05 ms to about 10 minutes: at most ~300 entries, and
 * only the ones used are kept), never the latencies themselves; the series keeps the last
 * `seconds` seconds (frontend/ring.ts). A percentile is read back as its bucket's upper bound, so
 * it is at most 5 % above the true value.
 */
import { PerSecond } from './ring.ts';

/** What the series counts an order as: the statuses a failover produces, and everything else. */
export const ORDER_OUTCOMES = ['200', '409', '503', '504', 'other'] as const;
export type OrderOutcomeKey = (typeof ORDER_OUTCOMES)[number];

export function outcomeKey(status: number): OrderOutcomeKey {
  const key = String(status);
  return (ORDER_OUTCOMES as readonly string[]).includes(key) ? (key as OrderOutcomeKey) : 'other';
}

const MIN_LATENCY_MS = 0.05;
const GROWTH = 1.05;
const MAX_BUCKET = Math.ceil(Math.log(600_000 / MIN_LATENCY_MS) / Math.log(GROWTH));

/** Latencies as counts per 5 %-wide bucket. */
export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  record(ms: number): void {
    const i =
      ms <= MIN_LATENCY_MS
        ? 0
        : Math.min(MAX_BUCKET, Math.ceil(Math.log(ms / MIN_LATENCY_MS) / Math.log(GROWTH)));
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.total++;
  }

  get count(): number {
    return this.total;
  }

  /** The smallest bucket bound with at least q of the latencies at or below it; null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen >= rank) return MIN_LATENCY_MS * GROWTH ** i;
    }
    return null;
  }
}

export interface OrderPoint {
  atMs: number;
  counts: Record<OrderOutcomeKey, number>;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface LagPoint {
  atMs: number;
  /**
   * Orders each replica is behind the leader (by replica id); null: down, or no leader to compare
   * with.
   */
  lag: Record<string, number | null>;
}

interface OrderSecond {
  counts: Record<OrderOutcomeKey, number>;
  latency: LatencyHistogram;
}

const zeroCounts = (): Record<OrderOutcomeKey, number> => ({
  200: 0,
  409: 0,
  503: 0,
  504: 0,
  other: 0,
});
const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 100) / 100);

export class Timeline {
  private readonly orders: PerSecond<OrderSecond>;
  private readonly lags: PerSecond<Map<number, number | null>>;

  constructor(seconds: number) {
    this.orders = new PerSecond(seconds, () => ({
      counts: zeroCounts(),
      latency: new LatencyHistogram(),
    }));
    this.lags = new PerSecond(seconds, () => new Map());
  }

  recordOrder(atMs: number, status: number, latencyMs: number): void {
    const s = this.orders.at(atMs);
    if (!s) return;
    s.counts[outcomeKey(status)]++;
    s.latency.record(latencyMs);
  }

  /** A second's lag is the largest seen in it (a failover's worst moment is what matters). */
  recordLag(atMs: number, lagByReplica: ReadonlyMap<number, number | null>): void {
    const s = this.lags.at(atMs);
    if (!s) return;
    for (const [id, lag] of lagByReplica) {
      const before = s.get(id);
      s.set(id, lag === null ? (before ?? null) : Math.max(lag, before ?? 0));
    }
  }

  ordersBetween(fromMs: number, toMs: number): OrderPoint[] {
    return this.orders.range(fromMs, toMs).map(({ atMs, bucket }) => ({
      atMs,
      counts: bucket ? { ...bucket.counts } : zeroCounts(),
      p50Ms: round(bucket?.latency.quantile(0.5) ?? null),
      p99Ms: round(bucket?.latency.quantile(0.99) ?? null),
    }));
  }

  lagBetween(fromMs: number, toMs: number): LagPoint[] {
    return this.lags.range(fromMs, toMs).map(({ atMs, bucket }) => ({
      atMs,
      lag: Object.fromEntries(
        [...(bucket ?? new Map<number, number | null>())].map(([id, lag]) => [String(id), lag]),
      ),
    }));
  }
}
