/**
 * The simulated disk: one `SimDisk` per replica holds what is on stable storage (it survives
 * crashes), and each incarnation of the replica opens it through twins of the real stores.
 *
 * What a disk holds: the order log file (records, some possibly damaged by a fault, or no file at
 * all), its durable watermark `orders.csv.mark` ({records, bytes, lastCrc, aux}: brief decision
 * 2, written after each fdatasync and before acknowledgement, lowered before a truncation) and
 * `meta.json` (or none). Faults (storage.ts) wipe or cut these, or flip a byte in a record, while
 * the replica is down; `failLogUntilMs`/`failMetaUntilMs` make writes fail for a while.
 *
 * `SimLogStore` (an `OrderLogStore`) follows order/file-log.ts: `append` and `truncateFrom`
 * change the visible log at once and queue an operation; queued operations go to disk in call
 * order as group commits (everything queued when an fsync starts is covered by it), each fsync
 * taking a seeded time on the simulated clock; then the mark is written, and only then does an
 * operation's promise resolve. `durableIndex` is the length of the prefix the visible log shares
 * with the disk, so a record cut from the visible log never counts as durable, and neither does
 * what replaced it until synced. A write that fails is fatal, as in shared/wal.ts: the store calls
 * `env.exit` (the process exits) and nothing more reaches the disk.
 *
 * Crash semantics: the visible log is gone; the disk keeps everything fsynced plus, sometimes
 * (`tornRate`), a seeded prefix of the operations not yet fsynced, cut at record granularity
 * (writes reach the platter in order but the crash lands anywhere; the file log cuts a torn line
 * on open, so partial records never survive); the mark moves only with a completed fsync. A
 * truncation not yet fsynced is lost on crash, so the records it cut come back on restart.
 *
 * `SimMetaStore` (a `MetaStore`) is the same for meta: saves apply in call order, each atomic
 * (write-temp + rename), durable after a seeded fsync; a crash keeps the durable meta plus a seeded
 * prefix of the pending saves. A failed save is fatal, as in shared/fsutil.ts's openJsonFile:
 * the process exits (issue 9 item 8: once it went on with every later save failing).
 *
 * The fsync timer runs on the shared clock regardless of pauses (the kernel keeps writing while the
 * process is stopped); only the completion callbacks are gated through the process (`SimNode`).
 * `lie` makes a store resolve writes before they are durable (and claim everything visible is
 * durable): a deliberately broken disk for the test that proves the checker can fail.
 */
import type { ManualClock } from '../../../shared/clock.ts';
import type { OrderEntry } from '../../../shared/contracts.ts';
import { assertContinues, EntryKeyIndex, type OrderLogStore } from '../../../order/log.ts';
import {
  assertEncodes,
  formatRecord,
  LOG_HEADER,
  recordsText,
} from '../../../order/record-codec.ts';
import type { CheckedPage } from '../../../shared/wal.ts';
import { INITIAL_META, type Meta, type MetaStore } from '../../../order/meta.ts';
import type { Rng } from '../rng/rng.ts';
import type { SimNode } from './node.ts';

export interface DiskConfig {
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /** Chance that one fsync is slow (up to slowMaxMs). */
  slowRate: number;
  slowMaxMs: number;
  /** Chance that a crash keeps some writes that were not yet fsynced. */
  tornRate: number;
}

export interface DiskEnv {
  clock: ManualClock;
  rng: Rng;
  cfg: DiskConfig;
  node: SimNode;
  trace: (line: string) => void;
  /** The process exits after a failed durable write (what shared/wal.ts does). */
  exit: (why: string) => void;
  /** Told of every failed durable write (the checker holds the replica to fail-stop). */
  onWriteError: (what: string) => void;
  /** Deliberately broken disk (negative tests only). */
  lie?: boolean;
  /**
   * Deliberately broken log store: a failed write is swallowed instead of stopping the process
   * (negative tests only).
   */
  keepGoing?: boolean;
}

/** The durable watermark beside a log file (brief decision 2). */
export interface LogMark {
  records: number;
  bytes: number;
  lastCrc: number;
  aux: number;
}

/** A write the simulated disk refused (a full or failing disk). */
export class SimWriteError extends Error {
  constructor(what: string) {
    super(`${what}: EIO (simulated write error)`);
    this.name = 'SimWriteError';
  }
}

function fsyncDelay(env: DiskEnv): number {
  const { rng, cfg } = env;
  return rng.chance(cfg.slowRate)
    ? rng.int(cfg.fsyncMaxMs, cfg.slowMaxMs)
    : rng.int(cfg.fsyncMinMs, cfg.fsyncMaxMs);
}

export const HEADER_BYTES = Buffer.byteLength(LOG_HEADER);

/** What one replica has on stable storage. */
export class SimDisk {
  /** The records in the log file; a damaged one is listed in `corrupt`. */
  log: OrderEntry[] = [];
  /** Byte length of each record as written. */
  sizes: number[] = [];
  /**
   * A new disk: no log file, no mark, no meta (the replica starts 'unverified' and asks its peers).
   */
  logFile = false;
  mark: LogMark | null = null;
  meta: Meta | null = null;
  /** Index -> how a complete record was damaged (a flipped byte). */
  corrupt = new Map<number, string>();
  /** A fault damaged this disk and it has not been whole since. */
  damaged = false;
  /** The commit index recorded beside the log (the file log's mark). */
  committed = -1;
  failLogUntilMs = -Infinity;
  failMetaUntilMs = -Infinity;
  constructor(readonly replicaId: number) {}

  bytes(): number {
    return HEADER_BYTES + this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Appends records at the end of the file. */
  push(e: OrderEntry): void {
    if (e.index !== this.log.length)
      throw new Error(
        `sim disk ${this.replicaId}: append of ${e.index} onto ${this.log.length} records (harness bug)`,
      );
    this.log.push(e);
    this.sizes.push(Buffer.byteLength(formatRecord(e)));
  }

  /** Cuts the file to its first `n` records. */
  cut(n: number): void {
    this.log.length = Math.min(this.log.length, n);
    this.sizes.length = this.log.length;
    for (const i of [...this.corrupt.keys()]) if (i >= n) this.corrupt.delete(i);
  }

  /** The mark after an fsync covering the whole file. */
  syncMark(aux: number): void {
    if (!this.mark && !this.logFile) return;
    this.mark = {
      records: this.log.length,
      bytes: this.bytes(),
      lastCrc: this.log.at(-1)?.crc ?? 0,
      aux: Math.min(aux, this.log.length - 1),
    };
  }

  /** The mark a repair writes (keepValidPrefix): covering the file as it is, its aux kept. */
  resetMark(): void {
    this.mark = {
      records: this.log.length,
      bytes: this.bytes(),
      lastCrc: this.log.at(-1)?.crc ?? 0,
      aux: this.mark?.aux ?? -1,
    };
  }

  /** Before a truncation to `n` records is made: the mark never claims more than will remain. */
  lowerMark(n: number): void {
    if (!this.mark || this.mark.records <= n) return;
    this.mark = {
      records: n,
      bytes: HEADER_BYTES + this.sizes.slice(0, n).reduce((a, b) => a + b, 0),
      lastCrc: this.log[n - 1]?.crc ?? 0,
      aux: Math.min(this.mark.aux, n - 1),
    };
  }
}

type LogOp = { kind: 'append'; entries: OrderEntry[] } | { kind: 'truncate'; index: number };
interface Queued<Op> {
  op: Op;
  done: () => void;
  fail: (err: Error) => void;
}

/** Group commit in call order over a simulated fsync; shared by the log and meta twins. */
abstract class SyncQueue<Op> {
  protected queue: Queued<Op>[] = [];
  protected inFlight: Queued<Op>[] = [];
  protected dead = false;
  private readonly incarnation: number;

  constructor(protected readonly env: DiskEnv) {
    this.incarnation = env.node.incarnation;
  }

  protected abstract applyDurably(op: Op): void;
  /** After a batch is durable (the log writes its mark here). */
  protected afterSync(): void {}
  /** Whether writes fail right now. */
  protected abstract failing(): boolean;
  /** A batch failed: what the real store does about it. */
  protected abstract onFailure(batch: Queued<Op>[], err: SimWriteError): void;
  protected abstract readonly what: string;

  protected enqueue(op: Op): Promise<void> {
    if (this.env.lie) {
      // Broken on purpose: acknowledges before the write is durable.
      this.queue.push({ op, done: () => {}, fail: () => {} });
      if (!this.inFlight.length) this.startSync();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, done: resolve, fail: reject });
      if (!this.inFlight.length) this.startSync();
    });
  }

  protected restartSync(): void {
    this.startSync();
  }

  private startSync(): void {
    const batch = this.queue.splice(0);
    this.inFlight = batch;
    this.env.clock.setTimeout(() => {
      if (this.dead) return;
      if (this.failing()) {
        this.env.trace(`r${this.env.node.id} disk: ${this.what} failed (${batch.length} writes)`);
        this.env.onWriteError(this.what);
        return this.onFailure(batch, new SimWriteError(this.what));
      }
      for (const q of batch) this.applyDurably(q.op);
      this.afterSync();
      this.inFlight = [];
      for (const q of batch) this.env.node.gate(this.incarnation, q.done);
      if (this.queue.length) this.startSync();
    }, fsyncDelay(this.env));
  }

  /** Ops not yet durable, oldest first. */
  protected pendingOps(): Op[] {
    return [...this.inFlight, ...this.queue].map((q) => q.op);
  }

  /** The process died: nothing more reaches the disk except what `crash` of the subclass keeps. */
  protected kill(): void {
    this.dead = true;
    this.queue = [];
    this.inFlight = [];
  }

  /** How many of `units` not-yet-durable units survive a crash. */
  protected survivors(units: number): number {
    if (units === 0 || !this.env.rng.chance(this.env.cfg.tornRate)) return 0;
    return this.env.rng.int(0, units);
  }

  protected never(): Promise<void> {
    return new Promise<void>(() => {});
  }
}

export class SimLogStore extends SyncQueue<LogOp> implements OrderLogStore {
  protected readonly what = 'write/fsync of orders.csv';
  private entries: OrderEntry[];
  private aux: number;
  private readonly loadedAux: number;
  private readonly keys = new EntryKeyIndex(() => this.entries);

  /** `entries`: the log this incarnation opened (storage.ts decides it from the disk). */
  constructor(
    private readonly disk: SimDisk,
    env: DiskEnv,
    entries: readonly OrderEntry[],
  ) {
    super(env);
    this.entries = entries.slice();
    this.aux = this.loadedAux = Math.min(disk.mark?.aux ?? -1, entries.length - 1);
  }

  indexOfKey(key: string): number | undefined {
    return this.keys.get(key);
  }

  /** The log this incarnation presents (for the checker). */
  visible(): readonly OrderEntry[] {
    return this.entries;
  }

  lastIndex(): number {
    return this.entries.length - 1;
  }

  durableIndex(): number {
    if (this.env.lie) return this.entries.length - 1;
    // Records are crc-chained, so equal crcs at i mean equal prefixes: binary search the shared
    // prefix. A truncation not yet durable caps it (as in the file log): a crash may keep the cut
    // and lose what was appended after it, even if the disk still shows identical records now.
    const durable = this.disk.log;
    let cap = Math.min(durable.length, this.entries.length);
    for (const op of this.pendingOps()) if (op.kind === 'truncate') cap = Math.min(cap, op.index);
    let lo = 0;
    let hi = cap;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (durable[mid]!.crc === this.entries[mid]!.crc) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  entryAt(index: number): OrderEntry | undefined {
    return this.entries[index];
  }

  crcAt(index: number): number | undefined {
    return index === -1 ? 0 : this.entries[index]?.crc;
  }

  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(Math.max(0, from), Math.max(0, to));
  }

  text(from: number, to: number): string {
    return recordsText(this.slice(from, to));
  }

  appendPage(page: CheckedPage<OrderEntry>): Promise<void> {
    if (this.dead) return this.never();
    assertEncodes(page);
    return this.append([...page.records]);
  }

  append(entries: OrderEntry[]): Promise<void> {
    if (this.dead) return this.never();
    if (entries.length === 0) return Promise.resolve();
    assertContinues(this, entries);
    this.entries.push(...entries);
    return this.enqueue({ kind: 'append', entries: [...entries] });
  }

  truncateFrom(index: number): Promise<void> {
    if (this.dead) return this.never();
    if (index > this.lastIndex()) return Promise.resolve();
    const from = Math.max(0, index);
    this.keys.dropFrom(from);
    this.entries.length = from;
    return this.enqueue({ kind: 'truncate', index: from });
  }

  /** Joins the next simulated fsync, which comes after every write queued so far. */
  flush(): Promise<void> {
    if (this.dead) return this.never();
    if (this.pendingOps().length === 0) return Promise.resolve();
    return this.enqueue({ kind: 'append', entries: [] });
  }

  /** The commit index the mark held when this incarnation opened the log (-1: none). */
  get loadedCommitIndex(): number {
    return this.loadedAux;
  }

  /**
   * The mark's aux (brief decision 2): written with the next mark, or on its own when no write is
   * queued; never more than the records the mark covers.
   */
  recordCommitIndex(index: number): void {
    if (this.dead || index <= this.aux) return;
    this.aux = index;
    if (!this.env.lie && this.pendingOps().length === 0)
      void this.enqueue({ kind: 'append', entries: [] });
  }

  async close(): Promise<void> {}

  protected failing(): boolean {
    return this.env.clock.now() < this.disk.failLogUntilMs;
  }

  protected onFailure(_batch: Queued<LogOp>[], err: SimWriteError): void {
    if (this.env.keepGoing) {
      // Broken on purpose: swallows the error; the failed writes never complete, the process runs
      // on.
      this.inFlight = [];
      if (this.queue.length) this.restartSync();
      return;
    }
    // shared/wal.ts: a failed write or fsync is fatal; the process exits, nothing is acknowledged.
    // What the failed batch wrote may or may not be on disk (crash() keeps a seeded prefix of
    // it, still in flight); nothing queued behind it was written.
    this.queue = [];
    this.env.exit(err.message);
  }

  protected applyDurably(op: LogOp): void {
    if (op.kind === 'truncate') {
      // The mark is lowered before the cut (decision 2), so it never claims what was cut.
      this.disk.lowerMark(op.index);
      this.disk.cut(op.index);
      return;
    }
    if (!this.disk.logFile) this.disk.logFile = true;
    for (const e of op.entries) this.disk.push(e);
  }

  protected override afterSync(): void {
    this.disk.syncMark(this.aux);
  }

  /**
   * The process died now: keep the fsynced log plus a seeded prefix (in records) of what was
   * pending; the mark stays.
   */
  crash(): void {
    const units: LogOp[] = [];
    for (const op of this.pendingOps()) {
      if (op.kind === 'truncate') units.push(op);
      else for (const e of op.entries) units.push({ kind: 'append', entries: [e] });
    }
    const keep = this.survivors(units.length);
    for (const u of units.slice(0, keep)) this.applyDurably(u);
    if (units.length)
      this.env.trace(
        `r${this.disk.replicaId} disk: ${units.length} unsynced log writes, ${keep} survive the crash`,
      );
    this.kill();
  }
}

export class SimMetaStore extends SyncQueue<Meta> implements MetaStore {
  protected readonly what = 'save of meta.json';
  /** What is durable (shared/fsutil.ts openJsonFile: memory follows the disk). */
  private current: Meta;

  constructor(
    private readonly disk: SimDisk,
    env: DiskEnv,
  ) {
    super(env);
    this.current = { ...(disk.meta ?? INITIAL_META) };
  }

  load(): Meta {
    return { ...this.current };
  }

  save(meta: Meta): Promise<void> {
    if (this.dead) return this.never();
    return this.enqueue({ ...meta });
  }

  protected failing(): boolean {
    return this.env.clock.now() < this.disk.failMetaUntilMs;
  }

  protected onFailure(_batch: Queued<Meta>[], err: SimWriteError): void {
    // openJsonFile: a failed save is fatal (the process exits), like a failed log write.
    this.queue = [];
    this.env.exit(err.message);
  }

  protected applyDurably(meta: Meta): void {
    this.disk.meta = { ...meta };
    this.current = { ...meta };
  }

  crash(): void {
    const pending = this.pendingOps();
    const keep = this.survivors(pending.length);
    for (const m of pending.slice(0, keep)) this.applyDurably(m);
    if (pending.length)
      this.env.trace(
        `r${this.disk.replicaId} disk: ${pending.length} unsynced meta saves, ${keep} survive the crash`,
      );
    this.kill();
  }
}
