/**
 * An append-only CSV file of checksummed records with group commit and a durable watermark: the
 * durable shape both the order log and the catalog's stock ledger use, so both get the same crash
 * treatment.
 *
 * Each record's last field is a crc32 of its other fields chained to the previous record's crc,
 * so equal crcs mean equal prefixes, and damage is detectable on load.
 *
 * Writes: every append, truncation and mark update goes through one queue drained by a single
 * pump. All appends queued while a write is in flight go out as one positional write and one
 * fdatasync, and the mark (shared/wal-mark.ts) is rewritten to cover them and fdatasynced, after
 * the data's (the `.synced` sidecar hook for power-loss simulation in between) or beside it
 * (`markSync`); only then do their waiters resolve and `durableCount` advance. So every record anyone was told is durable is below the mark. A
 * truncation lowers the mark before it cuts, so the mark never claims bytes the file lacks.
 * A write or fsync error is fatal (shared/fsutil.ts): the process exits rather than acknowledge.
 *
 * Load, three different findings, three named outcomes:
 * - a torn tail: only an incomplete last record (no newline at the end of the file) is what a
 *   crash mid-write leaves; it is cut, with a byte-exact copy kept beside the file;
 * - corruption (`CorruptLogError`): a complete record that fails its checks, wherever it is,
 *   including the last line (a torn write cannot end in a newline);
 * - lost records (`LostRecordsError`): the file holds fewer valid records than its mark, or a
 *   different record at the mark, or has records but no readable mark: acknowledged records are
 *   gone (a cut or deleted file, a disk that lost writes).
 * The caller decides what each means (refuse, repair from peers, or run the repair command).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setAsideName } from './data-dir.ts';
import { RecordTable, type LoadedRecords } from './wal-table.ts';
import { crashOnDurabilityError, fsyncDir, readIfExists, writeFileAtomic } from './fsutil.ts';
import {
  MARK_SUFFIX,
  MarkWriter,
  NO_AUX,
  readMark,
  replaceMark,
  type Mark,
  type MarkRead,
} from './wal-mark.ts';
import {
  CorruptLogError,
  encodeRecord,
  LostRecordsError,
  RecordRefusedError,
  type RecordCodec,
} from './wal-codec.ts';
import {
  decodeText,
  markProblem,
  parseWal,
  scanInto,
  scanWal,
  TableSink,
  viewOf,
  type ScanView,
} from './wal-scan.ts';

export { MARK_SUFFIX, NO_AUX, type Mark };
export * from './wal-codec.ts';
export { parseWal, scanWal, type Parsed } from './wal-scan.ts';

export interface WalOptions {
  /** Called instead of exiting when a write or fsync fails (tests); default crashes the process. */
  onFatal?: (what: string, err: unknown) => never;
  /** Called with what was cut from a torn tail. */
  onTornTail?: (info: { bytes: number; savedAs: string }) => void;
  /** Called after every fsync with the file length it covered (power-loss simulation). */
  onSynced?: (syncedBytes: number) => void;
  /** One write and one fdatasync per append instead of batching (for measuring what group commit buys). */
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

export interface WalInspection<R> {
  /** ok: opens as is; torn: opens after cutting a torn tail; corrupt / lost: refused; missing: no file and no mark claiming records. */
  state: 'ok' | 'torn' | 'corrupt' | 'lost' | 'missing';
  /** The valid records (before any damage). */
  records: R[];
  /** Where they end. */
  validEnd: number;
  /** The bytes the file holds (0 if missing). */
  fileBytes: number;
  mark: Mark | null;
  damage: CorruptLogError | LostRecordsError | null;
}

/**
 * What `openWal` would find in `file`, read only (for tools: the repair command, a checker): the
 * valid records, and the damage that would make it refuse. Changes nothing.
 */
export async function inspectWal<R>(
  file: string,
  codec: RecordCodec<R>,
): Promise<WalInspection<R>> {
  const read = await readMark(`${file}${MARK_SUFFIX}`);
  const mark = read.state === 'ok' ? read.mark : null;
  const content = await readIfExists(file);
  if (content === null) {
    const damage = missingFileLoss(file, read);
    return {
      state: damage ? 'lost' : 'missing',
      records: [],
      validEnd: 0,
      fileBytes: 0,
      mark,
      damage,
    };
  }
  const scan = scanWal(file, content, codec);
  const base = { records: scan.records, validEnd: scan.validEnd, fileBytes: content.length, mark };
  if (scan.damage) return { ...base, state: 'corrupt', damage: scan.damage };
  const lost = markProblem(file, viewOf(scan, codec), read);
  if (lost) return { ...base, state: 'lost', damage: lost };
  return { ...base, state: scan.validEnd < content.length ? 'torn' : 'ok', damage: null };
}

/** A missing file beside a mark that says records were durable (or that cannot be read) is lost records. */
function missingFileLoss(file: string, read: MarkRead): LostRecordsError | null {
  const mark = read.state === 'ok' ? read.mark : null;
  if (read.state !== 'unreadable' && !(mark !== null && mark.records > 0)) return null;
  return new LostRecordsError(
    file,
    mark,
    `the file is missing, its mark says ${mark ? mark.records : 'an unknown number of'} records were durable`,
    { validRecords: 0, validPrefixBytes: 0, validLastCrc: 0 },
  );
}

/**
 * Opens (creating durably if missing) a log file; cuts a torn tail; throws CorruptLogError or
 * LostRecordsError on damage, leaving the file and its mark untouched.
 *
 * In phases: read the file (or create a new one), scan it and check it against its mark (damage
 * throws there, leaving both as found), cut a torn tail, then bring the mark up to what the file
 * durably holds.
 */
export async function openWal<R>(
  file: string,
  codec: RecordCodec<R>,
  opts: WalOptions = {},
): Promise<Wal<R>> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const markFile = `${file}${MARK_SUFFIX}`;
  const markRead = await readMark(markFile);
  const content = await readOrCreate(file, codec, markRead);
  const { sink, validEnd, lastCrc } = scanForOpen(file, content, codec, markRead);
  if (validEnd < content.length) await cutTornTail(file, content, validEnd, opts);
  const mark: Mark = {
    records: sink.count,
    bytes: validEnd,
    lastCrc,
    aux: markRead.state === 'ok' ? markRead.mark.aux : NO_AUX,
  };
  const { handle, marker } = await openForAppend(file, markFile, markRead, mark);
  const loaded = {
    bytes: content,
    end: validEnd,
    offsets: sink.offsets,
    crcs: sink.crcs,
    hashes: sink.hashes,
    decoded: sink.decoded,
  };
  const wal = new Wal<R>(file, codec, handle, marker, loaded, validEnd, opts);
  opts.onSynced?.(validEnd);
  return wal;
}

/** The file's bytes; a missing file is created (header only) unless its mark says records are lost. */
async function readOrCreate<R>(
  file: string,
  codec: RecordCodec<R>,
  markRead: MarkRead,
): Promise<Buffer> {
  const content = await readIfExists(file);
  if (content !== null) return content;
  const lost = missingFileLoss(file, markRead);
  if (lost) throw lost;
  // A new log becomes durable as a whole: header file written, fsynced, renamed, dir fsynced;
  // its mark follows below (a crash in between leaves a header-only file, which needs none).
  await writeFileAtomic(file, `${codec.header}\n`);
  await fsyncDir(path.dirname(path.dirname(file)));
  return Buffer.from(`${codec.header}\n`);
}

/** Scans the file for an open and checks it against its mark; throws on damage, writes nothing. */
function scanForOpen<R>(
  file: string,
  content: Buffer,
  codec: RecordCodec<R>,
  markRead: MarkRead,
): { sink: TableSink<R>; validEnd: number; lastCrc: number } {
  // The fast path (codec.layout) keeps the records as the file's bytes (shared/wal-table.ts).
  const sink = new TableSink(codec);
  const scan = scanInto(file, content, codec, sink, true);
  if (scan.damage) throw scan.damage;
  const view: ScanView = {
    count: sink.count,
    validEnd: scan.validEnd,
    offsets: sink.offsets,
    crcAt: (i) => sink.crcs[i]!,
  };
  const lost = markProblem(file, view, markRead);
  if (lost) throw lost;
  return { sink, validEnd: scan.validEnd, lastCrc: scan.lastCrc };
}

async function cutTornTail(
  file: string,
  content: Buffer,
  validEnd: number,
  opts: WalOptions,
): Promise<void> {
  // Keep what we cut, then cut it durably before anything new is appended after it.
  const savedAs = setAsideName(file, 'torn', Date.now());
  await writeFileAtomic(savedAs, content.subarray(validEnd));
  await cutFile(file, validEnd);
  opts.onTornTail?.({ bytes: content.length - validEnd, savedAs });
}

/** The file opened for appends and its mark writer, the mark brought up to `mark` (what the file holds). */
async function openForAppend(
  file: string,
  markFile: string,
  markRead: MarkRead,
  mark: Mark,
): Promise<{ handle: fs.FileHandle; marker: MarkWriter }> {
  const handle = await fs.open(file, 'r+');
  let marker: MarkWriter | null = null;
  try {
    if (markRead.state !== 'ok') await replaceMark(markFile, mark);
    marker = await MarkWriter.open(markFile, markRead.state === 'ok' ? markRead.mark : mark);
    if (marker.mark.records !== mark.records || marker.mark.bytes !== mark.bytes) {
      // Records past the mark were written by a process that died before its mark write, maybe
      // before its fdatasync: they may sit in the page cache only. Sync them before counting them.
      await handle.datasync();
      await marker.write(mark);
    }
  } catch (err) {
    await handle.close();
    await marker?.close();
    throw err;
  }
  return { handle, marker };
}

/**
 * Repairs a damaged log by keeping the valid records before the damage: a copy of the damaged
 * file is kept beside it whole (for a person to inspect), the mark is lowered to the valid prefix,
 * and the file is replaced by that prefix. Whatever came after must come from elsewhere (a peer,
 * the repair command). The mark's aux is kept: what its owner knew still holds.
 *
 * Durable order: the copy first (nothing is lost if we crash later), then the mark (a crash here
 * leaves the damaged file below its mark: the same damage is found and repaired again), then the
 * atomic swap of the file.
 */
export async function keepValidPrefix(
  file: string,
  err: CorruptLogError | LostRecordsError,
): Promise<{ movedTo: string | null; keptBytes: number; keptRecords: number }> {
  const content = await readIfExists(file);
  const markFile = `${file}${MARK_SUFFIX}`;
  const markRead = await readMark(markFile);
  let movedTo: string | null = null;
  if (content !== null) {
    movedTo = setAsideName(file, err instanceof CorruptLogError ? 'corrupt' : 'lost', Date.now());
    await writeFileAtomic(movedTo, content);
  }
  const aux = markRead.state === 'ok' ? markRead.mark.aux : NO_AUX;
  await replaceMark(markFile, {
    records: err.validRecords,
    bytes: err.validPrefixBytes,
    lastCrc: err.validLastCrc,
    aux,
  });
  if (content !== null) await writeFileAtomic(file, content.subarray(0, err.validPrefixBytes));
  return { movedTo, keptBytes: err.validPrefixBytes, keptRecords: err.validRecords };
}

/**
 * Vouches for a log file written by other means (a fixture, a benchmark, a restored backup): its
 * valid records become the durable ones. Throws CorruptLogError if the file is damaged.
 */
export async function writeMarkFor<R>(
  file: string,
  codec: RecordCodec<R>,
  aux = NO_AUX,
): Promise<Mark> {
  const content = await fs.readFile(file);
  const p = parseWal(file, content, codec);
  const n = p.records.length;
  const mark = {
    records: n,
    bytes: p.validEnd,
    lastCrc: n ? codec.crcOf(p.records[n - 1]!) : 0,
    aux,
  };
  await replaceMark(`${file}${MARK_SUFFIX}`, mark);
  return mark;
}

async function cutFile(file: string, length: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
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

  /** Appends; visible at once, resolves once durable (mark included). The caller has chained the crcs. */
  append(records: R[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    for (const r of records) {
      const why = this.codec.check(r);
      if (why) return Promise.reject(new RecordRefusedError(this.file, why));
    }
    const lines = records.map((r) => encodeRecord(this.codec, r));
    const position = this.end;
    for (let i = 0; i < records.length; i++) {
      this.table.push(records[i]!, this.end);
      this.end += Buffer.byteLength(lines[i]!);
    }
    const bytes = Buffer.from(lines.join(''));
    return (this.tail = new Promise((done) =>
      this.enqueue({ kind: 'append', bytes, position, count: this.table.length, done }),
    ));
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

  /** Resolves once every append, truncation and aux update made so far is durable (ops complete in order). */
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

  /** Group commit: `first` and every append queued behind it, contiguous on disk, in one write + one fdatasync. */
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
    await writeAll(this.handle, bytes, first.position);
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

async function writeAll(handle: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.length - written,
      position + written,
    );
    written += bytesWritten;
  }
}
