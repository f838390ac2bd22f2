/**
 * The open log's writer (shared/wal.ts opens it): one queue of appends, truncations and mark
 * updates drained by a single pump, so a batch of appends goes out as one positional write and
 * one fdatasync, then the mark covering it, and only then do its waiters resolve (the module
 * comment of shared/wal.ts says why that order is safe). Reads are served from the record table
 * of what was loaded plus what was appended since.
 */
import type fs from 'node:fs/promises';
import { crashOnDurabilityError, writeAllAt } from './fsutil.ts';
import type { MarkWriter } from './wal-mark.ts';
import { RecordTable, type LoadedRecords } from './wal-table.ts';
import {
  CorruptLogError,
  encodeRecord,
  encodeRecords,
  type EncodedRecords,
  RecordRefusedError,
  type RecordCodec,
} from './wal-codec.ts';
import { type CheckedPage, decodeText } from './wal-scan.ts';

export interface WalOptions {
  /** Called instead of exiting when a write or fsync fails (tests); default crashes the process. */
  onFatal?: (what: string, err: unknown) => never;
  /** Called with what was cut from a torn tail. */
  onTornTail?: (info: { bytes: number; savedAs: string }) => void;
  /** Called after every fsync with the file length it covered (power-loss simulation). */
  onSynced?: (syncedBytes: number) => void;
  /**
   * One write and one fdatasync per append instead of batching (for measuring what group commit
   * buys).
   */
  groupCommit?: boolean;
  /**
   * When the mark is fdatasynced: 'after-data' (default) only once the data's fdatasync is done,
   * so no crash, power loss included, can leave it ahead of the data; 'with-data' at the same
   * time, one fsync of latency instead of two, where only a power loss in between can leave it
   * ahead, which opens as lost records: for an owner that can afford to rebuild from its peers
   * after every power loss mid-batch. Neither log uses it: when two replicas of three lose power
   * at once (chaos --overlap, seed 2, 300 s), both come back recovering, and the third cannot
   * gather a quorum of intact replicas to lead: the cluster stops for good.
   */
  markSync?: 'after-data' | 'with-data';
}

type AppendOp = {
  kind: 'append';
  bytes: Buffer;
  position: number;
  count: number;
  done: () => void;
};
type Op =
  | AppendOp
  | { kind: 'truncate'; position: number; count: number; done: () => void }
  | { kind: 'mark' };

export class Wal<R> {
  private queue: Op[] = [];
  private pumping = false;
  private durable: number;
  private closed = false;
  /** Settles when the last queued append, truncation or aux update is durable. */
  private tail: Promise<void> = Promise.resolve();
  private readonly onFatal: (what: string, err: unknown) => never;
  /** The aux the owner asked for, and who waits for it to be durable. */
  private auxWanted: number;
  private auxWaiters: { upTo: number; resolve: () => void }[] = [];
  private auxRequests = 0;
  private markQueued = false;
  private readonly table: RecordTable<R>;

  constructor(
    readonly file: string,
    private readonly codec: RecordCodec<R>,
    private readonly handle: fs.FileHandle,
    private readonly marker: MarkWriter,
    loaded: LoadedRecords<R>,
    /** Logical end of the file, counting queued but not yet written appends. */
    private end: number,
    private readonly opts: WalOptions,
  ) {
    this.onFatal = opts.onFatal ?? crashOnDurabilityError;
    const fatal = this.onFatal;
    this.table = new RecordTable(
      codec,
      loaded,
      (text) => decodeText(text, codec),
      (i, text) =>
        fatal(
          `decode record ${i}`,
          new CorruptLogError(
            file,
            i + 2,
            'a record with a valid crc chain does not decode',
            { validRecords: i, validPrefixBytes: 0, validLastCrc: 0 },
            text.slice(0, 200),
          ),
        ),
    );
    this.durable = this.table.length;
    this.auxWanted = marker.mark.aux;
    this.loadedAux = marker.mark.aux;
  }

  get length(): number {
    return this.table.length;
  }
  /** How many records (from the start) the mark covers: what may be acknowledged. */
  get durableCount(): number {
    return Math.min(this.durable, this.table.length);
  }
  /** The owner's number as the mark held it when the log was opened (NO_AUX if never set). */
  readonly loadedAux: number;
  /** The owner's number as last made durable. */
  get durableAux(): number {
    return this.marker.mark.aux;
  }
  at(i: number): R | undefined {
    return this.table.at(i);
  }
  slice(from: number, to: number): R[] {
    return this.table.slice(from, to);
  }
  crcAt(i: number): number | undefined {
    return this.table.crcAt(i);
  }
  lastCrc(): number {
    return this.table.crcAt(this.table.length - 1) ?? 0;
  }
  /** The index of the record holding `key` (codec.keyOf), if any. */
  indexOfKey(key: string): number | undefined {
    return this.table.indexOfKey(key);
  }

  /**
   * Appends; visible at once, resolves once durable (mark included). The caller has chained the
   * crcs.
   */
  append(records: R[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    for (const r of records) {
      const why = this.codec.check(r);
      if (why) return Promise.reject(new RecordRefusedError(this.file, why));
    }
    return this.write(records, encodeRecords(this.codec, records));
  }

  /**
   * Appends a page scanPage checked, its bytes as they are (they are the records' encoding, and
   * every record passed decode, which is check's rule): no record is encoded or checked again.
   */
  appendPage(page: CheckedPage<R>): Promise<void> {
    if (page.records.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    return this.write(page.records, page);
  }

  private write(records: readonly R[], { bytes, starts }: EncodedRecords): Promise<void> {
    const position = this.end;
    for (let i = 0; i < records.length; i++) this.table.push(records[i]!, position + starts[i]!);
    this.end += bytes.length;
    return (this.tail = new Promise((done) =>
      this.enqueue({ kind: 'append', bytes, position, count: this.table.length, done }),
    ));
  }

  /**
   * Records [from, to) as the file holds them (their CSV lines): the loaded ones straight from
   * the bytes read at open, the others encoded (the same bytes the writer wrote for them).
   */
  text(from: number, to: number): string {
    const end = Math.min(to, this.table.length);
    let i = Math.max(0, from);
    let out = '';
    const loaded = Math.min(end, this.table.loadedLength);
    if (i < loaded) {
      out = this.table.loadedText(i, loaded);
      i = loaded;
    }
    for (; i < end; i++) out += encodeRecord(this.codec, this.table.at(i)!);
    return out;
  }

  /** Drops records from index `from` on; visible at once, resolves once durable. */
  truncateFrom(from: number): Promise<void> {
    if (from >= this.table.length) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    const keep = Math.max(0, from);
    const position = this.table.offsetOf(keep)!;
    this.table.truncate(keep);
    this.end = position;
    // Records from `keep` on are gone from what we present, whatever is still queued for disk.
    this.durable = Math.min(this.durable, keep);
    return (this.tail = new Promise((done) =>
      this.enqueue({ kind: 'truncate', position, count: keep, done }),
    ));
  }

  /**
   * Records the owner's number in the mark, with the next mark write (or one of its own). Calls
   * coalesce: only the latest value is written. Resolves once it (or a later one) is durable.
   */
  setAux(n: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    if (!Number.isSafeInteger(n))
      return Promise.reject(new RangeError(`aux must be a safe integer, not ${n}`));
    this.auxWanted = n;
    const upTo = ++this.auxRequests;
    const done = new Promise<void>((resolve) => this.auxWaiters.push({ upTo, resolve }));
    if (!this.markQueued) {
      this.markQueued = true;
      this.enqueue({ kind: 'mark' });
    }
    const previous = this.tail;
    this.tail = done.then(() => previous);
    return done;
  }

  /**
   * Resolves once every append, truncation and aux update made so far is durable (ops complete in
   * order).
   */
  flush(): Promise<void> {
    return this.tail;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.pumping || this.queue.length) await new Promise((r) => setImmediate(r));
    await this.handle.close();
    await this.marker.close();
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length) {
        const first = this.queue.shift()!;
        if (first.kind === 'truncate') await this.applyTruncate(first);
        else if (first.kind === 'mark') {
          this.markQueued = false;
          // The records part stays as it is (its crc from the mark, not from memory, where a
          // queued truncation may already have replaced that record).
          const { records, bytes, lastCrc } = this.marker.mark;
          await this.writeMark(records, bytes, lastCrc);
        } else await this.applyAppends(first);
      }
    } catch (err) {
      this.onFatal(`write/fsync of ${this.file}`, err);
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Group commit: `first` and every append queued behind it, contiguous on disk, in one write + one
   * fdatasync.
   */
  private async applyAppends(first: AppendOp): Promise<void> {
    const batch: AppendOp[] = [first];
    for (let next = this.queue[0]; next; next = this.queue[0]) {
      // A queued aux update rides on this batch's mark write instead of costing one of its own.
      if (next.kind === 'mark') this.markQueued = false;
      else if (next.kind === 'append' && this.opts.groupCommit !== false) batch.push(next);
      else break;
      this.queue.shift();
    }
    const bytes = batch.length === 1 ? first.bytes : Buffer.concat(batch.map((b) => b.bytes));
    await writeAllAt(this.handle, bytes, first.position);
    const last = batch[batch.length - 1]!;
    // The mark makes the batch count. A truncation queued behind the batch has already removed
    // some of its records from the log: they must not count as durable, and neither may what
    // replaced them (not written yet).
    const covered = this.stablePrefix(last.count, last.position + last.bytes.length);
    const mark = () =>
      this.writeMark(covered.records, covered.bytes, this.crcFromMemory(covered.records));
    // The `.synced` sidecar (power-loss simulation) says what the data's own fdatasync covered, the
    // moment it did: a simulated power loss then keeps exactly what a real one would.
    const synced = () => this.opts.onSynced?.(last.position + last.bytes.length);
    if (this.opts.markSync === 'with-data') {
      // The mark is written after the data (both in the page cache now, so a kill -9 cannot split
      // them) and both fdatasyncs run at once. Only a power loss in between can put the mark on
      // disk first; it then claims records the file lacks, which opens as lost records, and the
      // owner rebuilds from its peers. Nobody is answered before both are durable.
      await Promise.all([this.handle.datasync().then(synced), mark()]);
    } else {
      await this.handle.datasync();
      synced();
      await mark();
    }
    this.durable = Math.max(this.durable, covered.records);
    for (const b of batch) b.done();
  }

  private async applyTruncate(op: Extract<Op, { kind: 'truncate' }>): Promise<void> {
    // Lower the mark first: after the cut the file must still hold everything the mark claims.
    if (this.marker.mark.records > op.count) {
      const lowered = this.stablePrefix(op.count, op.position);
      await this.writeMark(lowered.records, lowered.bytes, this.crcFromMemory(lowered.records));
    }
    await this.handle.truncate(op.position);
    await this.handle.sync();
    this.durable = Math.min(this.durable, op.count);
    this.opts.onSynced?.(op.position);
    op.done();
  }

  /**
   * The first `count` records (ending at `bytes`) shortened to what no queued truncation touches:
   * those records are the same in memory and on disk, so their crc can be taken from memory.
   */
  private stablePrefix(count: number, bytes: number): { records: number; bytes: number } {
    let records = count;
    let end = bytes;
    for (const op of this.queue) {
      if (op.kind === 'truncate' && op.count < records) {
        records = op.count;
        end = op.position;
      }
    }
    return { records, bytes: end };
  }

  /** crc of record `count - 1` as memory holds it; only for a count from stablePrefix. */
  private crcFromMemory(count: number): number {
    return count ? this.table.crcAt(count - 1)! : 0;
  }

  /** Rewrites the mark (one in flight at a time: only the pump calls this) with the latest aux. */
  private async writeMark(records: number, bytes: number, lastCrc: number): Promise<void> {
    const aux = this.auxWanted;
    const served = this.auxRequests;
    const cur = this.marker.mark;
    if (
      cur.records !== records ||
      cur.bytes !== bytes ||
      cur.lastCrc !== lastCrc ||
      cur.aux !== aux
    ) {
      await this.marker.write({ records, bytes, lastCrc, aux });
    }
    if (this.auxWaiters.length) {
      const waiting = this.auxWaiters;
      this.auxWaiters = waiting.filter((w) => w.upTo > served);
      for (const w of waiting) if (w.upTo <= served) w.resolve();
    }
  }
}
