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
import { crc32 } from 'node:zlib';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { setAsideName } from './data-dir.ts';
import { NL, QUOTE, recordEnd, splitRecord } from './wal-records.ts';
import { hashKeyBytes, hashKeyString, RecordTable, type LoadedRecords } from './wal-table.ts';
import { crashOnDurabilityError, fsyncDir, readIfExists, writeFileAtomic } from './fsutil.ts';
import { MARK_SUFFIX, MarkWriter, NO_AUX, readMark, replaceMark, type Mark, type MarkRead } from './wal-mark.ts';

export { MARK_SUFFIX, NO_AUX, type Mark };

export interface RecordCodec<R> {
  /** The header line, without the newline; its last column is the crc. */
  header: string;
  /** The record's fields other than the crc, in column order. */
  fields(r: R): Array<string | number>;
  crcOf(r: R): number;
  /** Builds a record from its fields (crc included, last) or returns null if they are malformed. */
  decode(fields: string[]): R | null;
  /** What is wrong with fields `decode` refused (for the corruption message). */
  explain?(fields: string[]): string;
  /** Why `r` cannot be written (a field out of its bounds, shared/fields.ts), or null: nothing unreadable reaches the disk. */
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
    super(`${file}: corrupt record at line ${lineNumber} (record ${prefix.validRecords}): ${detail}; refusing to serve from it`);
    this.name = 'CorruptLogError';
    ({ validRecords: this.validRecords, validPrefixBytes: this.validPrefixBytes, validLastCrc: this.validLastCrc } = prefix);
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
    ({ validRecords: this.validRecords, validPrefixBytes: this.validPrefixBytes, validLastCrc: this.validLastCrc } = prefix);
  }
  /** How many records the mark says were durable (null: unknown). */
  get markRecords(): number | null {
    return this.mark?.records ?? null;
  }
}

/** A record that cannot be written: refused before anything reaches the disk. */
export class RecordRefusedError extends Error {
  readonly code = 'record_refused';
  constructor(readonly file: string, detail: string) {
    super(`${file}: record refused: ${detail}`);
    this.name = 'RecordRefusedError';
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

export interface Parsed<R> {
  records: R[];
  offsets: number[];
  validEnd: number;
}

function decodeText<R>(text: string, codec: RecordCodec<R>): R | null {
  const fields = splitRecord(text);
  return typeof fields === 'string' ? null : codec.decode(fields);
}

function explainText<R>(text: string, codec: RecordCodec<R>): string {
  const fields = splitRecord(text);
  if (typeof fields === 'string') return fields;
  return codec.explain?.(fields) ?? 'unparseable';
}

/** True if some complete line at or after `from` is a well-formed record on its own. */
function laterRecordDecodes<R>(content: Buffer, from: number, codec: RecordCodec<R>): boolean {
  for (let pos = from, nl = content.indexOf(NL, pos); nl >= 0; pos = nl + 1, nl = content.indexOf(NL, pos)) {
    if (decodeText(content.subarray(pos, nl).toString('utf8'), codec)) return true;
  }
  return false;
}

/** Parses a whole file; returns the valid records and where the valid bytes end (before a torn tail). */
export function parseWal<R>(file: string, content: Buffer, codec: RecordCodec<R>): Parsed<R> {
  const scan = scanWal(file, content, codec);
  if (scan.damage) throw scan.damage;
  return scan;
}

/** Line number (1-based) of the byte at `pos`: counted only when a message needs it. */
function lineAt(content: Buffer, pos: number): number {
  let n = 1;
  for (let i = content.indexOf(NL); i >= 0 && i < pos; i = content.indexOf(NL, i + 1)) n++;
  return n;
}

/** Where a scan puts the records it accepts: decoded objects, or (fast path) just their bytes. */
interface ScanSink<R> {
  readonly count: number;
  /** A record the scan decoded, starting at byte `pos`. */
  record(r: R, pos: number): void;
  /** A record accepted from its bytes alone (codec.layout), with its crc and key hash. */
  bytes(pos: number, crc: number, keyHash: number): void;
}

/** The tools' sink: every record decoded, in an array. */
class ArraySink<R> implements ScanSink<R> {
  readonly records: R[] = [];
  readonly offsets: number[] = [];
  get count(): number {
    return this.records.length;
  }
  record(r: R, pos: number): void {
    this.records.push(r);
    this.offsets.push(pos);
  }
  bytes(): void {
    throw new Error('ArraySink takes decoded records only');
  }
}

/** openWal's sink: offsets, crcs and key hashes, objects only for records decoded anyway. */
class TableSink<R> implements ScanSink<R> {
  readonly offsets: number[] = [];
  readonly crcs: number[] = [];
  readonly hashes: number[] = [];
  readonly decoded = new Map<number, R>();
  constructor(private readonly codec: RecordCodec<R>) {}
  get count(): number {
    return this.offsets.length;
  }
  record(r: R, pos: number): void {
    this.decoded.set(this.offsets.length, r);
    this.offsets.push(pos);
    this.crcs.push(this.codec.crcOf(r));
    if (this.codec.keyOf) this.hashes.push(hashKeyString(this.codec.keyOf(r)));
  }
  bytes(pos: number, crc: number, keyHash: number): void {
    this.offsets.push(pos);
    this.crcs.push(crc);
    if (this.codec.keyOf) this.hashes.push(keyHash);
  }
}

/**
 * Like parseWal, but damage is returned with the valid records before it instead of thrown.
 *
 * Shaped for a million records at start-up: a record without quotes (nearly all of them) is one
 * line, decoded from one string split at commas, and its checksum is taken over its own bytes
 * (which equal its fields joined by commas: the decoders accept only canonical text), with no
 * copy and no closure per record. Quoted records take the general path.
 */
export function scanWal<R>(file: string, content: Buffer, codec: RecordCodec<R>): Parsed<R> & { damage: CorruptLogError | null } {
  const sink = new ArraySink<R>();
  const { validEnd, damage } = scanInto(file, content, codec, sink, false);
  return { records: sink.records, offsets: sink.offsets, validEnd, damage };
}

function scanInto<R>(file: string, content: Buffer, codec: RecordCodec<R>, sink: ScanSink<R>, fast: boolean): { validEnd: number; lastCrc: number; damage: CorruptLogError | null } {
  const header = `${codec.header}\n`;
  const headerEnd = content.indexOf(NL);
  if (headerEnd < 0 || content.subarray(0, headerEnd + 1).toString() !== header) {
    return { validEnd: 0, lastCrc: 0, damage: new CorruptLogError(file, 1, 'missing or unexpected header') };
  }
  const layout = fast ? codec.layout : undefined;
  if (layout && !(layout.fields >= 2 && layout.fields <= COMMAS.length && layout.keyField >= 1 && layout.keyField <= layout.fields - 2)) {
    throw new RangeError(`record layout ${JSON.stringify(layout)}: the key must be a middle field of at most ${COMMAS.length}`);
  }
  let pos = headerEnd + 1;
  let prevCrc = 0;
  let nextQuote = content.indexOf(QUOTE, pos);
  const damaged = (why: string, to: number) => {
    const text = content.subarray(pos, Math.min(to, pos + 400)).toString('utf8').slice(0, 200);
    const prefix = { validRecords: sink.count, validPrefixBytes: pos, validLastCrc: prevCrc };
    return { validEnd: pos, lastCrc: prevCrc, damage: new CorruptLogError(file, lineAt(content, pos), why, prefix, text) };
  };
  while (pos < content.length) {
    const nl = content.indexOf(NL, pos);
    if (nextQuote !== -1 && nextQuote < pos) nextQuote = content.indexOf(QUOTE, pos);
    const quoted = nextQuote !== -1 && nextQuote < nl;
    if (layout && !quoted && nl >= 0) {
      const crc = acceptBytes(content, pos, nl, layout, sink.count, prevCrc);
      if (crc >= 0) {
        sink.bytes(pos, crc, codec.keyOf ? hashKeyBytes(content, COMMAS[layout.keyField - 1]! + 1, COMMAS[layout.keyField]!) : 0);
        prevCrc = crc;
        pos = nl + 1;
        continue;
      }
    }
    const end = nl < 0 ? -1 : quoted ? recordEnd(content, pos) : nl + 1;
    if (end < 0) {
      // Incomplete. A crash mid-write leaves exactly this at the end of the file, and nothing
      // complete can follow it. If the file does end in a newline, or a complete record follows,
      // the "incomplete" record is a quote damaged in the middle, not a torn write.
      if (content[content.length - 1] === NL || (nl >= 0 && laterRecordDecodes(content, nl + 1, codec))) {
        return damaged('a quoted field is never closed', nl < 0 ? content.length : nl);
      }
      break;
    }
    const text = content.toString('utf8', pos, end - 1);
    const record = quoted ? decodeText(text, codec) : codec.decode(text.split(','));
    const why =
      !record ? explainText(text, codec)
      : codec.inSequence && !codec.inSequence(record, sink.count) ? `out of sequence (expected record ${sink.count})`
      : !chainsOn(content, pos, end, quoted, prevCrc, record, codec) ? 'checksum mismatch'
      : null;
    if (why) return damaged(why, end - 1);
    sink.record(record!, pos);
    prevCrc = codec.crcOf(record!);
    pos = end;
  }
  return { validEnd: pos, lastCrc: prevCrc, damage: null };
}

/** Where acceptBytes found the commas of the line it accepted last (one scratch array, no garbage). */
const COMMAS = new Int32Array(64);

/** Canonical decimal digits in [from, to) as a number (no sign, no leading zero), or -1. */
function digitsAt(content: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 15 || (content[from] === 0x30 && to - from > 1)) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = content[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The fast path of an open: the unquoted line [pos, nl) has exactly `layout.fields` fields, its
 * sequence field says `expected`, and its last field is a crc32 that the bytes before it chain to
 * from `prevCrc`. Returns that crc, or -1 for anything else (the general path then decodes the
 * line and says what is wrong with it, exactly as without the fast path).
 */
function acceptBytes(content: Buffer, pos: number, nl: number, layout: NonNullable<RecordCodec<unknown>['layout']>, expected: number, prevCrc: number): number {
  let at = pos;
  for (let k = 0; k < layout.fields - 1; k++) {
    const c = content.indexOf(0x2c, at);
    if (c < 0 || c >= nl) return -1;
    COMMAS[k] = c;
    at = c + 1;
  }
  const more = content.indexOf(0x2c, at);
  if (more >= 0 && more < nl) return -1;
  const lastComma = COMMAS[layout.fields - 2]!;
  if (digitsAt(content, pos, COMMAS[0]!) !== expected) return -1;
  const crc = digitsAt(content, lastComma + 1, nl);
  if (crc < 0 || crc > 0xffff_ffff) return -1;
  return crc32(content.subarray(pos, lastComma), prevCrc) >>> 0 === crc ? crc : -1;
}

/** Does `record` (the bytes pos..end) carry the crc of its fields chained to `prevCrc`? */
function chainsOn<R>(content: Buffer, pos: number, end: number, quoted: boolean, prevCrc: number, record: R, codec: RecordCodec<R>): boolean {
  const crc = codec.crcOf(record);
  if (!quoted) {
    // Unquoted, the bytes before the last comma are the fields joined by commas, as written.
    const lastComma = content.lastIndexOf(0x2c, end - 1);
    if (lastComma > pos && crc32(content.subarray(pos, lastComma), prevCrc) >>> 0 === crc) return true;
  }
  return chainFields(prevCrc, codec.fields(record)) === crc;
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

/** What a scan found, as the mark check needs it. */
interface ScanView {
  count: number;
  validEnd: number;
  offsets: readonly number[];
  crcAt(i: number): number;
}

const viewOf = <R>(p: Parsed<R>, codec: RecordCodec<R>): ScanView => ({
  count: p.records.length,
  validEnd: p.validEnd,
  offsets: p.offsets,
  crcAt: (i) => codec.crcOf(p.records[i]!),
});

function markProblem(file: string, p: ScanView, read: MarkRead): LostRecordsError | null {
  const n = p.count;
  const prefix: ValidPrefix = { validRecords: n, validPrefixBytes: p.validEnd, validLastCrc: n ? p.crcAt(n - 1) : 0 };
  if (read.state !== 'ok') {
    // Nothing in the file: nothing acknowledged can be missing from it (a log created by a crash
    // between writing its header and its mark).
    if (n === 0) return null;
    const why = read.state === 'missing' ? 'no mark' : `unreadable mark (${read.why})`;
    return new LostRecordsError(file, null, `${why} beside ${n} records: cannot tell how many were durable`, prefix);
  }
  const m = read.mark;
  const endOf = (count: number) => (count === n ? p.validEnd : p.offsets[count]!);
  const why =
    n < m.records ? `the file holds ${n} valid records, its mark says ${m.records} were durable`
    : m.records > 0 && p.crcAt(m.records - 1) !== m.lastCrc ? `record ${m.records - 1} has crc ${p.crcAt(m.records - 1)}, its mark says ${m.lastCrc}`
    : endOf(m.records) !== m.bytes && (m.records > 0 || m.bytes !== 0) ? `its first ${m.records} records end at byte ${endOf(m.records)}, its mark says ${m.bytes}`
    : null;
  return why ? new LostRecordsError(file, m, why, prefix) : null;
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
export async function inspectWal<R>(file: string, codec: RecordCodec<R>): Promise<WalInspection<R>> {
  const read = await readMark(`${file}${MARK_SUFFIX}`);
  const mark = read.state === 'ok' ? read.mark : null;
  const content = await readIfExists(file);
  if (content === null) {
    const lost = read.state === 'unreadable' || (mark !== null && mark.records > 0);
    const damage = lost ? new LostRecordsError(file, mark, `the file is missing, its mark says ${mark ? mark.records : 'an unknown number of'} records were durable`, { validRecords: 0, validPrefixBytes: 0, validLastCrc: 0 }) : null;
    return { state: lost ? 'lost' : 'missing', records: [], validEnd: 0, fileBytes: 0, mark, damage };
  }
  const scan = scanWal(file, content, codec);
  const base = { records: scan.records, validEnd: scan.validEnd, fileBytes: content.length, mark };
  if (scan.damage) return { ...base, state: 'corrupt', damage: scan.damage };
  const lost = markProblem(file, viewOf(scan, codec), read);
  if (lost) return { ...base, state: 'lost', damage: lost };
  return { ...base, state: scan.validEnd < content.length ? 'torn' : 'ok', damage: null };
}

/**
 * Opens (creating durably if missing) a log file; cuts a torn tail; throws CorruptLogError or
 * LostRecordsError on damage, leaving the file and its mark untouched.
 */
export async function openWal<R>(file: string, codec: RecordCodec<R>, opts: WalOptions = {}): Promise<Wal<R>> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const markFile = `${file}${MARK_SUFFIX}`;
  const markRead = await readMark(markFile);
  let content = await readIfExists(file);
  if (content === null) {
    if (markRead.state === 'unreadable' || (markRead.state === 'ok' && markRead.mark.records > 0)) {
      const mark = markRead.state === 'ok' ? markRead.mark : null;
      throw new LostRecordsError(file, mark, `the file is missing, its mark says ${mark ? mark.records : 'an unknown number of'} records were durable`, { validRecords: 0, validPrefixBytes: 0, validLastCrc: 0 });
    }
    // A new log becomes durable as a whole: header file written, fsynced, renamed, dir fsynced;
    // its mark follows below (a crash in between leaves a header-only file, which needs none).
    await writeFileAtomic(file, `${codec.header}\n`);
    await fsyncDir(path.dirname(path.dirname(file)));
    content = Buffer.from(`${codec.header}\n`);
  }
  // The fast path (codec.layout) keeps the records as the file's bytes (shared/wal-table.ts).
  const sink = new TableSink(codec);
  const scan = scanInto(file, content, codec, sink, true);
  if (scan.damage) throw scan.damage;
  const view: ScanView = { count: sink.count, validEnd: scan.validEnd, offsets: sink.offsets, crcAt: (i) => sink.crcs[i]! };
  const lost = markProblem(file, view, markRead);
  if (lost) throw lost;
  const validEnd = scan.validEnd;
  if (validEnd < content.length) {
    // Keep what we cut, then cut it durably before anything new is appended after it.
    const savedAs = setAsideName(file, 'torn', Date.now());
    await writeFileAtomic(savedAs, content.subarray(validEnd));
    await cutFile(file, validEnd);
    opts.onTornTail?.({ bytes: content.length - validEnd, savedAs });
  }
  const n = sink.count;
  const mark: Mark = { records: n, bytes: validEnd, lastCrc: scan.lastCrc, aux: markRead.state === 'ok' ? markRead.mark.aux : NO_AUX };
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
  const loaded = { bytes: content, end: validEnd, offsets: sink.offsets, crcs: sink.crcs, hashes: sink.hashes, decoded: sink.decoded };
  const wal = new Wal<R>(file, codec, handle, marker, loaded, validEnd, opts);
  opts.onSynced?.(validEnd);
  return wal;
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
export async function keepValidPrefix(file: string, err: CorruptLogError | LostRecordsError): Promise<{ movedTo: string | null; keptBytes: number; keptRecords: number }> {
  const content = await readIfExists(file);
  const markFile = `${file}${MARK_SUFFIX}`;
  const markRead = await readMark(markFile);
  let movedTo: string | null = null;
  if (content !== null) {
    movedTo = setAsideName(file, err instanceof CorruptLogError ? 'corrupt' : 'lost', Date.now());
    await writeFileAtomic(movedTo, content);
  }
  const aux = markRead.state === 'ok' ? markRead.mark.aux : NO_AUX;
  await replaceMark(markFile, { records: err.validRecords, bytes: err.validPrefixBytes, lastCrc: err.validLastCrc, aux });
  if (content !== null) await writeFileAtomic(file, content.subarray(0, err.validPrefixBytes));
  return { movedTo, keptBytes: err.validPrefixBytes, keptRecords: err.validRecords };
}

/**
 * Vouches for a log file written by other means (a fixture, a benchmark, a restored backup): its
 * valid records become the durable ones. Throws CorruptLogError if the file is damaged.
 */
export async function writeMarkFor<R>(file: string, codec: RecordCodec<R>, aux = NO_AUX): Promise<Mark> {
  const content = await fs.readFile(file);
  const p = parseWal(file, content, codec);
  const n = p.records.length;
  const mark = { records: n, bytes: p.validEnd, lastCrc: n ? codec.crcOf(p.records[n - 1]!) : 0, aux };
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

type AppendOp = { kind: 'append'; bytes: Buffer; position: number; count: number; done: () => void };
type Op = AppendOp | { kind: 'truncate'; position: number; count: number; done: () => void } | { kind: 'mark' };

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
    this.table = new RecordTable(codec, loaded, (text) => decodeText(text, codec), (i, text) =>
      fatal(`decode record ${i}`, new CorruptLogError(file, i + 2, 'a record with a valid crc chain does not decode', { validRecords: i, validPrefixBytes: 0, validLastCrc: 0 }, text.slice(0, 200))));
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
    return (this.tail = new Promise((done) => this.enqueue({ kind: 'append', bytes, position, count: this.table.length, done })));
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
    return (this.tail = new Promise((done) => this.enqueue({ kind: 'truncate', position, count: keep, done })));
  }

  /**
   * Records the owner's number in the mark, with the next mark write (or one of its own). Calls
   * coalesce: only the latest value is written. Resolves once it (or a later one) is durable.
   */
  setAux(n: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    if (!Number.isSafeInteger(n)) return Promise.reject(new RangeError(`aux must be a safe integer, not ${n}`));
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
    const mark = () => this.writeMark(covered.records, covered.bytes, this.crcFromMemory(covered.records));
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
    if (cur.records !== records || cur.bytes !== bytes || cur.lastCrc !== lastCrc || cur.aux !== aux) {
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
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}
