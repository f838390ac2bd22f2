/**
 * Reading a log file: its records, where the valid bytes end, and what damage (if any) stops the
 * read, torn tail apart from corruption (shared/wal.ts says what each means), plus the check of a
 * file against its durable mark.
 *
 * Two ways in: `scanWal` decodes every record (the tools, tests, the checker); the open of a log
 * (`scanInto` with a TableSink) takes an unquoted record from its bytes when the codec has a
 * layout (shared/wal-table.ts keeps them as bytes), and decodes only what does not pass that way,
 * so the damage it reports is the same either way.
 */
import { crc32 } from 'node:zlib';
import { crc32Final, crc32Start, crc32Step } from './crc32.ts';
import type { MarkRead } from './wal-mark.ts';
import { NL, QUOTE, recordEnd, splitRecord } from './wal-records.ts';
import { hashKeyBytes, hashKeyString } from './wal-table.ts';
import {
  chainFields,
  CorruptLogError,
  encodeRecord,
  LostRecordsError,
  readsHeader,
  type RecordCodec,
  type ValidPrefix,
} from './wal-codec.ts';

export interface Parsed<R> {
  records: R[];
  offsets: number[];
  validEnd: number;
}

export function decodeText<R>(text: string, codec: RecordCodec<R>): R | null {
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
  for (
    let pos = from, nl = content.indexOf(NL, pos);
    nl >= 0;
    pos = nl + 1, nl = content.indexOf(NL, pos)
  ) {
    if (decodeText(content.subarray(pos, nl).toString('utf8'), codec)) return true;
  }
  return false;
}

/**
 * Parses a whole file; returns the valid records and where the valid bytes end (before a torn
 * tail).
 */
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
  /**
   * The unquoted record [pos, nl) of `content`, whose sequence and crc chain acceptBytes checked,
   * with that crc and its key hash; false if the sink decodes it and it does not decode (the scan
   * then takes the general path, which says why).
   */
  bytes(content: Buffer, pos: number, nl: number, crc: number, keyHash: number): boolean;
}

/** The tools' and a page's sink: every record decoded, in an array. */
class ArraySink<R> implements ScanSink<R> {
  readonly records: R[] = [];
  readonly offsets: number[] = [];
  constructor(private readonly codec: RecordCodec<R>) {}
  get count(): number {
    return this.records.length;
  }
  record(r: R, pos: number): void {
    this.records.push(r);
    this.offsets.push(pos);
  }
  bytes(content: Buffer, pos: number, nl: number): boolean {
    // Sequence and crc are checked already: what is left is the fields' own bounds (decode).
    const r = this.codec.decode(content.toString('utf8', pos, nl).split(','));
    if (r === null) return false;
    this.record(r, pos);
    return true;
  }
}

/** openWal's sink: offsets, crcs and key hashes, objects only for records decoded anyway. */
export class TableSink<R> implements ScanSink<R> {
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
  bytes(_content: Buffer, pos: number, _nl: number, crc: number, keyHash: number): boolean {
    this.offsets.push(pos);
    this.crcs.push(crc);
    if (this.codec.keyOf) this.hashes.push(keyHash);
    return true;
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
export function scanWal<R>(
  file: string,
  content: Buffer,
  codec: RecordCodec<R>,
): Parsed<R> & { damage: CorruptLogError | null } {
  const sink = new ArraySink<R>(codec);
  const { validEnd, damage } = scanInto(file, content, codec, sink, false);
  return { records: sink.records, offsets: sink.offsets, validEnd, damage };
}

/**
 * The scan itself: header, then record after record until the end or the first damage, each
 * accepted into `sink`. `fast` takes an unquoted line from its bytes when the codec has a layout
 * (acceptBytes); whatever that path does not accept is decoded, so the damage reported is the same.
 */
export function scanInto<R>(
  file: string,
  content: Buffer,
  codec: RecordCodec<R>,
  sink: ScanSink<R>,
  fast: boolean,
): { validEnd: number; lastCrc: number; damage: CorruptLogError | null } {
  const headerEnd = content.indexOf(NL);
  if (headerEnd < 0 || !readsHeader(codec, content.subarray(0, headerEnd).toString())) {
    return {
      validEnd: 0,
      lastCrc: 0,
      damage: new CorruptLogError(file, 1, 'missing or unexpected header'),
    };
  }
  return scanBody(file, content, codec, sink, fast, { pos: headerEnd + 1, first: 0, prevCrc: 0 });
}

/** Where a scan of records starts: a byte position, the number of its first record, its chain. */
interface ScanStart {
  pos: number;
  first: number;
  prevCrc: number;
}

/** The records from `start.pos` on (no header): a file's after its header, or a sent page. */
function scanBody<R>(
  file: string,
  content: Buffer,
  codec: RecordCodec<R>,
  sink: ScanSink<R>,
  fast: boolean,
  start: ScanStart,
): { validEnd: number; lastCrc: number; damage: CorruptLogError | null } {
  const layout = fast ? checkedLayout(codec.layout) : undefined;
  let { pos, prevCrc } = start;
  let nextQuote = content.indexOf(QUOTE, pos);
  const damaged = (why: string, to: number) =>
    damageAt(file, content, pos, to, why, start.first + sink.count, prevCrc);
  while (pos < content.length) {
    const nl = content.indexOf(NL, pos);
    if (nextQuote !== -1 && nextQuote < pos) nextQuote = content.indexOf(QUOTE, pos);
    const quoted = nextQuote !== -1 && nextQuote < nl;
    const expected = start.first + sink.count;
    if (layout && !quoted && nl >= 0) {
      const crc = acceptBytes(content, pos, nl, layout, expected, prevCrc);
      const keyHash = crc >= 0 && codec.keyOf ? acceptedKeyHash(content, layout) : 0;
      if (crc >= 0 && sink.bytes(content, pos, nl, crc, keyHash)) {
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
      if (
        content[content.length - 1] === NL ||
        (nl >= 0 && laterRecordDecodes(content, nl + 1, codec))
      ) {
        return damaged('a quoted field is never closed', nl < 0 ? content.length : nl);
      }
      break;
    }
    const text = content.toString('utf8', pos, end - 1);
    const record = quoted ? decodeText(text, codec) : codec.decode(text.split(','));
    const why = record
      ? recordProblem(content, pos, end, quoted, prevCrc, record, codec, expected)
      : explainText(text, codec);
    if (why) return damaged(why, end - 1);
    sink.record(record!, pos);
    prevCrc = codec.crcOf(record!);
    pos = end;
  }
  return { validEnd: pos, lastCrc: prevCrc, damage: null };
}

const PAGE = Symbol('scanPage');

/**
 * Records scanPage read from a page sent as the log's own text, with those very bytes and where
 * each record starts in them. Only this module makes one (the constructor wants a module-private
 * token), so a log handed one (Wal.appendPage) may write its bytes as they are and skip
 * codec.check: every record was decoded from them, and decode accepts only what check accepts.
 */
export class CheckedPage<R> {
  constructor(
    token: typeof PAGE,
    readonly records: readonly R[],
    readonly bytes: Buffer,
    readonly starts: readonly number[],
  ) {
    if (token !== PAGE) throw new TypeError('a CheckedPage comes from scanPage only');
  }

  /** The page's last `count` records (those an append adds to a log that held the others). */
  suffix(count: number): CheckedPage<R> {
    const skip = this.starts.length - count;
    if (!(skip >= 0 && count >= 0)) throw new RangeError(`${count} of ${this.starts.length}`);
    if (skip === 0) return this;
    const base = count ? this.starts[skip]! : this.bytes.length;
    return new CheckedPage(
      PAGE,
      this.records.slice(skip),
      this.bytes.subarray(base),
      this.starts.slice(skip).map((s) => s - base),
    );
  }
}

/**
 * A page of records sent as the log file holds them (a leader's append: the records' CSV lines,
 * no header), checked exactly as opening a file checks it: every record decoded, numbered from
 * `first`, chained from `prevCrc`. Returns what is wrong instead when the page is anything but
 * whole records, each in the one encoding the log writes (encodeRecord): its bytes may then be
 * written as they are, byte for byte what encoding the decoded records would write. An unquoted
 * record is in that encoding whenever it decodes (the decoders accept only canonical fields, and
 * a field that needs quotes cannot be unquoted); a quoted one is compared.
 */
export function scanPage<R>(
  content: Buffer,
  codec: RecordCodec<R>,
  first: number,
  prevCrc: number,
): CheckedPage<R> | string {
  const sink = new ArraySink<R>(codec);
  const scan = scanBody('page', content, codec, sink, true, { pos: 0, first, prevCrc });
  if (scan.damage) return `record ${scan.damage.validRecords}: ${scan.damage.detail}`;
  if (scan.validEnd !== content.length) return 'the page ends inside a record';
  const { records, offsets: starts } = sink;
  for (let i = 0, q = content.indexOf(QUOTE); q !== -1 && i < records.length; i++) {
    const end = i + 1 < records.length ? starts[i + 1]! : content.length;
    if (q >= end) continue;
    if (encodeRecord(codec, records[i]!) !== content.toString('utf8', starts[i], end))
      return `record ${first + i}: not in the encoding the log writes`;
    q = content.indexOf(QUOTE, end);
  }
  return new CheckedPage(PAGE, records, content, starts);
}

type Layout = NonNullable<RecordCodec<unknown>['layout']>;

/**
 * The codec's layout, refused unless acceptBytes can use it (the key a middle field, COMMAS big
 * enough).
 */
function checkedLayout(layout: Layout | undefined): Layout | undefined {
  if (
    layout &&
    !(
      layout.fields >= 2 &&
      layout.fields <= COMMAS.length &&
      layout.keyField >= 1 &&
      layout.keyField <= layout.fields - 2
    )
  ) {
    throw new RangeError(
      `record layout ${JSON.stringify(layout)}: the key must be a middle field of at most ${COMMAS.length}`,
    );
  }
  return layout;
}

/** The hash of the key field of the line acceptBytes accepted last (its commas are in COMMAS). */
function acceptedKeyHash(content: Buffer, layout: Layout): number {
  return hashKeyBytes(content, COMMAS[layout.keyField - 1]! + 1, COMMAS[layout.keyField]!);
}

/** Why a decoded record (the bytes pos..end) cannot follow the `count` before it, or null. */
function recordProblem<R>(
  content: Buffer,
  pos: number,
  end: number,
  quoted: boolean,
  prevCrc: number,
  record: R,
  codec: RecordCodec<R>,
  expected: number,
): string | null {
  if (codec.inSequence && !codec.inSequence(record, expected))
    return `out of sequence (expected record ${expected})`;
  if (!chainsOn(content, pos, end, quoted, prevCrc, record, codec)) return 'checksum mismatch';
  return null;
}

/** The scan's result for damage at `pos`: the valid prefix before it, and what is wrong. */
function damageAt(
  file: string,
  content: Buffer,
  pos: number,
  to: number,
  why: string,
  validRecords: number,
  prevCrc: number,
): { validEnd: number; lastCrc: number; damage: CorruptLogError } {
  const text = content
    .subarray(pos, Math.min(to, pos + 400))
    .toString('utf8')
    .slice(0, 200);
  const prefix = { validRecords, validPrefixBytes: pos, validLastCrc: prevCrc };
  return {
    validEnd: pos,
    lastCrc: prevCrc,
    damage: new CorruptLogError(file, lineAt(content, pos), why, prefix, text),
  };
}

/**
 * Where acceptBytes found the commas of the line it accepted last (one scratch array, no garbage).
 */
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
 *
 * One pass over the line finds its commas and runs the crc alongside (shared/crc32.ts) up to the
 * last comma: the crc of the fields. A call into zlib per record, the Buffer view it needs and an
 * indexOf per comma were most of an open.
 */
function acceptBytes(
  content: Buffer,
  pos: number,
  nl: number,
  layout: Layout,
  expected: number,
  prevCrc: number,
): number {
  const lastK = layout.fields - 2;
  let k = -1;
  let state = crc32Start(prevCrc);
  let i = pos;
  for (; i < nl; i++) {
    const b = content[i]!;
    if (b === 0x2c) {
      COMMAS[++k] = i;
      if (k === lastK) break;
    }
    state = crc32Step(state, b);
  }
  // `state` is now the crc of the bytes before the last comma: the fields, joined as written.
  if (k !== lastK) return -1;
  for (i++; i < nl; i++) if (content[i] === 0x2c) return -1;
  const lastComma = COMMAS[lastK]!;
  if (digitsAt(content, pos, COMMAS[0]!) !== expected) return -1;
  const crc = digitsAt(content, lastComma + 1, nl);
  if (crc < 0 || crc > 0xffff_ffff) return -1;
  return crc32Final(state) === crc ? crc : -1;
}

/** Does `record` (the bytes pos..end) carry the crc of its fields chained to `prevCrc`? */
function chainsOn<R>(
  content: Buffer,
  pos: number,
  end: number,
  quoted: boolean,
  prevCrc: number,
  record: R,
  codec: RecordCodec<R>,
): boolean {
  const crc = codec.crcOf(record);
  if (!quoted) {
    // Unquoted, the bytes before the last comma are the fields joined by commas, as written.
    const lastComma = content.lastIndexOf(0x2c, end - 1);
    if (lastComma > pos && crc32(content.subarray(pos, lastComma), prevCrc) >>> 0 === crc)
      return true;
  }
  return chainFields(prevCrc, codec.fields(record)) === crc;
}

/** What a scan found, as the mark check needs it. */
export interface ScanView {
  count: number;
  validEnd: number;
  offsets: readonly number[];
  crcAt(i: number): number;
}

export const viewOf = <R>(p: Parsed<R>, codec: RecordCodec<R>): ScanView => ({
  count: p.records.length,
  validEnd: p.validEnd,
  offsets: p.offsets,
  crcAt: (i) => codec.crcOf(p.records[i]!),
});

export function markProblem(file: string, p: ScanView, read: MarkRead): LostRecordsError | null {
  const n = p.count;
  const prefix: ValidPrefix = {
    validRecords: n,
    validPrefixBytes: p.validEnd,
    validLastCrc: n ? p.crcAt(n - 1) : 0,
  };
  if (read.state !== 'ok') {
    // Nothing in the file: nothing acknowledged can be missing from it (a log created by a crash
    // between writing its header and its mark).
    if (n === 0) return null;
    const why = read.state === 'missing' ? 'no mark' : `unreadable mark (${read.why})`;
    return new LostRecordsError(
      file,
      null,
      `${why} beside ${n} records: cannot tell how many were durable`,
      prefix,
    );
  }
  const m = read.mark;
  const endOf = (count: number) => (count === n ? p.validEnd : p.offsets[count]!);
  const why =
    n < m.records
      ? `the file holds ${n} valid records, its mark says ${m.records} were durable`
      : m.records > 0 && p.crcAt(m.records - 1) !== m.lastCrc
        ? `record ${m.records - 1} has crc ${p.crcAt(m.records - 1)}, its mark says ${m.lastCrc}`
        : endOf(m.records) !== m.bytes && (m.records > 0 || m.bytes !== 0)
          ? `its first ${m.records} records end at byte ${endOf(m.records)}, its mark says ${m.bytes}`
          : null;
  return why ? new LostRecordsError(file, m, why, prefix) : null;
}
