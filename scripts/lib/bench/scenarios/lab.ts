/**
 * The lab evaluation: 5 keep-alive clients (`runClients`, Idempotency-Keys on orders), closed
 * loop, for each order probability p: latency p50/p95/p99 of product queries, orders and order
 * queries (every acknowledged order is read back at the end and checked).
 */
import { runClients, type RequestStats, type RequestType } from '../../client/index.ts';
import type { Say } from '../util.ts';

export const LAB_PS = [0, 0.2, 0.4, 0.6, 0.8] as const;

export interface LabRow {
  cache: 'on' | 'off';
  p: number;
  durationMs: number;
  stats: Record<RequestType, Pick<RequestStats, 'count' | 'failures' | 'p50' | 'p95' | 'p99'>>;
  orders: { acknowledged: number; rejected: number; unknown: number; failed: number };
  mismatches: number;
}

export async function labSweep(
  baseUrl: string,
  cache: 'on' | 'off',
  ps: readonly number[],
  durationMs: number,
  say: Say,
): Promise<LabRow[]> {
  const rows: LabRow[] = [];
  for (const p of ps) {
    const r = await runClients({
      baseUrl,
      clients: 5,
      p,
      durationMs,
      seed: 5 + Math.round(p * 10),
      timeoutMs: 10_000,
    });
    const pick = (s: RequestStats) => ({
      count: s.count,
      failures: s.failures,
      p50: s.p50,
      p95: s.p95,
      p99: s.p99,
    });
    const row: LabRow = {
      cache,
      p,
      durationMs: r.durationMs,
      stats: {
        query: pick(r.stats.query),
        order: pick(r.stats.order),
        order_query: pick(r.stats.order_query),
      },
      orders: r.orders,
      mismatches: r.mismatches.length,
    };
    rows.push(row);
    const s = row.stats;
    say(
      `  lab cache ${cache} p=${p}: query p50 ${s.query.p50} ms, order p50 ${s.order.p50} ms, order_query p50 ${s.order_query.p50} ms (${s.query.count}/${s.order.count}/${s.order_query.count})`,
    );
  }
  return rows;
}
