/**
 * What every phase of the bench run is given: the plan (how long and how often each scenario
 * measures, quick or full) and the suite's context (options, results, the profiler, and the
 * plumbing that keeps one failed measurement from stopping the rest). The phases live in files of
 * their own (anchors.ts, pairs.ts, own-clusters.ts, suite.ts) and take a `SuiteContext`, so none
 * of them needs the Suite class itself.
 */
import type { Cluster, StartClusterOptions } from '../cluster/index.ts';
import type { BenchOptions, Scenario } from './options.ts';
import type { ProductionBuild } from './own-clusters.ts';
import type { Profiler } from './profiler.ts';
import type { MeasuredResults } from './results.ts';
import type { DurablePlan } from './scenarios/durable.ts';
import type { Say } from './util.ts';

export interface Plan {
  labMs: number;
  cannonS: number;
  warmupS: number;
  rounds: number;
  manyS: number;
  kills: number;
  fsyncMs: number;
  durable: DurablePlan;
}

export const PLANS: Record<'quick' | 'full', Plan> = {
  quick: {
    labMs: 700,
    cannonS: 2,
    warmupS: 0.5,
    rounds: 1,
    manyS: 8,
    kills: 2,
    fsyncMs: 1_000,
    durable: { pairs: 1, concurrentClients: 32, concurrentS: 2, singleS: 1, warmupS: 0.3 },
  },
  full: {
    labMs: 10_000,
    cannonS: 10,
    warmupS: 2,
    rounds: 3,
    manyS: 30,
    kills: 10,
    fsyncMs: 2_000,
    durable: { pairs: 3, concurrentClients: 32, concurrentS: 6, singleS: 3, warmupS: 1 },
  },
};

/** Connections of the many-clients run. */
export const MANY = 1000;
/** Orders placed before the order-read runs, so each read finds one. */
export const ORDERS_TO_READ = 200;

/** A cluster's start options before its data dir is chosen. */
export type ClusterOptions = Omit<StartClusterOptions, 'dataDir'> & { env: Record<string, string> };

export interface SuiteContext {
  readonly o: BenchOptions;
  readonly plan: Plan;
  readonly results: MeasuredResults;
  readonly profiler: Profiler;
  readonly say: Say;
  /** True when any of these scenarios was asked for. */
  has(...names: Scenario[]): boolean;
  /** Runs one measurement; a failure is recorded with its error and the run goes on. */
  attempt(scenario: string, fn: () => Promise<void>): Promise<void>;
  /** A temporary dir, removed when the run ends or is interrupted. */
  newDir(label: string): Promise<string>;
  /** startCluster, tracked so an interrupted run stops it. */
  readonly start: (opts: StartClusterOptions) => Promise<Cluster>;
  /**
   * The run's cluster environment with `env` on top (and the profiler's, from the start when
   * asked).
   */
  clusterOptions(env?: Record<string, string>, fromStart?: boolean): ClusterOptions;
  /**
   * The production build the scenarios run (`npm run build` into a temporary dir): compiled on
   * the first call, the same one after; removed when the run ends.
   */
  productionBuild(): Promise<ProductionBuild>;
}
