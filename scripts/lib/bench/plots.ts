/**
 * The SVG plots (vega-lite compiled and rendered by vega in Node: no browser, no canvas):
 *  - latency vs p with the cache on and off (the lab evaluation);
 *  - each target next to its anchor: one panel per comparison, the anchor's bar beside the
 *    store's, the target drawn as a dashed rule at its threshold, the verdict in the panel's title;
 *  - catch-up time vs missed orders: one line per base (what the lagging replica still had) and
 *    per phase, never joining points of different bases, with the target as a rule.
 * Thresholds come from targets.ts, so a plot cannot disagree with the table.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { totalOf } from './procfs.ts';
import type { BenchResults, PairKey } from './results.ts';
import type { CatchUpRow } from './scenarios/catchup.ts';
import type { LabRow } from './scenarios/lab.ts';
import { GOALS, verdict, type Target, type TargetId } from './targets.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const FONT = 'Helvetica, Arial, sans-serif';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const config = { font: FONT, view: { stroke: '#ddd' }, title: { anchor: 'start' as const } };

/** 1-2-5 ticks covering [lo, hi], for a log axis a person can read (no grid line per integer). */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (
    let decade = 10 ** Math.floor(Math.log10(Math.max(lo, 1e-3)));
    decade <= hi * 10;
    decade *= 10
  ) {
    for (const m of [1, 2, 5])
      if (m * decade >= lo / 2 && m * decade <= hi * 2)
        ticks.push(Number((m * decade).toPrecision(3)));
  }
  return ticks;
}

export function latencySpec(lab: readonly LabRow[], subtitle: string): TopLevelSpec {
  const names = { query: 'product query', order: 'order', order_query: 'order query' } as const;
  const values = lab
    .flatMap((l) =>
      (Object.keys(names) as Array<keyof typeof names>).flatMap((t) =>
        (['p50', 'p95', 'p99'] as const).map((q) => ({
          p: l.p,
          cache: `cache ${l.cache}`,
          request: names[t],
          percentile: q,
          ms: l.stats[t][q],
        })),
      ),
    )
    .filter((v): v is typeof v & { ms: number } => v.ms !== null && v.ms > 0);
  const ms = values.map((v) => v.ms);
  return {
    $schema: SCHEMA,
    config,
    title: { text: 'Latency vs p (5 clients)', subtitle },
    data: { values },
    facet: {
      column: {
        field: 'request',
        type: 'nominal',
        title: null,
        sort: Object.values(names),
        header: { labelFontSize: 12, labelFontWeight: 'bold' },
      },
    },
    spec: {
      width: 220,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'p',
          type: 'quantitative',
          title: 'p (order probability)',
          scale: { domain: [0, 0.8] },
        },
        y: {
          field: 'ms',
          type: 'quantitative',
          title: 'latency (ms, log scale)',
          scale: { type: 'log' },
          axis: { values: logTicks(Math.min(...ms), Math.max(...ms)) },
        },
        color: { field: 'cache', type: 'nominal', title: null },
        strokeDash: {
          field: 'percentile',
          type: 'nominal',
          title: null,
          legend: {
            symbolType: 'stroke',
            symbolStrokeWidth: 2,
            symbolSize: 400,
            encode: { symbols: { update: { stroke: { value: '#444' } } } },
          },
        },
      },
    },
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

// ---------------------------------------------------------------- targets next to their anchors

/** What a bar is: an anchor, the store judged against a target, or the store for information. */
type Role = 'anchor' | 'PASS' | 'MISS' | 'not measured' | 'reported';
const ROLES: Role[] = ['anchor', 'PASS', 'MISS', 'not measured', 'reported'];
const ROLE_COLORS = ['#8c8c8c', '#2e9d4a', '#d1392b', '#e8b3ad', '#7aa6d6'];

interface Bar {
  /**
   * The x-axis label: what it is, then its value on a second line (no text on the plot, so nothing
   * overlaps the rule).
   */
  label: string;
  value: number;
  role: Role;
}

interface Panel {
  title: string;
  /** Under the title: the verdict and the figure, then the target. */
  lines: string[];
  unit: string;
  bars: Bar[];
  /** Where the target's rule goes, in the panel's unit. */
  rule?: number;
}

const fmt = (v: number) =>
  v >= 100 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 100) / 100);
const pct = (r: number) => `${(r * 100).toFixed(1)} %`;
const bar = (name: string, value: number, unit: string, role: Role): Bar => ({
  label: `${name}\n${fmt(value)} ${unit}`,
  value,
  role,
});

const storeRole = (t: Target | undefined): Role => (t ? (verdict(t) as Role) : 'reported');

/** The verdict with the figure ("MISS: 6.1 % of etcd"), then the target. */
function linesOf(t: Target | undefined, figure: string): string[] {
  if (!t) return [`reported: ${figure}`, 'no target'];
  return [
    `${verdict(t)}${t.pass === null ? '' : `: ${figure}`}`,
    `target ${t.goal.replace('>=', '≥').replace('<=', '≤')}`,
  ];
}

function durablePanels(r: BenchResults, target: (id: TargetId) => Target | undefined): Panel[] {
  const c = r.durable?.concurrent;
  const s = r.durable?.single;
  const panels: Panel[] = [];
  if (c) {
    const t = target('durable-throughput');
    const bars = c.etcd ? [bar('etcd', c.etcd.okPerSecond, 'puts/s', 'anchor')] : [];
    bars.push(bar('toystore', c.store.okPerSecond, 'orders/s', storeRole(t)));
    const figure = c.ratio === null ? 'etcd not measured' : `${pct(c.ratio)} of etcd`;
    panels.push({
      title: `Durable writes, ${c.clients} clients`,
      lines: linesOf(t, figure),
      unit: 'writes/s',
      bars,
      rule: c.etcd ? c.etcd.okPerSecond * GOALS.durableVsEtcd : undefined,
    });
  }
  if (s) {
    const t = target('order-latency');
    const bars = s.etcd ? [bar('etcd put', s.etcd.p50Ms, 'ms', 'anchor')] : [];
    bars.push(bar('toystore order', s.store.p50Ms, 'ms', storeRole(t)));
    const figure = s.ratio === null ? 'etcd not measured' : `${s.ratio}x etcd's`;
    panels.push({
      title: 'Write latency p50, 1 client',
      lines: linesOf(t, figure),
      unit: 'ms',
      bars,
      rule: s.etcd ? s.etcd.p50Ms * GOALS.orderP50VsEtcd : undefined,
    });
  }
  if (c) {
    const t = target('cpu-per-order');
    const total = totalOf(c.store.cpuMsPerOk);
    const bars = c.etcd ? [bar('etcd, all', totalOf(c.etcd.cpuMsPerOk), 'ms', 'anchor')] : [];
    bars.push(bar('toystore, all', total, 'ms', storeRole(t)));
    for (const [name, ms] of Object.entries(c.store.cpuMsPerOk).sort((a, b) => b[1] - a[1]))
      bars.push(bar(name, ms, 'ms', 'reported'));
    panels.push({
      title: 'CPU per durable write (ms)',
      lines: linesOf(t, `${fmt(total)} ms`),
      unit: 'CPU ms',
      bars,
      rule: GOALS.cpuPerOrderMs,
    });
  }
  return panels;
}

const READ_PANELS: Array<{
  key: PairKey;
  title: string;
  target?: TargetId;
  goal?: number;
  extra?: PairKey;
}> = [
  {
    key: 'cached',
    title: 'Cached GET /products/:name',
    target: 'cached-get',
    goal: GOALS.cachedGet,
    extra: 'cached-warn',
  },
  {
    key: 'uncached',
    title: 'Uncached GET /products/:name',
    target: 'uncached-get',
    goal: GOALS.uncachedGet,
  },
  {
    key: 'order-reads',
    title: 'Order reads GET /orders/:n',
    target: 'order-reads',
    goal: GOALS.orderReads,
  },
  { key: 'orders-chain', title: 'POST /orders, 100 connections' },
];

function readPanels(r: BenchResults, target: (id: TargetId) => Target | undefined): Panel[] {
  const pair = (key: PairKey) => r.throughput?.find((p) => p.key === key);
  return READ_PANELS.flatMap(({ key, title, target: id, goal, extra }) => {
    const p = pair(key);
    if (!p) return [];
    const t = id ? target(id) : undefined;
    const bars = [
      bar(p.ceilingName, p.ceiling, 'req/s', 'anchor'),
      bar(`toystore (${p.logLevel})`, p.store, 'req/s', storeRole(t)),
    ];
    const x = extra ? pair(extra) : undefined;
    if (x) bars.push(bar(`toystore (${x.logLevel})`, x.store, 'req/s', 'reported'));
    const figure = `${pct(p.ratio)} of ${p.ceilingName}${x ? ` (${pct(x.ratio)} at ${x.logLevel})` : ''}`;
    return [
      {
        title,
        lines: linesOf(t, figure),
        unit: 'req/s',
        bars,
        rule: goal === undefined ? undefined : p.ceiling * goal,
      },
    ];
  });
}

function panelSpec(p: Panel): Record<string, unknown> {
  const x = {
    field: 'label',
    type: 'nominal',
    sort: null,
    title: null,
    axis: {
      labelAngle: 0,
      labelExpr: "split(datum.label, '\\n')",
      labelLimit: 200,
      labelFontSize: 10,
    },
  };
  const y = { field: 'value', type: 'quantitative', title: p.unit };
  const layer: unknown[] = [
    {
      mark: { type: 'bar', width: { band: 0.7 } },
      encoding: {
        x,
        y,
        color: {
          field: 'role',
          type: 'nominal',
          title: null,
          scale: { domain: ROLES, range: ROLE_COLORS },
        },
      },
    },
  ];
  if (p.rule !== undefined) {
    layer.push({
      data: { values: [{ value: p.rule }] },
      mark: { type: 'rule', strokeDash: [6, 3], strokeWidth: 1.5, color: '#222' },
      encoding: { y: { field: 'value', type: 'quantitative' } },
    });
  }
  return {
    title: { text: p.title, subtitle: p.lines, fontSize: 12, subtitleFontSize: 11 },
    width: 90 * p.bars.length,
    height: 170,
    data: { values: p.bars },
    layer,
  };
}

/**
 * One panel per comparison with an anchor, durable writes on the first row, reads on the second;
 * undefined when the run measured none.
 */
export function targetsSpec(r: BenchResults, subtitle: string): TopLevelSpec | undefined {
  const target = (id: TargetId) => r.targets.find((t) => t.id === id);
  const rows = [durablePanels(r, target), readPanels(r, target)].filter((row) => row.length > 0);
  if (rows.length === 0) return undefined;
  return {
    $schema: SCHEMA,
    config: {
      ...config,
      legend: { orient: 'bottom', direction: 'horizontal', gridAlign: 'none', columnPadding: 18 },
      concat: { spacing: 40 },
    },
    title: {
      text: 'Each target next to its anchor (grey), both measured in the same run; dashed line: the target',
      subtitle,
    },
    vconcat: rows.map((row) => ({ hconcat: row.map(panelSpec) })),
    spacing: 30,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------- catch-up

const PHASES = { total: 'spawn to identical log', catchUp: 'listening to identical log' } as const;

export function catchUpSpec(rows: readonly CatchUpRow[], subtitle: string): TopLevelSpec {
  const base = (c: CatchUpRow) => `had ${c.laggingOrders.toLocaleString('en-US')}`;
  const values = rows
    .flatMap((c) => [
      {
        missed: c.missed,
        ms: c.totalMs,
        phase: PHASES.total,
        base: base(c),
        series: `${base(c)} / total`,
      },
      {
        missed: c.missed,
        ms: c.catchUpMs,
        phase: PHASES.catchUp,
        base: base(c),
        series: `${base(c)} / catch-up`,
      },
    ])
    .filter((v) => v.ms !== null);
  const bases = [...new Set(rows.map(base))];
  const missed = rows.map((c) => c.missed);
  // Padded so no point sits on an axis.
  const domain = [Math.min(...missed) / 1.6, Math.max(...missed) * 1.6];
  const x = {
    field: 'missed',
    type: 'quantitative',
    title: 'missed orders (log scale)',
    scale: { type: 'log', domain, nice: false },
    axis: { values: logTicks(domain[0]!, domain[1]!), format: '~s' },
  };
  const y = { field: 'ms', type: 'quantitative', title: 'ms' };
  const target = `dashed line: the target, 100k missed < ${GOALS.catchUp100kMs} ms from spawn to an identical log`;
  // Rows from before the field existed all ran under tsx.
  const runtimes = [...new Set(rows.map((c) => c.runtime ?? 'tsx'))].map((r) =>
    r === 'node' ? 'the production build (plain node)' : 'tsx',
  );
  const ran = `replicas ran from ${runtimes.join(' and ')}`;
  return {
    $schema: SCHEMA,
    config: { ...config, legend: { orient: 'right', labelLimit: 300, titleLimit: 300 } },
    title: { text: 'Catch-up time vs missed orders', subtitle: [subtitle, ran, target] },
    width: 440,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: { size: 60, filled: true } },
        encoding: {
          x,
          y,
          color: { field: 'phase', type: 'nominal', title: 'time', sort: Object.values(PHASES) },
          shape: { field: 'base', type: 'nominal', title: "lagging replica's log", sort: bases },
          strokeDash: {
            field: 'base',
            type: 'nominal',
            title: "lagging replica's log",
            sort: bases,
          },
          detail: { field: 'series', type: 'nominal' },
        },
      },
      {
        data: { values: [{ ms: GOALS.catchUp100kMs }] },
        mark: { type: 'rule', strokeDash: [6, 3], strokeWidth: 1.5, color: '#222' },
        encoding: { y },
      },
    ],
  } as TopLevelSpec;
}
