/**
 * One order replica: the driver that carries out core.ts's and recovery.ts's decisions with a log
 * store, a meta store, a peer transport and the catalog, all injected (real or in-memory twins).
 *
 * Roles: a follower takes appends from the leader of the newest epoch it promised; the frontend
 * asks one replica to `lead(epoch)`, which runs the view change (view-change.ts); a leader
 * replicates (replication.ts), acknowledges an order only once it is durable on `commitQuorum`
 * replicas (commitment.ts, intake.ts) and accounts for catalog purchases (accounts.ts). A leader
 * that hears of a newer epoch, or loses contact with its quorum, steps down and fails its waiting
 * orders as "outcome unknown", never as a definite error, because they may still commit.
 *
 * This file composes those parts around one shared context (context.ts) and owns the life
 * cycle: on start, a replica whose state is unverified or amnesiac asks its peers what it may
 * trust (recovery.ts) before it counts toward anything.
 */
import type {
  AppendRequest,
  AppendResponse,
  CatchupRequest,
  FetchLogResponse,
  LeaderNotice,
  LeaderOrderRequest,
  LeadResponse,
  LogHead,
  Order,
  PromiseRequest,
  PromiseResponse,
  ReplicaStatus,
} from '../shared/contracts.ts';
import { outcomeUnknown } from '../shared/errors.ts';
import { Accounts } from './accounts.ts';
import { Commitment } from './commitment.ts';
import { ReplicaContext, type ReplicaOptions } from './context.ts';
import { FollowerRpc } from './follower.ts';
import { Intake } from './intake.ts';
import type { Meta } from './meta.ts';
import { amnesiaFloor, decideUnverified } from './recovery.ts';
import { Replication } from './replication.ts';
import { ViewChange } from './view-change.ts';

export type { ReplicaOptions } from './context.ts';

export class Replica {
  readonly id: number;
  private readonly ctx: ReplicaContext;
  private readonly commitment: Commitment;
  private readonly replication: Replication;
  private readonly follower: FollowerRpc;
  private readonly viewChange: ViewChange;
  private readonly intake: Intake;

  constructor(o: ReplicaOptions) {
    this.id = o.id;
    const ctx = (this.ctx = new ReplicaContext(o));
    const learn = (epoch: number, why: string) => this.learnEpoch(epoch, why);
    this.commitment = new Commitment(ctx);
    this.replication = new Replication(ctx, this.commitment, learn);
    this.follower = new FollowerRpc(ctx, this.commitment, this.replication, (candidate) =>
      this.verifyStorage(candidate),
    );
    this.intake = new Intake(ctx, this.commitment, this.replication, learn);
    const accounts = new Accounts(ctx, (key) => this.intake.isInFlight(key));
    this.intake.accounts = accounts;
    this.viewChange = new ViewChange(ctx, this.follower, {
      verifyStorage: () => this.verifyStorage(),
      onLeading: (epoch, granted) => {
        this.replication.begin(epoch, new Set(granted.map((g) => g.peer)));
        void accounts.run(epoch);
      },
    });
    ctx.stepDown = (why) => this.stepDown(why);
  }

  // ------------------------------------------------------------------ views

  head(): LogHead {
    return this.follower.head();
  }

  status(): ReplicaStatus {
    const c = this.ctx;
    return {
      id: this.id,
      role: c.role,
      promisedEpoch: c.meta.promisedEpoch,
      leaderEpoch: c.leaderEpoch,
      leaderId: c.leaderId,
      head: this.head(),
      commitIndex: c.commitIndex,
      storage: c.meta.storage,
      established: c.leaderEpoch !== null && c.established,
      isolated: c.isolated,
      followers: this.replication.views(),
    };
  }

  isLeader(): boolean {
    return this.ctx.leaderEpoch !== null;
  }

  // ------------------------------------------------------------------ life cycle

  /**
   * After a (re)start: settle what this replica may trust (asking its peers if it has no meta or
   * lost its promises; the question is asked again every heartbeat until answered), then ask the
   * leader for the orders after its last one.
   */
  async start(): Promise<void> {
    const c = this.ctx;
    const lastIndex = c.o.log.lastIndex();
    c.emit({
      type: 'started',
      orders: lastIndex + 1,
      promisedEpoch: c.meta.promisedEpoch,
      logEpoch: c.meta.logEpoch,
      commitIndex: c.commitIndex,
      storage: c.meta.storage,
    });
    if (!(await this.verifyStorage())) void this.keepVerifying();
    await this.askForCatchup(lastIndex);
  }

  async stop(): Promise<void> {
    this.ctx.stopped = true;
    this.stepDown('shutting down');
    await this.ctx.drain();
  }

  private async askForCatchup(lastIndex: number): Promise<void> {
    const c = this.ctx;
    await Promise.all(
      c.o.peerIds.map(async (peer) => {
        try {
          const st = await c.o.peers.status(peer, c.rpcTimeoutMs);
          if (
            st.role === 'leader' &&
            st.leaderEpoch !== null &&
            st.leaderEpoch >= c.meta.promisedEpoch
          ) {
            await c.o.peers.catchup(peer, { replicaId: this.id, lastIndex }, c.rpcTimeoutMs);
            c.emit({
              type: 'catchup_requested',
              leaderId: peer,
              epoch: st.leaderEpoch,
              after: lastIndex,
            });
          }
        } catch {
          // A peer that is down now will be caught up by whichever leader comes next.
        }
      }),
    );
  }

  private async keepVerifying(): Promise<void> {
    while (!this.ctx.stopped) {
      await this.ctx.o.clock.sleep(this.ctx.o.heartbeatIntervalMs);
      if (this.ctx.stopped || (await this.verifyStorage())) return;
    }
  }

  /** One round of recovery.ts's questions to the peers; true once nothing is left to ask. */
  private async verifyStorage(candidate?: number): Promise<boolean> {
    const c = this.ctx;
    if (c.meta.storage !== 'unverified' && c.meta.storage !== 'amnesiac') return true;
    const peers = await Promise.all(
      c.o.peerIds.map((p) => c.o.peers.status(p, c.rpcTimeoutMs).catch(() => null)),
    );
    return c.serial(async () => {
      if (c.meta.storage === 'unverified') {
        const d = decideUnverified(
          { lastIndex: c.o.log.lastIndex(), promisedEpoch: c.meta.promisedEpoch },
          peers,
          c.replicaCount,
          c.quorum,
          candidate,
        );
        if (d.kind === 'undecided') return false;
        if (d.kind === 'new-cluster') {
          const raised = d.floor > c.meta.promisedEpoch;
          return this.changeStorage(
            {
              ...c.meta,
              promisedEpoch: d.floor,
              votedFor: raised ? null : c.meta.votedFor,
              storage: 'intact',
            },
            `no orders anywhere: a new cluster${d.floor ? ` (no promise up to epoch ${d.floor})` : ''}`,
          );
        }
        await this.changeStorage(
          { ...c.meta, storage: 'amnesiac', logEpoch: 0 },
          'peers have history this replica has no meta for: its promises are lost',
        );
      }
      if (c.meta.storage !== 'amnesiac') return true;
      const floor = amnesiaFloor(peers, c.replicaCount, c.quorum);
      if (floor === null) return false;
      const promisedEpoch = Math.max(c.meta.promisedEpoch, floor);
      return this.changeStorage(
        {
          ...c.meta,
          promisedEpoch,
          votedFor: promisedEpoch === c.meta.promisedEpoch ? c.meta.votedFor : null,
          storage: 'recovering',
        },
        `a quorum of peers remembers epochs up to ${floor}: nothing older is accepted; waiting for a leader to rebuild the log`,
      );
    });
  }

  private async changeStorage(next: Meta, why: string): Promise<true> {
    const from = this.ctx.meta.storage;
    await this.ctx.saveMeta(next);
    this.ctx.emit({ type: 'storage', from, to: next.storage, why });
    return true;
  }

  // ------------------------------------------------------------------ requests

  handlePromise(req: PromiseRequest): Promise<PromiseResponse> {
    return this.follower.handlePromise(req);
  }
  handleAppend(req: AppendRequest): Promise<AppendResponse> {
    return this.follower.handleAppend(req);
  }
  handleFetchLog(req: { epoch?: number; from: number; limit: number }): FetchLogResponse {
    return this.follower.handleFetchLog(req);
  }
  handleLeaderNotice(notice: LeaderNotice): void {
    this.follower.handleLeaderNotice(notice);
  }
  handleCatchup(req: CatchupRequest): void {
    this.follower.handleCatchup(req);
  }
  lead(epoch: number): Promise<LeadResponse> {
    return this.viewChange.lead(epoch);
  }
  order(
    req: LeaderOrderRequest,
    requestId?: string,
  ): Promise<{ orderNumber: number; replayed: boolean }> {
    return this.intake.order(req, requestId);
  }
  async placeOrder(req: LeaderOrderRequest): Promise<number> {
    return (await this.intake.order(req)).orderNumber;
  }
  getOrder(orderNumber: number, epoch?: number): Promise<Order> {
    return this.intake.getOrder(orderNumber, epoch);
  }

  // ------------------------------------------------------------------ stepping down

  private async learnEpoch(epoch: number, why: string): Promise<void> {
    this.stepDown(why);
    await this.ctx.serial(async () => {
      if (epoch > this.ctx.meta.promisedEpoch)
        await this.ctx.saveMeta({ ...this.ctx.meta, promisedEpoch: epoch, votedFor: null });
    });
  }

  private stepDown(why: string): void {
    const c = this.ctx;
    if (c.role === 'follower' && c.leaderEpoch === null) return;
    if (c.leaderEpoch !== null) c.emit({ type: 'stepped_down', epoch: c.leaderEpoch, reason: why });
    c.role = 'follower';
    c.leaderEpoch = null;
    c.established = false;
    this.replication.stopAll(why);
    this.commitment.failAll(() =>
      outcomeUnknown(
        `leader stepped down (${why}); the order may still commit under the next leader`,
      ),
    );
  }
}
