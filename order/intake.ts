/**
 * Taking orders and answering order reads, on the leader.
 *
 * An order is placed exactly once per key: catalog first (nothing logged if it refuses), then the
 * log, replicate, commit. A key already in the log, or in flight, gets that order's outcome; the
 * same key with a different body is a 422. Once anything may have happened for an order (the
 * catalog may have decremented, a record may be in the log), every failure is "outcome unknown"
 * (504), never a definite refusal: it may still commit under this or a later leader.
 *
 * A read of an order this leader knows committed is answered at once; any other read (no such
 * order, or one not yet known committed) only after a quorum confirmed this replica still leads
 * (order/replication.ts), so a deposed leader never says "no such order" about one a newer leader
 * acknowledged. Why the first needs no confirmation is at `getOrder`.
 */
import type { LeaderOrderRequest, Order } from '../shared/contracts.ts';
import {
  AppError,
  idempotencyKeyReused,
  noQuorum,
  notLeader,
  orderNotFound,
  outcomeUnknown,
  requestInProgress,
  staleEpoch,
  upstreamUnavailable,
} from '../shared/errors.ts';
import { NetworkError } from '../shared/http.ts';
import type { Accounts } from './accounts.ts';
import type { Commitment } from './commitment.ts';
import type { ReplicaContext } from './context.ts';
import { signEntry } from './log.ts';
import type { Replication } from './replication.ts';

/** Orders being placed at once; more is an overload answered 503 before anything happens. */
const MAX_IN_FLIGHT = 50_000;

interface InFlight {
  name: string;
  quantity: number;
  result: Promise<number>;
}

export class Intake {
  private readonly inflight = new Map<string, InFlight>();
  accounts: Accounts | null = null;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly commitment: Commitment,
    private readonly replication: Replication,
    private readonly learnEpoch: (epoch: number, why: string) => Promise<void>,
  ) {}

  isInFlight(key: string): boolean {
    return this.inflight.has(key);
  }

  assertLeader(epoch?: number): number {
    const leading = this.ctx.leaderEpoch;
    if (leading === null) throw notLeader(this.ctx.leaderId, this.ctx.meta.promisedEpoch);
    if (epoch !== undefined && epoch < leading) throw staleEpoch(this.ctx.meta.promisedEpoch);
    if (epoch !== undefined && epoch > leading)
      throw notLeader(this.ctx.leaderId, this.ctx.meta.promisedEpoch);
    return leading;
  }

  /** `requestId`: the client request this order is for, passed on to the catalog (tracing). */
  async order(
    req: LeaderOrderRequest,
    requestId?: string,
  ): Promise<{ orderNumber: number; replayed: boolean }> {
    this.assertLeader(req.epoch);
    await this.accounts?.settled(req.key);
    const known = this.lookupKey(req.key);
    if (known !== undefined) {
      const e = this.ctx.o.log.entryAt(known)!;
      if (e.name !== req.name || e.quantity !== req.quantity) throw idempotencyKeyReused();
      await this.commitment.await(known, () =>
        outcomeUnknown('the order is logged but not yet on a majority'),
      );
      return { orderNumber: known, replayed: true };
    }
    const running = this.inflight.get(req.key);
    if (running) return { orderNumber: await this.joinRunning(req, running), replayed: true };
    if (!this.replication.hasQuorumContact())
      throw noQuorum(
        'no follower is reachable, so the order could not be made durable on a majority',
      );
    if (this.inflight.size >= MAX_IN_FLIGHT)
      throw noQuorum('too many orders in flight at this leader');
    const result = this.runOrder(req, requestId);
    this.inflight.set(req.key, { name: req.name, quantity: req.quantity, result });
    try {
      return { orderNumber: await result, replayed: false };
    } finally {
      this.inflight.delete(req.key);
    }
  }

  /**
   * Reads an order; an order not yet known committed waits for it.
   *
   * Why an order at or below this replica's commit index is answered without confirming its
   * leadership (Raft's ReadIndex round, which cost each read a heartbeat to a quorum), and the
   * answer is still linearizable, even if this replica was deposed a moment ago:
   * - the entry at index n <= commitIndex is the committed order n: the commit index only covers
   *   entries a quorum made durable in this leader's epoch, or entries before them in its log
   *   (Log Matching), and it is never raised past what this replica holds (order/commitment.ts);
   * - a committed order never changes and is never removed: every later leader holds it (Leader
   *   Completeness: a leader is elected only with a log at least as up to date as a quorum's, and
   *   any quorum holds every committed entry), truncation only cuts entries above the commit
   *   point, and no rule of the store edits an entry in place;
   * - so the order's value was fixed when it committed, which happened before this read looked
   *   (the commit index is read now), and no write can come after to make it stale: answering it
   *   is what the current leader would answer at any moment of the read's interval.
   * What does depend on still leading is a negative answer (a newer leader may have acknowledged
   * order n since) and an entry not yet known committed (it may be cut): those wait for the
   * quorum's confirmation as before. No clock is involved, so no clock-rate assumption either.
   */
  async getOrder(orderNumber: number, epoch?: number): Promise<Order> {
    const leading = this.assertLeader(epoch);
    if (orderNumber <= this.ctx.commitIndex) {
      const committed = this.ctx.o.log.entryAt(orderNumber);
      if (committed)
        return { number: committed.index, name: committed.name, quantity: committed.quantity };
    }
    await this.replication.confirmLeadership(leading);
    const e = this.ctx.o.log.entryAt(orderNumber);
    if (!e) throw orderNotFound();
    await this.commitment.await(
      orderNumber,
      () => new AppError(503, 'no_quorum', 'order not yet confirmed on a majority', 1),
    );
    return { number: e.index, name: e.name, quantity: e.quantity };
  }

  private async joinRunning(req: LeaderOrderRequest, running: InFlight): Promise<number> {
    if (running.name !== req.name || running.quantity !== req.quantity)
      throw idempotencyKeyReused();
    let cancel = () => {};
    const bound = new Promise<never>((_, reject) => {
      cancel = this.ctx.o.clock.setTimeout(
        () => reject(requestInProgress()),
        this.ctx.commitTimeoutMs,
      );
    });
    try {
      return await Promise.race([running.result, bound]);
    } finally {
      cancel();
    }
  }

  private lookupKey(key: string): number | undefined {
    const index = this.ctx.indexOfKey(key);
    const retained = this.ctx.o.idempotencyKeysRetained ?? 0;
    if (index === undefined || retained <= 0) return index;
    return index > this.ctx.o.log.lastIndex() - retained ? index : undefined;
  }

  private async purchase(
    req: LeaderOrderRequest,
    epoch: number,
    requestId: string | undefined,
  ): Promise<void> {
    try {
      await this.ctx.o.catalog.purchase(
        { name: req.name, quantity: req.quantity, key: req.key, epoch },
        requestId,
      );
    } catch (err) {
      // Nothing was logged, so this attempt cannot become an order; a decrement the catalog may
      // have made stays pending until an established leader releases it (order/accounts.ts).
      if (err instanceof NetworkError) throw upstreamUnavailable('catalog');
      if (err instanceof AppError && err.reason === 'stale_epoch') {
        await this.learnEpoch(
          Number(err.detail?.promisedEpoch ?? epoch + 1),
          'the catalog is fenced by a newer epoch',
        );
        throw notLeader(null, this.ctx.meta.promisedEpoch);
      }
      throw err;
    }
  }

  private async runOrder(req: LeaderOrderRequest, requestId: string | undefined): Promise<number> {
    const epoch = this.assertLeader(req.epoch);
    await this.purchase(req, epoch, requestId);
    // The catalog has decremented; only now does the order get a number, so a refused purchase
    // never leaves a gap in the order numbers.
    if (this.ctx.leaderEpoch !== epoch)
      throw outcomeUnknown('leadership changed while the order was in progress');
    const log = this.ctx.o.log;
    const index = log.lastIndex() + 1;
    const entry = signEntry(log.crcAt(index - 1) ?? 0, {
      index,
      epoch,
      name: req.name,
      quantity: req.quantity,
      key: req.key,
    });
    const durable = log.append([entry]);
    this.replication.wake();
    void durable.then(() => this.replication.advanceCommit());
    await this.commitment.await(index, () =>
      outcomeUnknown(`not on ${this.ctx.quorum} replicas within ${this.ctx.commitTimeoutMs} ms`),
    );
    return index;
  }
}
