/**
 * The leader's side of replication (hashicorp/raft's replication.go): one loop per follower
 * sending appends (Raft's nextIndex/matchIndex, core.ts), the commit point they move, and the
 * three things a leader must know about its quorum before it acts:
 *
 * - **Established**: its start-of-epoch log is durable on a quorum of intact replicas (each
 *   acknowledged with logEpoch = this epoch). Until then an older leader's longer log could still
 *   win the next election (Raft §5.4.2), so nothing may be decided "never committed" before it.
 * - **Quorum contact** (etcd's CheckQuorum): a leader that has not heard from a quorum for
 *   `quorumWindowMs` steps down, so a leader cut off from its followers stops holding the
 *   frontend's orders hostage and a healthy majority can take over.
 * - **Read confirmation** (Raft §8 ReadIndex): an order read is answered only after a quorum
 *   acknowledged an append sent after the read arrived, so a deposed leader never answers from
 *   its old view. Reads waiting at once share one round.
 */
import type { AppendRequest, AppendResponse } from '../shared/contracts.ts';
import { AppError, noQuorum, notLeader } from '../shared/errors.ts';
import {
  commitIndexFor,
  initialProgress,
  maySendAppend,
  onAppendAccepted,
  onAppendMismatch,
  onAppendSent,
  rewindTo,
  type FollowerProgress,
} from './core.ts';
import type { Commitment } from './commitment.ts';
import type { ReplicaContext } from './context.ts';

interface FollowerState {
  progress: FollowerProgress;
  /** Monotonic time of the last answer showing an intact follower in this epoch. */
  lastContactMs: number;
  reachable: boolean;
  /** Its acknowledgements claim this epoch: it holds the start-of-epoch log and counts. */
  synced: boolean;
  /** Send number of the newest append it acknowledged while synced (read confirmation). */
  confirmedSend: number;
  /** Send a heartbeat at once (a read is waiting for confirmation). */
  beatNow: boolean;
  /**
   * Its last answer said it reads an append's `records` (the log's own text): pages go that way,
   * which spares this leader decoding them and the follower encoding them again.
   */
  takesRecords: boolean;
  /** Appends sent and not yet answered (core's maySendAppend bounds them). */
  inFlight: number;
  wake: () => void;
  waiting: Promise<void> | null;
}

interface ReadWaiter {
  afterSend: number;
  resolve: () => void;
  reject: (err: AppError) => void;
  cancelTimer: () => void;
}

export interface FollowerView {
  id: number;
  reachable: boolean;
  matchIndex: number;
  nextIndex: number;
}

/**
 * Whether a page of `count` records goes as the log's text (to a follower that takes it): a page
 * at least half of the largest is a follower catching up, whose records the leader would decode
 * only to have them encoded again; fresh orders travel in smaller appends as entries, so the ids
 * of the client requests behind them travel too (observe.ts names them in the follower's trace).
 */
export function sendsAsText(count: number, maxBatch: number): boolean {
  return count > 0 && count * 2 >= maxBatch;
}

/** Reads waiting for one confirmation round at most; more is an overload, refused at once. */
const MAX_READ_WAITERS = 10_000;

export class Replication {
  private readonly followers = new Map<number, FollowerState>();
  private sends = 0;
  private readers: ReadWaiter[] = [];

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly commitment: Commitment,
    private readonly onStale: (epoch: number, why: string) => Promise<void>,
  ) {}

  /** Starts replicating epoch `epoch`; `contacted` are the peers that just promised it. */
  begin(epoch: number, contacted: ReadonlySet<number>): void {
    const now = this.ctx.o.clock.now();
    for (const peer of this.ctx.o.peerIds) {
      const f: FollowerState = {
        progress: initialProgress(this.ctx.viewStartIndex),
        lastContactMs: contacted.has(peer) ? now : -Infinity,
        reachable: contacted.has(peer),
        synced: false,
        confirmedSend: 0,
        beatNow: false,
        takesRecords: false,
        inFlight: 0,
        wake: () => {},
        waiting: null,
      };
      this.followers.set(peer, f);
      void this.replicateTo(peer, f, epoch);
    }
    this.checkEstablished(epoch);
    void this.checkQuorumLoop(epoch);
  }

  /** Stops every loop (they see the epoch change) and fails waiting reads. */
  stopAll(why: string): void {
    this.wake();
    this.followers.clear();
    const readers = this.readers;
    this.readers = [];
    for (const r of readers) {
      r.cancelTimer();
      void why;
      r.reject(notLeader(null, this.ctx.meta.promisedEpoch));
    }
  }

  wake(): void {
    for (const f of this.followers.values()) f.wake();
  }

  views(): FollowerView[] {
    return [...this.followers].map(([id, f]) => ({
      id,
      reachable: f.reachable,
      matchIndex: f.progress.matchIndex,
      nextIndex: f.progress.nextIndex,
    }));
  }

  /** A lagging or restarted follower asked to be sent everything after `lastIndex`. */
  rewind(peer: number, lastIndex: number): boolean {
    const f = this.followers.get(peer);
    if (!f) return false;
    f.progress = rewindTo(f.progress, lastIndex + 1, this.sends);
    f.wake();
    return true;
  }

  advanceCommit(): void {
    if (this.ctx.leaderEpoch === null) return;
    const matches = [...this.followers.values()].map((f) => f.progress.matchIndex);
    this.commitment.advanceTo(
      commitIndexFor(this.ctx.o.log.durableIndex(), matches, this.ctx.quorum),
    );
  }

  /**
   * A quorum (itself included) is reachable now and was heard within the window: an order can be
   * made durable. A follower whose last append failed does not count, however recent its last
   * answer: an order sent now would wait for it in vain.
   */
  hasQuorumContact(): boolean {
    return this.ctx.o.clock.now() - this.quorumContactMs(true) <= this.ctx.quorumWindowMs;
  }

  /** Resolves once a quorum confirmed this replica still leads `epoch` after the call. */
  confirmLeadership(epoch: number): Promise<void> {
    if (this.ctx.leaderEpoch !== epoch)
      return Promise.reject(notLeader(this.ctx.leaderId, this.ctx.meta.promisedEpoch));
    if (!this.ctx.established)
      return Promise.reject(noQuorum('this leader is not yet confirmed by a majority'));
    if (this.ctx.quorum <= 1) return Promise.resolve();
    if (this.readers.length >= MAX_READ_WAITERS)
      return Promise.reject(noQuorum('too many reads waiting for confirmation'));
    return new Promise((resolve, reject) => {
      const r: ReadWaiter = { afterSend: this.sends, resolve, reject, cancelTimer: () => {} };
      r.cancelTimer = this.ctx.o.clock.setTimeout(() => {
        this.readers = this.readers.filter((x) => x !== r);
        reject(noQuorum('a majority did not confirm this leader in time'));
      }, 2 * this.ctx.rpcTimeoutMs);
      this.readers.push(r);
      for (const f of this.followers.values()) {
        f.beatNow = true;
        f.wake();
      }
    });
  }

  /**
   * Newest time at which a quorum (this leader and the freshest quorum - 1 followers) was heard.
   */
  private quorumContactMs(reachableOnly = false): number {
    const need = this.ctx.quorum - 1;
    if (need <= 0) return Infinity;
    const contacts = [...this.followers.values()]
      .filter((f) => !reachableOnly || f.reachable)
      .map((f) => f.lastContactMs)
      .sort((a, b) => b - a);
    return contacts[need - 1] ?? -Infinity;
  }

  private async checkQuorumLoop(epoch: number): Promise<void> {
    while (this.ctx.leaderEpoch === epoch && !this.ctx.stopped) {
      await this.ctx.o.clock.sleep(this.ctx.o.heartbeatIntervalMs);
      if (this.ctx.leaderEpoch !== epoch) return;
      const silentMs = this.ctx.o.clock.now() - this.quorumContactMs();
      if (silentMs > this.ctx.quorumWindowMs) {
        this.ctx.isolated = true;
        this.ctx.stepDown(
          `no contact with a majority for ${Math.round(Math.min(silentMs, 1e9))} ms`,
        );
        return;
      }
    }
  }

  private checkEstablished(epoch: number): void {
    if (this.ctx.established || this.ctx.leaderEpoch !== epoch) return;
    const synced = [...this.followers.values()].filter((f) => f.synced).length;
    if (1 + synced < this.ctx.quorum) return;
    this.ctx.established = true;
    this.ctx.emit({ type: 'established', epoch, orders: this.ctx.viewStartIndex + 1 });
  }

  private checkReaders(): void {
    if (!this.readers.length) return;
    const confirmed = [...this.followers.values()].map((f) => f.confirmedSend);
    const still: ReadWaiter[] = [];
    for (const r of this.readers) {
      if (1 + confirmed.filter((s) => s > r.afterSend).length >= this.ctx.quorum) {
        r.cancelTimer();
        r.resolve();
      } else still.push(r);
    }
    this.readers = still;
  }

  /** The next append for `f`, and how many records it carries; null if there is none to send. */
  private request(f: FollowerState, epoch: number): { req: AppendRequest; count: number } | null {
    const log = this.ctx.o.log;
    const last = log.lastIndex();
    const prevIndex = f.progress.nextIndex - 1;
    const prevCrc = log.crcAt(prevIndex);
    if (prevCrc === undefined) {
      f.progress = { ...f.progress, nextIndex: last + 1 };
      return null;
    }
    const from = f.progress.nextIndex;
    const to = Math.min(last + 1, from + this.ctx.maxBatch);
    const count = Math.max(0, to - from);
    const asText = f.takesRecords && sendsAsText(count, this.ctx.maxBatch);
    const req: AppendRequest = {
      epoch,
      leaderId: this.ctx.id,
      prevIndex,
      prevCrc,
      entries: asText ? [] : log.slice(from, to),
      ...(asText ? { records: log.text(from, to) } : {}),
      commitIndex: this.ctx.commitIndex,
      viewStartIndex: this.ctx.viewStartIndex,
      leaderLastIndex: last,
      established: this.ctx.established,
    };
    return { req, count };
  }

  /**
   * One loop per follower: sends an append from nextIndex when none is in flight, and more beside
   * it while the follower is catching up (full pages, once its log is known to match: the next
   * page goes out while the previous one is still being written there; core's maySendAppend),
   * and a heartbeat when nothing was sent for a heartbeat interval. The follower applies appends
   * in the order they arrive and checks each against its own log, so one that overtakes another
   * is refused as a mismatch and sent again, never applied out of order.
   */
  private async replicateTo(peer: number, f: FollowerState, epoch: number): Promise<void> {
    let lastSentMs = -Infinity;
    while (this.ctx.leaderEpoch === epoch && !this.ctx.stopped) {
      const heartbeatDue =
        f.beatNow || this.ctx.o.clock.now() - lastSentMs >= this.ctx.o.heartbeatIntervalMs;
      const pending = this.ctx.o.log.lastIndex() - f.progress.nextIndex + 1;
      // An append in flight serves as the heartbeat: its answer is the contact.
      const work = pending > 0 || (heartbeatDue && f.inFlight === 0);
      if (!work || !maySendAppend(f.progress, f.inFlight, pending, this.ctx.maxBatch)) {
        await this.waitForWork(f);
        continue;
      }
      const next = this.request(f, epoch);
      if (!next) continue;
      f.beatNow = false;
      lastSentMs = this.ctx.o.clock.now();
      const send = ++this.sends;
      f.progress = onAppendSent(f.progress, next.req.prevIndex, next.count);
      f.inFlight++;
      void this.sendAppend(peer, f, epoch, next.req, send).finally(() => {
        f.inFlight--;
        f.wake();
      });
    }
  }

  /** One append and what its answer (or failure) means for the follower's progress. */
  private async sendAppend(
    peer: number,
    f: FollowerState,
    epoch: number,
    req: AppendRequest,
    send: number,
  ): Promise<void> {
    try {
      const res = await this.ctx.o.peers.append(peer, req, this.ctx.rpcTimeoutMs);
      if (this.ctx.leaderEpoch !== epoch || this.followers.get(peer) !== f) return;
      this.onAnswer(peer, f, epoch, req, res, send);
    } catch (err) {
      if (this.ctx.leaderEpoch !== epoch || this.followers.get(peer) !== f) return;
      if (err instanceof AppError && err.reason === 'stale_epoch') {
        const promised = Number(err.detail?.promisedEpoch ?? epoch + 1);
        await this.onStale(promised, `follower ${peer} promised epoch ${promised}`);
        return;
      }
      if (f.reachable)
        this.ctx.emit({ type: 'follower_down', follower: peer, reason: (err as Error).message });
      f.reachable = false;
      // It may or may not have arrived: probe again from where it started, after a pause (the
      // loop waits for this append to end, since a failed follower is probed one at a time).
      f.progress = rewindTo(f.progress, req.prevIndex + 1, this.sends);
      await this.ctx.o.clock.sleep(Math.min(this.ctx.o.heartbeatIntervalMs, 100));
    }
  }

  private onAnswer(
    peer: number,
    f: FollowerState,
    epoch: number,
    req: AppendRequest,
    res: AppendResponse,
    send: number,
  ): void {
    // A follower that is still recovering answers, but neither its acknowledgements nor its
    // presence count: it cannot help commit, confirm a read or keep this leader in office.
    f.takesRecords = res.takesRecords === true;
    if (res.storage === 'intact') {
      f.lastContactMs = this.ctx.o.clock.now();
      if (!f.reachable) this.ctx.emit({ type: 'follower_up', follower: peer });
      f.reachable = true;
    }
    if (res.ok) {
      const counts = res.logEpoch === epoch && res.storage === 'intact';
      f.progress = onAppendAccepted(f.progress, res.matchIndex, counts, send);
      if (counts) {
        f.synced = true;
        f.confirmedSend = Math.max(f.confirmedSend, send);
      }
      this.advanceCommit();
      this.checkEstablished(epoch);
      this.checkReaders();
    } else {
      f.progress = onAppendMismatch(f.progress, req.prevIndex + 1, res.lastIndex, send, this.sends);
    }
  }

  private waitForWork(f: FollowerState): Promise<void> {
    if (!f.waiting) {
      f.waiting = new Promise<void>((resolve) => {
        const cancel = this.ctx.o.clock.setTimeout(() => done(), this.ctx.o.heartbeatIntervalMs);
        const done = () => {
          cancel();
          f.waiting = null;
          f.wake = () => {};
          resolve();
        };
        f.wake = done;
      });
    }
    return f.waiting;
  }
}
