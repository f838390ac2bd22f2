/**
 * `npm run bench`: the benchmark suite (scripts/lib/bench/). This file only reads the command
 * line, runs what it asks for and says where the results went; `npm run bench -- --help` lists
 * the flags (scripts/lib/bench/options.ts).
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { summarizePaths } from './lib/bench/cpuprofile-top.ts';
import { usageLine } from '../shared/cli.ts';
import { HELP, parseCommand, type BenchOptions } from './lib/bench/options.ts';
import { redraw, writeReport } from './lib/bench/report.ts';
import { Suite } from './lib/bench/suite.ts';
import { formatTargets } from './lib/bench/targets.ts';
import { makeDirs, REPO_ROOT } from './lib/bench/util.ts';

const say = (msg: string) => console.log(msg);
const rel = (f: string) =>
  path.relative(process.cwd(), f).startsWith('..') ? f : path.relative(process.cwd(), f);

/**
 * Ctrl-C or a kill: stop the run's clusters and anchors and remove its temporary dirs, then exit
 * 130; a second signal exits at once (the 'exit' handlers still kill every child).
 */
function onInterrupt(suite: Suite): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}: stopping what it started (again to exit at once)`);
      process.once(signal, () => process.exit(130));
      void suite.abort().finally(() => process.exit(130));
    });
  }
}

/** The dir to write to, made and checked writable before anything runs (not after ten minutes). */
async function outDir(o: BenchOptions): Promise<string> {
  if (!o.out) return fs.mkdtemp(path.join(os.tmpdir(), 'toystore-bench-results-'));
  try {
    await makeDirs(o.out);
    await fs.access(o.out, constants.W_OK);
  } catch (err) {
    throw new Error(
      `cannot write results to ${o.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return o.out;
}

async function run(o: BenchOptions): Promise<void> {
  const out = await outDir(o);
  say(
    `results will go to ${rel(out)}${o.out ? '' : ' (a temporary dir: only the full run of every scenario writes docs/bench/ by default; --out DIR to choose)'}`,
  );
  const suite = new Suite(o, say);
  onInterrupt(suite);
  const results = await suite.run();
  const written = await writeReport(results, out);
  say('');
  say(formatTargets(results.targets));
  if (results.failures.length)
    say(
      `\n${results.failures.length} scenario(s) failed to run: ${results.failures.map((f) => f.scenario).join(', ')}`,
    );
  say(`\n${results.durationS} s; wrote ${written.map(rel).join(', ')}`);
}

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2), REPO_ROOT);
  switch (command.kind) {
    case 'help':
      return say(HELP);
    case 'error':
      console.error(usageLine('bench', 'npm run bench', command.message));
      return process.exit(2);
    case 'redraw':
      for (const f of await redraw(command.file)) say(`wrote ${rel(f)}`);
      return;
    case 'profile-top':
      for (const s of await summarizePaths(command.paths)) say(`${s}\n`);
      return;
    case 'run':
      return run(command.options);
  }
}

try {
  await main();
} catch (err) {
  // Operational errors (an unwritable --out, an unreadable results file) are one line, not a trace.
  console.error(`bench: ${(err as Error).message.split('\n')[0]}`);
  process.exit(1);
}
// autocannon and undici may leave keep-alive timers behind: do not wait for them.
process.exit(0);
