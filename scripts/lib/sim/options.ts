/**
 * What a simulation run takes and gives back: the options a caller passes, the configuration a
 * seed draws (`pickConfig`), the fault counts and the result. One module so the CLI, the tests and
 * the phases of a run (simulation.ts) read the same shapes.
 */
import type { NetStats, NetworkConfig } from './network.ts';
import type { DiskConfig } from './disk.ts';
import type { SimViolation } from './checker.ts';
import type { Rng } from '../rng/rng.ts';

export const SIM_MODES = ['majority', 'overlap', 'chaos'] as const;
export type SimMode = (typeof SIM_MODES)[number];

/** The fault classes a run may draw (faults.ts says what each does). */
export const FAULT_CLASSES = [
  'crash',
  'pause',
  'partition',
  'leader-isolation',
  'disk-loss',
  'corruption',
  'write-errors',
  'frontend',
  'storm',
  'catalog',
] as const;
export type FaultClass = (typeof FAULT_CLASSES)[number];

export interface SimOptions {
  seed: number;
  steps?: number;
  mode?: SimMode;
  /** Fault classes to draw from (default: all of FAULT_CLASSES). */
  faults?: readonly FaultClass[];
  /** Keep the whole trace (else only the last few hundred lines). */
  keepTrace?: boolean;
  /** Give up converging after this many steps once healed. */
  maxHealSteps?: number;
  /** Deliberately broken pieces, for the tests that prove the checker can fail. */
  broken?: {
    /** Log writes resolve before they are durable and durableIndex claims everything. */
    lyingLogDisk?: boolean;
    /** Meta saves resolve before they are durable. */
    lyingMetaDisk?: boolean;
    /**
     * Every promise request is answered "granted" with an empty log head, whatever the replica did.
     */
    lyingPromises?: boolean;
    /** Leaders release the catalog purchases of committed orders too. */
    releasingAccounts?: boolean;
    /**
     * Frontends answer a 504 (outcome unknown) to their clients as a 503 (certainly did not
     * happen).
     */
    unknownAsFailure?: boolean;
    /**
     * Frontends elect one leader and never another (their lead requests are dropped after the
     * first).
     */
    frontendElectsOnce?: boolean;
    /** Frontends answer 404 for every read of an odd order number. */
    lyingReads?: boolean;
    /**
     * A failed log write is swallowed (the append never completes) instead of stopping the process.
     */
    logErrorsKeepGoing?: boolean;
    /** Crashes wipe the log without the disk being marked damaged (a loss no fault owns). */
    silentDiskLoss?: boolean;
  };
  /**
   * Violation kinds that are counted but neither fail the run nor stop it: to look past a known
   * bug and see what else a fault class finds (the CLI's --tolerate).
   */
  tolerate?: readonly string[];
  /**
   * Checker switch (the negative tests turn the durability check off to see the end-to-end checks
   * fire).
   */
  checkDurableQuorum?: boolean;
}

export interface SimConfig {
  heartbeatIntervalMs: number;
  maxBatch: number;
  net: NetworkConfig;
  disk: DiskConfig;
  faultRate: number;
  orderRate: number;
  directShare: number;
  /**
   * Of the orders through a frontend, the share whose client sends an Idempotency-Key (and retries
   * with it).
   */
  keyedShare: number;
  readRate: number;
  /**
   * Stock each toy starts with (Tux: plenty; Lego and Whale run out, are refused and restocked).
   */
  stock: Record<(typeof TOYS)[number], number>;
  restockIntervalMs: number;
  /** Frontends electing and routing at once (two: they may choose the same epoch and candidate). */
  frontends: number;
}

export interface FaultStats {
  crashes: number;
  leaderCrashes: number;
  pauses: number;
  leaderPauses: number;
  partitions: Record<string, number>;
  leaderPartitions: number;
  /** Leader cut from its followers, by shape. */
  leaderIsolations: Record<string, number>;
  /** Disks damaged while their replica was down, by kind (storage.ts). */
  diskLosses: Record<string, number>;
  corruptions: Record<string, number>;
  /** Windows in which log appends or meta saves of one replica failed. */
  writeErrors: { log: number; meta: number };
  /** Replicas that exited after a failed durable write (and were restarted). */
  failStops: number;
  frontendRestarts: number;
  frontendPauses: number;
  storms: number;
  catalogCrashes: number;
  maxImpairedAtOnce: number;
}

export interface SimStats {
  faults: FaultStats;
  net: NetStats;
  epochs: number;
  ordersAcked: number;
  ordersRefused: number;
  /** Orders whose client got a definite failure (503). */
  ordersFailed: number;
  ordersUnknown: number;
  reads: number;
  finalLogLength: number;
  healSteps: number;
  /** Unhandled errors a service logged (each answered with a 500). */
  serverErrors: number;
  /** What the stores of brief decisions 2-4 would have detected at replica starts, by kind. */
  detections: Record<string, number>;
  /** Violations of tolerated kinds, by kind. */
  tolerated: Record<string, number>;
}

export interface SimResult {
  seed: number;
  mode: SimMode;
  steps: number;
  ok: boolean;
  violations: SimViolation[];
  /** Step of the first violation (steps + n for the n-th healing step), or null. */
  failedStep: number | null;
  traceHash: string;
  traceTail: string[];
  trace: string[] | null;
  simMs: number;
  config: SimConfig;
  stats: SimStats;
}

export const REPLICAS: readonly number[] = [1, 2, 3];
export const FRONTENDS: readonly number[] = [10, 13];
export const CLIENT = 11;
export const CATALOG = 12;
export const QUORUM = 2;
export const TOYS = ['Tux', 'Lego', 'Whale'] as const;

/**
 * Answers after which an order's outcome is unknown (or it certainly did not happen): a client
 * retries them with the same key. request_in_progress (409) means the same key is still running
 * at the leader.
 */
export const RETRYABLE = new Set([
  'not_leader',
  'stale_epoch',
  'outcome_unknown',
  'no_quorum',
  'no_leader',
  'upstream_unavailable',
  'internal',
  'request_in_progress',
]);

export function pickConfig(rng: Rng): SimConfig {
  const maxDelayMs = rng.pick([2, 5, 15]);
  const config: SimConfig = {
    heartbeatIntervalMs: rng.pick([20, 50, 100, 200]),
    maxBatch: rng.pick([1, 3, 20, 2_000]),
    net: {
      lossRate: rng.pick([0, 0, 0.01, 0.03, 0.08]),
      dupRate: rng.pick([0, 0.02, 0.05]),
      minDelayMs: 1,
      maxDelayMs,
      slowRate: rng.pick([0, 0.02, 0.08]),
      slowMaxMs: rng.pick([50, 300, 1_200]),
    },
    disk: {
      fsyncMinMs: rng.pick([0, 1]),
      fsyncMaxMs: rng.pick([1, 4, 12]),
      slowRate: rng.pick([0, 0.03]),
      slowMaxMs: 150,
      tornRate: 0.5,
    },
    faultRate: rng.pick([0.02, 0.05, 0.1]),
    orderRate: rng.pick([0.1, 0.3, 0.6]),
    directShare: rng.pick([0.3, 0.6]),
    keyedShare: 0,
    readRate: rng.pick([0.05, 0.2]),
    stock: { Tux: 1_000_000, Lego: 0, Whale: rng.int(3, 40) },
    restockIntervalMs: 0,
    frontends: rng.pick([1, 1, 2]),
  };
  config.stock.Lego = rng.int(30, 200);
  config.restockIntervalMs = rng.pick([500, 2_000, 5_000]);
  config.keyedShare = rng.pick([0.5, 0.8]);
  return config;
}
