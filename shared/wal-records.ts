/**
 * How the logs' CSV bytes split into records and fields: the one definition the log loader
 * (shared/wal.ts) and the tools that read logs leniently (the checker) share, so a quoted newline
 * or an odd quote reads the same everywhere.
 *
 * A record is one line unless a quoted field holds a newline: quotes inside a quoted field are
 * doubled, so a complete record holds an even number of them. Scanning bytes is safe in UTF-8:
 * no byte of a multi-byte character is a quote or a newline.
 */
import { parse as parseCsv } from 'csv-parse/sync';

export const NL = 0x0a;
export const QUOTE = 0x22;

/** Where the record starting at `pos` ends (just past its newline), or -1 if it is incomplete. */
export function recordEnd(content: Buffer, pos: number): number {
  let quotes = 0;
  let from = pos;
  for (;;) {
    const nl = content.indexOf(NL, from);
    if (nl < 0) return -1;
    // Only this line is searched: an unbounded indexOf would scan the rest of the file for every
    // record of a file without quotes (quadratic: a 101k-order log took 35 s to open).
    const line = content.subarray(from, nl);
    for (let q = line.indexOf(QUOTE); q >= 0; q = line.indexOf(QUOTE, q + 1)) quotes++;
    if (quotes % 2 === 0) return nl + 1;
    from = nl + 1;
  }
}

/** One record's CSV fields, or why its text is not one CSV record. */
export function splitRecord(text: string): string[] | string {
  if (!text.includes('"')) return text.split(',');
  try {
    const rows = parseCsv(text) as string[][];
    return rows.length === 1 ? rows[0]! : `${rows.length} CSV rows in one record`;
  } catch (err) {
    return `not valid CSV (${(err as Error).message.split('\n')[0]})`;
  }
}

export interface ScannedRecord<R> {
  record: R;
  /** 1-based line where the record starts (the header is line 1). */
  line: number;
  offset: number;
}

export interface BadRecord {
  line: number;
  offset: number;
  text: string;
  why: string;
}

export interface RecordScan<R> {
  records: ScannedRecord<R>[];
  bad: BadRecord[];
  /** Bytes after the last complete record that no newline ends (a torn write), 0 if none. */
  tornBytes: number;
}

/**
 * Every complete record from `start` on, each decoded on its own with damage skipped: for tools
 * that must name every bad record and keep the good ones after it (the checker), where the
 * loader (shared/wal.ts scanWal) stops at the first. A record whose quote is never closed ends at
 * its own line. `decode` gives the record or what is wrong with its fields; no crc or sequence is
 * checked here (the caller judges those).
 */
export function scanRecords<R>(
  content: Buffer,
  start: number,
  decode: (fields: string[]) => R | string,
): RecordScan<R> {
  const out: RecordScan<R> = { records: [], bad: [], tornBytes: 0 };
  let line = 1 + countNewlines(content, 0, start);
  for (let pos = start; pos < content.length; ) {
    const nl = content.indexOf(NL, pos);
    if (nl < 0) {
      out.tornBytes = content.length - pos;
      break;
    }
    const whole = recordEnd(content, pos);
    const end = whole < 0 ? nl + 1 : whole;
    const text = content.subarray(pos, end - 1).toString('utf8');
    const fields = whole < 0 ? 'a quoted field is never closed' : splitRecord(text);
    const r = typeof fields === 'string' ? fields : decode(fields);
    if (typeof r === 'string') out.bad.push({ line, offset: pos, text, why: r });
    else out.records.push({ record: r, line, offset: pos });
    line += countNewlines(content, pos, end);
    pos = end;
  }
  return out;
}

function countNewlines(content: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = content.indexOf(NL, from); i >= 0 && i < to; i = content.indexOf(NL, i + 1)) n++;
  return n;
}
