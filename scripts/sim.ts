/**
 * The deterministic simulator's CLI (scripts/lib/sim/): runs many seeds of the replication
 * core under simulated faults and reports every seed that broke an invariant, with the command
 * that replays it.
 *
 *   npm run sim -- --seeds 5000 [--start-seed N] [--steps N] [--mode majority|chaos] [--jobs N]
 *   npm run sim -- --seed 1234 [--steps N] [--mode chaos] [--trace]
 *
 * --seeds/--start-seed run seeds start..start+seeds-1 (default 100 from 1); --seed runs one and
 * prints its outcome and, with --trace, its whole event trace. --mode chaos lets any number of
 * replicas be down or cut off at once (default 'majority': at most one). --jobs N splits the seeds
 * over N child processes (default 1; each run is single-threaded and deterministic either way).
 * --shim lead-single-flight runs with a harness stand-in for the suggested fix of a known bug
 * (concurrent lead(E) on one replica), to confirm the diagnosis and look past it.
 * Exit code: 0 all seeds passed, 1 at least one failed, 2 bad flags.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeFailure, runSimulation, type SimMode, type SimOptions, type SimResult } from './lib/sim/simulation.ts';

const SHIMS = ['lead-single-flight'];

const USAGE = `usage: npm run sim -- [--seeds N] [--start-seed N] [--steps N] [--mode majority|chaos] [--jobs N]
       npm run sim -- --seed N [--steps N] [--mode majority|chaos] [--trace]
       --shim lead-single-flight: run with a harness stand-in for the suggested fix of a known bug`;

interface Args {
  seeds: number[];
  steps: number;
  mode: SimMode;
  jobs: number;
  trace: boolean;
  single: boolean;
  worker: boolean;
  /** Harness stand-ins for suggested fixes (see SimOptions.shims). */
  shims: string[];
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      'start-seed': { type: 'string' },
      seed: { type: 'string' },
      steps: { type: 'string' },
      mode: { type: 'string' },
      jobs: { type: 'string' },
      trace: { type: 'boolean' },
      shim: { type: 'string', multiple: true },
      worker: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, dflt: number, min = 0): number => {
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return Number(v);
  };
  const mode = values.mode ?? 'majority';
  if (mode !== 'majority' && mode !== 'chaos') throw new Error('--mode must be majority or chaos');
  const steps = int('steps', values.steps, 300, 1);
  const jobs = int('jobs', values.jobs, 1, 1);
  const shims = values.shim ?? [];
  for (const sh of shims) if (!SHIMS.includes(sh)) throw new Error(`--shim must be one of ${SHIMS.join(', ')}`);
  if (values.worker !== undefined) {
    return { seeds: values.worker.split(',').map(Number), steps, mode, jobs: 1, trace: false, single: false, worker: true, shims };
  }
  if (values.seed !== undefined) {
    return { seeds: [int('seed', values.seed, 0)], steps, mode, jobs: 1, trace: !!values.trace, single: true, worker: false, shims };
  }
  const start = int('start-seed', values['start-seed'], 1);
  const count = int('seeds', values.seeds, 100, 1);
  return { seeds: Array.from({ length: count }, (_, i) => start + i), steps, mode, jobs, trace: false, single: false, worker: false, shims };
}

function replayCommand(seed: number, a: Args): string {
  return `npm run sim -- --seed ${seed}${a.steps !== 300 ? ` --steps ${a.steps}` : ''}${a.mode !== 'majority' ? ` --mode ${a.mode}` : ''}${a.shims.map((s) => ` --shim ${s}`).join('')}`;
}

function simOptions(seed: number, a: Args, keepTrace = false): SimOptions {
  return { seed, steps: a.steps, mode: a.mode, keepTrace };
}

/** What a worker sends back per seed (the trace itself stays in the worker). */
type Summary = Omit<SimResult, 'trace'>;

async function runSeeds(seeds: number[], a: Args, onResult: (r: Summary) => void): Promise<void> {
  if (a.jobs <= 1 || seeds.length < 2) {
    for (const seed of seeds) {
      const { trace: _trace, ...r } = await runSimulation(simOptions(seed, a));
      onResult(r);
    }
    return;
  }
  const script = fileURLToPath(import.meta.url);
  const slices = Array.from({ length: a.jobs }, (_, j) => seeds.filter((_, i) => i % a.jobs === j)).filter((s) => s.length);
  await Promise.all(
    slices.map(
      (slice) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(script, ['--worker', slice.join(','), '--steps', String(a.steps), '--mode', a.mode, ...a.shims.flatMap((s) => ['--shim', s])], {
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          child.on('message', (m) => onResult(m as Summary));
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sim worker exited with ${code}`))));
        }),
    ),
  );
}

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`sim: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }

  if (a.worker) {
    for (const seed of a.seeds) {
      const { trace: _trace, ...r } = await runSimulation(simOptions(seed, a));
      await new Promise<void>((resolve) => process.send!(r, () => resolve()));
    }
    return 0;
  }

  if (a.single) {
    const seed = a.seeds[0]!;
    const t0 = performance.now();
    const r = await runSimulation(simOptions(seed, a, a.trace));
    if (a.trace) for (const line of r.trace ?? []) console.log(line);
    console.log(`seed ${seed} (${r.mode}): ${r.steps} steps + ${r.stats.healSteps} healing steps, ${(r.simMs / 1000).toFixed(1)} s simulated, ${((performance.now() - t0) / 1000).toFixed(2)} s real; trace ${r.traceHash.slice(0, 16)}`);
    console.log(`  config: ${JSON.stringify(r.config)}`);
    console.log(`  stats: ${JSON.stringify(r.stats)}`);
    if (r.ok) {
      console.log('  all invariants held');
      return 0;
    }
    console.log(describeFailure(r, replayCommand(seed, a)));
    return 1;
  }

  const t0 = performance.now();
  const failures: Summary[] = [];
  let done = 0;
  let healSteps = 0;
  const totals = { crashes: 0, leaderCrashes: 0, pauses: 0, leaderPauses: 0, partitions: 0, leaderPartitions: 0, frontendRestarts: 0, frontendPauses: 0, storms: 0, twoFrontendSeeds: 0 };
  const net = { calls: 0, lost: 0, duplicated: 0, timeouts: 0, refused: 0, resets: 0, partitionDrops: 0, appendsRefused: 0 };
  let acked = 0;
  let epochs = 0;
  console.log(`sim: ${a.seeds.length} seeds from ${a.seeds[0]} x ${a.steps} steps, mode ${a.mode}, ${a.jobs} job(s)`);
  await runSeeds(a.seeds, a, (r) => {
    done++;
    healSteps += r.stats.healSteps;
    const f = r.stats.faults;
    totals.crashes += f.crashes;
    totals.leaderCrashes += f.leaderCrashes;
    totals.pauses += f.pauses;
    totals.leaderPauses += f.leaderPauses;
    totals.partitions += Object.values(f.partitions).reduce((x, y) => x + y, 0);
    totals.leaderPartitions += f.leaderPartitions;
    totals.frontendRestarts += f.frontendRestarts;
    totals.frontendPauses += f.frontendPauses;
    totals.storms += f.storms;
    if (r.config.frontends > 1) totals.twoFrontendSeeds++;
    for (const k of Object.keys(net) as (keyof typeof net)[]) net[k] += r.stats.net[k];
    acked += r.stats.ordersAcked;
    epochs += r.stats.epochs;
    if (!r.ok) {
      failures.push(r);
      console.log(`\nFAIL ${describeFailure(r, replayCommand(r.seed, a))}\n`);
    }
    if (done % 100 === 0) console.log(`  ${done}/${a.seeds.length} seeds, ${failures.length} failed, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
  const secs = (performance.now() - t0) / 1000;
  console.log(`\nsim: ran ${done} seeds x ${a.steps} steps (+ ${healSteps} healing steps) in ${secs.toFixed(1)} s, mode ${a.mode}`);
  console.log(`  faults: ${JSON.stringify(totals)}`);
  console.log(`  network: ${JSON.stringify(net)}`);
  console.log(`  orders acknowledged: ${acked}, epochs led: ${epochs}`);
  if (!failures.length) {
    console.log('  all seeds passed');
    return 0;
  }
  const byKind = new Map<string, number[]>();
  for (const r of failures) {
    // Hints for triage: the run saw two lead(E) at once on one replica, or a follower answering a
    // leader's append with 400 (the triggers of two known bugs).
    const hints = [
      r.stats.net.appendsRefused ? 'a follower refused appends' : '',
    ].filter(Boolean);
    const kind = `${r.violations[0]!.kind}${hints.length ? ` (${hints.join(', ')})` : ''}`;
    byKind.set(kind, [...(byKind.get(kind) ?? []), r.seed]);
  }
  console.log(`  ${failures.length} seed(s) FAILED:`);
  for (const [kind, seeds] of byKind) console.log(`    ${kind}: ${seeds.join(' ')}`);
  console.log(`  replay one with: ${replayCommand(failures[0]!.seed, a)}`);
  return 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 2;
  },
);
