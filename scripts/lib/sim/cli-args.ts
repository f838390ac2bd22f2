/**
 * The simulator CLI's flags, defaults and help text: one table (FLAGS) that both the parser and
 * `--help` read, so the help can never describe a flag the parser does not take.
 */
import { parseArgs } from 'node:util';
import { FAULT_CLASSES, SIM_MODES, type FaultClass, type SimMode } from './options.ts';

export const DEFAULT_STEPS = 300;

export interface CliArgs {
  /** The seeds to run, in order. */
  seeds: number[];
  steps: number;
  mode: SimMode;
  faults: FaultClass[];
  jobs: number;
  tolerate: string[];
  /** Stop at the first failing seed (how many seeds a bug takes to find). */
  firstFailure: boolean;
  /** One seed, reported in full (a replay). */
  single: boolean;
  trace: boolean;
  json: boolean;
  help: boolean;
}

/** Thrown for bad flags: the CLI prints the message and the usage line, and exits 2. */
export class UsageError extends Error {}

const FLAGS = {
  seeds: { type: 'string', arg: 'N', dflt: '100', help: 'how many seeds to run' },
  'start-seed': { type: 'string', arg: 'N', dflt: '1', help: 'the first seed of the range' },
  seed: {
    type: 'string',
    arg: 'N',
    dflt: null,
    help: 'run this one seed and report it in full (how a failure is replayed)',
  },
  steps: {
    type: 'string',
    arg: 'N',
    dflt: String(DEFAULT_STEPS),
    help: 'faulty steps per seed, each 1-25 ms of simulated time; then every fault heals and the store must recover',
  },
  mode: {
    type: 'string',
    arg: SIM_MODES.join('|'),
    dflt: 'majority',
    help: 'majority: at most one replica impaired at a time; overlap: up to two, the second briefly, with other faults overlapping freely; chaos: any number',
  },
  faults: {
    type: 'string',
    arg: 'LIST',
    dflt: 'all',
    help: `comma-separated fault classes to draw from: ${FAULT_CLASSES.join(', ')}`,
  },
  tolerate: {
    type: 'string',
    arg: 'KINDS',
    dflt: null,
    help: 'comma-separated violation kinds (e.g. definite-after-unknown) that are counted but do not fail or stop a seed: to look past a known bug',
  },
  'first-failure': {
    type: 'boolean',
    arg: null,
    dflt: null,
    help: 'stop at the first seed that breaks an invariant: how many seeds it takes to find a bug (with --jobs, the other workers stop too)',
  },
  jobs: {
    type: 'string',
    arg: 'N',
    dflt: '1',
    help: 'worker processes sharing the seeds (each seed runs the same in any of them)',
  },
  trace: {
    type: 'boolean',
    arg: null,
    dflt: null,
    help: 'with --seed: print every event of the run (messages, faults, replica log lines)',
  },
  json: {
    type: 'boolean',
    arg: null,
    dflt: null,
    help: 'print one JSON summary object (seeds run, passed, failed with replay commands, fault counts) instead of text',
  },
  help: { type: 'boolean', arg: null, dflt: null, help: 'print this help' },
} as const;

export const USAGE = [
  'usage: npm run sim -- [--seeds N] [--start-seed N] [--mode M] [--faults LIST] [--steps N]',
  '                      [--tolerate KINDS] [--first-failure] [--jobs N] [--json]',
  '       npm run sim -- --seed N [--mode M] [--faults LIST] [--steps N] [--trace] [--json]',
].join('\n');

export function helpText(): string {
  const flags = Object.entries(FLAGS).flatMap(([name, f]) => [
    `  --${name}${f.arg ? ` ${f.arg}` : ''}${f.dflt !== null ? `   (default ${f.dflt})` : ''}`,
    ...wrap(f.help, 92).map((l) => `        ${l}`),
  ]);
  return [
    'npm run sim: the deterministic simulator of the toystore.',
    '',
    'It runs the real order replicas, frontend router and catalog in one process, on a simulated',
    'clock, network and disks, injects faults (crashes, pauses, partitions, lost disks, corrupt',
    "records, failing writes, ...) and client traffic, and checks the store's promises after every",
    'step: no acknowledged order lost or applied twice, stock conserved, a definite failure never',
    'commits, a healthy majority keeps taking orders, every replica ends with the same log.',
    '',
    'A seed is a number that decides everything about one run: its configuration, its faults, its',
    'clients and the timing of every message. The same seed replays the same run exactly, so a',
    'failing seed is a complete bug report: replay it with --seed N (add --trace to see it all).',
    '',
    USAGE,
    '',
    'Options:',
    ...flags,
    '',
    'Examples:',
    '  npm run sim                                  100 seeds, every fault class, majority mode',
    '  npm run sim -- --seeds 20000 --jobs 2        the release gate (issue 9)',
    '  npm run sim -- --mode overlap --faults crash,disk-loss --seeds 2000',
    '  npm run sim -- --seeds 2000 --first-failure  how many seeds until a (reverted) fix shows',
    '  npm run sim -- --seed 1234 --trace | less    replay one seed, every event',
    '',
    'Exit codes: 0 every seed held every invariant; 1 at least one seed broke one (each is printed',
    'with the command that replays it); 2 bad flags, or the simulator itself failed.',
  ].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

export function parseCliArgs(argv: string[]): CliArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type }]),
    ) as Record<string, { type: 'string' | 'boolean' }>;
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const str = (k: string) => values[k] as string | undefined;
  const mode = str('mode') ?? 'majority';
  if (!(SIM_MODES as readonly string[]).includes(mode))
    throw new UsageError(`--mode must be one of ${SIM_MODES.join(', ')}`);
  const faults = parseFaults(str('faults'));
  const tolerate = (str('tolerate') ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const common = {
    steps: int('steps', str('steps'), DEFAULT_STEPS, 1),
    mode: mode as SimMode,
    faults,
    tolerate,
    json: !!values.json,
    help: !!values.help,
  };
  if (str('seed') !== undefined) {
    if (str('seeds') !== undefined || str('start-seed') !== undefined)
      throw new UsageError('--seed runs one seed; it does not go with --seeds or --start-seed');
    return {
      ...common,
      seeds: [int('seed', str('seed'), 0)],
      jobs: 1,
      single: true,
      trace: !!values.trace,
      firstFailure: false,
    };
  }
  if (values.trace) throw new UsageError('--trace goes with --seed N (one run)');
  const start = int('start-seed', str('start-seed'), 1);
  const count = int('seeds', str('seeds'), 100, 1);
  return {
    ...common,
    seeds: Array.from({ length: count }, (_, i) => start + i),
    jobs: int('jobs', str('jobs'), 1, 1),
    single: false,
    trace: false,
    firstFailure: !!values['first-failure'],
  };
}

function parseFaults(v: string | undefined): FaultClass[] {
  if (v === undefined || v === 'all') return [...FAULT_CLASSES];
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const f of list)
    if (!(FAULT_CLASSES as readonly string[]).includes(f))
      throw new UsageError(
        `unknown fault class ${JSON.stringify(f)}; known: ${FAULT_CLASSES.join(', ')}`,
      );
  if (!list.length) throw new UsageError('--faults needs at least one class (or all)');
  return list as FaultClass[];
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > 0xffffffff)
    throw new UsageError(`--${name} must be an integer from ${min} to 4294967295`);
  return Number(v);
}

/** The command that replays `seed` with the same settings. */
export function replayCommand(
  seed: number,
  a: Pick<CliArgs, 'steps' | 'mode' | 'faults' | 'tolerate'>,
): string {
  const faults = a.faults.length === FAULT_CLASSES.length ? '' : ` --faults ${a.faults.join(',')}`;
  const tolerate = a.tolerate.length ? ` --tolerate ${a.tolerate.join(',')}` : '';
  return `npm run sim -- --seed ${seed}${a.steps !== DEFAULT_STEPS ? ` --steps ${a.steps}` : ''}${a.mode !== 'majority' ? ` --mode ${a.mode}` : ''}${faults}${tolerate}`;
}
