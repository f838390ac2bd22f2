/**
 * Many seeds, in this process or spread over worker processes (worker.ts), with their results
 * folded into one summary: seeds run, passed, failed (each with its replay command), fault,
 * network and order counts, and the first seeds per kind of violation. Each seed is one
 * deterministic run, so where it runs changes nothing but the wall time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runSimulation } from './simulation.ts';
import type { SimOptions, SimResult } from './options.ts';

/** What a run reports back (the trace itself stays where it ran). */
export type RunSummary = Omit<SimResult, 'trace'>;

export interface SeedsSummary {
  run: number;
  passed: number;
  failed: Array<{
    seed: number;
    kind: string;
    step: number | null;
    message: string;
    replay: string;
  }>;
  /** Violation kind of each failed seed's first violation -> those seeds, in order. */
  byKind: Record<string, number[]>;
  faults: Record<string, unknown>;
  network: Record<string, number>;
  orders: { acknowledged: number; refused: number; failed: number; unknown: number; reads: number };
  epochs: number;
  healSteps: number;
  twoFrontendSeeds: number;
  /** What the stores of brief decisions 2-4 would have detected at replica starts, by kind. */
  detections: Record<string, number>;
  /** Violations of tolerated kinds (--tolerate), by kind. */
  tolerated: Record<string, number>;
  simulatedS: number;
}

export function emptySummary(): SeedsSummary {
  return {
    run: 0,
    passed: 0,
    failed: [],
    byKind: {},
    faults: {},
    network: {},
    orders: { acknowledged: 0, refused: 0, failed: 0, unknown: 0, reads: 0 },
    epochs: 0,
    healSteps: 0,
    twoFrontendSeeds: 0,
    detections: {},
    tolerated: {},
    simulatedS: 0,
  };
}

/**
 * Adds every number of `from` into `into`, recursively (fault and network counts); a `max…` count
 * keeps the largest.
 */
function addCounts(into: Record<string, unknown>, from: object): void {
  for (const [k, v] of Object.entries(from)) {
    if (typeof v === 'number')
      into[k] = k.startsWith('max')
        ? Math.max((into[k] as number | undefined) ?? 0, v)
        : ((into[k] as number | undefined) ?? 0) + v;
    else if (v && typeof v === 'object') addCounts((into[k] ??= {}) as Record<string, unknown>, v);
  }
}

export function addResult(s: SeedsSummary, r: RunSummary, replay: string): void {
  s.run++;
  const st = r.stats;
  addCounts(s.faults, st.faults);
  addCounts(s.network, st.net);
  addCounts(s.detections, st.detections);
  addCounts(s.tolerated, st.tolerated);
  s.orders.acknowledged += st.ordersAcked;
  s.orders.refused += st.ordersRefused;
  s.orders.failed += st.ordersFailed;
  s.orders.unknown += st.ordersUnknown;
  s.orders.reads += st.reads;
  s.epochs += st.epochs;
  s.healSteps += st.healSteps;
  s.simulatedS += r.simMs / 1000;
  if (r.config.frontends > 1) s.twoFrontendSeeds++;
  if (r.ok) {
    s.passed++;
    return;
  }
  const v = r.violations[0]!;
  s.failed.push({ seed: r.seed, kind: v.kind, step: v.step, message: v.message, replay });
  (s.byKind[v.kind] ??= []).push(r.seed);
}

/**
 * Runs `seeds` over `jobs` processes; `onResult` hears of each seed as it finishes and returns
 * true to stop the run there (no further seed is started; workers are stopped).
 */
export async function runSeeds(
  seeds: readonly number[],
  opts: Omit<SimOptions, 'seed'>,
  jobs: number,
  onResult: (r: RunSummary) => boolean | void,
): Promise<void> {
  if (jobs <= 1 || seeds.length < 2) {
    for (const seed of seeds) {
      const { trace: _trace, ...r } = await runSimulation({ ...opts, seed });
      if (onResult(r) === true) return;
    }
    return;
  }
  const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const slices = Array.from({ length: jobs }, (_, j) =>
    seeds.filter((_, i) => i % jobs === j),
  ).filter((s) => s.length);
  const children = new Set<ChildProcess>();
  let stopped = false;
  const hear = (r: RunSummary) => {
    if (stopped) return;
    if (onResult(r) !== true) return;
    stopped = true;
    for (const c of children) c.kill();
  };
  await Promise.all(
    slices.map((slice) => runWorker(worker, slice, opts, hear, children, () => stopped)),
  );
}

function runWorker(
  worker: string,
  seeds: number[],
  opts: Omit<SimOptions, 'seed'>,
  onResult: (r: RunSummary) => void,
  children: Set<ChildProcess>,
  stopped: () => boolean,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(worker, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    child.on('message', (m) => onResult(m as RunSummary));
    child.on('error', reject);
    child.on('exit', (code) => {
      children.delete(child);
      if (code === 0 || stopped()) resolve();
      else reject(new Error(`sim worker exited with ${code}`));
    });
    child.send({ seeds, opts });
  });
}

/** `12m05s`, `41s`. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** The progress line shown on a terminal while seeds run. */
export function progressLine(
  done: number,
  total: number,
  failed: number,
  elapsedS: number,
): string {
  const rate = done / Math.max(elapsedS, 1e-3);
  const eta = done ? (total - done) / rate : Infinity;
  return `  ${done}/${total} seeds, ${failed} failed, ${rate.toFixed(1)} seeds/s, ${formatDuration(elapsedS)} so far, ETA ${formatDuration(eta)}`;
}
