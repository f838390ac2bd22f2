/** The chaos CLI's flags and the run's options. */
import { intFlag, numberFlag, parseFlags, UsageError } from '../cli/flags.ts';
import {
  FAULT_KINDS,
  type FaultKind,
  type OverlapTiming,
  type ScheduleTiming,
} from './schedule.ts';
import type { TimelineEvent } from './report.ts';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  clients: number;
  faults: readonly FaultKind[];
  /** Several faults in force at once (makeOverlapSchedule) instead of one after another. */
  overlap?: boolean;
  /** Leave the run's directory (data, history, service logs) instead of removing it. */
  keep: boolean;
  /** Where to make the run's temporary directory (default os.tmpdir()). */
  tmpRoot?: string;
  /**
   * A production build (`npm run build`'s output) to run every service from, restarts included,
   * instead of the TypeScript sources under tsx: what a production host runs.
   */
  builtDir?: string;
  /** Every timeline event as it happens (the CLI prints them). */
  onEvent?: (e: TimelineEvent) => void;
  /** Aborting stops the clients and the nemesis, stops every process and skips the checks. */
  signal?: AbortSignal;
  /** Probability a client orders a toy in stock (default 0.5). */
  p?: number;
  /** Pause between one client's iterations, ms (default 10). */
  thinkMs?: number;
  /** Deadline for the three order logs to become identical after healing (default 30 s). */
  convergeTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  restockIntervalMs?: number;
  timing?: ScheduleTiming;
  overlapTiming?: OverlapTiming;
  /**
   * Extra environment for every service (e.g. COMMIT_QUORUM=1 to see the checker catch lost
   * orders).
   */
  env?: Record<string, string>;
}

export const CHAOS_USAGE = `usage: npm run chaos -- [--seed N] [--duration S] [--clients N] [--faults LIST] [--overlap] [--keep] [--json]
  --seed N        schedule and client seed, integer 0-4294967295 (default: random, printed)
  --duration S    seconds of traffic and faults, 1-3600 (default 30)
  --clients N     concurrent retrying clients, 1-100 (default 5)
  --faults LIST   comma-separated: kill,pause,partition,power (default all; kill includes
                  the catalog and the frontend), or none
  --overlap       several faults in force at once (up to 3, seeded), instead of one at a time
  --keep          keep the run's directory (data dir, history.jsonl, services.log)
  --built DIR     run every service from a production build with plain node, restarts
                  included, instead of the sources under tsx (npm run build writes dist/)
  --json          print one JSON report instead of the timeline and summary
  -h, --help      show this help
Exit: 0 no violation, 1 violations (or the store could not start), 2 bad flags, 130 interrupted.`;

export interface ChaosArgs {
  seed: number | undefined;
  durationS: number;
  clients: number;
  faults: FaultKind[];
  overlap: boolean;
  keep: boolean;
  builtDir: string | undefined;
  json: boolean;
  help: boolean;
}

const FLAGS = {
  seed: { type: 'string' },
  duration: { type: 'string' },
  clients: { type: 'string' },
  faults: { type: 'string' },
  overlap: { type: 'boolean' },
  keep: { type: 'boolean' },
  built: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseChaosArgs(argv: readonly string[]): ChaosArgs {
  const values = parseFlags(argv, FLAGS);
  const durationS = numberFlag('duration', values.duration, 30, 1, 3600, 'seconds');
  const faults = faultList(values.faults ?? FAULT_KINDS.join(','));
  return {
    seed: values.seed === undefined ? undefined : intFlag('seed', values.seed, 0, 0, 0xffffffff),
    durationS,
    clients: intFlag('clients', values.clients, 5, 1, 100),
    faults,
    overlap: values.overlap === true,
    keep: values.keep === true,
    builtDir: builtFlag(values.built),
    json: values.json === true,
    help: values.help === true,
  };
}

/** `--built DIR`: a directory name (whether it holds a build is checked when the store starts). */
function builtFlag(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.trim() === '')
    throw new UsageError('--built must name a build directory (npm run build)');
  return raw;
}

/** `--faults`: comma-separated fault kinds, each once, or none. */
function faultList(raw: string): FaultKind[] {
  const trimmed = raw.trim();
  const faults =
    trimmed === 'none' || trimmed === ''
      ? []
      : trimmed
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const f of faults)
    if (!FAULT_KINDS.includes(f as FaultKind))
      throw new UsageError(
        `--faults: unknown fault '${f}' (known: ${FAULT_KINDS.join(', ')}, or none)`,
      );
  return [...new Set(faults as FaultKind[])];
}
