/**
 * Results of a bench run built by hand, for the report's tests: only what each story needs, the
 * rest absent (as in a run with `--only`).
 */
import type { MeasuredResults, ThroughputPair, PairKey } from '../../scripts/lib/bench/results.ts';
import { RESULTS_FORMAT } from '../../scripts/lib/bench/results.ts';
import type { LoopResult } from '../../scripts/lib/bench/closed-loop.ts';
import type { DurableComparison, DurableSide } from '../../scripts/lib/bench/scenarios/durable.ts';
import type { CannonResult } from '../../scripts/lib/bench/scenarios/cannon.ts';
import type { CatchUpRow } from '../../scripts/lib/bench/scenarios/catchup.ts';

export function measured(extra: Partial<MeasuredResults> = {}): MeasuredResults {
  return {
    format: RESULTS_FORMAT,
    generatedAt: '2026-12-01T00:00:00.000Z',
    mode: 'quick',
    argv: ['--quick'],
    commit: { commit: 'abc1234', dirty: false, label: 'abc1234' },
    machine: {
      cpu: 'test cpu',
      cores: 2,
      memoryGiB: 4,
      kernel: 'Linux test',
      os: 'linux x64',
      node: 'v20',
      loadAverage1m: 0.5,
      fdLimit: '4096',
    },
    clusterEnv: { LOG_LEVEL: 'info' },
    durationS: 1,
    failures: [],
    ...extra,
  };
}

function loop(okPerSecond: number, p50Ms: number, cpuMs: Record<string, number>): LoopResult {
  const ok = okPerSecond * 2;
  return {
    clients: 32,
    durationS: 2,
    okPerSecond,
    ok,
    statusCodes: { 200: ok },
    networkErrors: 0,
    p50Ms,
    p99Ms: p50Ms * 3,
    cpuMs,
    cpuMsPerOk: {},
    clientCpuMsPerRequest: 0.1,
  };
}

export function side(
  okPerSecond: number,
  p50Ms: number,
  cpuMsPerOk: Record<string, number>,
): DurableSide {
  return {
    rounds: [loop(okPerSecond, p50Ms, {})],
    okPerSecond,
    p50Ms,
    p99Ms: p50Ms * 3,
    cpuMsPerOk,
  };
}

export function comparison(
  clients: number,
  store: DurableSide,
  etcd: DurableSide | null,
): DurableComparison {
  const ratio =
    etcd === null
      ? null
      : clients > 1
        ? Math.round((store.okPerSecond / etcd.okPerSecond) * 1000) / 1000
        : Math.round((store.p50Ms / etcd.p50Ms) * 100) / 100;
  return { clients, durationS: 2, store, etcd, ratio };
}

export const withEtcd = {
  available: true as const,
  version: '3.4.23',
  binary: '/usr/bin/etcd',
  leader: 'etcd-2',
  members: {},
};

function cannonResult(okPerSecond: number): CannonResult {
  return {
    okPerSecond,
    answersPerSecond: okPerSecond,
    latencyP50Ms: 2,
    latencyP99Ms: 9,
    connections: 100,
    durationS: 2,
    statusCodes: { 200: okPerSecond * 2 },
    errors: 0,
    timeouts: 0,
  };
}

export function pair(
  key: PairKey,
  store: number,
  ceiling: number,
  logLevel = 'info',
): ThroughputPair {
  const ceilingName =
    key === 'cached' || key === 'cached-warn'
      ? 'bare Hono'
      : key === 'orders-chain'
        ? 'bare three-hop chain'
        : 'bare two-hop';
  return {
    key,
    name: key,
    ceilingName,
    logLevel,
    store,
    ceiling,
    ratio: Math.round((store / ceiling) * 1000) / 1000,
    rounds: [{ store: cannonResult(store), ceiling: cannonResult(ceiling) }],
  };
}

export function catchUpRow(
  logOrders: number,
  base: number,
  totalMs: number,
  runtime: CatchUpRow['runtime'] = 'node',
): CatchUpRow {
  return {
    runtime,
    logOrders,
    laggingOrders: base,
    missed: logOrders - base,
    startMs: 300,
    catchUpMs: totalMs - 300,
    totalMs,
  };
}
