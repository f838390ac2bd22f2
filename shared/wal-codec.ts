/**
 * What a record is to the shared log (shared/wal.ts): the codec an owner gives it (the order log,
 * the catalog ledger), the checksum chain, the one way a record is written as CSV, and the named
 * errors a damaged file opens as. Apart from the log itself so the scan (shared/wal-scan.ts), the
 * log and the tools all share one definition without importing each other.
 */
import { crc32 } from 'node:zlib';
import type { Mark } from './wal-mark.ts';
import { stringify as stringifyCsv } from 'csv-stringify/sync';

export interface RecordCodec<R> {
  /** The header line, without the newline; its last column is the crc. */
  header: string;
  /**
   * Headers of older versions of the format that `decode` still reads (a file keeps the header it
   * was created with; new records are always written in the current format).
   */
  olderHeaders?: readonly string[];
  /** The record's fields other than the crc, in column order. */
  fields(r: R): Array<string | number>;
  crcOf(r: R): number;
  /**
   * Builds a record from its fields (crc included, last) or returns null if they are malformed.
   * Returns only records `check` accepts: a page's records are written unchecked
   * (Wal.appendPage), having been decoded.
   */
  decode(fields: string[]): R | null;
  /** What is wrong with fields `decode` refused (for the corruption message). */
  explain?(fields: string[]): string;
  /**
   * Why `r` cannot be written (a field out of its bounds, shared/fields.ts), or null: nothing
   * unreadable reaches the disk.
   */
  check(r: R): string | null;
  /** Whether `r` may stand at position `i` (e.g. order number i); checked with the crc. */
  inSequence?(r: R, i: number): boolean;
  /** The record's key, for a log looked up by key (Wal.indexOfKey). */
  keyOf?(r: R): string;
  /**
   * Where an unquoted record's fields sit, for opening without decoding (shared/wal-table.ts):
   * how many fields (crc included, last), the field that must equal the record's position (the
   * one `inSequence` checks), and the key field. Absent, every record is decoded at open.
   */
  layout?: { fields: number; sequenceField: 0; keyField: number };
}

/** Whether a file's first line (without its newline) is a header this codec reads. */
export function readsHeader(codec: RecordCodec<unknown>, line: string): boolean {
  return line === codec.header || (codec.olderHeaders?.includes(line) ?? false);
}

/** Where the valid part of a damaged file ends: what a repair keeps. */
export interface ValidPrefix {
  /** Valid records before the damage. */
  validRecords: number;
  /** Byte length of the header plus those records. */
  validPrefixBytes: number;
  /** crc of the last of them (0 if none). */
  validLastCrc: number;
}

export class CorruptLogError extends Error {
  readonly code = 'corrupt_log';
  readonly validRecords: number;
  readonly validPrefixBytes: number;
  readonly validLastCrc: number;
  constructor(
    readonly file: string,
    /** 1-based line where the bad record starts (the header is line 1). */
    readonly lineNumber: number,
    /** What is wrong with it ("checksum mismatch", "unparseable", ...). */
    readonly detail: string,
    prefix: ValidPrefix = { validRecords: 0, validPrefixBytes: 0, validLastCrc: 0 },
    /** The bad record's text (cut to 200 characters). */
    readonly text = '',
  ) {
    super(
      `${file}: corrupt record at line ${lineNumber} (record ${prefix.validRecords}): ${detail}; refusing to serve from it`,
    );
    this.name = 'CorruptLogError';
    ({
      validRecords: this.validRecords,
      validPrefixBytes: this.validPrefixBytes,
      validLastCrc: this.validLastCrc,
    } = prefix);
  }
}

export class LostRecordsError extends Error {
  readonly code = 'lost_records';
  readonly validRecords: number;
  readonly validPrefixBytes: number;
  readonly validLastCrc: number;
  constructor(
    readonly file: string,
    /** What the mark claimed; null when there is no readable mark. */
    readonly mark: Mark | null,
    /** What is wrong ("the file holds 3 valid records, its mark 5", "no mark beside 3 records"). */
    readonly detail: string,
    prefix: ValidPrefix,
  ) {
    super(`${file}: lost records: ${detail}; acknowledged records are missing from it`);
    this.name = 'LostRecordsError';
    ({
      validRecords: this.validRecords,
      validPrefixBytes: this.validPrefixBytes,
      validLastCrc: this.validLastCrc,
    } = prefix);
  }
  /** How many records the mark says were durable (null: unknown). */
  get markRecords(): number | null {
    return this.mark?.records ?? null;
  }
}

/** A record that cannot be written: refused before anything reaches the disk. */
export class RecordRefusedError extends Error {
  readonly code = 'record_refused';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: record refused: ${detail}`);
    this.name = 'RecordRefusedError';
  }
}

export function chainFields(prevCrc: number, fields: Array<string | number>): number {
  return crc32(fields.join(','), prevCrc) >>> 0;
}

/** A field csv-stringify would quote; anything else is written as is. */
const NEEDS_QUOTING = /[",\r\n]/;

export function encodeRecord<R>(codec: RecordCodec<R>, r: R): string {
  const fields = codec.fields(r);
  // Fast path (the common case: names and keys without commas or quotes): the same bytes
  // csv-stringify writes, without its per-call option handling (8 % of a catching-up follower).
  if (!fields.some((f) => typeof f === 'string' && (NEEDS_QUOTING.test(f) || f === '')))
    return `${fields.join(',')},${codec.crcOf(r)}\n`;
  return stringifyCsv([[...fields, codec.crcOf(r)]]);
}

/** Records as an append writes them: their encodings in one buffer, and where each starts. */
export interface EncodedRecords {
  bytes: Buffer;
  starts: readonly number[];
}

export function encodeRecords<R>(codec: RecordCodec<R>, records: readonly R[]): EncodedRecords {
  const lines = records.map((r) => encodeRecord(codec, r));
  const starts: number[] = new Array(lines.length);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    starts[i] = at;
    at += Buffer.byteLength(lines[i]!);
  }
  return { bytes: Buffer.from(lines.join('')), starts };
}
