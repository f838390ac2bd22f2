/**
 * `npm run sim`: the deterministic simulator's CLI (the simulator is scripts/lib/sim/). Runs many
 * seeds, or replays one, and reports every seed that broke an invariant with the command that
 * replays it. `npm run sim -- --help` says everything a newcomer needs.
 */
import { describeFailure } from './lib/sim/report.ts';
import {
  helpText,
  parseCliArgs,
  replayCommand,
  USAGE,
  UsageError,
  type CliArgs,
} from './lib/sim/cli-args.ts';
import {
  addResult,
  emptySummary,
  formatDuration,
  progressLine,
  runSeeds,
  type SeedsSummary,
} from './lib/sim/runner.ts';
import { runSimulation } from './lib/sim/simulation.ts';
import { finish } from './lib/cli/finish.ts';

function simOptions(a: CliArgs) {
  return { steps: a.steps, mode: a.mode, faults: a.faults, tolerate: a.tolerate };
}

async function replayOne(a: CliArgs): Promise<number> {
  const seed = a.seeds[0]!;
  const t0 = performance.now();
  const r = await runSimulation({ ...simOptions(a), seed, keepTrace: a.trace });
  const replay = replayCommand(seed, a);
  if (a.json) {
    const { trace, ...rest } = r;
    console.log(JSON.stringify({ ...rest, replay, trace: a.trace ? trace : undefined }));
    return r.ok ? 0 : 1;
  }
  if (a.trace) for (const line of r.trace ?? []) console.log(line);
  console.log(
    `seed ${seed} (${r.mode}): ${r.steps} steps + ${r.stats.healSteps} healing steps, ${(r.simMs / 1000).toFixed(1)} s simulated, ${((performance.now() - t0) / 1000).toFixed(2)} s real; trace ${r.traceHash.slice(0, 16)}`,
  );
  console.log(`  config: ${JSON.stringify(r.config)}`);
  console.log(`  stats: ${JSON.stringify(r.stats)}`);
  if (r.ok) {
    console.log('  all invariants held');
    return 0;
  }
  console.log(describeFailure(r, replay));
  return 1;
}

async function runMany(a: CliArgs): Promise<number> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const summary = emptySummary();
  // A progress line with an ETA on a terminal; in a log, a line every 10 %.
  const tty = process.stderr.isTTY === true;
  const every = Math.max(1, Math.ceil(a.seeds.length / 10));
  if (!a.json)
    console.log(
      `sim: ${a.seeds.length} seeds from ${a.seeds[0]} x ${a.steps} steps, mode ${a.mode}, faults ${a.faults.join(',')}, ${a.jobs} job(s)`,
    );
  await runSeeds(a.seeds, simOptions(a), a.jobs, (r) => {
    addResult(summary, r, replayCommand(r.seed, a));
    if (!r.ok && !a.json) {
      if (tty) process.stderr.write('\r\x1b[K');
      console.log(`\nFAIL ${describeFailure(r, replayCommand(r.seed, a))}\n`);
    }
    const line = progressLine(summary.run, a.seeds.length, summary.failed.length, elapsed());
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else if (!a.json && summary.run % every === 0) console.log(line);
    return a.firstFailure && !r.ok;
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (a.json) console.log(JSON.stringify(jsonSummary(a, summary, elapsed())));
  else printSummary(a, summary, elapsed());
  return summary.failed.length ? 1 : 0;
}

function jsonSummary(a: CliArgs, s: SeedsSummary, secs: number) {
  return {
    seeds: { from: a.seeds[0], count: a.seeds.length },
    steps: a.steps,
    mode: a.mode,
    faultClasses: a.faults,
    jobs: a.jobs,
    ...s,
    elapsedS: Number(secs.toFixed(1)),
    seedsPerS: Number((s.run / secs).toFixed(2)),
  };
}

function printSummary(a: CliArgs, s: SeedsSummary, secs: number): void {
  if (a.firstFailure && s.failed.length)
    console.log(
      `\nsim: stopped at the first failure (--first-failure): seed ${s.failed[0]!.seed}, after ${s.run} seeds`,
    );
  console.log(
    `\nsim: ran ${s.run} seeds x ${a.steps} steps (+ ${s.healSteps} healing steps) in ${formatDuration(secs)} (${(s.run / secs).toFixed(1)} seeds/s), mode ${a.mode}`,
  );
  console.log(`  faults: ${JSON.stringify(s.faults)}`);
  console.log(`  detected at replica starts: ${JSON.stringify(s.detections)}`);
  console.log(`  network: ${JSON.stringify(s.network)}`);
  console.log(
    `  orders: ${JSON.stringify(s.orders)}, epochs led: ${s.epochs}, seeds with two frontends: ${s.twoFrontendSeeds}`,
  );
  if (Object.keys(s.tolerated).length)
    console.log(`  tolerated violations (--tolerate): ${JSON.stringify(s.tolerated)}`);
  if (!s.failed.length) {
    console.log('  all seeds passed');
    return;
  }
  console.log(`  ${s.failed.length} seed(s) FAILED, by first violation:`);
  for (const [kind, seeds] of Object.entries(s.byKind))
    console.log(
      `    ${kind}: ${seeds.length} (${seeds.slice(0, 20).join(' ')}${seeds.length > 20 ? ' ...' : ''})`,
    );
  console.log(`  replay one with: ${s.failed[0]!.replay}`);
}

async function main(): Promise<number> {
  let a: CliArgs;
  try {
    a = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`sim: ${err.message}\n${USAGE}\n(npm run sim -- --help for more)`);
    return 2;
  }
  if (a.help) {
    console.log(helpText());
    return 0;
  }
  return a.single ? replayOne(a) : runMany(a);
}

finish('sim', main, 2);
