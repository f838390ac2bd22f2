/**
 * The nemesis's plan: which fault, when, for how long, against whom. A pure function of
 * (seed, duration, kinds), so a seed replays the same run; who "the leader" is, is resolved when
 * a step runs.
 */
import type { FaultMode } from '../fault-proxy/proxy.ts';
import { mulberry32 } from '../client/rng.ts';

export type FaultKind = 'kill' | 'pause' | 'partition' | 'power';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'power'];

/** A replica chosen when the step runs: the leader, or one of the others (`pick` in [0, 1) chooses which). */
export type ReplicaTarget = { role: 'leader' } | { role: 'follower'; pick: number };
export type ProcessTarget = ReplicaTarget | { role: 'catalog' } | { role: 'frontend' };

export type PartitionShape =
  /** Leader and one follower; `direction` 'both', or only the requests one way. */
  | { shape: 'leader-follower'; pick: number; direction: 'both' | 'from-leader' | 'to-leader' }
  /** The frontend cannot reach the leader (orders, reads, heartbeats). */
  | { shape: 'frontend-leader' }
  /** The leader cannot reach the other replicas nor they it, nor the frontend it. */
  | { shape: 'isolate-leader' }
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
export const DEFAULT_TIMING: ScheduleTiming = { firstMs: [1_500, 3_000], holdMs: [800, 3_000], gapMs: [700, 2_000] };

const between = (rng: () => number, [lo, hi]: [number, number]) => Math.round(lo + rng() * (hi - lo));
const pick3 = (rng: () => number) => Math.floor(rng() * 1e6) / 1e6;

function replicaTarget(rng: () => number, leaderShare: number): ReplicaTarget {
  return rng() < leaderShare ? { role: 'leader' } : { role: 'follower', pick: pick3(rng) };
}

function processTarget(rng: () => number, weights: { leader: number; follower: number; catalog: number }): ProcessTarget {
  const x = rng();
  if (x < weights.leader) return { role: 'leader' };
  if (x < weights.leader + weights.follower) return { role: 'follower', pick: pick3(rng) };
  if (x < weights.leader + weights.follower + weights.catalog) return { role: 'catalog' };
  return { role: 'frontend' };
}

function partitionStep(rng: () => number): { links: PartitionShape; mode: FaultMode } {
  const x = rng();
  const links: PartitionShape =
    x < 0.35 ? { shape: 'leader-follower', pick: pick3(rng), direction: (['both', 'from-leader', 'to-leader'] as const)[Math.floor(rng() * 3)]! }
    : x < 0.55 ? { shape: 'frontend-leader' }
    : x < 0.8 ? { shape: 'isolate-leader' }
    : x < 0.92 ? { shape: 'leader-catalog' }
    : { shape: 'catalog-frontend' };
  const m = rng();
  const mode: FaultMode = m < 0.45 ? { kind: 'blackhole' } : m < 0.8 ? { kind: 'drop' } : { kind: 'delay', ms: between(rng, [50, 400]) };
  return { links, mode };
}

/**
 * The nemesis's plan: a pure function of its arguments. Steps do not overlap; each starts at
 * `atMs` (from the start of the run), is healed `holdMs` later, and every step ends by
 * `durationMs`. Kinds come round in a seeded random order per round, so each enabled kind shows
 * up once every `kinds.length` steps.
 */
export function makeSchedule(seed: number, durationMs: number, kinds: readonly FaultKind[], timing: ScheduleTiming = DEFAULT_TIMING): FaultStep[] {
  const steps: FaultStep[] = [];
  if (kinds.length === 0) return steps;
  const rng = mulberry32((seed ^ 0x6e656d65) >>> 0); // "neme"
  let round: FaultKind[] = [];
  let t = between(rng, timing.firstMs);
  for (;;) {
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
    const atMs = t;
    if (kind === 'kill') steps.push({ kind, atMs, holdMs, target: processTarget(rng, { leader: 0.4, follower: 0.3, catalog: 0.15 }) });
    else if (kind === 'pause') steps.push({ kind, atMs, holdMs, target: processTarget(rng, { leader: 0.45, follower: 0.35, catalog: 0.1 }) });
    else if (kind === 'power') steps.push({ kind, atMs, holdMs, target: rng() < 0.1 ? { role: 'catalog' } : replicaTarget(rng, 0.55) });
    else steps.push({ kind, atMs, holdMs, ...partitionStep(rng) });
    t = atMs + holdMs + between(rng, timing.gapMs);
  }
  return steps;
}

/** One line per step, e.g. `+3.21s kill leader for 1.20s`. */
export function describeStep(step: FaultStep): string {
  const target = (t: ProcessTarget | ReplicaTarget) => (t.role === 'follower' ? 'a follower' : t.role === 'leader' ? 'the leader' : `the ${t.role}`);
  const what =
    step.kind === 'partition' ? `partition ${describeShape(step.links)} (${describeMode(step.mode)})` : `${step.kind} ${target(step.target)}`;
  return `${fmtSec(step.atMs)} ${what} for ${(step.holdMs / 1000).toFixed(2)}s`;
}

function describeShape(s: PartitionShape): string {
  if (s.shape === 'leader-follower') return s.direction === 'both' ? 'leader <-> a follower' : s.direction === 'from-leader' ? 'leader -> a follower' : 'a follower -> leader';
  return { 'frontend-leader': 'frontend -> leader', 'isolate-leader': 'leader <-> everyone', 'leader-catalog': 'leader -> catalog', 'catalog-frontend': 'catalog -> frontend' }[s.shape];
}

export function describeMode(m: FaultMode): string {
  return m.kind === 'delay' ? `delay ${m.ms}ms` : m.kind;
}

export const fmtSec = (ms: number) => `+${(ms / 1000).toFixed(2)}s`;
