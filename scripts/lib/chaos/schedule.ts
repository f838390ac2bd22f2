/**
 * The nemesis's plan: which fault, when, for how long, against whom. A pure function of
 * (seed, duration, kinds), so a seed replays the same run; who "the leader" is, is resolved when
 * a step runs.
 */
import type { FaultMode } from '../fault-proxy/proxy.ts';
import { mulberry32 } from '../rng/rng.ts';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'power';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'power'];

/**
 * A replica chosen when the step runs: the leader, or one of the others (`pick` in [0, 1) chooses
 * which).
 */
export type ReplicaTarget = { role: 'leader' } | { role: 'follower'; pick: number };
export type ProcessTarget = ReplicaTarget | { role: 'catalog' } | { role: 'frontend' };

export type PartitionShape =
  /** Leader and one follower; `direction` 'both', or only the requests one way. */
  | { shape: 'leader-follower'; pick: number; direction: 'both' | 'from-leader' | 'to-leader' }
  /** The frontend cannot reach the leader (orders, reads, heartbeats). */
  | { shape: 'frontend-leader' }
  /** The leader cannot reach the other replicas nor they it, nor the frontend it. */
  | { shape: 'isolate-leader' }
  /**
   * The leader is cut from both followers (both ways), but the frontend still reaches it: it
   * keeps taking orders it cannot commit while a healthy majority idles (issue 9 item 7).
   */
  | { shape: 'leader-followers' }
  /** The leader cannot reach the catalog (purchases). */
  | { shape: 'leader-catalog' }
  /** The catalog cannot reach the frontend (cache invalidations). */
  | { shape: 'catalog-frontend' };

export type FaultStep =
  | { kind: 'kill'; atMs: number; holdMs: number; target: ProcessTarget }
  | { kind: 'pause'; atMs: number; holdMs: number; target: ProcessTarget }
  | { kind: 'power'; atMs: number; holdMs: number; target: ReplicaTarget | { role: 'catalog' } }
  | { kind: 'partition'; atMs: number; holdMs: number; links: PartitionShape; mode: FaultMode };

export interface ScheduleTiming {
  /** When the first fault starts, ms: [min, max). */
  firstMs: [number, number];
  holdMs: [number, number];
  gapMs: [number, number];
}
export const DEFAULT_TIMING: ScheduleTiming = {
  firstMs: [1_500, 3_000],
  holdMs: [800, 3_000],
  gapMs: [700, 2_000],
};

export interface OverlapTiming {
  firstMs: [number, number];
  holdMs: [number, number];
  /** Between one step's start and the next one's (shorter than a hold, so steps overlap). */
  startGapMs: [number, number];
  /** Most steps held at once; the next step waits for one to end. */
  maxActive: number;
}
export const OVERLAP_TIMING: OverlapTiming = {
  firstMs: [1_500, 3_000],
  holdMs: [1_000, 5_000],
  startGapMs: [200, 1_500],
  maxActive: 3,
};

const between = (rng: () => number, [lo, hi]: [number, number]) =>
  Math.round(lo + rng() * (hi - lo));
const pick3 = (rng: () => number) => Math.floor(rng() * 1e6) / 1e6;

function replicaTarget(rng: () => number, leaderShare: number): ReplicaTarget {
  return rng() < leaderShare ? { role: 'leader' } : { role: 'follower', pick: pick3(rng) };
}

function processTarget(
  rng: () => number,
  weights: { leader: number; follower: number; catalog: number },
): ProcessTarget {
  const x = rng();
  if (x < weights.leader) return { role: 'leader' };
  if (x < weights.leader + weights.follower) return { role: 'follower', pick: pick3(rng) };
  if (x < weights.leader + weights.follower + weights.catalog) return { role: 'catalog' };
  return { role: 'frontend' };
}

function partitionStep(rng: () => number): { links: PartitionShape; mode: FaultMode } {
  const x = rng();
  const links: PartitionShape =
    x < 0.3
      ? {
          shape: 'leader-follower',
          pick: pick3(rng),
          direction: (['both', 'from-leader', 'to-leader'] as const)[Math.floor(rng() * 3)]!,
        }
      : x < 0.45
        ? { shape: 'frontend-leader' }
        : x < 0.62
          ? { shape: 'isolate-leader' }
          : x < 0.8
            ? { shape: 'leader-followers' }
            : x < 0.92
              ? { shape: 'leader-catalog' }
              : { shape: 'catalog-frontend' };
  const m = rng();
  const mode: FaultMode =
    m < 0.45
      ? { kind: 'blackhole' }
      : m < 0.8
        ? { kind: 'drop' }
        : { kind: 'delay', ms: between(rng, [50, 400]) };
  return { links, mode };
}

/** Kinds in a seeded order, each enabled kind once per round, so a short run still sees each. */
function kindRounds(rng: () => number, kinds: readonly FaultKind[]): () => FaultKind {
  let round: FaultKind[] = [];
  return () => {
    if (round.length === 0) {
      round = [...new Set(kinds)];
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
    }
    return round.shift()!;
  };
}

function makeStep(rng: () => number, kind: FaultKind, atMs: number, holdMs: number): FaultStep {
  if (kind === 'kill')
    return {
      kind,
      atMs,
      holdMs,
      target: processTarget(rng, { leader: 0.4, follower: 0.3, catalog: 0.15 }),
    };
  if (kind === 'pause')
    return {
      kind,
      atMs,
      holdMs,
      target: processTarget(rng, { leader: 0.45, follower: 0.35, catalog: 0.1 }),
    };
  if (kind === 'power')
    return {
      kind,
      atMs,
      holdMs,
      target: rng() < 0.1 ? { role: 'catalog' } : replicaTarget(rng, 0.55),
    };
  return { kind, atMs, holdMs, ...partitionStep(rng) };
}

/**
 * The overlapping plan: steps start every `startGapMs` while at most `maxActive` are held, so
 * several faults are in force at once (a partition while the leader is killed, a follower
 * power-cut during a pause...). Same rules otherwise: a pure function of its arguments, every
 * step ends by `durationMs`, kinds come round once per round. Whether two steps may hit the
 * same process is decided when they run (the nemesis skips a target that is already faulty).
 */
export function makeOverlapSchedule(
  seed: number,
  durationMs: number,
  kinds: readonly FaultKind[],
  timing: OverlapTiming = OVERLAP_TIMING,
): FaultStep[] {
  const steps: FaultStep[] = [];
  if (kinds.length === 0) return steps;
  const rng = mulberry32((seed ^ 0x6f766572) >>> 0); // "over"
  const nextKind = kindRounds(rng, kinds);
  const endsOfActive: number[] = [];
  let t = between(rng, timing.firstMs);
  for (;;) {
    const holdMs = between(rng, timing.holdMs);
    // Drop what has ended; if still full, start when the earliest active step ends.
    for (;;) {
      endsOfActive.sort((a, b) => a - b);
      while (endsOfActive.length && endsOfActive[0]! <= t) endsOfActive.shift();
      if (endsOfActive.length < timing.maxActive) break;
      t = endsOfActive[0]!;
    }
    if (t + holdMs > durationMs) break;
    steps.push(makeStep(rng, nextKind(), t, holdMs));
    endsOfActive.push(t + holdMs);
    t += between(rng, timing.startGapMs);
  }
  return steps;
}

/** Most steps of `schedule` in force at one moment. */
export function maxOverlap(schedule: readonly FaultStep[]): number {
  const edges = schedule
    .flatMap(
      (s) =>
        [
          [s.atMs, 1],
          [s.atMs + s.holdMs, -1],
        ] as const,
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (n += d));
  return most;
}

/**
 * The nemesis's plan: a pure function of its arguments. Steps do not overlap; each starts at
 * `atMs` (from the start of the run), is healed `holdMs` later, and every step ends by
 * `durationMs`. Kinds come round in a seeded random order per round, so each enabled kind shows
 * up once every `kinds.length` steps.
 */
export function makeSchedule(
  seed: number,
  durationMs: number,
  kinds: readonly FaultKind[],
  timing: ScheduleTiming = DEFAULT_TIMING,
): FaultStep[] {
  const steps: FaultStep[] = [];
  if (kinds.length === 0) return steps;
  const rng = mulberry32((seed ^ 0x6e656d65) >>> 0); // "neme"
  const nextKind = kindRounds(rng, kinds);
  let t = between(rng, timing.firstMs);
  for (;;) {
    const holdMs = between(rng, timing.holdMs);
    if (t + holdMs > durationMs) break;
    steps.push(makeStep(rng, nextKind(), t, holdMs));
    t += holdMs + between(rng, timing.gapMs);
  }
  return steps;
}

/** One line per step, e.g. `+3.21s kill leader for 1.20s`. */
export function describeStep(step: FaultStep): string {
  const target = (t: ProcessTarget | ReplicaTarget) =>
    t.role === 'follower' ? 'a follower' : t.role === 'leader' ? 'the leader' : `the ${t.role}`;
  const what =
    step.kind === 'partition'
      ? `partition ${describeShape(step.links)} (${describeMode(step.mode)})`
      : `${step.kind} ${target(step.target)}`;
  return `${fmtSec(step.atMs)} ${what} for ${(step.holdMs / 1000).toFixed(2)}s`;
}

function describeShape(s: PartitionShape): string {
  if (s.shape === 'leader-follower')
    return s.direction === 'both'
      ? 'leader <-> a follower'
      : s.direction === 'from-leader'
        ? 'leader -> a follower'
        : 'a follower -> leader';
  const names = {
    'frontend-leader': 'frontend -> leader',
    'isolate-leader': 'leader <-> everyone',
    'leader-followers': 'leader <-> both followers (frontend still reaches it)',
    'leader-catalog': 'leader -> catalog',
    'catalog-frontend': 'catalog -> frontend',
  } as const;
  return names[s.shape];
}

export function describeMode(m: FaultMode): string {
  return m.kind === 'delay' ? `delay ${m.ms}ms` : m.kind;
}

export const fmtSec = (ms: number) => `+${(ms / 1000).toFixed(2)}s`;
