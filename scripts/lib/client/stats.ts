/** Per request type counters and latencies, and the percentile rule the reports use. */
import type { RequestStats } from './types.ts';

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? null;
}

export class StatsCollector {
  count = 0;
  attempts = 0;
  failures = 0;
  rejected = 0;
  unknown = 0;
  replayed = 0;
  readonly latencies: number[] = [];

  snapshot(): RequestStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      count: this.count,
      attempts: this.attempts,
      failures: this.failures,
      rejected: this.rejected,
      unknown: this.unknown,
      replayed: this.replayed,
      p50: round(percentile(sorted, 0.5)),
      p95: round(percentile(sorted, 0.95)),
      p99: round(percentile(sorted, 0.99)),
    };
  }
}
