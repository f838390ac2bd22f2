/**
 * Elects the order leader and routes orders and order queries to it.
 *
 * Every `heartbeatIntervalMs` it asks every replica for its status (the leader's answer is the
 * heartbeat; the others feed /health and the next election). When the leader stops answering,
 * says it no longer leads, or a routed request cannot reach it, one election runs: concurrent
 * failures join the election already running instead of starting their own (single flight). A
 * replica seen leading a newer epoch than ours (another frontend elected it) is followed at once.
 *
 * Each client order gets a key once, here, and keeps it across every retry, so an order whose
 * first attempt died with the leader is retried at the next leader without buying twice: the new
 * leader finds the key in its log if the order got there, and the catalog decrements once per key.
 *
 * Unknown stays unknown: once any attempt of a request may have happened, the request ends in
 * success or in 504 (outcome unknown), never in a later attempt's definite-looking refusal such
 * as 503 no_quorum, which only speaks for that attempt (Jepsen's `info`).
 */
import { randomUUID } from 'node:crypto';
import type { ReplicaAddress } from '../shared/config.ts';
import type { Clock } from '../shared/clock.ts';
import type {
  LeaderOrderRequest,
  Order,
  OrderPlaced,
  OrderRequest,
  PlacedOrder,
  ReplicaStatus,
} from '../shared/contracts.ts';
import {
  Batcher,
  batchOrEach,
  batchRequestId,
  itemResults,
  PEER_BATCH_LIMITS,
} from '../shared/batcher.ts';
import { AppError, noLeader, outcomeUnknown } from '../shared/errors.ts';
import { NetworkError, type HttpClient } from '../shared/http.ts';
import { createRouteClient, type RouteClient } from '../shared/protocol/client.ts';
import { orderRoutes, type OrderRoutes } from '../shared/protocol/order.ts';
import {
  candidatesInPriorityOrder,
  electionInProgress,
  existingLeader,
  newerLeader,
  nextEpoch,
  SILENT_BEATS_BEFORE_ELECTION,
  stillLeads,
  type Probe,
} from './election.ts';
import type { ElectionTrigger, RouterEvent } from './router-events.ts';
import type { ElectionView, OrderRouter, ReplicaView } from './types.ts';

export interface OrderRouterOptions {
  http: HttpClient;
  replicas: ReplicaAddress[];
  clock: Clock;
  heartbeatIntervalMs: number;
  /** How long one client request may spend retrying across failovers before giving up. */
  requestDeadlineMs?: number;
  /** Replicas a leader needs (itself included); default a majority, as COMMIT_QUORUM's. */
  quorum?: number;
  onEvent?: (e: RouterEvent) => void;
}

export interface LeaderChange {
  atMs: number;
  leaderId: number | null;
  epoch: number | null;
}

type Leader = { id: number; epoch: number };

/**
 * A read of one order at the leader of `epoch`, as GET /orders/:number?epoch= carries it, and the
 * client request it is for (tracing).
 */
type OrderRead = { number: number; epoch: number; requestId?: string };

/**
 * Leader changes kept for /status and metrics; older ones are dropped (counted in `changeCount`).
 */
const MAX_HISTORY = 1_000;

/** Errors after which the attempt certainly did nothing, but a retry (maybe elsewhere) may work. */
const RETRY_DEFINITE = new Set(['not_leader', 'stale_epoch', 'recovering']);
/** Errors that speak only for one attempt: definite alone, unknown once an earlier attempt was. */
const DEFINITE_FOR_THE_ATTEMPT = new Set([
  'no_quorum',
  'no_leader',
  'upstream_unavailable',
  'request_in_progress',
]);

/**
 * A client's key may have been sent before, to another frontend or to this one before a restart,
 * and that attempt may still commit: this request cannot know. So a refusal that speaks only for
 * this request's attempts (503: no leader, no quorum, catalog down) is not "certainly did not
 * happen" for a keyed order: it is 504, outcome unknown, and the client retries with the key.
 * Refusals that speak for the key itself (409 stock, 422, 404, 400) stand.
 */
function keyedRefusal(err: unknown): unknown {
  if (!(err instanceof AppError) || err.status !== 503) return err;
  return new AppError(
    504,
    'outcome_unknown',
    `order outcome unknown: ${err.message}; an earlier attempt with this Idempotency-Key may still commit, so retry with it`,
    1,
    { refusal: err.reason },
  );
}

function mayHaveHappened(err: unknown): boolean {
  if (err instanceof NetworkError) return !err.undelivered;
  return err instanceof AppError && err.reason === 'outcome_unknown';
}

export class Router implements OrderRouter {
  private readonly statuses = new Map<number, ReplicaStatus | null>();
  private readonly probed = new Set<number>();
  private leader: Leader | null = null;
  private electing: Promise<void> | null = null;
  /** When the last election ended with no leader (null: it found one). */
  private lastFailedElectionMs: number | null = null;
  /** Consecutive heartbeats the current leader did not answer in time. */
  private silentBeats = 0;
  private stopped = true;
  private cancelTick: () => void = () => {};
  private readonly changes: LeaderChange[] = [];
  private readonly batchers = new Map<
    number,
    Batcher<{ order: LeaderOrderRequest; requestId?: string }, PlacedOrder>
  >();
  private readonly readBatchers = new Map<number, Batcher<OrderRead, Order>>();
  changeCount = 0;
  /**
   * Called whenever the leader changes, so requests still waiting on a deposed or dead leader stop
   * waiting at once and move to the new one (their key makes the repeat safe). One entry per
   * request in flight, removed when it settles.
   */
  private readonly onLeaderMoved = new Set<() => void>();
  // Generous enough that a slow link is not mistaken for a dead leader (a needless failover);
  // a crashed leader refuses connections at once and is noticed on the next beat regardless.
  private readonly probeTimeoutMs: number;
  private readonly rpcTimeoutMs: number;
  private readonly requestDeadlineMs: number;
  private readonly quorum: number;
  /** Every call to a replica, by route id (shared/protocol/order.ts). */
  private readonly rpc: RouteClient<OrderRoutes>;

  constructor(private readonly o: OrderRouterOptions) {
    this.rpc = createRouteClient(o.http, orderRoutes);
    for (const r of o.replicas) this.statuses.set(r.id, null);
    this.probeTimeoutMs = Math.max(4 * o.heartbeatIntervalMs, 500);
    this.rpcTimeoutMs = Math.max(4 * o.heartbeatIntervalMs, 1_000);
    this.requestDeadlineMs = o.requestDeadlineMs ?? 10_000;
    this.quorum = o.quorum ?? Math.floor(o.replicas.length / 2) + 1;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTick();
  }

  history(): LeaderChange[] {
    return [...this.changes];
  }

  placeOrder(
    req: OrderRequest,
    opts: { idempotencyKey?: string; requestId?: string } = {},
  ): Promise<OrderPlaced & { replayed: boolean }> {
    // Without a client key, one is made here for this request: the frontend's own retries are
    // still safe, but a client that retries the whole request gets a new order.
    const key = opts.idempotencyKey ?? randomUUID();
    let attempts = 0;
    const placed = this.routed(async (l) => {
      attempts++;
      const placed = await this.batcherFor(l.id).submit({
        order: { ...req, key, epoch: l.epoch },
        requestId: opts.requestId,
      });
      // Our own retry finding our first attempt's order is not a replay for the client.
      return { order_number: placed.order_number, replayed: placed.replayed && attempts === 1 };
    });
    return opts.idempotencyKey === undefined
      ? placed
      : placed.catch((err: unknown) => {
          throw keyedRefusal(err);
        });
  }

  /**
   * Reads an order at the leader. Concurrent reads share one request (the leader answers each as
   * its own read): a read costs both processes a request of its own only when it is alone.
   */
  getOrder(orderNumber: number, opts: { requestId?: string } = {}): Promise<Order> {
    return this.routed((l) =>
      this.readBatcherFor(l.id).submit({
        number: orderNumber,
        epoch: l.epoch,
        requestId: opts.requestId,
      }),
    );
  }

  view(): ElectionView {
    const replicas: ReplicaView[] = this.o.replicas.map((r) => {
      const s = this.statuses.get(r.id) ?? null;
      return {
        id: r.id,
        url: r.url,
        state: !this.probed.has(r.id) ? 'unknown' : s ? 'up' : 'down',
        role: s?.role ?? null,
        lastIndex: s?.head.lastIndex ?? null,
        promisedEpoch: s?.promisedEpoch ?? null,
      };
    });
    return {
      leaderId: this.leader?.id ?? null,
      epoch: this.leader?.epoch ?? null,
      electing: this.electing !== null,
      replicas,
    };
  }

  /**
   * The orders going to one replica, batched (shared/batcher.ts): concurrent client orders cost
   * the leader one request instead of one each. One batcher per replica, made on first use.
   */
  private batcherFor(
    id: number,
  ): Batcher<{ order: LeaderOrderRequest; requestId?: string }, PlacedOrder> {
    return perReplica(this.batchers, id, () => {
      const url = this.urlOf(id);
      return new Batcher({
        ...PEER_BATCH_LIMITS,
        overloaded: () => noLeader('too many orders waiting for the leader'),
        send: async (items) => {
          const body = { orders: items.map((i) => i.order) };
          const answer = await this.rpc.call(
            url,
            'orderBatch',
            { body },
            { timeoutMs: this.rpcTimeoutMs + 5_000, requestId: batchRequestId(items) },
          );
          return itemResults(answer, items.length);
        },
      });
    });
  }

  /** The order reads going to one replica, batched as its orders are. */
  private readBatcherFor(id: number): Batcher<OrderRead, Order> {
    return perReplica(this.readBatchers, id, () => {
      const url = this.urlOf(id);
      return new Batcher({
        ...PEER_BATCH_LIMITS,
        overloaded: () => noLeader('too many order reads waiting for the leader'),
        // An older replica (a rolling upgrade) has no batch route: then each read goes alone.
        send: batchOrEach(
          async (reads) => {
            const body = { reads: reads.map(({ number, epoch }) => ({ number, epoch })) };
            const answer = await this.rpc.call(
              url,
              'getOrderBatch',
              { body },
              { timeoutMs: this.rpcTimeoutMs, requestId: batchRequestId(reads) },
            );
            return itemResults(answer, reads.length);
          },
          ({ number, epoch, requestId }) =>
            this.rpc.call(
              url,
              'getOrder',
              { params: { number }, query: { epoch } },
              { timeoutMs: this.rpcTimeoutMs, requestId },
            ),
        ),
      });
    });
  }

  // ------------------------------------------------------------------ heartbeats and elections

  private urlOf(id: number): string {
    return this.o.replicas.find((r) => r.id === id)!.url;
  }

  private async probe(id: number): Promise<Probe> {
    let status: ReplicaStatus | null = null;
    let failure: Probe['failure'];
    try {
      status = await this.rpc.call(
        this.urlOf(id),
        'status',
        {},
        { timeoutMs: this.probeTimeoutMs },
      );
    } catch (err) {
      failure = err instanceof NetworkError && err.undelivered ? 'refused' : 'silent';
    }
    this.statuses.set(id, status);
    this.probed.add(id);
    return { id, status, failure };
  }

  private probeAll(): Promise<Probe[]> {
    return Promise.all(this.o.replicas.map((r) => this.probe(r.id)));
  }

  private setLeader(next: Leader | null, why: 'elected' | 'found' | 'newer' | 'none'): void {
    if (next?.id === this.leader?.id && next?.epoch === this.leader?.epoch) return;
    this.leader = next;
    for (const abandon of [...this.onLeaderMoved]) abandon();
    this.changes.push({
      atMs: this.o.clock.now(),
      leaderId: next?.id ?? null,
      epoch: next?.epoch ?? null,
    });
    this.changeCount++;
    if (this.changes.length > MAX_HISTORY) this.changes.shift();
    this.o.onEvent?.({
      type: 'leader_change',
      leaderId: next?.id ?? null,
      epoch: next?.epoch ?? null,
      why,
    });
  }

  /** Asks `id` to lead `epoch`; tells every replica who leads if it does. */
  private async askToLead(id: number, epoch: number): Promise<void> {
    const led = await this.rpc.call(
      this.urlOf(id),
      'lead',
      { body: { epoch } },
      { timeoutMs: this.rpcTimeoutMs },
    );
    this.setLeader({ id, epoch: led.epoch }, 'elected');
    // The view change already bound a quorum; this notice reaches the rest.
    for (const r of this.o.replicas) {
      void this.rpc
        .send(
          r.url,
          'leader',
          { body: { epoch: led.epoch, leaderId: id } },
          { timeoutMs: this.probeTimeoutMs },
        )
        .catch(() => {});
    }
  }

  /**
   * `fresh`: the heartbeat's own probes, just taken (probing again would wait out a silent leader
   * twice).
   */
  private async runElection(
    trigger: ElectionTrigger,
    reason: string,
    fresh?: Probe[],
  ): Promise<void> {
    this.o.onEvent?.({ type: 'election', trigger, reason });
    let probes = await this.awaitOtherElection(fresh ?? (await this.probeAll()));
    // Too few intact replicas answer for any of them to gather a quorum: asking one would only
    // burn an epoch (it promises the epoch to itself first), every heartbeat, for nothing.
    const electable = candidatesInPriorityOrder(probes).length;
    if (electable < this.quorum && !existingLeader(probes)) {
      this.o.onEvent?.({
        type: 'election_refused',
        replica: null,
        reason: `only ${electable} of ${this.o.replicas.length} replicas are up and intact; ${this.quorum} are needed`,
      });
      return this.setLeader(null, 'none');
    }
    let floor = 0;
    for (const id of candidatesInPriorityOrder(probes)) {
      for (let attempt = 0; attempt < 3; attempt++) {
        // Someone (another frontend, or an election that outran our probes) may lead already:
        // following it costs nothing, deposing it costs a failover.
        const kept = existingLeader(probes);
        if (kept) return this.setLeader(kept, 'found');
        const epoch = nextEpoch(probes, floor);
        try {
          return await this.askToLead(id, epoch);
        } catch (err) {
          if (err instanceof AppError && err.reason === 'stale_epoch') {
            floor = Math.max(floor, Number(err.detail?.promisedEpoch ?? 0));
            probes = await this.probeAll();
            continue;
          }
          this.o.onEvent?.({
            type: 'election_refused',
            replica: id,
            reason: (err as Error).message,
          });
          // It may have promised this epoch to itself: the next candidate asks for a newer one,
          // so no two candidates of ours ever compete for the same epoch.
          floor = Math.max(floor, epoch);
          break;
        }
      }
    }
    this.setLeader(null, 'none');
  }

  /**
   * Another frontend's view change is running: give it the time one takes before starting a newer
   * epoch of our own, which would only depose its winner (two frontends must not duel).
   */
  private async awaitOtherElection(probes: Probe[]): Promise<Probe[]> {
    const until = this.o.clock.now() + this.rpcTimeoutMs;
    while (electionInProgress(probes) && !existingLeader(probes) && this.o.clock.now() < until) {
      await this.o.clock.sleep(Math.min(50, this.o.heartbeatIntervalMs));
      probes = await this.probeAll();
    }
    return probes;
  }

  /** Starts an election unless one is running; everyone who asks waits for the same one. */
  private elect(trigger: ElectionTrigger, reason: string, fresh?: Probe[]): Promise<void> {
    this.electing ??= this.runElection(trigger, reason, fresh).finally(() => {
      this.electing = null;
      this.lastFailedElectionMs = this.leader ? null : this.o.clock.now();
    });
    return this.electing;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const current = this.leader;
    const probes = await this.probeAll();
    if (this.stopped) return;
    if (!this.electing && this.leader === current) await this.judgeLeader(current, probes);
    // After a silent beat the next look comes at once: the second one decides, and waiting a
    // whole heartbeat for it would only stretch the failover.
    const delayMs = this.silentBeats > 0 ? 0 : this.o.heartbeatIntervalMs;
    if (!this.stopped) this.cancelTick = this.o.clock.setTimeout(() => void this.tick(), delayMs);
  }

  /**
   * One heartbeat's verdict on the leader. A leader that refuses connections or says it no longer
   * leads is replaced at once; one that merely did not answer in time (a slow link, a busy
   * machine) gets a second beat, because a needless failover costs more than it gives.
   */
  private async judgeLeader(current: Leader | null, probes: Probe[]): Promise<void> {
    const newer = newerLeader(probes, current);
    if (newer) return this.setLeader(newer, 'newer');
    if (!current) {
      // Nothing to elect with: stay quiet until a quorum of intact replicas answers again.
      if (candidatesInPriorityOrder(probes).length < this.quorum && !existingLeader(probes)) return;
      return void (await this.elect('no_leader', 'no leader yet'));
    }
    const probe = probes.find((p) => p.id === current.id)!;
    if (stillLeads(probe.status, current.epoch)) {
      this.silentBeats = 0;
      return;
    }
    if (probe.failure === 'silent' && ++this.silentBeats < SILENT_BEATS_BEFORE_ELECTION) return;
    this.silentBeats = 0;
    await this.elect('heartbeat', `leader ${current.id} stopped answering heartbeats`, probes);
  }

  private async currentLeader(): Promise<Leader> {
    if (this.electing) await this.electing;
    // An election failed within the last heartbeat: the next heartbeat retries it, requests do not
    // each start another (under load that is one election per request, each burning an epoch).
    const failedRecently =
      this.lastFailedElectionMs !== null &&
      this.o.clock.now() - this.lastFailedElectionMs < this.o.heartbeatIntervalMs;
    if (!this.leader && !failedRecently) await this.elect('no_leader', 'a request needs a leader');
    if (!this.leader)
      throw noLeader('no order replica could take the lead (a majority must be up)');
    return this.leader;
  }

  // ------------------------------------------------------------------ routing

  /**
   * One attempt at the current leader, abandoned (outcome unknown) if the leader moves meanwhile.
   */
  private async attemptAtLeader<T>(l: Leader, attempt: (l: Leader) => Promise<T>): Promise<T> {
    let abandon = () => {};
    const moved = new Promise<never>((_, reject) => {
      abandon = () =>
        reject(outcomeUnknown(`leadership moved away from replica ${l.id} during the request`));
    });
    this.onLeaderMoved.add(abandon);
    try {
      return await Promise.race([attempt(l), moved]);
    } finally {
      this.onLeaderMoved.delete(abandon);
    }
  }

  /**
   * Runs `attempt` at the leader, re-electing and retrying when the leader is gone or deposed, or
   * the attempt's outcome is unknown (the key makes a repeat safe; reads are always safe).
   */
  private async routed<T>(attempt: (l: Leader) => Promise<T>): Promise<T> {
    const deadline = this.o.clock.now() + this.requestDeadlineMs;
    let unknown: AppError | null = null;
    let lastDefinite: unknown = null;
    while (this.o.clock.now() < deadline) {
      let l: Leader;
      try {
        l = await this.currentLeader();
      } catch (err) {
        if (!unknown) throw err;
        lastDefinite = err;
        await this.o.clock.sleep(Math.min(50, this.o.heartbeatIntervalMs));
        continue;
      }
      try {
        return await this.attemptAtLeader(l, attempt);
      } catch (err) {
        if (mayHaveHappened(err))
          unknown ??=
            err instanceof AppError
              ? err
              : outcomeUnknown(`replica ${l.id} did not answer (${(err as Error).message})`);
        const reason = err instanceof AppError ? err.reason : null;
        const retry =
          err instanceof NetworkError ||
          mayHaveHappened(err) ||
          (reason !== null && RETRY_DEFINITE.has(reason)) ||
          (unknown !== null && reason !== null && DEFINITE_FOR_THE_ATTEMPT.has(reason));
        if (!retry) throw err;
        lastDefinite = err;
        if (this.leader === l)
          await this.elect(
            'request_failed',
            `replica ${l.id} failed a request: ${(err as Error).message}`,
          );
        await this.o.clock.sleep(Math.min(50, this.o.heartbeatIntervalMs));
      }
    }
    if (unknown) throw unknown;
    if (lastDefinite instanceof AppError && lastDefinite.status === 503) throw lastDefinite;
    throw noLeader(`no leader answered within ${this.requestDeadlineMs} ms`);
  }
}

export function createOrderRouter(o: OrderRouterOptions): Router {
  return new Router(o);
}

/** The batcher kept for replica `id` in `kept`, made by `make` on first use. */
function perReplica<B>(kept: Map<number, B>, id: number, make: () => B): B {
  let b = kept.get(id);
  if (b === undefined) kept.set(id, (b = make()));
  return b;
}
