/**
 * The order log on disk: one CSV file per replica (`orders.csv`, header
 * `number,epoch,name,quantity,key,crc`), appended with group commit.
 *
 * Every append or truncation goes through one queue drained by a single pump: all appends queued
 * while a write is in flight go out as one positional write and one fdatasync, then all their
 * waiters resolve. Because the pump applies operations in queue order, a truncation queued after
 * an append can never be overtaken by it, and `durableIndex` only claims records the last
 * fdatasync covered. A write or fsync error is fatal (see shared/fsutil.ts): the replica exits
 * instead of acknowledging, and recovery starts from what the disk really holds.
 *
 * On open, a torn last line (no newline, bad fields or bad checksum) is what a crash mid-write
 * leaves: it is cut, with a copy kept beside the log. A bad record followed by a good one is not a
 * torn write but corruption, and the log refuses to open rather than silently drop data.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import type { OrderEntry } from '../shared/contracts.ts';
import { crashOnDurabilityError, fsyncDir, writeFileAtomic } from '../shared/fsutil.ts';
import { assertContinues, chainCrc, type OrderLogStore } from './log.ts';

export const LOG_FILE = 'orders.csv';
export const LOG_HEADER = 'number,epoch,name,quantity,key,crc\n';

export class CorruptLogError extends Error {
  constructor(readonly file: string, readonly lineNumber: number, detail: string) {
    super(`${file}: corrupt record at line ${lineNumber} followed by valid records (${detail}); refusing to serve from it`);
    this.name = 'CorruptLogError';
  }
}

type Op =
  | { kind: 'append'; bytes: Buffer; position: number; lastIndex: number; done: () => void }
  | { kind: 'truncate'; position: number; index: number; done: () => void };

export interface FileLogOptions {
  /** Called instead of exiting when a write or fsync fails (tests); default crashes the process. */
  onFatal?: (what: string, err: unknown) => never;
  /** Called with what was cut from a torn tail. */
  onTornTail?: (info: { bytes: number; savedAs: string }) => void;
  /** Called after every fsync with the file length it covered (power-loss simulation). */
  onSynced?: (syncedBytes: number) => void;
}

export async function openFileLogStore(dir: string, opts: FileLogOptions = {}): Promise<FileLogStore> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, LOG_FILE);
  let content: Buffer;
  try {
    content = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // A new log becomes durable as a whole: header file written, fsynced, renamed, dir fsynced.
    await writeFileAtomic(file, LOG_HEADER);
    await fsyncDir(path.dirname(dir));
    content = Buffer.from(LOG_HEADER);
  }
  const { entries, offsets, validEnd } = parseLog(file, content);
  if (validEnd < content.length) {
    // Keep what we cut, then cut it durably before anything new is appended after it.
    const savedAs = `${file}.torn-${Date.now()}`;
    await writeFileAtomic(savedAs, content.subarray(validEnd));
    const handle = await fs.open(file, 'r+');
    await handle.truncate(validEnd);
    await handle.sync();
    await handle.close();
    opts.onTornTail?.({ bytes: content.length - validEnd, savedAs });
  }
  const handle = await fs.open(file, 'r+');
  const store = new FileLogStore(file, handle, entries, offsets, validEnd, opts.onFatal ?? crashOnDurabilityError);
  store.onSynced = opts.onSynced ?? null;
  store.onSynced?.(validEnd);
  return store;
}

/** Parses a whole log file; returns the valid records and where the valid bytes end. */
export function parseLog(file: string, content: Buffer): { entries: OrderEntry[]; offsets: number[]; validEnd: number } {
  const entries: OrderEntry[] = [];
  const offsets: number[] = [];
  const headerEnd = content.indexOf(0x0a);
  if (headerEnd < 0 || content.subarray(0, headerEnd + 1).toString() !== LOG_HEADER) {
    if (content.length < LOG_HEADER.length && LOG_HEADER.startsWith(content.toString())) {
      throw new CorruptLogError(file, 1, 'header is torn; the file was never valid');
    }
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
    const line = content.subarray(pos, end).toString('utf8');
    const entry = nl < 0 ? null : parseRecord(line);
    const why = nl < 0 ? 'no newline' : !entry ? 'unparseable' : entry.index !== entries.length ? 'index out of sequence' : chainCrc(prevCrc, entry) !== entry.crc ? 'checksum mismatch' : null;
    if (badAt) {
      // Past a bad line, any complete, well-formed record means the bad line was not the tail a
      // crash mid-write leaves, but damage in the middle: cutting there would drop real orders.
      if (entry && entry.index > entries.length) throw new CorruptLogError(file, badAt.line, badAt.why);
    } else if (why) {
      badAt = { pos, line: lineNumber, why };
    } else {
      entries.push(entry!);
      offsets.push(pos);
      prevCrc = entry!.crc;
    }
    pos = nl < 0 ? content.length : nl + 1;
  }
  return { entries, offsets, validEnd: badAt ? badAt.pos : content.length };
}

function parseRecord(line: string): OrderEntry | null {
  let fields: string[];
  if (line.includes('"')) {
    try {
      fields = (parseCsv(line) as string[][])[0] ?? [];
    } catch {
      return null;
    }
  } else fields = line.split(',');
  if (fields.length !== 6) return null;
  const [index, epoch, name, quantity, key, crc] = fields as [string, string, string, string, string, string];
  const nums = [index, epoch, quantity, crc].map((s) => (/^\d{1,15}$/.test(s) ? Number(s) : NaN));
  if (nums.some(Number.isNaN) || !name || !key) return null;
  return { index: nums[0]!, epoch: nums[1]!, name, quantity: nums[2]!, key, crc: nums[3]! };
}

export function formatRecord(e: OrderEntry): string {
  return stringifyCsv([[e.index, e.epoch, e.name, e.quantity, e.key, e.crc]]);
}

export class FileLogStore implements OrderLogStore {
  private queue: Op[] = [];
  private pumping = false;
  private durable: number;
  private closed = false;
  onSynced: ((syncedBytes: number) => void) | null = null;

  constructor(
    readonly file: string,
    private handle: fs.FileHandle,
    private entries: OrderEntry[],
    /** Byte offset where each record starts; offsets[i] is record i. */
    private offsets: number[],
    /** Logical end of the file, counting queued but not yet written appends. */
    private end: number,
    private onFatal: (what: string, err: unknown) => never,
  ) {
    this.durable = entries.length - 1;
  }

  lastIndex(): number {
    return this.entries.length - 1;
  }
  durableIndex(): number {
    return Math.min(this.durable, this.entries.length - 1);
  }
  entryAt(index: number): OrderEntry | undefined {
    return this.entries[index];
  }
  crcAt(index: number): number | undefined {
    return index === -1 ? 0 : this.entries[index]?.crc;
  }
  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(from, to);
  }

  append(entries: OrderEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('order log is closed'));
    assertContinues(this, entries);
    const lines = entries.map(formatRecord).join('');
    const bytes = Buffer.from(lines);
    let offset = this.end;
    for (const e of entries) {
      this.offsets.push(offset);
      offset += Buffer.byteLength(formatRecord(e));
      this.entries.push(e);
    }
    const position = this.end;
    this.end += bytes.length;
    return new Promise((done) => this.enqueue({ kind: 'append', bytes, position, lastIndex: this.lastIndex(), done }));
  }

  truncateFrom(index: number): Promise<void> {
    if (index > this.lastIndex()) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('order log is closed'));
    const from = Math.max(0, index);
    // Records from `from` on are gone from the log we present, whatever is still queued for disk.
    this.durable = Math.min(this.durable, from - 1);
    const position = this.offsets[from]!;
    this.entries.length = from;
    this.offsets.length = from;
    this.end = position;
    return new Promise((done) => this.enqueue({ kind: 'truncate', position, index: from, done }));
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
          this.durable = Math.min(this.durable, first.index - 1);
          this.onSynced?.(first.position);
          first.done();
          continue;
        }
        // Group commit: every append queued so far, contiguous on disk, in one write + one fdatasync.
        const batch: Extract<Op, { kind: 'append' }>[] = [];
        while (this.queue[0]?.kind === 'append') batch.push(this.queue.shift() as Extract<Op, { kind: 'append' }>);
        const bytes = Buffer.concat(batch.map((b) => b.bytes));
        await writeAll(this.handle, bytes, batch[0]!.position);
        await this.handle.datasync();
        // A truncation queued behind this batch has already removed some of its records from the
        // log; they must not count as durable, and neither may what replaced them (not written yet).
        let cap = batch[batch.length - 1]!.lastIndex;
        for (const op of this.queue) if (op.kind === 'truncate') cap = Math.min(cap, op.index - 1);
        this.durable = Math.max(this.durable, cap);
        const lastOp = batch[batch.length - 1]!;
        this.onSynced?.(lastOp.position + lastOp.bytes.length);
        for (const b of batch) b.done();
      }
    } catch (err) {
      this.onFatal(`order log write/fsync on ${this.file}`, err);
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
