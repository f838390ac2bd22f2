/**
 * The shape of a bench run's results: what results.json holds, and what the targets, the
 * Markdown report and the plots are computed from (all pure functions of it, so a report can be
 * redrawn from a file: `npm run bench -- --redraw results.json`).
 */
import type { ProfileEntry } from './profiler.ts';
import type { CommitInfo, MachineInfo } from './provenance.ts';
import type { Rss } from './procfs.ts';
import type { CannonResult } from './scenarios/cannon.ts';
import type { CatchUpRow } from './scenarios/catchup.ts';
import type { DurableResults } from './scenarios/durable.ts';
import type { FailoverResult } from './scenarios/failover.ts';
import type { GroupCommitResult } from './scenarios/group-commit.ts';
import type { LabRow } from './scenarios/lab.ts';
import type { StartupResult } from './scenarios/startup.ts';
import type { Target } from './targets.ts';

/** Bumped when the shape changes in a way the report cannot read across. */
export const RESULTS_FORMAT = 2;

/** The autocannon comparisons of the store with a bare ceiling; `key` names each once. */
export type PairKey = 'cached' | 'cached-warn' | 'uncached' | 'order-reads' | 'orders-chain';

export interface ThroughputPair {
  key: PairKey;
  /** What was measured, as the report shows it. */
  name: string;
  ceilingName: string;
  /** LOG_LEVEL the store's services ran at. */
  logLevel: string;
  /** Median over rounds of the store's 2xx/s and the ceiling's. */
  store: number;
  ceiling: number;
  ratio: number;
  rounds: Array<{ store: CannonResult; ceiling: CannonResult }>;
}

export interface BenchResults {
  format: typeof RESULTS_FORMAT;
  generatedAt: string;
  mode: 'quick' | 'full';
  /** The command line's flags, as given (so a reader knows what was left out). */
  argv: string[];
  commit: CommitInfo;
  machine: MachineInfo;
  /** Environment every cluster got beyond the launcher's topology. */
  clusterEnv: Record<string, string>;
  durationS: number;
  disk?: { dir: string; syncsPerSecond: number; meanMs: number };
  lab?: LabRow[];
  throughput?: ThroughputPair[];
  durable?: DurableResults;
  manyClients?: { connections: number; result: CannonResult };
  memory?: { idle: Record<string, Rss>; underLoad: Record<string, Rss> };
  failover?: FailoverResult;
  catchUp?: CatchUpRow[];
  startup?: StartupResult[];
  groupCommit?: GroupCommitResult;
  profiles?: ProfileEntry[];
  targets: Target[];
  /** Scenarios that could not run, with why. */
  failures: Array<{ scenario: string; error: string }>;
}

export type MeasuredResults = Omit<BenchResults, 'targets'>;
