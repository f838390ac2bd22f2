/**
 * What the multi-host run measures, as pure functions over what it recorded: samples of every
 * frontend's and replica's view taken every ~100 ms, every client attempt that failed, and the
 * faults with their times. Kept apart from the run so the arithmetic is tested on made-up data.
 *
 * - Duelling: per fault, how many epochs it cost (the highest promised epoch among replicas, just
 *   before the fault and at the end of its window), how many times leadership moved, and whether
 *   a restarted replica took the lead back from a working leader; over the run, how often the two
 *   frontends named different leaders.
 * - Client-visible errors per fault window: HTTP attempts through the load balancer that failed
 *   (a 5xx or a network error, before any retry of the client's), and operations that ended
 *   failed or unknown after the client's retries.
 */
import type { HistoryEvent } from '../../../shared/contracts.ts';
import type { FaultKind } from './schedule.ts';

export interface LeaderView {
  leaderId: number | null;
  epoch: number | null;
}
export interface ReplicaView {
  id: number;
  role: string;
  promisedEpoch: number;
  leaderEpoch: number | null;
}
export interface Sample {
  atMs: number;
  /** Per frontend: its view, or null when it did not answer. */
  frontends: Record<string, LeaderView | null>;
  /** Replicas that answered. */
  replicas: ReplicaView[];
}
export interface AttemptError {
  atMs: number;
  method: string;
  what: string;
}
export interface FaultRecord {
  kind: FaultKind;
  target: string;
  appliedAtMs: number;
  healedAtMs: number | null;
  detail: string;
}

export interface FaultMeasure {
  kind: FaultKind;
  target: string;
  detail: string;
  atMs: number;
  windowMs: number;
  epochs: number;
  leaderChanges: number;
  /**
   * From the fault to the first sample showing another leader (or epoch), or null if it kept its
   * leader.
   */
  leaderMovedAfterMs: number | null;
  /** A restarted replica took the lead from a leader that was still leading. */
  tookLeadBack: boolean;
  attemptErrors: number;
  /** What the failed attempts were (`503 no_leader`, `reset`, ...) and how many of each. */
  errorKinds: Record<string, number>;
  /**
   * Operations that ended unknown, or failed without a definite refusal (no answer or a 5xx), after
   * the client's retries.
   */
  opFailures: number;
}

/** The replica leading the newest epoch in a sample, or null. */
export function clusterLeader(s: Sample): { id: number; epoch: number } | null {
  let best: { id: number; epoch: number } | null = null;
  for (const r of s.replicas)
    if (r.role === 'leader' && r.leaderEpoch !== null && (!best || r.leaderEpoch > best.epoch))
      best = { id: r.id, epoch: r.leaderEpoch };
  return best;
}

const maxPromised = (s: Sample | undefined) =>
  Math.max(0, ...(s?.replicas.map((r) => r.promisedEpoch) ?? []));

/** Leaders in order, one entry per change of leading replica (gaps without a leader skipped). */
export function leaderSequence(
  samples: readonly Sample[],
): Array<{ atMs: number; id: number; epoch: number }> {
  const seq: Array<{ atMs: number; id: number; epoch: number }> = [];
  for (const s of samples) {
    const l = clusterLeader(s);
    if (!l) continue;
    const last = seq[seq.length - 1];
    if (!last || last.id !== l.id) seq.push({ atMs: s.atMs, ...l });
    else if (l.epoch !== last.epoch) last.epoch = l.epoch;
  }
  return seq;
}

/**
 * The first time in [from, to) a sample shows a leader other than `was` (id or epoch), minus
 * `from`.
 */
function movedAfter(
  samples: readonly Sample[],
  from: number,
  to: number,
  was: { id: number; epoch: number } | null,
): number | null {
  for (const s of samples) {
    if (s.atMs < from || s.atMs >= to) continue;
    const l = clusterLeader(s);
    if (l && (l.id !== was?.id || l.epoch !== was?.epoch)) return s.atMs - from;
  }
  return null;
}

function lastBefore(samples: readonly Sample[], t: number): Sample | undefined {
  let found: Sample | undefined;
  for (const s of samples) {
    if (s.atMs >= t) break;
    found = s;
  }
  return found;
}

export function measureFaults(
  faults: readonly FaultRecord[],
  samples: readonly Sample[],
  errors: readonly AttemptError[],
  history: readonly HistoryEvent[],
  endMs: number,
): FaultMeasure[] {
  const leaders = leaderSequence(samples);
  // A 4xx (sold out, 404) is an answer, not an error the store made the client see.
  const failedOps = history
    .filter(
      (e) =>
        e.type === 'info' ||
        (e.type === 'fail' && (e.response === null || e.response.status >= 500)),
    )
    .map((e) => e.timeMs);
  return faults.map((f, i) => {
    const end = faults[i + 1]?.appliedAtMs ?? endMs;
    const inWindow = (t: number) => t >= f.appliedAtMs && t < end;
    const before = lastBefore(samples, f.appliedAtMs);
    const atEnd = lastBefore(samples, end);
    const changes = leaders.filter((l) => inWindow(l.atMs));
    const prior = leaders.filter((l) => l.atMs < f.appliedAtMs).pop();
    const lastBeforeChange = (t: number) => leaders.filter((l) => l.atMs < t).pop();
    // Took the lead back: after its restart, the restarted replica became leader in place of
    // another replica that was leading at the restart.
    const restarted =
      f.kind === 'kill-leader' || f.kind === 'kill-follower'
        ? Number(f.target.replace('order-', ''))
        : null;
    const tookLeadBack =
      restarted !== null &&
      f.healedAtMs !== null &&
      changes.some(
        (l) =>
          l.atMs >= f.healedAtMs! &&
          l.id === restarted &&
          (lastBeforeChange(l.atMs)?.id ?? restarted) !== restarted,
      );
    return {
      kind: f.kind,
      target: f.target,
      detail: f.detail,
      atMs: f.appliedAtMs,
      windowMs: end - f.appliedAtMs,
      epochs: Math.max(0, maxPromised(atEnd) - maxPromised(before)),
      leaderChanges: changes.filter((l, j) => (j === 0 ? prior?.id : changes[j - 1]!.id) !== l.id)
        .length,
      // Against the leader as it was just before the fault (the sequence's entries carry a leader's
      // latest epoch).
      leaderMovedAfterMs: movedAfter(
        samples,
        f.appliedAtMs,
        end,
        before ? clusterLeader(before) : null,
      ),
      tookLeadBack,
      attemptErrors: errors.filter((e) => inWindow(e.atMs)).length,
      errorKinds: countBy(
        errors.filter((e) => inWindow(e.atMs)).map((e) => `${e.method} ${e.what}`),
      ),
      opFailures: failedOps.filter(inWindow).length,
    };
  });
}

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

export interface Agreement {
  /** Samples in which both frontends answered and each named a leader. */
  samples: number;
  /** Of those, samples in which they named different leaders (or epochs). */
  disagreements: number;
  /** Samples in which one frontend named a leader and the other none. */
  oneWithout: number;
  /** The longest run of consecutive disagreeing samples, in ms. */
  longestDisagreementMs: number;
}

export function frontendAgreement(
  samples: readonly Sample[],
  frontends: readonly string[],
): Agreement {
  let n = 0;
  let differ = 0;
  let oneWithout = 0;
  let streakStart: number | null = null;
  let longest = 0;
  for (const s of samples) {
    const views = frontends.map((f) => s.frontends[f] ?? null);
    if (views.some((v) => v === null)) continue;
    const named = views.filter((v) => v!.leaderId !== null);
    let disagree = false;
    if (named.length === views.length) {
      n++;
      disagree = new Set(named.map((v) => `${v!.leaderId}@${v!.epoch}`)).size > 1;
      if (disagree) differ++;
    } else if (named.length > 0) oneWithout++;
    if (disagree) streakStart ??= s.atMs;
    else if (streakStart !== null) {
      longest = Math.max(longest, s.atMs - streakStart);
      streakStart = null;
    }
  }
  if (streakStart !== null && samples.length)
    longest = Math.max(longest, samples[samples.length - 1]!.atMs - streakStart);
  return { samples: n, disagreements: differ, oneWithout, longestDisagreementMs: longest };
}

export interface DuelSummary {
  /**
   * Epochs the first election of the run used (the highest promised epoch once a leader first
   * shows), and its leader.
   */
  startup: { epochs: number; leaderId: number | null } | null;
  replicaFaults: number;
  epochs: number;
  epochsPerReplicaFault: number | null;
  leaderChanges: number;
  tookLeadBack: number;
  agreement: Agreement;
}

/** The first election: the highest promised epoch at the first sample that shows a leader. */
export function startupElection(samples: readonly Sample[]): DuelSummary['startup'] {
  const first = samples.find((s) => clusterLeader(s) !== null);
  return first ? { epochs: maxPromised(first), leaderId: clusterLeader(first)!.id } : null;
}

export function duelSummary(
  measures: readonly FaultMeasure[],
  replicaKinds: ReadonlySet<FaultKind>,
  agreement: Agreement,
  startup: DuelSummary['startup'] = null,
): DuelSummary {
  const rf = measures.filter((m) => replicaKinds.has(m.kind));
  const epochs = rf.reduce((s, m) => s + m.epochs, 0);
  return {
    startup,
    replicaFaults: rf.length,
    epochs,
    epochsPerReplicaFault: rf.length ? Math.round((epochs / rf.length) * 100) / 100 : null,
    leaderChanges: measures.reduce((s, m) => s + m.leaderChanges, 0),
    tookLeadBack: measures.filter((m) => m.tookLeadBack).length,
    agreement,
  };
}
