/** Per request type counters and a bounded latency histogram (latency.ts). */
import { LatencyHistogram } from './latency.ts';
import type { RequestStats } from './types.ts';

export class StatsCollector {
  count = 0;
  attempts = 0;
  failures = 0;
  rejected = 0;
  unknown = 0;
  replayed = 0;
  readonly latency = new LatencyHistogram();

  snapshot(): RequestStats {
    return {
      count: this.count,
      attempts: this.attempts,
      failures: this.failures,
      rejected: this.rejected,
      unknown: this.unknown,
      replayed: this.replayed,
      p50: this.latency.quantileMs(0.5),
      p95: this.latency.quantileMs(0.95),
      p99: this.latency.quantileMs(0.99),
    };
  }
}
