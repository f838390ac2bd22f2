/**
 * An append-only CSV file of checksummed records with group commit: the durable shape both the
 * order log and the catalog's stock ledger use, so both get the same crash treatment.
 *
 * Each record's last field is a crc32 of its other fields chained to the previous record's crc,
 * so equal crcs mean equal prefixes, and damage is detectable on load.
 *
 * Writes: every append or truncation goes through one queue drained by a single pump. All appends
 * queued while a write is in flight go out as one positional write and one fdatasync, then all
 * their waiters resolve. Because the pump applies operations in queue order, a truncation can
 * never be overtaken by an earlier append, and `durableCount` only claims records the last
 * fdatasync covered. A write or fsync error is fatal (shared/fsutil.ts): the process exits rather
 * than acknowledge, and recovery starts from what the disk really holds.
 *
 * Load: a bad *last* line (no newline, bad fields, bad checksum) is what a crash mid-write leaves:
 * it is cut, with a byte-exact copy kept beside the file. A bad line followed by a good one is not
 * a torn write but corruption: `CorruptLogError`, and the caller decides (refuse, or repair).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { crashOnDurabilityError, fsyncDir, writeFileAtomic } from './fsutil.ts';

export interface RecordCodec<R> {
  /** The header line, without the newline; its last column is the crc. */
  header: string;
  /** The record's fields other than the crc, in column order. */
  fields(r: R): Array<string | number>;
  crcOf(r: R): number;
  /** Builds a record from its fields (crc included, last) or returns null if they are malformed. */
  decode(fields: string[]): R | null;
  /** Whether `r` may stand at position `i` (e.g. order number i); checked with the crc. */
  inSequence?(r: R, i: number): boolean;
}

export class CorruptLogError extends Error {
  constructor(readonly file: string, readonly lineNumber: number, detail: string, readonly validPrefixBytes = 0) {
    super(`${file}: corrupt record at line ${lineNumber} followed by valid records (${detail}); refusing to serve from it`);
    this.name = 'CorruptLogError';
  }
}

export function chainFields(prevCrc: number, fields: Array<string | number>): number {
  return crc32(fields.join(','), prevCrc) >>> 0;
}

export interface WalOptions {
  /** Called instead of exiting when a write or fsync fails (tests); default crashes the process. */
  onFatal?: (what: string, err: unknown) => never;
  /** Called with what was cut from a torn tail. */
  onTornTail?: (info: { bytes: number; savedAs: string }) => void;
  /** Called after every fsync with the file length it covered (power-loss simulation). */
  onSynced?: (syncedBytes: number) => void;
  /** One write and one fdatasync per append instead of batching (for measuring what group commit buys). */
  groupCommit?: boolean;
}

export interface Parsed<R> {
  records: R[];
  offsets: number[];
  validEnd: number;
}

/** Parses a whole file; returns the valid records and where the valid bytes end. */
export function parseWal<R>(file: string, content: Buffer, codec: RecordCodec<R>): Parsed<R> {
  const header = `${codec.header}\n`;
  const records: R[] = [];
  const offsets: number[] = [];
  const headerEnd = content.indexOf(0x0a);
  if (headerEnd < 0 || content.subarray(0, headerEnd + 1).toString() !== header) {
    throw new CorruptLogError(file, 1, 'missing or unexpected header');
  }
  let pos = headerEnd + 1;
  let prevCrc = 0;
  let lineNumber = 1;
  let badAt: { pos: number; line: number; why: string } | null = null;
  while (pos < content.length) {
    lineNumber++;
    const nl = content.indexOf(0x0a, pos);
    const end = nl < 0 ? content.length : nl;
    const record = nl < 0 ? null : decodeLine(content.subarray(pos, end).toString('utf8'), codec);
    if (badAt) {
      // Past a bad line, any complete, well-formed record means the bad line was not the tail a
      // crash mid-write leaves, but damage in the middle: cutting there would drop real records.
      if (record) throw new CorruptLogError(file, badAt.line, badAt.why, badAt.pos);
    } else {
      const why =
        nl < 0 ? 'no newline'
        : !record ? 'unparseable'
        : codec.inSequence && !codec.inSequence(record, records.length) ? 'out of sequence'
        : chainFields(prevCrc, codec.fields(record)) !== codec.crcOf(record) ? 'checksum mismatch'
        : null;
      if (why) badAt = { pos, line: lineNumber, why };
      else {
        records.push(record!);
        offsets.push(pos);
        prevCrc = codec.crcOf(record!);
      }
    }
    pos = nl < 0 ? content.length : nl + 1;
  }
  return { records, offsets, validEnd: badAt ? badAt.pos : content.length };
}

function decodeLine<R>(line: string, codec: RecordCodec<R>): R | null {
  let fields: string[];
  if (line.includes('"')) {
    try {
      fields = (parseCsv(line) as string[][])[0] ?? [];
    } catch {
      return null;
    }
  } else fields = line.split(',');
  return codec.decode(fields);
}

/** A field csv-stringify would quote; anything else is written as is. */
const NEEDS_QUOTING = /[",\r\n]/;

export function encodeRecord<R>(codec: RecordCodec<R>, r: R): string {
  const fields = codec.fields(r);
  // Fast path (the common case: names and keys without commas or quotes): the same bytes
  // csv-stringify writes, without its per-call option handling (8 % of a catching-up follower).
  if (!fields.some((f) => typeof f === 'string' && (NEEDS_QUOTING.test(f) || f === ''))) return `${fields.join(',')},${codec.crcOf(r)}\n`;
  return stringifyCsv([[...fields, codec.crcOf(r)]]);
}

/** Opens (creating durably if missing) a log file; cuts a torn tail; throws CorruptLogError on damage. */
export async function openWal<R>(file: string, codec: RecordCodec<R>, opts: WalOptions = {}): Promise<Wal<R>> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  let content: Buffer;
  try {
    content = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // A new log becomes durable as a whole: header file written, fsynced, renamed, dir fsynced.
    await writeFileAtomic(file, `${codec.header}\n`);
    await fsyncDir(path.dirname(path.dirname(file)));
    content = Buffer.from(`${codec.header}\n`);
  }
  const { records, offsets, validEnd } = parseWal(file, content, codec);
  if (validEnd < content.length) {
    // Keep what we cut, then cut it durably before anything new is appended after it.
    const savedAs = `${file}.torn-${Date.now()}`;
    await writeFileAtomic(savedAs, content.subarray(validEnd));
    await cutFile(file, validEnd);
    opts.onTornTail?.({ bytes: content.length - validEnd, savedAs });
  }
  const handle = await fs.open(file, 'r+');
  const wal = new Wal<R>(file, codec, handle, records, offsets, validEnd, opts);
  opts.onSynced?.(validEnd);
  return wal;
}

/**
 * Repairs a corrupt log by keeping the valid records before the damage: the damaged file is moved
 * aside whole (for a person to inspect), and a new file holding the valid prefix replaces it.
 * Whatever came after the damage must be fetched again from a peer.
 */
export async function keepValidPrefix(file: string, err: CorruptLogError): Promise<{ movedTo: string; keptBytes: number }> {
  const content = await fs.readFile(file);
  const movedTo = `${file}.corrupt-${Date.now()}`;
  await fs.rename(file, movedTo);
  await writeFileAtomic(file, content.subarray(0, err.validPrefixBytes));
  return { movedTo, keptBytes: err.validPrefixBytes };
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

type Op =
  | { kind: 'append'; bytes: Buffer; position: number; count: number; done: () => void }
  | { kind: 'truncate'; position: number; count: number; done: () => void };

export class Wal<R> {
  private queue: Op[] = [];
  private pumping = false;
  private durable: number;
  private closed = false;
  /** Settles when the last queued operation is durable. */
  private tail: Promise<void> = Promise.resolve();
  private readonly onFatal: (what: string, err: unknown) => never;

  constructor(
    readonly file: string,
    private readonly codec: RecordCodec<R>,
    private readonly handle: fs.FileHandle,
    private readonly records: R[],
    /** Byte offset where each record starts. */
    private readonly offsets: number[],
    /** Logical end of the file, counting queued but not yet written appends. */
    private end: number,
    private readonly opts: WalOptions,
  ) {
    this.durable = records.length;
    this.onFatal = opts.onFatal ?? crashOnDurabilityError;
  }

  get length(): number {
    return this.records.length;
  }
  /** How many records (from the start) the last fsync covered. */
  get durableCount(): number {
    return Math.min(this.durable, this.records.length);
  }
  at(i: number): R | undefined {
    return this.records[i];
  }
  slice(from: number, to: number): R[] {
    return this.records.slice(from, to);
  }
  lastCrc(): number {
    const last = this.records[this.records.length - 1];
    return last === undefined ? 0 : this.codec.crcOf(last);
  }

  /** Appends; visible at once, resolves once durable. The caller has chained the crcs. */
  append(records: R[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    const lines = records.map((r) => encodeRecord(this.codec, r));
    const position = this.end;
    for (let i = 0; i < records.length; i++) {
      this.offsets.push(this.end);
      this.end += Buffer.byteLength(lines[i]!);
      this.records.push(records[i]!);
    }
    const bytes = Buffer.from(lines.join(''));
    return (this.tail = new Promise((done) => this.enqueue({ kind: 'append', bytes, position, count: this.records.length, done })));
  }

  /** Drops records from index `from` on; visible at once, resolves once durable. */
  truncateFrom(from: number): Promise<void> {
    if (from >= this.records.length) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    const keep = Math.max(0, from);
    const position = this.offsets[keep]!;
    this.records.length = keep;
    this.offsets.length = keep;
    this.end = position;
    // Records from `keep` on are gone from what we present, whatever is still queued for disk.
    this.durable = Math.min(this.durable, keep);
    return (this.tail = new Promise((done) => this.enqueue({ kind: 'truncate', position, count: keep, done })));
  }

  /** Resolves once every append and truncation made so far is durable (ops complete in order). */
  flush(): Promise<void> {
    return this.tail;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.pumping || this.queue.length) await new Promise((r) => setImmediate(r));
    await this.handle.close();
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length) {
        const first = this.queue[0]!;
        if (first.kind === 'truncate') {
          this.queue.shift();
          await this.handle.truncate(first.position);
          await this.handle.sync();
          this.durable = Math.min(this.durable, first.count);
          this.opts.onSynced?.(first.position);
          first.done();
          continue;
        }
        // Group commit: every append queued so far, contiguous on disk, in one write + one fdatasync.
        const batch: Extract<Op, { kind: 'append' }>[] = [];
        while (this.queue[0]?.kind === 'append' && (batch.length === 0 || this.opts.groupCommit !== false)) {
          batch.push(this.queue.shift() as Extract<Op, { kind: 'append' }>);
        }
        const bytes = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((b) => b.bytes));
        await writeAll(this.handle, bytes, batch[0]!.position);
        await this.handle.datasync();
        // A truncation queued behind this batch has already removed some of its records from the
        // log; they must not count as durable, and neither may what replaced them (not written yet).
        let cap = batch[batch.length - 1]!.count;
        for (const op of this.queue) if (op.kind === 'truncate') cap = Math.min(cap, op.count);
        this.durable = Math.max(this.durable, cap);
        const last = batch[batch.length - 1]!;
        this.opts.onSynced?.(last.position + last.bytes.length);
        for (const b of batch) b.done();
      }
    } catch (err) {
      this.onFatal(`write/fsync of ${this.file}`, err);
    } finally {
      this.pumping = false;
    }
  }
}

async function writeAll(handle: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}
