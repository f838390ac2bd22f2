/**
 * The one load loop behind every "same client code" comparison (the store's durable orders
 * against etcd's puts): `clients` closed-loop workers on one undici keep-alive pool
 * (shared/http.ts's `createPooledHttp`, what the services use between themselves), each sending
 * its next request as soon as the previous one answers, for a fixed time. Only the request each
 * side gets differs; the pool, the concurrency, the timing and the statistics are the same code.
 *
 * Latencies are kept for answers that count (`ok`), up to `MAX_SAMPLES` (a bound, not a limit
 * any run here reaches: 6 s at 10 k/s is 60 k).
 */
import { createPooledHttp, type HttpRequest } from '../../../shared/http.ts';
import { measureCpu, perUnit, type Pids } from './procfs.ts';
import { quantile, round } from './util.ts';

export const MAX_SAMPLES = 1_000_000;

export interface LoopOptions {
  clients: number;
  durationMs: number;
  /** Run first and discarded (JIT, pools, connections); 0 for none. */
  warmupMs?: number;
  /** The request client `c` sends as its `i`-th. */
  request: (c: number, i: number) => HttpRequest;
  /** Which statuses count as done (default: 200). */
  ok?: (status: number) => boolean;
  /** Server processes whose CPU to measure over the measured part. */
  cpuPids?: Pids;
}

export interface LoopResult {
  clients: number;
  durationS: number;
  /** Answers that counted, per second. */
  okPerSecond: number;
  ok: number;
  statusCodes: Record<string, number>;
  /** Requests that got no answer (refused, reset, timed out). */
  networkErrors: number;
  /** Latency of the answers that counted, ms. */
  p50Ms: number;
  p99Ms: number;
  /** CPU ms each server process spent over the measured part, and per counted answer. */
  cpuMs?: Record<string, number>;
  cpuMsPerOk?: Record<string, number>;
  /**
   * CPU ms per request of this process (the load generator), for comparing the two sides' client
   * cost.
   */
  clientCpuMsPerRequest: number;
}

interface Tally {
  latencies: Float64Array;
  samples: number;
  ok: number;
  requests: number;
  networkErrors: number;
  statusCodes: Record<string, number>;
}

async function loop(
  o: LoopOptions,
  durationMs: number,
): Promise<{ tally: Tally; elapsedMs: number }> {
  const http = createPooledHttp({ connectionsPerOrigin: o.clients });
  const ok = o.ok ?? ((s: number) => s === 200);
  const tally: Tally = {
    latencies: new Float64Array(MAX_SAMPLES),
    samples: 0,
    ok: 0,
    requests: 0,
    networkErrors: 0,
    statusCodes: {},
  };
  const started = performance.now();
  const stopAt = started + durationMs;
  try {
    await Promise.all(
      Array.from({ length: o.clients }, async (_, c) => {
        for (let i = 0; performance.now() < stopAt; i++) {
          const t0 = performance.now();
          tally.requests++;
          try {
            const res = await http(o.request(c, i));
            tally.statusCodes[res.status] = (tally.statusCodes[res.status] ?? 0) + 1;
            if (!ok(res.status)) continue;
            tally.ok++;
            if (tally.samples < MAX_SAMPLES)
              tally.latencies[tally.samples++] = performance.now() - t0;
          } catch {
            tally.networkErrors++;
          }
        }
      }),
    );
  } finally {
    await http.close();
  }
  return { tally, elapsedMs: performance.now() - started };
}

/** Warm-up (discarded), then the measured loop with the servers' CPU around it. */
export async function closedLoop(o: LoopOptions): Promise<LoopResult> {
  if (o.warmupMs) await loop(o, o.warmupMs);
  const { value, cpuMs, selfCpuMs } = await measureCpu(o.cpuPids ?? {}, () =>
    loop(o, o.durationMs),
  );
  const { tally, elapsedMs } = value;
  const sorted = tally.latencies.subarray(0, tally.samples).sort();
  return {
    clients: o.clients,
    durationS: round(elapsedMs / 1000, 2),
    okPerSecond: Math.round((tally.ok * 1000) / elapsedMs),
    ok: tally.ok,
    statusCodes: tally.statusCodes,
    networkErrors: tally.networkErrors,
    p50Ms: round(quantile(sorted, 0.5), 2),
    p99Ms: round(quantile(sorted, 0.99), 2),
    ...(o.cpuPids && { cpuMs, cpuMsPerOk: perUnit(cpuMs, tally.ok) }),
    clientCpuMsPerRequest: round(selfCpuMs / Math.max(1, tally.requests), 3),
  };
}
