/**
 * Becoming leader (Viewstamped Replication's view change with Raft's log matching): promise the
 * epoch to itself, collect promises from a quorum of intact replicas, adopt the most up-to-date
 * log among them, fence the catalog, and only then serve.
 *
 * Priority (the frontend's choice of candidate) decides who leads, never whose orders survive.
 * A candidate whose own state is not intact refuses: it cannot know what it has lost.
 */
import type { FetchLogResponse, LeadResponse, LogHead } from '../shared/contracts.ts';
import { noQuorum, recovering, staleEpoch } from '../shared/errors.ts';
import { CommittedTruncationError, decidePromise, mostUpToDate } from './core.ts';
import type { ReplicaContext } from './context.ts';
import type { FollowerRpc } from './follower.ts';
import { verifyChain } from './log.ts';
import { countsTowardQuorum } from './recovery.ts';

export interface Granted {
  peer: number;
  head: { logEpoch: number; lastIndex: number; lastCrc: number };
}

export class ViewChange {
  private running: { epoch: number; result: Promise<LeadResponse> } | null = null;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly follower: FollowerRpc,
    private readonly hooks: {
      /** One round of asking the peers what this replica's state is worth (replica.ts). */
      verifyStorage: () => Promise<boolean>;
      /** Called inside the serial section that makes this replica leader of `epoch`. */
      onLeading: (epoch: number, granted: Granted[]) => void;
    },
  ) {}

  async lead(epoch: number): Promise<LeadResponse> {
    if (this.ctx.leaderEpoch === epoch) return { epoch, lastIndex: this.ctx.o.log.lastIndex() };
    // A repeated request (or a second frontend) for the view change already running joins it:
    // two view changes for one epoch would rewrite the log of a leader already serving.
    if (this.running?.epoch === epoch) return this.running.result;
    const result = this.start(epoch);
    this.running = { epoch, result };
    try {
      return await result;
    } finally {
      if (this.running?.result === result) this.running = null;
    }
  }

  private async start(epoch: number): Promise<LeadResponse> {
    // Asked to lead before its own start-up check ran (a frontend that is quick off the mark):
    // settle it now rather than refuse.
    if (this.ctx.meta.storage === 'unverified' || this.ctx.meta.storage === 'amnesiac')
      await this.hooks.verifyStorage();
    await this.ctx.serial(async () => {
      if (!countsTowardQuorum(this.ctx.meta.storage))
        throw recovering(`storage is ${this.ctx.meta.storage}`);
      const d = decidePromise(this.ctx.meta, epoch, this.ctx.id);
      if (!d.grant) throw staleEpoch(d.promisedEpoch);
      if (this.ctx.role !== 'follower') this.ctx.stepDown(`starting election for epoch ${epoch}`);
      await this.ctx.saveMeta(d.meta);
      this.ctx.role = 'candidate';
      this.ctx.leaderId = null;
    });
    try {
      return await this.run(epoch);
    } catch (err) {
      if (this.ctx.role === 'candidate' && this.ctx.meta.promisedEpoch === epoch)
        this.ctx.role = 'follower';
      throw err;
    }
  }

  private async collectPromises(epoch: number): Promise<Granted[]> {
    const answers = await Promise.all(
      this.ctx.o.peerIds.map(async (peer) => {
        try {
          return {
            peer,
            res: await this.ctx.o.peers.promise(
              peer,
              { epoch, candidateId: this.ctx.id },
              this.ctx.rpcTimeoutMs,
            ),
          };
        } catch (err) {
          return { peer, err };
        }
      }),
    );
    const newer = Math.max(
      0,
      ...answers.map((a) => (a.res && !a.res.granted ? a.res.promisedEpoch : 0)),
    );
    if (newer > epoch) {
      this.ctx.stepDown(`a peer promised newer epoch ${newer}`);
      throw staleEpoch(newer);
    }
    const granted = answers
      .filter((a) => a.res?.granted)
      .map((a) => ({ peer: a.peer, head: a.res!.head }));
    if (1 + granted.length < this.ctx.quorum) {
      this.ctx.isolated = true;
      throw noQuorum(
        `only ${1 + granted.length} of ${this.ctx.replicaCount} replicas promised epoch ${epoch}`,
      );
    }
    return granted;
  }

  private async run(epoch: number): Promise<LeadResponse> {
    const granted = await this.collectPromises(epoch);
    const best = mostUpToDate([{ peer: this.ctx.id, head: this.follower.head() }, ...granted]);
    if (best.peer !== this.ctx.id) await this.adoptLogFrom(best.peer, epoch, best.head);
    // Fence the catalog before serving so a deposed leader can no longer take stock. Best effort:
    // if the catalog is down no one can buy anyway, and what slips through stays pending and is
    // released by the accounting (order/accounts.ts) once this epoch is established.
    await this.ctx.o.catalogAccounts
      ?.fence(epoch)
      .catch((err: Error) => this.ctx.emit({ type: 'fence_failed', epoch, reason: err.message }));
    return this.ctx.serial(async () => {
      if (this.ctx.meta.promisedEpoch !== epoch || this.ctx.role !== 'candidate')
        throw staleEpoch(this.ctx.meta.promisedEpoch);
      // The adopted log is durable (appends resolved) before logEpoch claims it.
      await this.ctx.saveMeta({ ...this.ctx.meta, logEpoch: epoch });
      this.ctx.role = 'leader';
      this.ctx.leaderEpoch = epoch;
      this.ctx.leaderId = this.ctx.id;
      this.ctx.viewStartIndex = this.ctx.o.log.lastIndex();
      this.ctx.established = false;
      this.ctx.isolated = false;
      this.ctx.emit({
        type: 'became_leader',
        epoch,
        orders: this.ctx.viewStartIndex + 1,
        logFrom: best.peer,
      });
      this.hooks.onLeading(epoch, granted);
      return { epoch, lastIndex: this.ctx.viewStartIndex };
    });
  }

  /**
   * One page of `peer`'s log, refused (the view change fails, nothing of ours touched) if the peer
   * no longer holds the head it promised with: it lost records since (a wiped disk, a restart on
   * a damaged file), and what is left is not the log that won the comparison.
   */
  private async fetchPage(
    peer: number,
    epoch: number,
    from: number,
    head: LogHead,
  ): Promise<FetchLogResponse> {
    const page = await this.ctx.o.peers.fetchLog(
      peer,
      { epoch, from, limit: this.ctx.maxBatch },
      this.ctx.rpcTimeoutMs,
    );
    if (page.lastIndex < head.lastIndex)
      throw noQuorum(
        `replica ${peer} holds ${page.lastIndex + 1} orders, fewer than the ${head.lastIndex + 1} it promised with`,
      );
    return page;
  }

  /**
   * Finds the last record both logs hold: steps back from our end, doubling, until the crcs agree.
   */
  private async findAgreement(
    peer: number,
    epoch: number,
    head: LogHead,
  ): Promise<{ from: number; page: FetchLogResponse }> {
    let from = this.ctx.o.log.lastIndex() + 1;
    let step = 1;
    for (;;) {
      const page = await this.fetchPage(peer, epoch, from, head);
      if (from === 0 || (page.prevCrc !== null && page.prevCrc === this.ctx.o.log.crcAt(from - 1)))
        return { from, page };
      from = Math.max(0, Math.min(from - step, page.lastIndex + 1));
      step *= 2;
    }
  }

  /**
   * Brings this candidate's log up to `peer`'s: find a point where they agree, skip the records
   * both hold, cut ours only from the first record that differs, and copy theirs from there. On
   * the last page, whatever we hold past the peer's end is cut too: the adopted log is the peer's,
   * and records of ours beyond it are from an older view that a newer leader may have decided
   * never committed (and released their stock).
   */
  private async adoptLogFrom(peer: number, epoch: number, head: LogHead): Promise<void> {
    let { from, page } = await this.findAgreement(peer, epoch, head);
    let fetched = 0;
    for (;;) {
      // Stepping back may have landed before records both logs hold: those are not cut.
      let skip = 0;
      while (
        skip < page.entries.length &&
        this.ctx.o.log.crcAt(page.entries[skip]!.index) === page.entries[skip]!.crc
      )
        skip++;
      const entries = page.entries.slice(skip);
      from += skip;
      const lastPage = page.entries.length === 0 || from + entries.length > page.lastIndex;
      await this.ctx.serial(() => this.replaceSuffix(peer, epoch, from, entries, lastPage));
      fetched += entries.length;
      from += entries.length;
      if (lastPage) break;
      page = await this.fetchPage(peer, epoch, from, head);
    }
    const log = this.ctx.o.log;
    if (head.lastIndex >= 0 && log.crcAt(head.lastIndex) !== head.lastCrc)
      throw noQuorum(`the log adopted from replica ${peer} is not the one it promised with`);
    this.ctx.emit({ type: 'log_adopted', orders: fetched, from: peer, epoch });
  }

  private async replaceSuffix(
    peer: number,
    epoch: number,
    from: number,
    entries: FetchLogResponse['entries'],
    lastPage: boolean,
  ): Promise<void> {
    const log = this.ctx.o.log;
    // A view change that lost the race (a newer epoch, or this one finished elsewhere) must not
    // touch the log again.
    if (this.ctx.meta.promisedEpoch !== epoch || this.ctx.role !== 'candidate')
      throw staleEpoch(this.ctx.meta.promisedEpoch);
    if ((entries.length || lastPage) && from <= log.lastIndex()) {
      if (from <= this.ctx.commitIndex)
        this.ctx.fatal(new CommittedTruncationError(from, this.ctx.commitIndex));
      // Stop claiming our log epoch before cutting: if adoption stops half way, a shorter log
      // must not pass for the whole start-of-epoch log it claimed to hold.
      if (this.ctx.meta.logEpoch !== 0) await this.ctx.saveMeta({ ...this.ctx.meta, logEpoch: 0 });
      await log.truncateFrom(from);
    }
    if (!verifyChain(from - 1, log.crcAt(from - 1) ?? 0, entries))
      throw new Error(`replica ${peer} sent a broken log page`);
    await log.append(entries);
  }
}
