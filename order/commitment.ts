/**
 * The commit point and the requests waiting on it (hashicorp/raft's commitment.go).
 *
 * An order is acknowledged only once its index is at or below the commit index, which only ever
 * grows: on a leader from the quorum's durable acknowledgements (order/replication.ts), on a
 * follower from what the leader says is committed and it holds. Every advance is also recorded
 * beside the log, so after a restart the replica still refuses to cut what it knew committed.
 */
import type { AppError } from '../shared/errors.ts';
import type { ReplicaContext } from './context.ts';

interface Waiter {
  index: number;
  resolve: () => void;
  reject: (err: AppError) => void;
  cancelTimer: () => void;
}

/** More requests than this waiting on commit at once is a bug (or an overload to refuse early). */
const MAX_WAITERS = 100_000;

export class Commitment {
  private waiters: Waiter[] = [];

  constructor(private readonly ctx: ReplicaContext) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Raises the commit index (never lowers it) and answers whoever waited for it. */
  advanceTo(index: number): void {
    if (index <= this.ctx.commitIndex) return;
    this.ctx.commitIndex = index;
    this.ctx.o.log.recordCommitIndex(index);
    this.resolveWaiters();
  }

  /** Resolves once `index` is committed; rejects with `onTimeout()` after the commit timeout. */
  await(index: number, onTimeout: () => AppError): Promise<void> {
    if (index <= this.ctx.commitIndex) return Promise.resolve();
    if (this.waiters.length >= MAX_WAITERS) return Promise.reject(onTimeout());
    return new Promise((resolve, reject) => {
      const w: Waiter = { index, resolve, reject, cancelTimer: () => {} };
      w.cancelTimer = this.ctx.o.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(onTimeout());
      }, this.ctx.commitTimeoutMs);
      this.waiters.push(w);
    });
  }

  /** Fails every waiter with `err` (a leader stepping down: their outcome is unknown). */
  failAll(err: () => AppError): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      w.cancelTimer();
      w.reject(err());
    }
  }

  private resolveWaiters(): void {
    if (!this.waiters.length) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= this.ctx.commitIndex) {
        w.cancelTimer();
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }
}
