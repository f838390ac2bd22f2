/** What a chaos run's history says about availability: counts, order latency, the longest stall. */
import type { HistoryEvent } from '../../../shared/contracts.ts';
import { percentile } from '../client/index.ts';

export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
}

export interface HistoryStats {
  ops: OpCounts;
  byF: Record<HistoryEvent['f'], OpCounts>;
  /** 99th percentile (nearest rank) of invoke → ok latency over ok orders, ms; null without any. */
  p99OrderMs: number | null;
  /** Longest gap between consecutive ok order completions across all clients, ms; null with fewer than two. */
  longestStallMs: number | null;
  /** When the longest stall began (the earlier completion), ms. */
  longestStallAtMs: number | null;
}

/** Counts, order latency and the longest client-visible stall, from one history. */
export function analyzeHistory(events: readonly HistoryEvent[]): HistoryStats {
  const zero = (): OpCounts => ({ ok: 0, fail: 0, info: 0 });
  const ops = zero();
  const byF: Record<HistoryEvent['f'], OpCounts> = { query: zero(), order: zero(), read: zero() };
  const invokedAt = new Map<number, number>();
  const latencies: number[] = [];
  const okOrderTimes: number[] = [];
  for (const e of events) {
    if (e.type === 'invoke') {
      invokedAt.set(e.op, e.timeMs);
      continue;
    }
    ops[e.type]++;
    byF[e.f][e.type]++;
    if (e.f === 'order' && e.type === 'ok') {
      okOrderTimes.push(e.timeMs);
      const t0 = invokedAt.get(e.op);
      if (t0 !== undefined) latencies.push(e.timeMs - t0);
    }
  }
  latencies.sort((a, b) => a - b);
  okOrderTimes.sort((a, b) => a - b);
  let longestStallMs: number | null = null;
  let longestStallAtMs: number | null = null;
  for (let i = 1; i < okOrderTimes.length; i++) {
    const gap = okOrderTimes[i]! - okOrderTimes[i - 1]!;
    if (longestStallMs === null || gap > longestStallMs) {
      longestStallMs = gap;
      longestStallAtMs = okOrderTimes[i - 1]!;
    }
  }
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return { ops, byF, p99OrderMs: round(percentile(latencies, 0.99)), longestStallMs: round(longestStallMs), longestStallAtMs: round(longestStallAtMs) };
}
