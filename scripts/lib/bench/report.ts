/**
 * Turns the benchmark results into what people read: the targets with PASS/MISS, a Markdown
 * report (docs/bench/results.md) and SVG plots rendered with vega-lite + vega in Node (no
 * browser, no canvas): latency vs p with the cache on and off, throughput next to its ceiling,
 * catch-up time vs missed orders.
 *
 * Pure functions of a `BenchResults` (what run.ts also writes to docs/bench/results.json), so the
 * report can be rebuilt from a results file: `npx tsx scripts/lib/bench/report.ts [results.json]`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CannonResult, CatchUpRow, FailoverResult, LabRow, StartupResult } from './scenarios.ts';
import type { CommitInfo, MachineInfo, Rss } from './lib.ts';
import type { ProfileSummary } from './cpuprofile-top.ts';
import type { GroupCommitRun } from './group-commit.ts';

export interface ThroughputPair {
  name: 'cached GET /products/:name' | 'uncached GET /products/:name' | 'POST /orders';
  ceilingName: string;
  /** Median over rounds of the store's 2xx/s and the ceiling's. */
  store: number;
  ceiling: number;
  ratio: number;
  rounds: Array<{ store: CannonResult; ceiling: CannonResult }>;
}

export interface BenchResults {
  generatedAt: string;
  mode: 'quick' | 'full';
  commit: CommitInfo;
  machine: MachineInfo;
  /** Environment every cluster got beyond the launcher's topology. */
  clusterEnv: Record<string, string>;
  durationS: number;
  disk?: { dir: string; syncsPerSecond: number; meanMs: number };
  lab?: LabRow[];
  throughput?: ThroughputPair[];
  manyClients?: { connections: number; result: CannonResult };
  memory?: { idle: Record<string, Rss>; underLoad: Record<string, Rss> };
  failover?: FailoverResult;
  catchUp?: CatchUpRow[];
  startup?: StartupResult[];
  groupCommit?: { clients: number; seconds: number; batched: GroupCommitRun; single: GroupCommitRun; ratio: number };
  profiles?: Array<{ label: string; service: string; summary: ProfileSummary }>;
  targets: Target[];
  /** Scenarios that could not run, with why. */
  failures: Array<{ scenario: string; error: string }>;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  pass: boolean | null;
}

const pct = (r: number) => `${(r * 100).toFixed(1)} %`;

/** Every target of issue 5 against what was measured (null: not measured in this run). */
export function evaluateTargets(r: Omit<BenchResults, 'targets'>): Target[] {
  const t: Target[] = [];
  const pair = (name: ThroughputPair['name']) => r.throughput?.find((p) => p.name === name);
  const ratioTarget = (name: ThroughputPair['name'], label: string, goal: number, ceiling: string) => {
    const p = pair(name);
    t.push({
      name: label,
      goal: `>= ${goal * 100} % of ${ceiling}`,
      measured: p ? `${pct(p.ratio)} (${p.store} vs ${p.ceiling} req/s)` : 'not measured',
      pass: p ? p.ratio >= goal : null,
    });
  };
  ratioTarget('cached GET /products/:name', 'cached GET throughput', 0.85, 'bare Hono');
  ratioTarget('uncached GET /products/:name', 'uncached GET throughput', 0.9, 'bare two-hop');
  ratioTarget('POST /orders', 'durable orders throughput', 0.5, 'bare three-hop chain');
  const f = r.failover;
  t.push({
    name: 'failover',
    goal: '< 1000 ms, 0 client-visible errors',
    measured: f ? `max ${f.failoverMsMax ?? 'no ack'} ms, median ${f.failoverMsMedian ?? '-'} ms over ${f.kills.length} kills, ${f.errors} errors` : 'not measured',
    pass: f ? f.failoverMsMax !== null && f.failoverMsMax < 1000 && f.errors === 0 && f.kills.length > 0 : null,
  });
  const c = r.catchUp?.filter((row) => row.missed >= 100_000).sort((a, b) => a.missed - b.missed)[0];
  t.push({
    name: 'catch-up of 100k missed orders',
    goal: '< 2000 ms (spawn to identical log)',
    measured: c ? `${c.totalMs ?? 'never'} ms (start ${c.startMs} + catch-up ${c.catchUpMs ?? '-'})` : 'not measured',
    pass: c ? c.totalMs !== null && c.totalMs < 2000 : null,
  });
  const s = r.startup?.find((x) => x.logOrders >= 1_000_000);
  t.push({
    name: 'start with a 1M-order log',
    goal: '< 3000 ms (spawn to /health)',
    measured: s ? `${s.healthMs ?? 'never'} ms to /health (${s.listeningMs ?? '-'} ms to listening)` : 'not measured',
    pass: s ? s.healthMs !== null && s.healthMs < 3000 : null,
  });
  const m = r.manyClients;
  t.push({
    name: `${m?.connections ?? 1000} concurrent clients`,
    goal: '0 errors',
    measured: m ? `${m.result.errors} errors, ${m.result.timeouts} timeouts, ${m.result.answersPerSecond} req/s` : 'not measured',
    pass: m ? m.result.errors === 0 && m.result.timeouts === 0 : null,
  });
  return t;
}

export function formatTargets(targets: readonly Target[]): string {
  const w = Math.max(...targets.map((t) => t.name.length));
  return targets
    .map((t) => `${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'MISS'}  ${t.name.padEnd(w)}  ${t.measured}  (target ${t.goal})`)
    .join('\n');
}

// ---------------------------------------------------------------- Markdown

/** `total 1.23 (frontend 0.40, catalog 0.10, ...)`. */
export function formatCpu(cpu: Record<string, number> | undefined): string {
  if (!cpu || Object.keys(cpu).length === 0) return '-';
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  return `total ${total.toFixed(3)} (${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')})`;
}

function table(header: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cell = (v: string | number | null | undefined) => (v === null || v === undefined ? '-' : String(v).replace(/\|/g, '\\|'));
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(
    '# toystore benchmark results',
    '',
    `Generated by \`npm run bench${r.mode === 'quick' ? ' -- --quick' : ''}\` (scripts/bench.ts) on ${r.generatedAt} in ${r.durationS} s, ${r.mode} mode.`,
    '',
    `- commit: \`${r.commit.label}\``,
    `- machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.kernel}, Node ${r.machine.node}`,
    `- load average when the run started: ${r.machine.loadAverage1m} (a busy machine makes every number noisy); fd limit ${r.machine.fdLimit}`,
    `- cluster environment: ${Object.entries(r.clusterEnv).map(([k, v]) => `\`${k}=${v}\``).join(', ') || '(defaults)'}; everything else at its default (heartbeat 200 ms, commit quorum 2, cache size 7)`,
    r.disk ? `- disk: ${r.disk.syncsPerSecond} fdatasyncs/s of 100 bytes (${r.disk.meanMs} ms each) in ${r.disk.dir}` : '',
    '',
    '## Targets',
    '',
    table(['', 'target', 'goal', 'measured'], r.targets.map((t) => [t.pass === null ? 'n/a' : t.pass ? 'PASS' : '**MISS**', t.name, t.goal, t.measured])),
    '',
  );
  if (r.failures.length) out.push('## Scenarios that failed to run', '', ...r.failures.map((f) => `- ${f.scenario}: ${f.error.split('\n')[0]}`), '');
  if (r.lab?.length) {
    out.push(
      '## Lab evaluation: latency vs p',
      '',
      '5 keep-alive clients (`runClients`, Idempotency-Keys on orders), closed loop; each iteration queries a random toy and orders it with probability p; every acknowledged order is read back at the end (order queries). Latencies in ms.',
      '',
      table(
        ['cache', 'p', 'query p50', 'p95', 'p99', 'order p50', 'p95', 'p99', 'order query p50', 'p95', 'p99', 'requests (q/o/oq)', 'failures', 'mismatches'],
        r.lab.map((l) => [
          l.cache, l.p,
          l.stats.query.p50, l.stats.query.p95, l.stats.query.p99,
          l.stats.order.p50, l.stats.order.p95, l.stats.order.p99,
          l.stats.order_query.p50, l.stats.order_query.p95, l.stats.order_query.p99,
          `${l.stats.query.count}/${l.stats.order.count}/${l.stats.order_query.count}`,
          l.stats.query.failures + l.stats.order.failures + l.stats.order_query.failures,
          l.mismatches,
        ]),
      ),
      '',
      '![latency vs p](latency-vs-p.svg)',
      '',
    );
  }
  if (r.throughput?.length) {
    const conns = r.throughput[0]?.rounds[0]?.store.connections;
    out.push(
      '## Throughput next to its ceiling',
      '',
      `autocannon, ${conns} keep-alive connections, 2xx answers per second (${(r.throughput[0]?.rounds.length ?? 1) > 1 ? `median of ${r.throughput[0]?.rounds.length} rounds` : 'one round'}; each ceiling measured right before the store). Ceilings are bare Hono apps (scripts/lib/bench/ceiling-server.ts) started like services.`,
      '',
      table(
        ['workload', 'store req/s', 'ceiling', 'ceiling req/s', 'ratio', 'store p50 / p99 ms', 'ceiling p50 / p99 ms', 'store non-2xx'],
        r.throughput.map((p) => {
          const last = p.rounds[p.rounds.length - 1]!;
          const non2xx = Object.entries(last.store.statusCodes).filter(([c]) => !c.startsWith('2')).map(([c, n]) => `${n}x${c}`).join(' ') || '0';
          return [p.name, p.store, p.ceilingName, p.ceiling, pct(p.ratio), `${last.store.latencyP50Ms} / ${last.store.latencyP99Ms}`, `${last.ceiling.latencyP50Ms} / ${last.ceiling.latencyP99Ms}`, non2xx];
        }),
      ),
      '',
      r.disk ? `The disk beside it: ${r.disk.syncsPerSecond} fdatasyncs/s; a durable order needs one at the catalog, one on the leader and one on a follower (group commit shares each among the orders waiting).` : '',
      '',
      'CPU time (user + system, from /proc) each process spent per answer during the last measured run: where the time goes, and less noisy than req/s on a busy machine.',
      '',
      table(
        ['workload', 'toystore CPU ms per request', 'ceiling CPU ms per request'],
        r.throughput.map((p) => {
          const last = p.rounds[p.rounds.length - 1]!;
          return [p.name, formatCpu(last.store.cpuMsPerRequest), formatCpu(last.ceiling.cpuMsPerRequest)];
        }),
      ),
      '',
      '![throughput vs ceiling](throughput.svg)',
      '',
    );
  }
  if (r.manyClients) {
    const m = r.manyClients.result;
    out.push(
      `## ${r.manyClients.connections} concurrent clients, mixed workload`,
      '',
      `Each connection loops: query a random toy, order one (fresh Idempotency-Key), read that order back. ${m.durationS} s.`,
      '',
      table(
        ['answers/s', '2xx/s', 'p50 ms', 'p99 ms', 'errors', 'timeouts', 'status codes'],
        [[m.answersPerSecond, m.okPerSecond, m.latencyP50Ms, m.latencyP99Ms, m.errors, m.timeouts, Object.entries(m.statusCodes).map(([c, n]) => `${c}: ${n}`).join(', ')]],
      ),
      '',
    );
  }
  if (r.memory) {
    const names = Object.keys({ ...r.memory.idle, ...r.memory.underLoad });
    out.push(
      '## Memory (RSS)',
      '',
      'VmRSS from /proc/<pid>/status: after start (idle) and the highest sample under load (throughput and concurrent-clients runs); VmHWM is the peak the kernel saw.',
      '',
      table(['service', 'idle MiB', 'under load MiB', 'peak (VmHWM) MiB'], names.map((n) => [n, r.memory!.idle[n]?.rssMiB, r.memory!.underLoad[n]?.rssMiB, r.memory!.underLoad[n]?.hwmMiB])),
      '',
    );
  }
  if (r.failover) {
    const f = r.failover;
    out.push(
      '## Failover',
      '',
      `${f.clients} clients send orders (fresh Idempotency-Key each, no client retries) while the leader is SIGKILLed ${f.kills.length} times; failover is the time from the SIGKILL to the first 200 for an order sent after it. Between kills the replica is restarted and the three logs must become byte-identical (orders paused meanwhile). ${f.ordersAcknowledged} orders acknowledged, ${f.ordersRejected} refused for stock, ${f.errors} client-visible errors${f.errors ? ` (${Object.entries(f.errorKinds).map(([k, n]) => `${n}x ${k}`).join(', ')})` : ''}.`,
      '',
      table(['kill', 'leader killed', 'new leader', 'failover ms', 'client errors', 'converged ms after restart'], f.kills.map((k, i) => [i + 1, k.killed, k.newLeader, k.failoverMs, k.errors, k.convergeMs])),
      '',
    );
  }
  if (r.catchUp?.length) {
    out.push(
      '## Catch-up',
      '',
      'Three replicas start over the same synthesized log; a follower is stopped, its log cut to a prefix, and it is started again: time from spawn to `listening`, then to a log byte-identical to the leader\'s.',
      '',
      table(['leader log', 'lagging replica had', 'missed', 'spawn to listening ms', 'listening to identical ms', 'total ms'], r.catchUp.map((c) => [c.logOrders, c.laggingOrders, c.missed, c.startMs, c.catchUpMs, c.totalMs])),
      '',
      '![catch-up time vs missed orders](catchup.svg)',
      '',
    );
  }
  if (r.startup?.length) {
    out.push(
      '## Start-up',
      '',
      'One replica process alone over a synthesized log (its peers down): spawn to its `listening` line and to a 200 from /health.',
      '',
      table(['log orders', 'log MiB', 'to listening ms', 'to /health ms', 'RSS MiB after start'], r.startup.map((s) => [s.logOrders, s.logMiB, s.listeningMs, s.healthMs, s.rss?.rssMiB])),
      '',
    );
  }
  if (r.groupCommit) {
    const g = r.groupCommit;
    out.push(
      '## Group commit',
      '',
      `scripts/lib/bench/group-commit.ts: ${g.clients} keep-alive clients ordering for ${g.seconds} s on a fresh cluster per mode (GROUP_COMMIT=true, the default, vs false).`,
      '',
      table(['mode', 'orders/s', 'p50 ms', 'p99 ms', 'orders'], [g.batched, g.single].map((x) => [x.groupCommit ? 'group commit' : 'one fdatasync per append', x.ordersPerSecond, x.p50Ms, x.p99Ms, x.orders])),
      '',
      `Group commit: ${g.ratio}x the orders/s.`,
      '',
    );
  }
  if (r.profiles?.length) {
    out.push('## CPU profiles (top self time)', '', 'Sampled wall-clock stacks (1 ms); on a busy machine a process that is runnable but not running still collects samples, so shares are indicative. Lines of our .ts files are those of the declaration.', '');
    for (const p of r.profiles) {
      out.push(`**${p.label} / ${p.service}** (${p.summary.totalMs} ms, ${p.summary.idlePercent} % idle)`, '');
      out.push(table(['self %', 'self ms', 'function', 'where'], p.summary.top.slice(0, 12).map((t) => [t.selfPercent, t.selfMs, `\`${t.function}\``, `${t.file}:${t.line}`])), '');
      if (p.summary.ours?.length) {
        out.push('Our code by inclusive time:', '', table(['incl. %', 'incl. ms', 'function', 'where'], p.summary.ours.slice(0, 8).map((t) => [t.selfPercent, t.selfMs, `\`${t.function}\``, `${t.file}:${t.line}`])), '');
      }
    }
  }
  return out.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

// ---------------------------------------------------------------- plots

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function latencySpec(lab: readonly LabRow[], subtitle: string): TopLevelSpec {
  const names = { query: 'product query', order: 'order', order_query: 'order query' } as const;
  const values = lab.flatMap((l) =>
    (Object.keys(names) as Array<keyof typeof names>).flatMap((t) =>
      (['p50', 'p95', 'p99'] as const).map((q) => ({ p: l.p, cache: `cache ${l.cache}`, request: names[t], percentile: q, ms: l.stats[t][q] })),
    ),
  ).filter((v) => v.ms !== null);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency vs p (5 clients)', subtitle },
    data: { values },
    facet: { column: { field: 'request', type: 'nominal', title: null, sort: Object.values(names) } },
    spec: {
      width: 220,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'p', type: 'quantitative', title: 'p (order probability)', scale: { domain: [0, 0.8] } },
        y: { field: 'ms', type: 'quantitative', title: 'latency (ms)', scale: { type: 'log' } },
        color: { field: 'cache', type: 'nominal', title: null },
        strokeDash: { field: 'percentile', type: 'nominal', title: null },
        shape: { field: 'percentile', type: 'nominal', title: null },
      },
    },
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

export function throughputSpec(pairs: readonly ThroughputPair[], subtitle: string): TopLevelSpec {
  const values = pairs.flatMap((p) => [
    { workload: p.name, server: 'ceiling', label: p.ceilingName, rps: p.ceiling, ratio: p.ceilingName },
    { workload: p.name, server: 'toystore', label: 'toystore', rps: p.store, ratio: pct(p.ratio) },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Throughput next to its ceiling (2xx/s)', subtitle },
    data: { values },
    facet: { column: { field: 'workload', type: 'nominal', title: null, sort: ['cached GET /products/:name', 'uncached GET /products/:name', 'POST /orders'] } },
    spec: {
      width: 160,
      height: 220,
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'server', type: 'nominal', title: null, sort: ['ceiling', 'toystore'], axis: { labelAngle: 0 } },
            y: { field: 'rps', type: 'quantitative', title: 'requests/s' },
            color: { field: 'server', type: 'nominal', title: null },
            tooltip: [{ field: 'label' }, { field: 'rps' }],
          },
        },
        {
          mark: { type: 'text', dy: -6 },
          encoding: {
            x: { field: 'server', type: 'nominal', sort: ['ceiling', 'toystore'] },
            y: { field: 'rps', type: 'quantitative' },
            text: { field: 'ratio' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export function catchUpSpec(rows: readonly CatchUpRow[], subtitle: string): TopLevelSpec {
  const values = rows.flatMap((c) => {
    const log = `leader log ${c.logOrders.toLocaleString('en-US')}`;
    return [
      { missed: c.missed, ms: c.catchUpMs, phase: 'listening to identical', log, series: `${log} / listening`, base: `had ${c.laggingOrders.toLocaleString('en-US')}` },
      { missed: c.missed, ms: c.totalMs, phase: 'spawn to identical', log, series: `${log} / spawn`, base: `had ${c.laggingOrders.toLocaleString('en-US')}` },
    ];
  }).filter((v) => v.ms !== null);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Catch-up time vs missed orders', subtitle },
    data: { values },
    width: 420,
    height: 260,
    layer: [
      {
        mark: { type: 'line', point: { size: 70, filled: true } },
        encoding: {
          x: { field: 'missed', type: 'quantitative', title: 'missed orders (log scale)', scale: { type: 'log' } },
          y: { field: 'ms', type: 'quantitative', title: 'ms' },
          color: { field: 'phase', type: 'nominal', title: null },
          shape: { field: 'log', type: 'nominal', title: null },
          detail: { field: 'series', type: 'nominal' },
        },
      },
      {
        mark: { type: 'text', dx: 6, dy: -8, align: 'left', fontSize: 9 },
        encoding: {
          x: { field: 'missed', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'ms', type: 'quantitative' },
          text: { field: 'base' },
          color: { field: 'phase', type: 'nominal', legend: null },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Writes results.json, results.md and the plots into `dir`; returns the files written. */
export async function writeReport(r: BenchResults, dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, content: string) => {
    await fs.writeFile(path.join(dir, name), content);
    written.push(path.join(dir, name));
  };
  const subtitle = `${r.commit.label}, ${r.machine.cores} cores (${r.machine.cpu}), ${r.mode} mode, load ${r.machine.loadAverage1m}`;
  await put('results.json', `${JSON.stringify(r, null, 2)}\n`);
  await put('results.md', `${renderMarkdown(r)}\n`);
  if (r.lab?.length) await put('latency-vs-p.svg', await renderSvg(latencySpec(r.lab, subtitle)));
  if (r.throughput?.length) await put('throughput.svg', await renderSvg(throughputSpec(r.throughput, subtitle)));
  if (r.catchUp?.length) await put('catchup.svg', await renderSvg(catchUpSpec(r.catchUp, subtitle)));
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? path.join(fileURLToPath(new URL('../../../docs/bench', import.meta.url)), 'results.json');
  const r = JSON.parse(await fs.readFile(file, 'utf8')) as BenchResults;
  for (const f of await writeReport(r, path.dirname(file))) console.log(`wrote ${f}`);
}
