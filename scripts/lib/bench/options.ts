/**
 * The bench's command line, parsed into what to do (pure: no IO, so it is tested directly).
 *
 * Where results go: only the canonical run (full mode, every scenario, the default log level and
 * connections, no profiling) writes docs/bench/ by default, because those files are committed and
 * quoted by the README. Any other run (--quick, --only, --profile, ...) writes to a fresh
 * temporary dir unless --out says where, so a smoke run never overwrites the committed results.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_LEVELS } from '../../../shared/config.ts';
import { DEFAULT_LOG_LEVEL } from './targets.ts';

export const SCENARIOS = [
  'lab',
  'throughput',
  'etcd',
  'clients',
  'failover',
  'catchup',
  'startup',
  'groupcommit',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const DEFAULT_CONNECTIONS = 100;

export interface BenchOptions {
  quick: boolean;
  scenarios: ReadonlySet<Scenario>;
  /** Where to write; null: a fresh temporary dir (see the module comment). */
  out: string | null;
  profileDir: string | null;
  logLevel: string;
  connections: number;
  /** The flags as given, recorded in the results. */
  argv: string[];
}

export type Command =
  | { kind: 'run'; options: BenchOptions }
  | { kind: 'help' }
  | { kind: 'redraw'; file: string }
  | { kind: 'profile-top'; paths: string[] }
  | { kind: 'error'; message: string };

const FLAGS = {
  quick: { type: 'boolean' },
  only: { type: 'string' },
  out: { type: 'string' },
  profile: { type: 'string' },
  'log-level': { type: 'string' },
  connections: { type: 'string' },
  redraw: { type: 'string' },
  'profile-top': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseScenarios(only: string | undefined, quick: boolean): Set<Scenario> | string {
  // groupcommit (two more clusters) only in the full run unless asked for.
  if (only === undefined) return new Set(SCENARIOS.filter((s) => !(quick && s === 'groupcommit')));
  const names = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length || names.length === 0)
    return `--only: unknown scenario ${unknown.join(', ') || '(none given)'}; one or more of ${SCENARIOS.join(', ')}`;
  return new Set(names as Scenario[]);
}

function parseFlags(
  argv: string[],
): ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true }>> | string {
  try {
    return parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util's messages name the flag; keep the first sentence, drop its advice about '--'.
    return (err as Error).message.split('. ')[0]!.replace(/\.$/, '');
  }
}

export function parseCommand(argv: string[], repoRoot: string): Command {
  const parsed = parseFlags(argv);
  if (typeof parsed === 'string') return { kind: 'error', message: parsed };
  const { values: v, positionals } = parsed;
  if (v.help) return { kind: 'help' };
  if (v['profile-top'])
    return positionals.length
      ? { kind: 'profile-top', paths: positionals }
      : { kind: 'error', message: '--profile-top: give one or more .cpuprofile files or dirs' };
  if (positionals.length)
    return { kind: 'error', message: `unexpected argument ${JSON.stringify(positionals[0])}` };
  if (v.redraw !== undefined) return { kind: 'redraw', file: path.resolve(v.redraw) };
  const quick = v.quick ?? false;
  const scenarios = parseScenarios(v.only, quick);
  if (typeof scenarios === 'string') return { kind: 'error', message: scenarios };
  const logLevel = v['log-level'] ?? DEFAULT_LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    return { kind: 'error', message: `--log-level must be one of ${LOG_LEVELS.join(', ')}` };
  const connections = v.connections === undefined ? DEFAULT_CONNECTIONS : Number(v.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 5000)
    return { kind: 'error', message: '--connections must be an integer between 1 and 5000' };
  const canonical =
    !quick &&
    v.only === undefined &&
    v.profile === undefined &&
    logLevel === DEFAULT_LOG_LEVEL &&
    connections === DEFAULT_CONNECTIONS;
  const out =
    v.out !== undefined
      ? path.resolve(v.out)
      : canonical
        ? path.join(repoRoot, 'docs', 'bench')
        : null;
  return {
    kind: 'run',
    options: {
      quick,
      scenarios,
      out,
      profileDir: v.profile ? path.resolve(v.profile) : null,
      logLevel,
      connections,
      argv,
    },
  };
}

export const HELP = `npm run bench [-- flags]: the benchmark suite (about 10 minutes; --quick about 2).

Every scenario starts its own processes (temporary data dirs, ephemeral ports, 127.0.0.1 only) and
stops them by PID; every load is bounded in time. It prints every target with its measured value
and PASS, MISS or "not measured", and writes results.json, results.md and SVG plots. A missed
target never fails the run (a benchmark is not a test); it exits non-zero only on a bad flag (2)
or when it cannot write its results.

  --quick            short runs (CI's smoke run: checks it completes and writes its files)
  --only a,b         some of: ${SCENARIOS.join(', ')}
                     (groupcommit runs in the full run only, unless named)
  --out DIR          where to write. Default: docs/bench/ for the full run of every scenario at the
                     defaults; a fresh temporary dir for any other run (printed)
  --profile DIR      CPU-profile the services during each measured window (profiles in DIR, the
                     hottest functions in the results). Slows the services: for finding out why,
                     not for the numbers
  --log-level L      LOG_LEVEL of the services (default: theirs, ${DEFAULT_LOG_LEVEL}: a line per request)
  --connections N    autocannon connections for the read runs (default ${DEFAULT_CONNECTIONS})
  --redraw FILE      rebuild results.md and the plots beside a results.json; runs nothing
  --profile-top P..  list the hottest functions of saved .cpuprofile files or dirs; runs nothing

The etcd scenario runs a 3-member etcd cluster beside the store (the anchor for durable writes):
it needs an etcd binary on PATH or in ETCD_BIN (Debian: sudo apt-get install etcd-server). Without
one, the store side is still measured and the etcd targets are "not measured".`;
