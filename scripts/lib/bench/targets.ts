/**
 * The targets of issue 12 (and failover, from the suite's first issue), each defined once here:
 * its threshold, how it reads, and how it is judged from a run's results. The console, results.md,
 * results.json and the plots all take the thresholds and the verdicts from here.
 *
 * A target is PASS or MISS only when the run measured both sides of it; otherwise it is "not
 * measured", with why (etcd not installed, the scenario not run, the services at another log
 * level than the target is about), and never counts as a pass.
 */
import { loadConfig } from '../../../shared/config.ts';
import { ETCD_INSTALL_HINT } from './etcd.ts';
import { totalOf } from './procfs.ts';
import type { MeasuredResults, PairKey } from './results.ts';
import { chainFigure, type DurableComparison } from './scenarios/durable.ts';

/** The thresholds. Ratios are the store over its anchor, measured in the same run. */
export const GOALS = {
  /** Durable orders/s at 32 clients over etcd puts/s: at least. */
  durableVsEtcd: 1.0,
  /** Order p50 at 1 client over etcd's put p50: at most. */
  orderP50VsEtcd: 1.5,
  /** Cached GET /products/:name over bare Hono, at the default log level: at least. */
  cachedGet: 0.85,
  uncachedGet: 0.9,
  orderReads: 0.9,
  /** CPU ms per durable order, every process of the store together: at most. */
  cpuPerOrderMs: 0.3,
  /** 1000 clients: p99 over p50, at most. */
  manyClientsP99OverP50: 10,
  startupHealthMs: 1500,
  catchUp100kMs: 1000,
  failoverMs: 1000,
} as const;

/** The log level the services run at unless told otherwise (shared/config.ts owns the default). */
export const DEFAULT_LOG_LEVEL: string = loadConfig({}).logging.level;

export type TargetId =
  | 'durable-throughput'
  | 'order-latency'
  | 'cached-get'
  | 'uncached-get'
  | 'order-reads'
  | 'cpu-per-order'
  | 'many-clients'
  | 'startup'
  | 'catch-up'
  | 'failover';

export interface Target {
  id: TargetId;
  name: string;
  goal: string;
  /** The figure and what it was computed from; or "not measured: why". */
  measured: string;
  /** The figure compared with `threshold` (a ratio or ms), null when not measured. */
  value: number | null;
  threshold: number;
  pass: boolean | null;
}

const pct = (r: number) => `${(r * 100).toFixed(1)} %`;
const notMeasured = (why: string) => ({
  measured: `not measured: ${why}`,
  value: null,
  pass: null,
});

type Judged = Pick<Target, 'measured' | 'value' | 'pass'>;
type Judge = (r: MeasuredResults) => Judged;

function etcdMissing(r: MeasuredResults, c: DurableComparison | undefined): string | null {
  if (!r.durable || !c) return 'the etcd comparison did not run (--only etcd)';
  if (!r.durable.etcd.available) return `${r.durable.etcd.reason} (${ETCD_INSTALL_HINT})`;
  if (!c.etcd || c.ratio === null) return 'etcd answered no put';
  return null;
}

/** The shape's floor beside a durable figure, when the bare chain ran (scenarios/durable.ts). */
const floor = (c: DurableComparison) => (c.chain ? `; ${chainFigure(c)}` : '');

const durableThroughput: Judge = (r) => {
  const c = r.durable?.concurrent;
  const why = etcdMissing(r, c);
  const store = c ? `; toystore ${c.store.okPerSecond} orders/s` : '';
  if (why) return notMeasured(why + store);
  return {
    measured: `${pct(c!.ratio!)} (${c!.store.okPerSecond} orders/s vs ${c!.etcd!.okPerSecond} puts/s, p50 ${c!.store.p50Ms} vs ${c!.etcd!.p50Ms} ms)${floor(c!)}`,
    value: c!.ratio,
    pass: c!.ratio! >= GOALS.durableVsEtcd,
  };
};

const orderLatency: Judge = (r) => {
  const c = r.durable?.single;
  const why = etcdMissing(r, c);
  const store = c ? `; toystore p50 ${c.store.p50Ms} ms` : '';
  if (why) return notMeasured(why + store);
  return {
    measured: `${c!.ratio}x (p50 ${c!.store.p50Ms} ms vs ${c!.etcd!.p50Ms} ms)${floor(c!)}`,
    value: c!.ratio,
    pass: c!.ratio! <= GOALS.orderP50VsEtcd,
  };
};

function ratioJudge(key: PairKey, goal: number, logLevel?: string): Judge {
  return (r) => {
    const p = r.throughput?.find((x) => x.key === key);
    if (!p) return notMeasured('the throughput scenario did not run');
    const figure = `${pct(p.ratio)} (${p.store} vs ${p.ceiling} req/s)`;
    if (logLevel && p.logLevel !== logLevel)
      return notMeasured(
        `the services ran at LOG_LEVEL=${p.logLevel}, the target is at ${logLevel}; measured ${figure}`,
      );
    return { measured: figure, value: p.ratio, pass: p.ratio >= goal };
  };
}

const cpuPerOrder: Judge = (r) => {
  const c = r.durable?.concurrent;
  if (!c) return notMeasured('the etcd comparison did not run (it measures the orders)');
  const per = c.store.cpuMsPerOk;
  const total = totalOf(per);
  if (Object.keys(per).length === 0) return notMeasured('no CPU figures (no /proc?)');
  const parts = Object.entries(per)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(', ');
  return {
    measured: `${total.toFixed(3)} ms (${parts}) at ${c.clients} clients`,
    value: Math.round(total * 1000) / 1000,
    pass: total <= GOALS.cpuPerOrderMs,
  };
};

const manyClients: Judge = (r) => {
  const m = r.manyClients?.result;
  if (!m) return notMeasured('the 1000-client scenario did not run');
  const spread = m.latencyP50Ms > 0 ? m.latencyP99Ms / m.latencyP50Ms : Infinity;
  const ok = m.errors === 0 && m.timeouts === 0 && spread <= GOALS.manyClientsP99OverP50;
  return {
    measured: `${m.errors} errors, ${m.timeouts} timeouts, p50 ${m.latencyP50Ms} ms, p99 ${m.latencyP99Ms} ms (${spread.toFixed(1)}x), ${m.answersPerSecond} req/s`,
    value: Math.round(spread * 10) / 10,
    pass: ok,
  };
};

const startup: Judge = (r) => {
  // A production host restarts the built replica (plain node); tsx's own compile is not the log's
  // cost.
  const long = r.startup?.filter((x) => x.logOrders >= 1_000_000) ?? [];
  const s = long.find((x) => x.runtime === 'node') ?? long[0];
  if (!s) return notMeasured('the start-up scenario did not run');
  const tsx = long.find((x) => x.runtime === 'tsx' && x !== s);
  const also = tsx ? `; under tsx ${tsx.healthMs ?? 'never'} ms` : '';
  return {
    measured: `${s.healthMs ?? 'never'} ms to /health (${s.listeningMs ?? '-'} ms to listening; ${s.runtime === 'node' ? 'production build' : 'tsx'}${also})`,
    value: s.healthMs,
    pass: s.healthMs !== null && s.healthMs < GOALS.startupHealthMs,
  };
};

const catchUp: Judge = (r) => {
  const c = r.catchUp
    ?.filter((row) => row.missed === 100_000)
    .sort((a, b) => a.laggingOrders - b.laggingOrders)[0];
  if (!c) return notMeasured('the catch-up scenario did not run');
  // Judged on what ran, labelled: rows from before the field existed ran under tsx.
  const ran =
    c.runtime === 'node'
      ? 'production build, node'
      : `tsx${c.buildError ? ', the production build failed' : ''}`;
  return {
    measured: `${c.totalMs ?? 'never'} ms (start ${c.startMs} + catch-up ${c.catchUpMs ?? '-'}; lagging replica had ${c.laggingOrders}; ${ran})`,
    value: c.totalMs,
    pass: c.totalMs !== null && c.totalMs < GOALS.catchUp100kMs,
  };
};

const failover: Judge = (r) => {
  const f = r.failover;
  if (!f) return notMeasured('the failover scenario did not run');
  const ok =
    f.failoverMsMax !== null &&
    f.failoverMsMax < GOALS.failoverMs &&
    f.errors === 0 &&
    f.kills.length > 0;
  return {
    measured: `max ${f.failoverMsMax ?? 'no ack'} ms, median ${f.failoverMsMedian ?? '-'} ms over ${f.kills.length} kills, ${f.errors} errors`,
    value: f.failoverMsMax,
    pass: ok,
  };
};

const DEFINITIONS: Array<Omit<Target, keyof Judged> & { judge: Judge }> = [
  {
    id: 'durable-throughput',
    name: 'durable orders/s vs etcd puts/s (32 clients)',
    goal: `>= ${GOALS.durableVsEtcd.toFixed(1)}x etcd`,
    threshold: GOALS.durableVsEtcd,
    judge: durableThroughput,
  },
  {
    id: 'order-latency',
    name: 'order p50 vs etcd put p50 (1 client)',
    goal: `<= ${GOALS.orderP50VsEtcd}x etcd`,
    threshold: GOALS.orderP50VsEtcd,
    judge: orderLatency,
  },
  {
    id: 'cached-get',
    name: 'cached GET /products/:name',
    goal: `>= ${GOALS.cachedGet * 100} % of bare Hono at LOG_LEVEL=${DEFAULT_LOG_LEVEL}`,
    threshold: GOALS.cachedGet,
    judge: ratioJudge('cached', GOALS.cachedGet, DEFAULT_LOG_LEVEL),
  },
  {
    id: 'uncached-get',
    name: 'uncached GET /products/:name',
    goal: `>= ${GOALS.uncachedGet * 100} % of bare two-hop`,
    threshold: GOALS.uncachedGet,
    judge: ratioJudge('uncached', GOALS.uncachedGet),
  },
  {
    id: 'order-reads',
    name: 'order reads GET /orders/:n',
    goal: `>= ${GOALS.orderReads * 100} % of bare two-hop`,
    threshold: GOALS.orderReads,
    judge: ratioJudge('order-reads', GOALS.orderReads),
  },
  {
    id: 'cpu-per-order',
    name: 'CPU per durable order, all processes',
    goal: `<= ${GOALS.cpuPerOrderMs} ms`,
    threshold: GOALS.cpuPerOrderMs,
    judge: cpuPerOrder,
  },
  {
    id: 'many-clients',
    name: '1000 keep-alive clients, mixed workload',
    goal: `0 errors, p99 <= ${GOALS.manyClientsP99OverP50}x p50`,
    threshold: GOALS.manyClientsP99OverP50,
    judge: manyClients,
  },
  {
    id: 'startup',
    name: 'replica with a 1M-order log',
    goal: `< ${GOALS.startupHealthMs} ms spawn to /health`,
    threshold: GOALS.startupHealthMs,
    judge: startup,
  },
  {
    id: 'catch-up',
    name: 'catch-up of 100k missed orders',
    goal: `< ${GOALS.catchUp100kMs} ms spawn to identical log`,
    threshold: GOALS.catchUp100kMs,
    judge: catchUp,
  },
  {
    id: 'failover',
    name: 'failover (leader SIGKILLed)',
    goal: `< ${GOALS.failoverMs} ms, 0 client-visible errors`,
    threshold: GOALS.failoverMs,
    judge: failover,
  },
];

/** Every target against what was measured. */
export function evaluateTargets(r: MeasuredResults): Target[] {
  return DEFINITIONS.map(({ judge, ...def }) => ({ ...def, ...judge(r) }));
}

export const verdict = (t: Pick<Target, 'pass'>) =>
  t.pass === null ? 'not measured' : t.pass ? 'PASS' : 'MISS';

export function formatTargets(targets: readonly Target[]): string {
  const w = Math.max(...targets.map((t) => t.name.length));
  const v = Math.max(...targets.map((t) => verdict(t).length));
  return targets
    .map(
      (t) =>
        `${verdict(t).padEnd(v)}  ${t.name.padEnd(w)}  ${t.measured.replace(/^not measured: /, '')}  (target ${t.goal})`,
    )
    .join('\n');
}
