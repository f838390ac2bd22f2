/**
 * The replication and election decisions as pure functions: state and a message in, a decision
 * out. No disk, no network, no clock; the driver (replica.ts) carries decisions out. Keeping the
 * rules here is what lets tests and the simulator check them across thousands of schedules.
 *
 * The rules (Viewstamped Replication's view change with Raft's log matching):
 * - A replica promises an epoch to at most one candidate and never goes back to an older epoch.
 * - A candidate leads epoch E once a quorum (itself included) promised E; it adopts the most
 *   up-to-date log among them, compared by (logEpoch, lastIndex). logEpoch is the epoch whose
 *   leader's whole start-of-epoch log a replica holds, so a replica with logEpoch E holds a prefix
 *   of the E leader's log that contains everything committed before E.
 * - A follower appends only records that continue its log at (prevIndex, prevCrc); a conflicting
 *   suffix is cut, which can only hold records that were never committed (a committed record is
 *   in every later leader's log). Cutting at or below the commit index it knows is a bug: throw.
 * - A follower claims logEpoch E only when its log equals a prefix of the E leader's log that
 *   covers the leader's start-of-epoch log; only such acknowledgements count toward commit.
 */
import type { AppendRequest, LogHead, OrderEntry } from '../shared/contracts.ts';
import { verifyChain } from './log.ts';
import type { Meta } from './meta.ts';

export function quorumSize(replicaCount: number): number {
  return Math.floor(replicaCount / 2) + 1;
}

// ------------------------------------------------------------------------------- promises

export type PromiseDecision =
  | { grant: true; meta: Meta; changed: boolean }
  | { grant: false; promisedEpoch: number };

export function decidePromise(meta: Meta, epoch: number, candidateId: number): PromiseDecision {
  if (epoch > meta.promisedEpoch)
    return {
      grant: true,
      meta: { ...meta, promisedEpoch: epoch, votedFor: candidateId },
      changed: true,
    };
  if (epoch === meta.promisedEpoch && meta.votedFor === candidateId)
    return { grant: true, meta, changed: false };
  return { grant: false, promisedEpoch: meta.promisedEpoch };
}

/** Positive if `a` is more up to date than `b`. */
export function compareHeads(a: LogHead, b: LogHead): number {
  return a.logEpoch !== b.logEpoch ? a.logEpoch - b.logEpoch : a.lastIndex - b.lastIndex;
}

/** The replica whose log a new leader must adopt; ties keep the earlier (the candidate first). */
export function mostUpToDate<T extends { head: LogHead }>(candidates: readonly T[]): T {
  let best = candidates[0]!;
  for (const c of candidates.slice(1)) if (compareHeads(c.head, best.head) > 0) best = c;
  return best;
}

// ------------------------------------------------------------------------------- appends

/** The part of a log the decisions read. */
export interface LogView {
  lastIndex(): number;
  crcAt(index: number): number | undefined;
  entryAt(index: number): Pick<OrderEntry, 'epoch'> | undefined;
}

export type AppendDecision =
  | { kind: 'stale'; promisedEpoch: number }
  | { kind: 'invalid'; why: string }
  | { kind: 'mismatch'; lastIndex: number; meta: Meta }
  | {
      kind: 'accept';
      /** Cut the log from this index before appending (null: nothing to cut). */
      truncateFrom: number | null;
      append: OrderEntry[];
      matchIndex: number;
      /** Meta to persist after the log change is durable (promise and possibly logEpoch). */
      meta: Meta;
      knownCommitIndex: number;
    };

export class CommittedTruncationError extends Error {
  constructor(index: number, commitIndex: number) {
    super(
      `refusing to cut the log at ${index}: records up to ${commitIndex} are known committed (safety bug)`,
    );
    this.name = 'CommittedTruncationError';
  }
}

export function decideAppend(
  meta: Meta,
  log: LogView,
  knownCommitIndex: number,
  req: AppendRequest,
  /** 'checked': the entries were read from a page whose chain scanPage checked from prevCrc. */
  chain: 'verify' | 'checked' = 'verify',
): AppendDecision {
  if (req.epoch < meta.promisedEpoch) return { kind: 'stale', promisedEpoch: meta.promisedEpoch };
  // Having promised this epoch to another candidate (even to ourselves, in a view change that
  // failed) does not matter: whoever sends appends for epoch E won a quorum of promises for E,
  // and quorums intersect, so there is only one such leader. Refusing it would only strand us.
  const promised: Meta =
    req.epoch > meta.promisedEpoch
      ? { ...meta, promisedEpoch: req.epoch, votedFor: req.leaderId }
      : meta;
  if (chain === 'verify' && !verifyChain(req.prevIndex, req.prevCrc, req.entries))
    return { kind: 'invalid', why: 'entries do not form a valid checksum chain' };

  const lastIndex = log.lastIndex();
  if (req.prevIndex > lastIndex) return { kind: 'mismatch', lastIndex, meta: promised };
  if (log.crcAt(req.prevIndex) !== req.prevCrc)
    return { kind: 'mismatch', lastIndex: req.prevIndex - 1, meta: promised };

  const conflict = firstConflict(log, req.entries, lastIndex);
  const { firstNew } = conflict;
  const matchIndex = req.prevIndex + req.entries.length;
  const synced = meta.logEpoch === req.epoch;
  const truncateFrom =
    conflict.truncateFrom ?? staleSuffixStart(log, req, lastIndex, matchIndex, synced);
  if (truncateFrom !== null && truncateFrom <= knownCommitIndex)
    throw new CommittedTruncationError(truncateFrom, knownCommitIndex);

  const newLast =
    truncateFrom !== null
      ? truncateFrom - 1 + (req.entries.length - firstNew)
      : Math.max(lastIndex, matchIndex);
  return {
    kind: 'accept',
    truncateFrom,
    append: req.entries.slice(firstNew),
    matchIndex,
    meta: { ...promised, logEpoch: logEpochAfter(meta, req, newLast, matchIndex, synced) },
    knownCommitIndex: Math.max(knownCommitIndex, Math.min(req.commitIndex, matchIndex)),
  };
}

/**
 * Where the entries stop repeating the log: the first entry past its end, or the first whose crc
 * differs from the record at its index (then the log is cut from there: a conflicting suffix).
 */
function firstConflict(
  log: LogView,
  entries: readonly OrderEntry[],
  lastIndex: number,
): { truncateFrom: number | null; firstNew: number } {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index > lastIndex) return { truncateFrom: null, firstNew: i };
    if (log.crcAt(e.index) !== e.crc) return { truncateFrom: e.index, firstNew: i };
  }
  return { truncateFrom: null, firstNew: entries.length };
}

/**
 * Where to cut records past everything the leader holds (null: keep them), when nothing conflicts.
 */
function staleSuffixStart(
  log: LogView,
  req: AppendRequest,
  lastIndex: number,
  matchIndex: number,
  synced: boolean,
): number | null {
  // Records past everything the leader holds are not in its log, so never committed: a follower
  // not yet synced in this epoch drops them. One already synced in this epoch got its suffix from
  // this leader, so a late or reordered message must not cut it. Nor may one that is not synced
  // (recovering, or its logEpoch not yet saved) cut a suffix of this epoch's records: only this
  // leader writes them, so they are in its log whatever a late message says its last index was,
  // and may be committed. Past the leader's start-of-epoch log (viewStartIndex <= any
  // leaderLastIndex it sends) its records are all of this epoch, so an older-epoch record there
  // is not in its log.
  const pastIsOlder = (log.entryAt(matchIndex + 1)?.epoch ?? req.epoch) < req.epoch;
  if (!synced && pastIsOlder && matchIndex === req.leaderLastIndex && lastIndex > matchIndex)
    return matchIndex + 1;
  return null;
}

/**
 * The logEpoch the follower may claim once the append is applied (its log ending at `newLast`):
 * the epoch only when its log then equals a prefix of this leader's log that covers the leader's
 * start-of-epoch log (the module comment's last rule).
 */
function logEpochAfter(
  meta: Meta,
  req: AppendRequest,
  newLast: number,
  matchIndex: number,
  synced: boolean,
): number {
  const equalsLeaderPrefix = newLast === matchIndex || synced;
  const holdsStartLog = matchIndex >= req.viewStartIndex;
  return equalsLeaderPrefix && holdsStartLog ? Math.max(meta.logEpoch, req.epoch) : meta.logEpoch;
}

// ------------------------------------------------------------------------------- leader
// bookkeeping

export interface FollowerProgress {
  /** Next index to send. Advanced as appends are sent, before they are answered (pipeline). */
  nextIndex: number;
  /** Highest index known to match the leader's log and count toward commit (-1: none). */
  matchIndex: number;
  /** How far to step back on the next mismatch (doubles, so long divergences take few rounds). */
  backoff: number;
  /**
   * etcd-raft's progress states: `probe`, one append in flight, while the leader is still finding
   * where the follower's log matches (at the start of an epoch, after a mismatch, a failed send or
   * a catch-up request); `pipeline`, several in flight, each sent from where the previous one
   * ends, once an append sent in probe was accepted.
   */
  mode: 'probe' | 'pipeline';
  /**
   * The send number of the newest append sent before the last rewind: a mismatch for an append
   * sent at or before it describes a log the rewind already answered, and is not acted on again
   * (else every append still in flight would step back once more).
   */
  rewoundAtSend: number;
}

/** Appends in flight to one follower in pipeline mode (bounded: the follower applies in order). */
export const MAX_APPENDS_IN_FLIGHT = 4;

export function initialProgress(leaderLastIndex: number): FollowerProgress {
  return {
    nextIndex: leaderLastIndex + 1,
    matchIndex: -1,
    backoff: 1,
    mode: 'probe',
    rewoundAtSend: 0,
  };
}

/**
 * Whether another append may go to a follower with `inFlight` unanswered and `pendingEntries`
 * not yet sent. Always when none is in flight. Beside others only in pipeline mode, and only a
 * full page (`pageEntries`): a follower applies and fsyncs appends one after another, so small
 * appends sent side by side would each cost it a write and an fsync, where waiting lets the
 * next append carry all of them (group commit). Full pages are a follower catching up.
 */
export function maySendAppend(
  p: FollowerProgress,
  inFlight: number,
  pendingEntries: number,
  pageEntries: number,
): boolean {
  if (inFlight === 0) return true;
  return p.mode === 'pipeline' && inFlight < MAX_APPENDS_IN_FLIGHT && pendingEntries >= pageEntries;
}

/** An append of `count` entries after `prevIndex` was sent: the next one continues it. */
export function onAppendSent(
  p: FollowerProgress,
  prevIndex: number,
  count: number,
): FollowerProgress {
  return { ...p, nextIndex: prevIndex + 1 + count };
}

/**
 * The follower holds the leader's log up to `matchIndex`. That stays true whatever else was sent
 * since (a follower never cuts this leader's records, core's staleSuffixStart), so a late answer
 * may still move both indexes forward, never back; only an answer to an append sent after the
 * last rewind switches to pipeline mode.
 */
export function onAppendAccepted(
  p: FollowerProgress,
  matchIndex: number,
  counts: boolean,
  send: number,
): FollowerProgress {
  return {
    nextIndex: Math.max(p.nextIndex, matchIndex + 1),
    matchIndex: counts ? Math.max(p.matchIndex, matchIndex) : p.matchIndex,
    backoff: 1,
    mode: send > p.rewoundAtSend ? 'pipeline' : p.mode,
    rewoundAtSend: p.rewoundAtSend,
  };
}

/**
 * The follower's log does not continue at the append sent from `sentFrom` (send `send`); its
 * last index is `followerLastIndex`. Steps back from where that append started, in doubling
 * steps, and probes from there; `latestSend` is the newest send so far (all of them are now
 * before the rewind).
 */
export function onAppendMismatch(
  p: FollowerProgress,
  sentFrom: number,
  followerLastIndex: number,
  send: number,
  latestSend: number,
): FollowerProgress {
  if (send <= p.rewoundAtSend) return p;
  const stepped = sentFrom - p.backoff;
  return {
    ...p,
    nextIndex: Math.max(0, Math.min(stepped, followerLastIndex + 1)),
    backoff: p.backoff * 2,
    mode: 'probe',
    rewoundAtSend: latestSend,
  };
}

/**
 * Send again from `from` in probe mode: an append sent from there failed (it may or may not have
 * arrived), or the follower asked for everything after `from - 1` (it restarted).
 */
export function rewindTo(p: FollowerProgress, from: number, latestSend: number): FollowerProgress {
  return {
    ...p,
    nextIndex: Math.max(0, Math.min(p.nextIndex, from)),
    mode: 'probe',
    rewoundAtSend: latestSend,
  };
}

/** Highest index durable on `quorum` replicas, counting the leader's own durable index. */
export function commitIndexFor(
  leaderDurableIndex: number,
  followerMatches: readonly number[],
  quorum: number,
): number {
  const all = [leaderDurableIndex, ...followerMatches].sort((a, b) => b - a);
  return all[quorum - 1] ?? -1;
}
