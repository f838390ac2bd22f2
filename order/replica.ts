/**
 * One order replica: the driver that carries out core.ts's decisions with a log store, a meta
 * store, a peer transport and the catalog, all injected (real or in-memory twins).
 *
 * Roles: a follower takes appends from the leader of the newest epoch it promised; the frontend
 * asks one replica to `lead(epoch)`, which runs the view change (collect a quorum of promises,
 * adopt the most up-to-date log, then serve); a leader assigns order numbers, replicates with one
 * loop per follower (Raft's nextIndex/matchIndex) and acknowledges an order only once it is
 * durable on `commitQuorum` replicas. A leader that hears of a newer epoch steps down and fails its
 * waiting orders as "outcome unknown", never as a definite error, because they may still commit.
 *
 * Local log and meta changes run one at a time (`serial`), so a decision is always taken on the
 * state the previous one left, and a reply is sent only after the changes it reports are durable.
 */
import type {
  AppendRequest, AppendResponse, CatchupRequest, FetchLogResponse, LeaderOrderRequest, LeadResponse, LeaderNotice,
  LogHead, Order, PromiseRequest, PromiseResponse, ReplicaStatus, Role,
} from '../shared/contracts.ts';
import type { Clock } from '../shared/clock.ts';
import {
  AppError, badRequest, idempotencyKeyReused, noQuorum, notLeader, orderNotFound, outcomeUnknown, requestInProgress, staleEpoch, upstreamUnavailable,
} from '../shared/errors.ts';
import { NetworkError } from '../shared/http.ts';
import {
  commitIndexFor, decideAppend, decidePromise, initialProgress, mostUpToDate, onAppendAccepted, onAppendMismatch,
  CommittedTruncationError, type FollowerProgress,
} from './core.ts';
import { signEntry, verifyChain, type OrderLogStore } from './log.ts';
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
  log_?: (msg: string) => void;
  /** Called when the replica must not go on (a safety assertion failed); default throws. */
  onFatal?: (err: Error) => void;
}

interface Waiter {
  index: number;
  resolve: () => void;
  reject: (err: AppError) => void;
  cancelTimer: () => void;
}

interface FollowerState {
  progress: FollowerProgress;
  /** Monotonic time of the last answer from this follower (promise or append). */
  lastContactMs: number;
  reachable: boolean;
  wake: () => void;
  waiting: Promise<void> | null;
}

export class Replica {
  readonly id: number;
  private meta: Meta;
  private role: Role = 'follower';
  /** Epoch this replica leads (set once its view change completed), else null. */
  private leaderEpoch: number | null = null;
  private leaderId: number | null = null;
  /** Highest index this replica knows is committed. */
  private commitIndex = -1;
  private viewStartIndex = -1;
  private followers = new Map<number, FollowerState>();
  private waiters: Waiter[] = [];
  private keyIndex = new Map<string, number>();
  private inflight = new Map<string, { name: string; quantity: number; result: Promise<number> }>();
  /** Keys whose catalog purchase is being released right now; a new request for one waits. */
  private releasing = new Set<string>();
  private reconciling: Promise<void> | null = null;
  private viewChange: { epoch: number; result: Promise<LeadResponse> } | null = null;
  private serialTail: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly commitTimeoutMs: number;
  private readonly maxBatch: number;
  private readonly say: (msg: string) => void;

  constructor(private readonly o: ReplicaOptions) {
    this.id = o.id;
    this.meta = o.meta.load();
    this.commitTimeoutMs = o.commitTimeoutMs ?? Math.max(2_000, 10 * o.heartbeatIntervalMs);
    this.maxBatch = o.maxBatch ?? 2_000;
    this.say = o.log_ ?? (() => {});
    this.rebuildKeyIndex();
  }

  // ------------------------------------------------------------------ views

  head(): LogHead {
    const last = this.o.log.lastIndex();
    return { logEpoch: this.meta.logEpoch, lastIndex: last, lastCrc: this.o.log.crcAt(last) ?? 0 };
  }

  status(): ReplicaStatus {
    return {
      id: this.id,
      role: this.role,
      promisedEpoch: this.meta.promisedEpoch,
      leaderEpoch: this.leaderEpoch,
      leaderId: this.leaderId,
      head: this.head(),
      commitIndex: this.commitIndex,
      followers: [...this.followers].map(([id, f]) => ({ id, reachable: f.reachable, matchIndex: f.progress.matchIndex, nextIndex: f.progress.nextIndex })),
    };
  }

  isLeader(): boolean {
    return this.leaderEpoch !== null;
  }

  // ------------------------------------------------------------------ life cycle

  /** After a restart: find the leader and ask it for the orders after our last one. */
  async start(): Promise<void> {
    const lastIndex = this.o.log.lastIndex();
    this.say(`starting with ${lastIndex + 1} orders, promised epoch ${this.meta.promisedEpoch}, log epoch ${this.meta.logEpoch}`);
    const timeout = this.rpcTimeoutMs();
    await Promise.all(
      this.o.peerIds.map(async (peer) => {
        try {
          const st = await this.o.peers.status(peer, timeout);
          if (st.role === 'leader' && st.leaderEpoch !== null && st.leaderEpoch >= this.meta.promisedEpoch) {
            await this.o.peers.catchup(peer, { replicaId: this.id, lastIndex }, timeout);
            this.say(`asked leader ${peer} (epoch ${st.leaderEpoch}) for orders after ${lastIndex}`);
          }
        } catch {
          // A peer that is down now will be caught up by whichever leader comes next.
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stepDown('shutting down');
    await this.serialTail.catch(() => {});
  }

  // ------------------------------------------------------------------ follower side

  async handlePromise(req: PromiseRequest): Promise<PromiseResponse> {
    return this.serial(async () => {
      const d = decidePromise(this.meta, req.epoch, req.candidateId);
      if (!d.grant) return { granted: false, promisedEpoch: d.promisedEpoch, head: this.head() };
      if (d.changed) {
        if (this.role !== 'follower') this.stepDown(`promised epoch ${req.epoch} to replica ${req.candidateId}`);
        await this.saveMeta(d.meta);
        this.leaderId = null;
      }
      return { granted: true, promisedEpoch: this.meta.promisedEpoch, head: this.head() };
    });
  }

  async handleAppend(req: AppendRequest): Promise<AppendResponse> {
    return this.serial(async () => {
      if (this.leaderEpoch === req.epoch && req.leaderId !== this.id) {
        this.fatal(new Error(`replica ${req.leaderId} claims to lead epoch ${req.epoch}, which this replica leads (two leaders in one epoch)`));
      }
      let d;
      try {
        d = decideAppend(this.meta, this.o.log, this.commitIndex, req);
      } catch (err) {
        if (err instanceof CommittedTruncationError) this.fatal(err);
        throw err;
      }
      if (d.kind === 'stale') throw staleEpoch(d.promisedEpoch);
      if (d.kind === 'invalid') throw badRequest(d.why);
      if (req.epoch > (this.leaderEpoch ?? -1) && this.role !== 'follower') this.stepDown(`replica ${req.leaderId} leads newer epoch ${req.epoch}`);
      this.leaderId = req.leaderId;
      if (d.kind === 'mismatch') {
        if (d.meta.promisedEpoch !== this.meta.promisedEpoch) await this.saveMeta(d.meta);
        return { ok: false, reason: 'mismatch', lastIndex: d.lastIndex };
      }
      // Cut, then append, then claim logEpoch: each step is durable before the next, so a crash
      // in between leaves a log that claims no more than it holds (an older logEpoch is only
      // ever less likely to be picked, never unsafe).
      if (d.truncateFrom !== null) {
        this.dropKeysFrom(d.truncateFrom);
        await this.o.log.truncateFrom(d.truncateFrom);
        this.say(`cut uncommitted orders from ${d.truncateFrom} to follow replica ${req.leaderId} in epoch ${req.epoch}`);
      }
      if (d.append.length) {
        await this.o.log.append(d.append);
        for (const e of d.append) this.keyIndex.set(e.key, e.index);
      }
      // Records we held already (e.g. written while we led, not yet fsynced) count in matchIndex:
      // never acknowledge or claim them before they are durable.
      if (this.o.log.durableIndex() < d.matchIndex) await this.o.log.flush();
      if (d.meta.promisedEpoch !== this.meta.promisedEpoch || d.meta.logEpoch !== this.meta.logEpoch) await this.saveMeta(d.meta);
      this.commitIndex = Math.max(this.commitIndex, d.knownCommitIndex);
      return { ok: true, matchIndex: d.matchIndex, logEpoch: this.meta.logEpoch };
    });
  }

  handleFetchLog(req: { epoch?: number; from: number; limit: number }): FetchLogResponse {
    if (req.epoch !== undefined && req.epoch < this.meta.promisedEpoch) throw staleEpoch(this.meta.promisedEpoch);
    const limit = Math.min(Math.max(1, req.limit), 10_000);
    return {
      prevCrc: this.o.log.crcAt(req.from - 1) ?? null,
      entries: this.o.log.slice(req.from, req.from + limit),
      lastIndex: this.o.log.lastIndex(),
    };
  }

  handleLeaderNotice(notice: LeaderNotice): void {
    if (notice.epoch < this.meta.promisedEpoch) throw staleEpoch(this.meta.promisedEpoch);
    if (this.leaderEpoch !== null && this.leaderEpoch < notice.epoch) this.stepDown(`frontend named replica ${notice.leaderId} leader of epoch ${notice.epoch}`);
    this.leaderId = notice.leaderId;
  }

  handleCatchup(req: CatchupRequest): void {
    const f = this.followers.get(req.replicaId);
    if (!this.isLeader() || !f) throw notLeader(this.leaderId, this.meta.promisedEpoch);
    f.progress = { ...f.progress, nextIndex: Math.min(f.progress.nextIndex, req.lastIndex + 1) };
    f.wake();
  }

  // ------------------------------------------------------------------ becoming leader

  async lead(epoch: number): Promise<LeadResponse> {
    if (this.leaderEpoch === epoch) return { epoch, lastIndex: this.o.log.lastIndex() };
    // A repeated request (or a second frontend) for the view change already running joins it:
    // two view changes for one epoch would rewrite the log of a leader already serving.
    if (this.viewChange?.epoch === epoch) return this.viewChange.result;
    const result = this.startViewChange(epoch);
    this.viewChange = { epoch, result };
    try {
      return await result;
    } finally {
      if (this.viewChange?.result === result) this.viewChange = null;
    }
  }

  private async startViewChange(epoch: number): Promise<LeadResponse> {
    await this.serial(async () => {
      const d = decidePromise(this.meta, epoch, this.id);
      if (!d.grant) throw staleEpoch(d.promisedEpoch);
      if (this.role !== 'follower') this.stepDown(`starting election for epoch ${epoch}`);
      await this.saveMeta(d.meta);
      this.role = 'candidate';
      this.leaderId = null;
    });
    try {
      return await this.runViewChange(epoch);
    } catch (err) {
      if (this.role === 'candidate' && this.meta.promisedEpoch === epoch) this.role = 'follower';
      throw err;
    }
  }

  private async runViewChange(epoch: number): Promise<LeadResponse> {
    const timeout = this.rpcTimeoutMs();
    const answers = await Promise.all(
      this.o.peerIds.map(async (peer) => {
        try {
          return { peer, res: await this.o.peers.promise(peer, { epoch, candidateId: this.id }, timeout) };
        } catch (err) {
          return { peer, err };
        }
      }),
    );
    const newer = Math.max(0, ...answers.map((a) => (a.res && !a.res.granted ? a.res.promisedEpoch : 0)));
    if (newer > epoch) {
      this.stepDown(`a peer promised newer epoch ${newer}`);
      throw staleEpoch(newer);
    }
    const granted = answers.filter((a) => a.res?.granted).map((a) => ({ peer: a.peer, head: a.res!.head }));
    if (1 + granted.length < this.o.commitQuorum) {
      throw noQuorum(`only ${1 + granted.length} of ${this.o.peerIds.length + 1} replicas promised epoch ${epoch}`);
    }
    const best = mostUpToDate([{ peer: this.id, head: this.head() }, ...granted]);
    if (best.peer !== this.id) await this.adoptLogFrom(best.peer, epoch);
    // Fence the catalog before serving so a deposed leader can no longer take stock. Best effort:
    // if the catalog is down no one can buy anyway, and what slips through stays pending and is
    // released by the accounting below.
    await this.o.catalogAccounts?.fence(epoch).catch((err: Error) => this.say(`could not fence the catalog at epoch ${epoch}: ${err.message}`));

    return this.serial(async () => {
      if (this.meta.promisedEpoch !== epoch || this.role !== 'candidate') throw staleEpoch(this.meta.promisedEpoch);
      // The adopted log is durable (appends resolved) before logEpoch claims it.
      await this.saveMeta({ ...this.meta, logEpoch: epoch });
      this.role = 'leader';
      this.leaderEpoch = epoch;
      this.leaderId = this.id;
      this.viewStartIndex = this.o.log.lastIndex();
      // No key-index rebuild: every log change (own append, follower cut and append, adoption)
      // already keeps it in step, and a full scan here would make failover O(log length).
      const now = this.o.clock.now();
      for (const peer of this.o.peerIds) {
        const contacted = granted.some((g) => g.peer === peer);
        const f: FollowerState = {
          progress: initialProgress(this.viewStartIndex),
          lastContactMs: contacted ? now : -Infinity,
          reachable: contacted,
          wake: () => {},
          waiting: null,
        };
        this.followers.set(peer, f);
        void this.replicateTo(peer, f, epoch);
      }
      this.say(`leading epoch ${epoch} with ${this.viewStartIndex + 1} orders (log from replica ${best.peer})`);
      this.advanceCommit();
      if (this.o.catalogAccounts) void this.accountsLoop(epoch);
      return { epoch, lastIndex: this.viewStartIndex };
    });
  }

  /**
   * Brings this candidate's log up to `peer`'s: find a point where they agree, skip the records
   * both hold, cut ours only from the first record that differs, and copy theirs from there.
   */
  private async adoptLogFrom(peer: number, epoch: number): Promise<void> {
    const timeout = this.rpcTimeoutMs();
    let from = this.o.log.lastIndex() + 1;
    let step = 1;
    let page: FetchLogResponse;
    for (;;) {
      page = await this.o.peers.fetchLog(peer, { epoch, from, limit: this.maxBatch }, timeout);
      if (from === 0 || (page.prevCrc !== null && page.prevCrc === this.o.log.crcAt(from - 1))) break;
      from = Math.max(0, Math.min(from - step, page.lastIndex + 1));
      step *= 2;
    }
    let fetched = 0;
    for (;;) {
      // Stepping back may have landed before records both logs hold: those are not cut.
      let skip = 0;
      while (skip < page.entries.length && this.o.log.crcAt(page.entries[skip]!.index) === page.entries[skip]!.crc) skip++;
      const entries = page.entries.slice(skip);
      from += skip;
      await this.serial(async () => {
        // A view change that lost the race (a newer epoch, or this one finished elsewhere) must
        // not touch the log again.
        if (this.meta.promisedEpoch !== epoch || this.role !== 'candidate') throw staleEpoch(this.meta.promisedEpoch);
        if (entries.length && from <= this.o.log.lastIndex()) {
          if (from <= this.commitIndex) this.fatal(new CommittedTruncationError(from, this.commitIndex));
          // Stop claiming our log epoch before cutting: if adoption stops half way, a shorter log
          // must not pass for the whole start-of-epoch log it claimed to hold.
          if (this.meta.logEpoch !== 0) await this.saveMeta({ ...this.meta, logEpoch: 0 });
          this.dropKeysFrom(from);
          await this.o.log.truncateFrom(from);
        }
        if (!verifyChain(from - 1, this.o.log.crcAt(from - 1) ?? 0, entries)) throw new Error(`replica ${peer} sent a broken log page`);
        await this.o.log.append(entries);
        for (const e of entries) this.keyIndex.set(e.key, e.index);
      });
      fetched += entries.length;
      from += entries.length;
      if (page.entries.length === 0 || from > page.lastIndex) break;
      page = await this.o.peers.fetchLog(peer, { epoch, from, limit: this.maxBatch }, timeout);
    }
    this.say(`adopted ${fetched} orders from replica ${peer} before leading epoch ${epoch}`);
  }

  // ------------------------------------------------------------------ leader side

  private async replicateTo(peer: number, f: FollowerState, epoch: number): Promise<void> {
    let lastSentMs = -Infinity;
    while (this.leaderEpoch === epoch && !this.stopped) {
      const last = this.o.log.lastIndex();
      const heartbeatDue = this.o.clock.now() - lastSentMs >= this.o.heartbeatIntervalMs;
      if (f.progress.nextIndex > last && !heartbeatDue) {
        await this.waitForWork(f);
        continue;
      }
      const prevIndex = f.progress.nextIndex - 1;
      const prevCrc = this.o.log.crcAt(prevIndex);
      if (prevCrc === undefined) {
        f.progress = { ...f.progress, nextIndex: last + 1 };
        continue;
      }
      const req: AppendRequest = {
        epoch,
        leaderId: this.id,
        prevIndex,
        prevCrc,
        entries: this.o.log.slice(f.progress.nextIndex, f.progress.nextIndex + this.maxBatch),
        commitIndex: this.commitIndex,
        viewStartIndex: this.viewStartIndex,
        leaderLastIndex: last,
      };
      lastSentMs = this.o.clock.now();
      try {
        const res = await this.o.peers.append(peer, req, this.rpcTimeoutMs());
        if (this.leaderEpoch !== epoch) return;
        f.lastContactMs = this.o.clock.now();
        if (!f.reachable) this.say(`follower ${peer} is reachable again`);
        f.reachable = true;
        if (res.ok) {
          f.progress = onAppendAccepted(f.progress, res.matchIndex, res.logEpoch === epoch);
          this.advanceCommit();
        } else {
          f.progress = onAppendMismatch(f.progress, res.lastIndex);
        }
      } catch (err) {
        if (this.leaderEpoch !== epoch) return;
        if (err instanceof AppError && err.reason === 'stale_epoch') {
          const promised = Number(err.detail?.promisedEpoch ?? epoch + 1);
          await this.learnEpoch(promised, `follower ${peer} promised epoch ${promised}`);
          return;
        }
        if (f.reachable) this.say(`follower ${peer} unreachable: ${(err as Error).message}`);
        f.reachable = false;
        await this.o.clock.sleep(Math.min(this.o.heartbeatIntervalMs, 100));
      }
    }
  }

  private waitForWork(f: FollowerState): Promise<void> {
    if (!f.waiting) {
      f.waiting = new Promise<void>((resolve) => {
        const cancel = this.o.clock.setTimeout(() => done(), this.o.heartbeatIntervalMs);
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

  private wakeFollowers(): void {
    for (const f of this.followers.values()) f.wake();
  }

  private advanceCommit(): void {
    if (this.leaderEpoch === null) return;
    const matches = [...this.followers.values()].map((f) => f.progress.matchIndex);
    const next = commitIndexFor(this.o.log.durableIndex(), matches, this.o.commitQuorum);
    if (next > this.commitIndex) {
      this.commitIndex = next;
      this.resolveWaiters();
    }
  }

  private resolveWaiters(): void {
    if (!this.waiters.length) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= this.commitIndex) {
        w.cancelTimer();
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  private awaitCommit(index: number, onTimeout: () => AppError): Promise<void> {
    if (index <= this.commitIndex) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = { index, resolve, reject, cancelTimer: () => {} };
      w.cancelTimer = this.o.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(onTimeout());
      }, this.commitTimeoutMs);
      this.waiters.push(w);
    });
  }

  private hasQuorumContact(): boolean {
    const now = this.o.clock.now();
    const window = Math.max(3 * this.o.heartbeatIntervalMs, 1_000);
    const live = [...this.followers.values()].filter((f) => f.reachable && now - f.lastContactMs <= window).length;
    return 1 + live >= this.o.commitQuorum;
  }

  private assertLeader(epoch?: number): number {
    if (this.leaderEpoch === null) throw notLeader(this.leaderId, this.meta.promisedEpoch);
    if (epoch !== undefined && epoch < this.leaderEpoch) throw staleEpoch(this.meta.promisedEpoch);
    if (epoch !== undefined && epoch > this.leaderEpoch) throw notLeader(this.leaderId, this.meta.promisedEpoch);
    return this.leaderEpoch;
  }

  /** Places an order and returns its number; see `order`. */
  async placeOrder(req: LeaderOrderRequest): Promise<number> {
    return (await this.order(req)).orderNumber;
  }

  /**
   * Places an order exactly once per key: catalog first (nothing logged if it refuses), then log,
   * replicate, commit. A key already in the log, or in flight, gets that order's outcome
   * (`replayed`); the same key with a different body is a 422.
   */
  async order(req: LeaderOrderRequest): Promise<{ orderNumber: number; replayed: boolean }> {
    this.assertLeader(req.epoch);
    if (this.releasing.has(req.key)) await this.reconciling;
    const known = this.lookupKey(req.key);
    if (known !== undefined) {
      const e = this.o.log.entryAt(known)!;
      if (e.name !== req.name || e.quantity !== req.quantity) throw idempotencyKeyReused();
      await this.awaitCommit(known, () => outcomeUnknown('the order is logged but not yet on a majority'));
      return { orderNumber: known, replayed: true };
    }
    const running = this.inflight.get(req.key);
    if (running) {
      if (running.name !== req.name || running.quantity !== req.quantity) throw idempotencyKeyReused();
      let cancel = () => {};
      const bound = new Promise<never>((_, reject) => {
        cancel = this.o.clock.setTimeout(() => reject(requestInProgress()), this.commitTimeoutMs);
      });
      try {
        return { orderNumber: await Promise.race([running.result, bound]), replayed: true };
      } finally {
        cancel();
      }
    }
    if (!this.hasQuorumContact()) throw noQuorum('no follower is reachable, so the order could not be made durable on a majority');
    const result = this.runOrder(req);
    this.inflight.set(req.key, { name: req.name, quantity: req.quantity, result });
    try {
      return { orderNumber: await result, replayed: false };
    } finally {
      this.inflight.delete(req.key);
    }
  }

  private lookupKey(key: string): number | undefined {
    const index = this.keyIndex.get(key);
    const retained = this.o.idempotencyKeysRetained ?? 0;
    if (index === undefined || retained <= 0) return index;
    return index > this.o.log.lastIndex() - retained ? index : undefined;
  }

  private async runOrder(req: LeaderOrderRequest): Promise<number> {
    const epoch = this.assertLeader(req.epoch);
    try {
      await this.o.catalog.purchase({ name: req.name, quantity: req.quantity, key: req.key, epoch });
    } catch (err) {
      if (err instanceof NetworkError) throw upstreamUnavailable('catalog');
      if (err instanceof AppError && err.reason === 'stale_epoch') {
        await this.learnEpoch(Number(err.detail?.promisedEpoch ?? epoch + 1), 'the catalog is fenced by a newer epoch');
        throw notLeader(null, this.meta.promisedEpoch);
      }
      throw err;
    }
    // The catalog has decremented; only now does the order get a number, so a refused purchase
    // never leaves a gap in the order numbers.
    if (this.leaderEpoch !== epoch) throw outcomeUnknown('leadership changed while the order was in progress');
    const index = this.o.log.lastIndex() + 1;
    const entry = signEntry(this.o.log.crcAt(index - 1) ?? 0, { index, epoch, name: req.name, quantity: req.quantity, key: req.key });
    this.keyIndex.set(req.key, index);
    const durable = this.o.log.append([entry]);
    this.wakeFollowers();
    void durable.then(() => this.advanceCommit());
    await this.awaitCommit(index, () => outcomeUnknown(`not on ${this.o.commitQuorum} replicas within ${this.commitTimeoutMs} ms`));
    return index;
  }

  /**
   * Tells the catalog which pending purchases have committed orders (at or below the commit
   * index) and releases those whose key is neither in the log nor in flight: no order can ever
   * take them now, because only this leader appends and its log is what later leaders adopt.
   * Keys logged but not yet committed stay pending (this leader may still lose them).
   */
  private reconcileAccounts(epoch: number): Promise<void> {
    const accounts = this.o.catalogAccounts;
    if (!accounts) return Promise.resolve();
    this.reconciling ??= (async () => {
      const { entries } = await accounts.pending();
      if (this.leaderEpoch !== epoch) return;
      const committed: string[] = [];
      const release: string[] = [];
      for (const p of entries) {
        const index = this.keyIndex.get(p.key);
        if (index !== undefined) {
          if (index <= this.commitIndex) committed.push(p.key);
        } else if (!this.inflight.has(p.key)) release.push(p.key);
      }
      if (!committed.length && !release.length) return;
      for (const key of release) this.releasing.add(key);
      try {
        const res = await accounts.reconcile({ epoch, committed, release });
        if (res.released) this.say(`released ${res.released} catalog purchases whose orders never committed`);
      } finally {
        for (const key of release) this.releasing.delete(key);
      }
    })().finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  private async accountsLoop(epoch: number): Promise<void> {
    const intervalMs = this.o.reconcileIntervalMs ?? Math.max(1_000, 5 * this.o.heartbeatIntervalMs);
    while (this.leaderEpoch === epoch && !this.stopped) {
      await this.reconcileAccounts(epoch).catch((err: Error) => this.say(`could not account for catalog purchases: ${err.message}`));
      await this.o.clock.sleep(intervalMs);
    }
  }

  /** Reads an order from the log; an order not yet known committed waits for it. */
  async getOrder(orderNumber: number, epoch?: number): Promise<Order> {
    this.assertLeader(epoch);
    const e = this.o.log.entryAt(orderNumber);
    if (!e) throw orderNotFound();
    await this.awaitCommit(orderNumber, () => new AppError(503, 'no_quorum', 'order not yet confirmed on a majority', 1));
    return { number: e.index, name: e.name, quantity: e.quantity };
  }

  // ------------------------------------------------------------------ helpers

  private async learnEpoch(epoch: number, why: string): Promise<void> {
    this.stepDown(why);
    await this.serial(async () => {
      if (epoch > this.meta.promisedEpoch) await this.saveMeta({ ...this.meta, promisedEpoch: epoch, votedFor: null });
    });
  }

  private stepDown(why: string): void {
    if (this.role === 'follower' && this.leaderEpoch === null) return;
    if (this.leaderEpoch !== null) this.say(`stepping down from epoch ${this.leaderEpoch}: ${why}`);
    this.role = 'follower';
    this.leaderEpoch = null;
    this.wakeFollowers();
    this.followers.clear();
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      w.cancelTimer();
      w.reject(outcomeUnknown(`leader stepped down (${why}); the order may still commit under the next leader`));
    }
  }

  private async saveMeta(next: Meta): Promise<void> {
    this.meta = next;
    await this.o.meta.save(next);
  }

  private rebuildKeyIndex(): void {
    this.keyIndex.clear();
    for (let i = 0; i <= this.o.log.lastIndex(); i++) this.keyIndex.set(this.o.log.entryAt(i)!.key, i);
  }

  private dropKeysFrom(index: number): void {
    for (let i = index; i <= this.o.log.lastIndex(); i++) this.keyIndex.delete(this.o.log.entryAt(i)!.key);
  }

  private rpcTimeoutMs(): number {
    return Math.max(4 * this.o.heartbeatIntervalMs, 500);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serialTail.then(fn, fn);
    this.serialTail = run.catch(() => {});
    return run;
  }

  private fatal(err: Error): never {
    (this.o.onFatal ?? ((e) => { throw e; }))(err);
    throw err;
  }
}
