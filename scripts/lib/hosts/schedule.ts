/**
 * The multi-host run's fault plan: a pure function of a seed, so a run can be repeated.
 *
 * Faults happen one at a time: each starts at `atMs` (from the start of the fault phase), is
 * healed `holdMs` later, and the next starts after a gap long enough for the cluster to settle
 * (so each fault's cost in epochs and leader changes is its own). Kinds come round in a seeded
 * order per round, so every enabled kind shows up once per round. Targets are roles ("the
 * leader", "a follower", "a frontend"), resolved when the step runs.
 *
 * Kinds:
 * - `kill-leader`, `kill-follower`: SIGKILL a replica, restart it when healed;
 * - `kill-frontend`: SIGKILL one frontend under load, restart it when healed;
 * - `partition-leader`: every packet between the leader and all other hosts dropped (nftables);
 * - `partition-frontend`: one frontend cut from the leader only: it sees the followers but not
 *   the leader, the shape that makes two frontends disagree;
 * - `loss`: random packet loss between the leader and one other host (a follower or a frontend);
 * - `delay`: the links into the leader slowed through the fault proxies.
 */
import { mulberry32 } from '../rng/rng.ts';

export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'kill-frontend',
  'partition-leader',
  'partition-frontend',
  'loss',
  'delay',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** Faults that touch an order replica (what "epochs per fault" is about). */
export const REPLICA_FAULTS: ReadonlySet<FaultKind> = new Set([
  'kill-leader',
  'kill-follower',
  'partition-leader',
  'partition-frontend',
  'loss',
  'delay',
]);

export interface FaultStep {
  kind: FaultKind;
  atMs: number;
  holdMs: number;
  /**
   * A uniform draw in [0, 1) to pick among candidates when the step runs (which follower, frontend,
   * peer).
   */
  pick: number;
  /** `loss`: percent of packets dropped; `delay`: ms added per chunk. */
  amount: number;
}

export interface ScheduleTiming {
  firstMs: number;
  holdMs: readonly [number, number];
  gapMs: readonly [number, number];
}

/**
 * Holds long enough for a frontend to notice a lost leader and elect (a probe times out after
 * 4 heartbeats, 800 ms, then the election itself), gaps long enough to settle.
 */
export const DEFAULT_TIMING: ScheduleTiming = {
  firstMs: 1_500,
  holdMs: [2_500, 4_000],
  gapMs: [2_500, 3_500],
};
export const QUICK_TIMING: ScheduleTiming = {
  firstMs: 1_000,
  holdMs: [2_200, 2_600],
  gapMs: [1_800, 2_200],
};

const between = (rng: () => number, [lo, hi]: readonly [number, number]) =>
  Math.round(lo + rng() * (hi - lo));

function amountFor(kind: FaultKind, rng: () => number): number {
  if (kind === 'loss') return between(rng, [20, 50]);
  if (kind === 'delay') return between(rng, [50, 250]);
  return 0;
}

/** Every step ends by `durationMs`; `maxSteps` caps the count (the quick run takes one round). */
export function makeSchedule(
  seed: number,
  durationMs: number,
  kinds: readonly FaultKind[],
  timing: ScheduleTiming = DEFAULT_TIMING,
  maxSteps = Infinity,
): FaultStep[] {
  const steps: FaultStep[] = [];
  if (kinds.length === 0) return steps;
  const rng = mulberry32((seed ^ 0x686f7374) >>> 0); // "host"
  let round: FaultKind[] = [];
  let t = timing.firstMs;
  while (steps.length < maxSteps) {
    const holdMs = between(rng, timing.holdMs);
    if (t + holdMs > durationMs) break;
    if (round.length === 0) {
      round = [...new Set(kinds)];
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
    }
    const kind = round.shift()!;
    steps.push({ kind, atMs: t, holdMs, pick: rng(), amount: amountFor(kind, rng) });
    t += holdMs + between(rng, timing.gapMs);
  }
  return steps;
}

/** How long a schedule of one round of `kinds` takes with `timing` at most (for bounding a run). */
export function roundDurationMs(kinds: readonly FaultKind[], timing: ScheduleTiming): number {
  return timing.firstMs + kinds.length * (timing.holdMs[1] + timing.gapMs[1]);
}

export function describeStep(s: FaultStep): string {
  const extra = s.kind === 'loss' ? ` ${s.amount}%` : s.kind === 'delay' ? ` ${s.amount}ms` : '';
  return `+${(s.atMs / 1000).toFixed(2)}s ${s.kind}${extra} for ${(s.holdMs / 1000).toFixed(2)}s`;
}

export function parseKinds(list: string): FaultKind[] {
  const kinds = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (bad.length)
    throw new Error(`unknown fault kind(s) ${bad.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}
