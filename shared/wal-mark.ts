/**
 * The durable watermark of a log file (`<file>.mark`): how many records, ending at which byte,
 * with which last crc, the log has made durable, plus one number its owner keeps there (`aux`;
 * the order log keeps its commit index).
 *
 * Why a separate file: a log file alone cannot tell "I was cut back by a disk fault" from "I never
 * had more". The mark is written after each group commit's data and fdatasynced before any
 * waiter is answered, so every acknowledged record is below it; a log that holds fewer valid
 * records than its mark (or a different record at the mark) lost acknowledged records (or, where
 * the owner syncs the mark beside the data, records lost to a power loss between the two
 * fdatasyncs, which nobody was told about: the owner rebuilds from its peers either way).
 *
 * Why this shape: one line of fixed width, rewritten in place with one positional write and an
 * fdatasync, never truncated, so a crash leaves either the old or the new line (the write is far
 * smaller than a sector and a page). Its crc32 makes a damaged mark unreadable rather than wrong.
 */
import fs from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { writeAllAt, writeFileAtomic } from './fsutil.ts';
import { intField } from './fields.ts';
import { MARK_SUFFIX } from './data-dir.ts';

export { MARK_SUFFIX };

export interface Mark {
  /** Records (from the start) that are durable. */
  records: number;
  /** Byte length of the file up to the end of the last of those records (header included). */
  bytes: number;
  /** crc of the last of those records (0 when there is none). */
  lastCrc: number;
  /** The owner's number (the order log: its commit index); NO_AUX until the owner sets one. */
  aux: number;
}

export const NO_AUX = -1;
/** What the mark can hold: safe integers, written at a fixed width. */
const COUNT = intField('mark count', 0, Number.MAX_SAFE_INTEGER);
const AUX = intField('mark aux', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

const PREFIX = 'toystore-mark v1';
const LINE =
  /^toystore-mark v1 records=(\d{16}) bytes=(\d{16}) lastCrc=(\d{10}) aux=([+-]\d{16}) crc=([0-9a-f]{8})\n$/;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

export function encodeMark(m: Mark): Buffer {
  if (
    !COUNT.valid(m.records) ||
    !COUNT.valid(m.bytes) ||
    !COUNT.valid(m.lastCrc) ||
    m.lastCrc > 0xffff_ffff ||
    !AUX.valid(m.aux)
  ) {
    throw new RangeError(`mark out of range: ${JSON.stringify(m)}`);
  }
  const body = `${PREFIX} records=${pad(m.records, 16)} bytes=${pad(m.bytes, 16)} lastCrc=${pad(m.lastCrc, 10)} aux=${m.aux < 0 ? '-' : '+'}${pad(Math.abs(m.aux), 16)}`;
  return Buffer.from(`${body} crc=${(crc32(body) >>> 0).toString(16).padStart(8, '0')}\n`);
}

/** The byte length of every mark. */
export const MARK_BYTES = encodeMark({ records: 0, bytes: 0, lastCrc: 0, aux: NO_AUX }).length;

/** Parses a mark file's bytes; null if they are not exactly one intact mark. */
export function decodeMark(bytes: Buffer): Mark | null {
  if (bytes.length !== MARK_BYTES) return null;
  const text = bytes.toString('latin1');
  const m = LINE.exec(text);
  if (!m) return null;
  const body = text.slice(0, text.lastIndexOf(' crc='));
  if ((crc32(body) >>> 0).toString(16).padStart(8, '0') !== m[5]) return null;
  const mark = {
    records: Number(m[1]),
    bytes: Number(m[2]),
    lastCrc: Number(m[3]),
    aux: Number(m[4]),
  };
  return COUNT.valid(mark.records) &&
    COUNT.valid(mark.bytes) &&
    mark.lastCrc <= 0xffff_ffff &&
    AUX.valid(mark.aux)
    ? mark
    : null;
}

/** What is beside a log file: its mark, no mark at all, or a file that is not a mark. */
export type MarkRead =
  | { state: 'ok'; mark: Mark }
  | { state: 'missing' }
  | { state: 'unreadable'; why: string };

export async function readMark(markFile: string): Promise<MarkRead> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(markFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'unreadable', why: (err as Error).message };
  }
  const mark = decodeMark(bytes);
  return mark
    ? { state: 'ok', mark }
    : { state: 'unreadable', why: `not an intact mark (${bytes.length} bytes)` };
}

/**
 * Creates or replaces a mark as a whole (new logs, repairs): atomic, durable, directory included.
 */
export async function replaceMark(markFile: string, mark: Mark): Promise<void> {
  await writeFileAtomic(markFile, encodeMark(mark));
}

/** An open mark, rewritten in place: one pwrite of the fixed-width line, then fdatasync. */
export class MarkWriter {
  private constructor(
    private readonly handle: fs.FileHandle,
    private current: Mark,
  ) {}

  static async open(markFile: string, current: Mark): Promise<MarkWriter> {
    return new MarkWriter(await fs.open(markFile, 'r+'), { ...current });
  }

  get mark(): Mark {
    return { ...this.current };
  }

  /** Resolves once `next` is durable; a failure is the caller's to treat as fatal. */
  async write(next: Mark): Promise<void> {
    await writeAllAt(this.handle, encodeMark(next), 0);
    await this.handle.datasync();
    this.current = { ...next };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
