/** The chaos CLI's flags and the run's options. */
import { parseArgs } from 'node:util';
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
  /** Extra environment for every service (e.g. COMMIT_QUORUM=1 to see the checker catch lost orders). */
  env?: Record<string, string>;
}

export class ChaosUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChaosUsageError';
  }
}

export const CHAOS_USAGE = `usage: npm run chaos -- [--seed N] [--duration S] [--clients N] [--faults LIST] [--overlap] [--keep] [--json]
  --seed N        schedule and client seed, integer 0-4294967295 (default: random, printed)
  --duration S    seconds of traffic and faults, 1-3600 (default 30)
  --clients N     concurrent retrying clients, 1-100 (default 5)
  --faults LIST   comma-separated: kill,pause,partition,power (default all; kill includes
                  the catalog and the frontend), or none
  --overlap       several faults in force at once (up to 3, seeded), instead of one at a time
  --keep          keep the run's directory (data dir, history.jsonl, services.log)
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
  json: boolean;
  help: boolean;
}

export function parseChaosArgs(argv: readonly string[]): ChaosArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        faults: { type: 'string' },
        overlap: { type: 'boolean' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ChaosUsageError(err instanceof Error ? err.message : String(err));
  }
  const int = (flag: string, def: number, min: number, max: number): number => {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max)
      throw new ChaosUsageError(
        `--${flag} must be an integer between ${min} and ${max}, got '${raw}'`,
      );
    return Number(raw);
  };
  const seedRaw = values.seed as string | undefined;
  let durationS = 30;
  const rawDuration = values.duration as string | undefined;
  if (rawDuration !== undefined) {
    durationS = rawDuration.trim() === '' ? NaN : Number(rawDuration);
    if (!Number.isFinite(durationS) || durationS < 1 || durationS > 3600)
      throw new ChaosUsageError(
        `--duration must be a number of seconds between 1 and 3600, got '${rawDuration}'`,
      );
  }
  const rawFaults = ((values.faults as string | undefined) ?? FAULT_KINDS.join(',')).trim();
  const faults =
    rawFaults === 'none' || rawFaults === ''
      ? []
      : rawFaults
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const f of faults)
    if (!FAULT_KINDS.includes(f as FaultKind))
      throw new ChaosUsageError(
        `--faults: unknown fault '${f}' (known: ${FAULT_KINDS.join(', ')}, or none)`,
      );
  return {
    seed: seedRaw === undefined ? undefined : int('seed', 0, 0, 0xffffffff),
    durationS,
    clients: int('clients', 5, 1, 100),
    faults: [...new Set(faults as FaultKind[])],
    overlap: values.overlap === true,
    keep: values.keep === true,
    json: values.json === true,
    help: values.help === true,
  };
}
