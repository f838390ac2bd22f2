/**
 * The state one order replica's parts share, and the few rules every part obeys with it.
 *
 * order/replica.ts composes the parts (follower RPCs, view change, replication and commitment,
 * order intake, catalog accounts) around one `ReplicaContext`, as hashicorp/raft splits one
 * struct's methods over raft.go, replication.go and commitment.go. The rules kept here:
 *
 * - Local log and meta changes run one at a time (`serial`), so a decision is always taken on the
 *   state the previous one left, and a reply is sent only after the changes it reports are durable.
 * - Meta changes are durable before memory shows them (`saveMeta`); a failed write is fatal: the
 *   replica stops rather than act on a promise the disk may not hold.
 * - The key index follows every log change (own append, follower cut and append, adoption).
 */
import type { Role } from '../shared/contracts.ts';
import type { Clock } from '../shared/clock.ts';
import type { ReplicaEvent } from './events.ts';
import type { OrderLogStore } from './log.ts';
import type { Meta, MetaStore } from './meta.ts';
import type { CatalogAccounts, CatalogPurchaser, PeerTransport } from './peers.ts';

export interface ReplicaOptions {
  id: number;
  peerIds: number[];
  log: OrderLogStore;
  meta: MetaStore;
  peers: PeerTransport;
  catalog: CatalogPurchaser;
  clock: Clock;
  heartbeatIntervalMs: number;
  /** Replicas (leader included) that must hold an order durably before it is acknowledged. */
  commitQuorum: number;
  /** How long an order waits for commit before its outcome is reported unknown. */
  commitTimeoutMs?: number;
  /** Records per append message (catch-up batch size). */
  maxBatch?: number;
  /** Fencing and purchase accounting at the catalog; without it the leader does neither (tests). */
  catalogAccounts?: CatalogAccounts;
  /** How often a leader accounts for the catalog's pending purchases. */
  reconcileIntervalMs?: number;
  /** Keys of the most recent N orders are answered as replays; 0: every key in the log. */
  idempotencyKeysRetained?: number;
  /** Everything the replica reports (order/events.ts). */
  onEvent?: (e: ReplicaEvent) => void;
  /**
   * Called when the replica must not go on (a safety assertion or a durable write failed); default
   * throws.
   */
  onFatal?: (err: Error) => void;
}

export class ReplicaContext {
  readonly id: number;
  meta: Meta;
  role: Role = 'follower';
  /** Epoch this replica leads (set once its view change completed), else null. */
  leaderEpoch: number | null = null;
  leaderId: number | null = null;
  /** Highest index this replica knows is committed; it survives restarts beside the log. */
  commitIndex: number;
  viewStartIndex = -1;
  /** Leading, and the start-of-epoch log is durable on a quorum of intact replicas. */
  established = false;
  /**
   * Lost (as leader) or could not gather (as candidate) a quorum, and no leader reached it since.
   */
  isolated = false;
  stopped = false;
  readonly commitTimeoutMs: number;
  readonly maxBatch: number;
  /** Set by the composition: steps down from leading (fails waiters, stops replication). */
  stepDown: (why: string) => void = () => {};
  private serialTail: Promise<unknown> = Promise.resolve();

  constructor(readonly o: ReplicaOptions) {
    this.id = o.id;
    this.meta = o.meta.load();
    this.commitIndex = Math.min(o.log.loadedCommitIndex, o.log.lastIndex());
    this.commitTimeoutMs = o.commitTimeoutMs ?? Math.max(2_000, 10 * o.heartbeatIntervalMs);
    this.maxBatch = o.maxBatch ?? 2_000;
  }

  get replicaCount(): number {
    return this.o.peerIds.length + 1;
  }
  get quorum(): number {
    return this.o.commitQuorum;
  }
  /** How long an RPC to a peer may take before it counts as failed. */
  get rpcTimeoutMs(): number {
    return Math.max(4 * this.o.heartbeatIntervalMs, 500);
  }
  /**
   * How recently a leader must have heard from a quorum to take orders, and after how long
   * without one it steps down (etcd's CheckQuorum): generous enough for a GC pause.
   */
  get quorumWindowMs(): number {
    return Math.max(3 * this.o.heartbeatIntervalMs, 1_000);
  }

  emit(e: ReplicaEvent): void {
    this.o.onEvent?.(e);
  }

  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serialTail.then(fn, fn);
    this.serialTail = run.catch(() => {});
    return run;
  }

  /** Waits for every serial change queued so far. */
  drain(): Promise<void> {
    return this.serialTail.then(
      () => {},
      () => {},
    );
  }

  async saveMeta(next: Meta): Promise<void> {
    try {
      await this.o.meta.save(next);
    } catch (err) {
      this.fatal(
        new Error(
          `could not make the replica's meta durable: ${(err as Error)?.message ?? String(err)}`,
          { cause: err },
        ),
      );
    }
    this.meta = next;
  }

  fatal(err: Error): never {
    this.emit({ type: 'fatal', reason: err.message });
    (
      this.o.onFatal ??
      ((e) => {
        throw e;
      })
    )(err);
    throw err;
  }

  /** The order number the log holds for `key`, if any (the log keeps the index: order/log.ts). */
  indexOfKey(key: string): number | undefined {
    return this.o.log.indexOfKey(key);
  }
}
