/**
 * What a replica does when its peers ask something of it: promise an epoch, take an append, serve
 * a page of its log, hear who leads, and (as leader) rewind a follower that asked to catch up.
 * The decisions are core.ts's and recovery.ts's; this file carries them out in the order that
 * keeps every reply true after a crash.
 */
import type {
  AppendRequest,
  AppendResponse,
  CatchupRequest,
  FetchLogResponse,
  LeaderNotice,
  LogHead,
  OrderEntry,
  PromiseRequest,
  PromiseResponse,
} from '../shared/contracts.ts';
import { MAX_LOG_PAGE } from '../shared/contracts.ts';
import { badRequest, notLeader, recovering, staleEpoch } from '../shared/errors.ts';
import type { CheckedPage } from '../shared/wal.ts';
import {
  CommittedTruncationError,
  decideAppend,
  decidePromise,
  type AppendDecision,
} from './core.ts';
import type { Commitment } from './commitment.ts';
import type { ReplicaContext } from './context.ts';
import type { Meta } from './meta.ts';
import { completesRecovery, countsTowardQuorum } from './recovery.ts';
import { recordsOfPage } from './record-codec.ts';
import type { Replication } from './replication.ts';

/** Largest page of log one fetch returns, whatever the caller asks for. */
export const MAX_FETCH_LIMIT = 10_000;

/** Every answer to an append says so: a leader sends `records` only to a follower that does. */
const takesRecords = true;

/** An append as decideAppend takes it, and the page its entries were read from (if sent so). */
interface Received {
  req: AppendRequest;
  page?: CheckedPage<OrderEntry>;
}

/**
 * The append with its records as entries: those sent as the log's text (`records`) are checked as
 * an open checks a file (record-codec.ts), and come with their bytes, to be written as they are.
 * A page that is not whole, valid records continuing prevIndex is refused before anything else.
 */
function entriesOf(sent: AppendRequest): Received {
  if (sent.records === undefined) return { req: sent };
  if (sent.entries.length) throw badRequest('an append carries entries or records, not both');
  const page = recordsOfPage(sent.records, sent.prevIndex, sent.prevCrc);
  if (typeof page === 'string') throw badRequest(`records: ${page}`);
  if (page.records.length > MAX_LOG_PAGE)
    throw badRequest(`records: more than ${MAX_LOG_PAGE} in one append`);
  const { records: _text, ...rest } = sent;
  return { req: { ...rest, entries: [...page.records] }, page };
}

export class FollowerRpc {
  constructor(
    private readonly ctx: ReplicaContext,
    private readonly commitment: Commitment,
    private readonly replication: Replication,
    /** One round of asking the peers what this replica's state is worth (replica.ts). */
    private readonly verifyStorage: (candidate?: number) => Promise<boolean>,
  ) {}

  head(): LogHead {
    const log = this.ctx.o.log;
    const last = log.lastIndex();
    return { logEpoch: this.ctx.meta.logEpoch, lastIndex: last, lastCrc: log.crcAt(last) ?? 0 };
  }

  async handlePromise(req: PromiseRequest): Promise<PromiseResponse> {
    // Asked for a promise before its start-up check ran (the first election of a new cluster):
    // settle it now, so the first election need not wait for the next round.
    if (this.ctx.meta.storage === 'unverified') await this.verifyStorage(req.candidateId);
    return this.ctx.serial(async () => {
      // A replica that cannot vouch for its own state must not help elect anyone: its log head
      // may understate what it acknowledged, or it may have forgotten an earlier promise.
      if (!countsTowardQuorum(this.ctx.meta.storage))
        return { granted: false, promisedEpoch: this.ctx.meta.promisedEpoch, head: this.head() };
      const d = decidePromise(this.ctx.meta, req.epoch, req.candidateId);
      if (!d.grant) return { granted: false, promisedEpoch: d.promisedEpoch, head: this.head() };
      if (d.changed) {
        if (this.ctx.role !== 'follower')
          this.ctx.stepDown(`promised epoch ${req.epoch} to replica ${req.candidateId}`);
        await this.ctx.saveMeta(d.meta);
        this.ctx.leaderId = null;
      }
      return { granted: true, promisedEpoch: this.ctx.meta.promisedEpoch, head: this.head() };
    });
  }

  handleAppend(sent: AppendRequest): Promise<AppendResponse> {
    const received = entriesOf(sent);
    const { req } = received;
    return this.ctx.serial(async () => {
      if (this.ctx.leaderEpoch === req.epoch && req.leaderId !== this.ctx.id) {
        this.ctx.fatal(
          new Error(
            `replica ${req.leaderId} claims to lead epoch ${req.epoch}, which this replica leads (two leaders in one epoch)`,
          ),
        );
      }
      const d = this.decide(received);
      if (d.kind === 'stale') throw staleEpoch(d.promisedEpoch);
      if (d.kind === 'invalid') throw badRequest(d.why);
      if (req.epoch > (this.ctx.leaderEpoch ?? -1) && this.ctx.role !== 'follower')
        this.ctx.stepDown(`replica ${req.leaderId} leads newer epoch ${req.epoch}`);
      this.ctx.leaderId = req.leaderId;
      this.ctx.isolated = false;
      const storage = this.ctx.meta.storage;
      if (d.kind === 'mismatch') {
        if (d.meta.promisedEpoch !== this.ctx.meta.promisedEpoch)
          await this.ctx.saveMeta({ ...d.meta, logEpoch: this.ctx.meta.logEpoch, storage });
        return { ok: false, reason: 'mismatch', lastIndex: d.lastIndex, storage, takesRecords };
      }
      await this.apply(req, d, received.page?.suffix(d.append.length));
      await this.saveIfChanged(this.nextMeta(req, d));
      this.commitment.advanceTo(d.knownCommitIndex);
      return {
        ok: true,
        matchIndex: d.matchIndex,
        logEpoch: this.ctx.meta.logEpoch,
        storage: this.ctx.meta.storage,
        takesRecords,
      };
    });
  }

  handleFetchLog(req: { epoch?: number; from: number; limit: number }): FetchLogResponse {
    if (req.epoch !== undefined && req.epoch < this.ctx.meta.promisedEpoch)
      throw staleEpoch(this.ctx.meta.promisedEpoch);
    // A candidate adopts what it fetches: a replica whose durable state is not whole (it lost its
    // log since it promised, say) must not hand out what is left as if it were its log.
    if (req.epoch !== undefined && !countsTowardQuorum(this.ctx.meta.storage))
      throw recovering(`its storage is ${this.ctx.meta.storage}`);
    const log = this.ctx.o.log;
    const limit = Math.min(Math.max(1, req.limit), MAX_FETCH_LIMIT);
    return {
      prevCrc: log.crcAt(req.from - 1) ?? null,
      entries: log.slice(req.from, req.from + limit),
      lastIndex: log.lastIndex(),
    };
  }

  handleLeaderNotice(notice: LeaderNotice): void {
    if (notice.epoch < this.ctx.meta.promisedEpoch) throw staleEpoch(this.ctx.meta.promisedEpoch);
    if (this.ctx.leaderEpoch !== null && this.ctx.leaderEpoch < notice.epoch) {
      this.ctx.stepDown(
        `frontend named replica ${notice.leaderId} leader of epoch ${notice.epoch}`,
      );
    }
    this.ctx.leaderId = notice.leaderId;
  }

  handleCatchup(req: CatchupRequest): void {
    if (this.ctx.leaderEpoch === null || !this.replication.rewind(req.replicaId, req.lastIndex)) {
      throw notLeader(this.ctx.leaderId, this.ctx.meta.promisedEpoch);
    }
  }

  private decide({ req, page }: Received): AppendDecision {
    try {
      const chain = page ? 'checked' : 'verify';
      return decideAppend(this.ctx.meta, this.ctx.o.log, this.ctx.commitIndex, req, chain);
    } catch (err) {
      if (err instanceof CommittedTruncationError) this.ctx.fatal(err);
      throw err;
    }
  }

  /**
   * Cut, then append, then (in the caller) claim logEpoch: each step is durable before the next,
   * so a crash in between leaves a log that claims no more than it holds (an older logEpoch is
   * only ever less likely to be picked, never unsafe).
   */
  private async apply(
    req: AppendRequest,
    d: Extract<AppendDecision, { kind: 'accept' }>,
    page: CheckedPage<OrderEntry> | undefined,
  ): Promise<void> {
    const log = this.ctx.o.log;
    if (d.truncateFrom !== null) {
      await log.truncateFrom(d.truncateFrom);
      this.ctx.emit({
        type: 'log_truncated',
        from: d.truncateFrom,
        leaderId: req.leaderId,
        epoch: req.epoch,
      });
    }
    if (d.append.length) {
      // The page's records are the very objects decideAppend chose from (entriesOf).
      if (page && (page.records.length !== d.append.length || page.records[0] !== d.append[0]))
        throw new Error('the page to write is not the records the append adds');
      await (page ? log.appendPage(page) : log.append(d.append));
    }
    // Records we held already (e.g. written while we led, not yet fsynced) count in matchIndex:
    // never acknowledge or claim them before they are durable.
    if (log.durableIndex() < d.matchIndex) await log.flush();
  }

  /**
   * The meta after an accepted append. An intact replica takes the decision's as is. A
   * recovering one claims no log epoch (its head must not pass for a whole log) until the
   * append completes its recovery: then it is intact again and claims the leader's epoch.
   */
  private nextMeta(req: AppendRequest, d: Extract<AppendDecision, { kind: 'accept' }>): Meta {
    const storage = this.ctx.meta.storage;
    if (storage === 'intact') return d.meta;
    const claims = d.meta.logEpoch === req.epoch;
    if (completesRecovery(storage, req, d.matchIndex, claims)) {
      this.ctx.emit({
        type: 'storage',
        from: storage,
        to: 'intact',
        why: `caught up by established leader ${req.leaderId} in epoch ${req.epoch}`,
      });
      this.ctx.emit({
        type: 'recovered',
        epoch: req.epoch,
        leaderId: req.leaderId,
        orders: this.ctx.o.log.lastIndex() + 1,
      });
      return { ...d.meta, storage: 'intact' };
    }
    return { ...d.meta, logEpoch: this.ctx.meta.logEpoch, storage };
  }

  private async saveIfChanged(next: Meta): Promise<void> {
    const m = this.ctx.meta;
    if (
      next.promisedEpoch !== m.promisedEpoch ||
      next.logEpoch !== m.logEpoch ||
      next.storage !== m.storage ||
      next.votedFor !== m.votedFor
    ) {
      await this.ctx.saveMeta(next);
    }
  }
}
