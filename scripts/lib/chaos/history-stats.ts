/** What a chaos run's history says about availability: counts, order latency, the longest stall. */
import type { HistoryEvent } from '../../../shared/contracts.ts';
import { LatencyHistogram } from '../client/index.ts';

export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
}

export interface HistoryStats {
  ops: OpCounts;
  byF: Record<HistoryEvent['f'], OpCounts>;
  /** 99th percentile of invoke → ok latency over ok orders, ms (HdrHistogram); null without any. */
  p99OrderMs: number | null;
  /**
   * Longest gap between consecutive ok order completions across all clients, ms; null with fewer
   * than two.
   */
  longestStallMs: number | null;
  /** When the longest stall began (the earlier completion), ms. */
  longestStallAtMs: number | null;
}

/**
 * Consumes a history one event at a time, in the order it was recorded (times never go back), in
 * bounded memory: the invoke times of operations still open (at most one per client), a latency
 * histogram, and the last ok order's time.
 */
export class HistoryAnalyzer {
  private readonly ops: OpCounts = zero();
  private readonly byF: Record<HistoryEvent['f'], OpCounts> = {
    query: zero(),
    order: zero(),
    read: zero(),
  };
  private readonly invokedAt = new Map<number, number>();
  private readonly orderLatency = new LatencyHistogram();
  private lastOkOrderMs: number | null = null;
  private longestStallMs: number | null = null;
  private longestStallAtMs: number | null = null;

  add(e: HistoryEvent): void {
    if (e.type === 'invoke') {
      this.invokedAt.set(e.op, e.timeMs);
      return;
    }
    this.ops[e.type]++;
    this.byF[e.f][e.type]++;
    const t0 = this.invokedAt.get(e.op);
    this.invokedAt.delete(e.op);
    if (e.f !== 'order' || e.type !== 'ok') return;
    if (t0 !== undefined) this.orderLatency.record(e.timeMs - t0);
    if (this.lastOkOrderMs !== null) {
      const gap = e.timeMs - this.lastOkOrderMs;
      if (this.longestStallMs === null || gap > this.longestStallMs) {
        this.longestStallMs = gap;
        this.longestStallAtMs = this.lastOkOrderMs;
      }
    }
    this.lastOkOrderMs = Math.max(e.timeMs, this.lastOkOrderMs ?? e.timeMs);
  }

  stats(): HistoryStats {
    const round = (v: number | null) => (v === null ? null : Math.round(v));
    return {
      ops: { ...this.ops },
      byF: {
        query: { ...this.byF.query },
        order: { ...this.byF.order },
        read: { ...this.byF.read },
      },
      p99OrderMs: round(this.orderLatency.quantileMs(0.99)),
      longestStallMs: round(this.longestStallMs),
      longestStallAtMs: round(this.longestStallAtMs),
    };
  }
}

const zero = (): OpCounts => ({ ok: 0, fail: 0, info: 0 });

/** Counts, order latency and the longest client-visible stall, from one history. */
export function analyzeHistory(events: readonly HistoryEvent[]): HistoryStats {
  const a = new HistoryAnalyzer();
  for (const e of events) a.add(e);
  return a.stats();
}
