/**
 * Durable writes against the anchor: the store's `POST /orders` (a fresh Idempotency-Key each)
 * and etcd's v3 put (a fresh key each, the order's JSON as the value), both acknowledged only
 * once fsynced on a majority of three. The same client code drives both (closed-loop.ts: one
 * undici keep-alive pool, the same concurrency, the same clock and statistics), in alternating
 * pairs (store, then etcd), and each figure is the median over the pairs. Two loads: 32 clients
 * (throughput, and the store's CPU per durable order, each process's and in all) and 1 client
 * (latency with nothing queued).
 *
 * Beside them, with the same client code, the bare three-hop chain (ceiling-server.ts: frontend ->
 * order -> origin, Hono and undici with no store logic and no disk): the floor of the store's
 * shape on this machine. What the chain cannot reach, no store built in that shape can.
 *
 * Without etcd the store side is still measured and reported; the ratios are then not measured.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '../../../../shared/http.ts';
import { closedLoop, type LoopResult } from '../closed-loop.ts';
import { etcdPut, type EtcdCluster } from '../etcd.ts';
import type { Pids } from '../procfs.ts';
import { orderRequest, pickToy } from '../store-probe.ts';
import { median, round, type Say } from '../util.ts';

export interface DurableSide {
  rounds: LoopResult[];
  /** Medians over the rounds. */
  okPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU ms per acknowledged write over all rounds, per process. */
  cpuMsPerOk: Record<string, number>;
}

export interface DurableComparison {
  clients: number;
  durationS: number;
  store: DurableSide;
  etcd: DurableSide | null;
  /** The bare three-hop chain (no disk, no store logic), when the ceilings ran. */
  chain?: DurableSide | null;
  /** Store orders/s over etcd puts/s (32 clients), or store p50 over etcd p50 (1 client). */
  ratio: number | null;
}

export type EtcdInfo =
  | {
      available: true;
      version: string;
      binary: string;
      leader: string;
      members: Record<string, string>;
    }
  | { available: false; reason: string };

export interface DurableResults {
  etcd: EtcdInfo;
  concurrent?: DurableComparison;
  single?: DurableComparison;
}

export interface DurablePlan {
  pairs: number;
  concurrentClients: number;
  concurrentS: number;
  singleS: number;
  warmupS: number;
}

interface Side {
  pids: () => Pids;
  request: () => HttpRequest;
}

export function storeSide(frontendUrl: string, pids: () => Pids): Side {
  return { pids, request: () => orderRequest(frontendUrl) };
}

/** The bare three-hop chain's POST /orders (ceiling-server.ts), the same request as the store's. */
export function chainSide(chainUrl: string, pids: () => Pids): Side {
  return { pids, request: () => orderRequest(chainUrl) };
}

export function etcdSide(etcd: EtcdCluster): Side {
  return {
    pids: () => etcd.pids(),
    request: () =>
      etcdPut(
        etcd.leaderUrl,
        `orders/${randomUUID()}`,
        JSON.stringify({ name: pickToy(), quantity: 1 }),
      ),
  };
}

function summarize(rounds: LoopResult[]): DurableSide {
  const ok = rounds.reduce((a, r) => a + r.ok, 0);
  const cpu: Record<string, number> = {};
  for (const r of rounds)
    for (const [k, ms] of Object.entries(r.cpuMs ?? {})) cpu[k] = (cpu[k] ?? 0) + ms;
  return {
    rounds,
    okPerSecond: median(rounds.map((r) => r.okPerSecond)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuMsPerOk: Object.fromEntries(
      Object.entries(cpu).map(([k, ms]) => [k, round(ms / Math.max(1, ok), 3)]),
    ),
  };
}

/** Which ratio a comparison reports: throughput for many clients, latency for one. */
const ratioOf = (clients: number, store: DurableSide, etcd: DurableSide) =>
  clients > 1
    ? etcd.okPerSecond > 0
      ? round(store.okPerSecond / etcd.okPerSecond, 3)
      : null
    : etcd.p50Ms > 0
      ? round(store.p50Ms / etcd.p50Ms, 2)
      : null;

/**
 * `pairs` alternating runs of `clients` clients for `seconds` each (store, etcd, then the chain).
 * `wrap` runs around the first store round (the profiler's window).
 */
export async function comparePairs(
  clients: number,
  seconds: number,
  p: DurablePlan,
  store: Side,
  etcd: Side | null,
  wrap: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  chain: Side | null = null,
): Promise<DurableComparison> {
  const run = (side: Side) =>
    closedLoop({
      clients,
      durationMs: seconds * 1000,
      warmupMs: p.warmupS * 1000,
      request: side.request,
      cpuPids: side.pids(),
    });
  const storeRounds: LoopResult[] = [];
  const etcdRounds: LoopResult[] = [];
  const chainRounds: LoopResult[] = [];
  for (let i = 0; i < p.pairs; i++) {
    storeRounds.push(i === 0 ? await wrap(() => run(store)) : await run(store));
    if (etcd) etcdRounds.push(await run(etcd));
    if (chain) chainRounds.push(await run(chain));
  }
  const s = summarize(storeRounds);
  const e = etcd ? summarize(etcdRounds) : null;
  return {
    clients,
    durationS: seconds,
    store: s,
    etcd: e,
    chain: chain ? summarize(chainRounds) : null,
    ratio: e ? ratioOf(clients, s, e) : null,
  };
}

export function sayComparison(c: DurableComparison, say: Say): void {
  const e = c.etcd;
  const store = `${c.store.okPerSecond} orders/s (p50 ${c.store.p50Ms} ms, p99 ${c.store.p99Ms} ms)`;
  const anchor = e
    ? `etcd ${e.okPerSecond} puts/s (p50 ${e.p50Ms} ms, p99 ${e.p99Ms} ms)`
    : 'etcd not measured';
  const ratio =
    c.ratio === null
      ? ''
      : c.clients > 1
        ? ` = ${(c.ratio * 100).toFixed(1)} %`
        : `: p50 ${c.ratio}x etcd's`;
  say(
    `  ${c.clients} client${c.clients > 1 ? 's' : ''}, ${c.durationS} s x ${c.store.rounds.length}: toystore ${store} vs ${anchor}${ratio}`,
  );
  if (c.chain) say(`    the shape's floor: ${chainFigure(c)}`);
}

/** The bare chain's figure beside etcd's: its rate, its p50, and the ratio the store's target
 * uses. */
export function chainFigure(c: DurableComparison): string {
  const ch = c.chain;
  if (!ch) return 'not measured';
  const e = c.etcd;
  const ratio = !e ? null : ratioOf(c.clients, ch, e);
  const vs =
    ratio === null
      ? ''
      : c.clients > 1
        ? ` = ${(ratio * 100).toFixed(1)} % of etcd`
        : `, ${ratio}x etcd's p50`;
  return `bare three-hop chain (no disk, no store logic) ${ch.okPerSecond}/s (p50 ${ch.p50Ms} ms)${vs}`;
}
