/**
 * An append-only CSV file of checksummed records with group commit and a durable watermark: the
 * durable shape both the order log and the catalog's stock ledger use, so both get the same crash
 * treatment.
 *
 * Each record's last field is a crc32 of its other fields chained to the previous record's crc,
 * so equal crcs mean equal prefixes, and damage is detectable on load.
 *
 * Writes: every append, truncation and mark update goes through one queue drained by a single pump.
 * All appends queued while a write is in flight go out as one positional write and one fdatasync,
 * and the mark (shared/wal-mark.ts) is rewritten to cover them and fdatasynced, after the data's
 * (the `.synced` sidecar hook for power-loss simulation in between) or beside it (`markSync`); only
 * then do their waiters resolve and `durableCount` advance. So every record anyone was told is
 * durable is below the mark. A truncation lowers the mark before it cuts, so the mark never claims
 * bytes the file lacks. A write or fsync error is fatal (shared/fsutil.ts): the process exits
 * rather than acknowledge.
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
import { fsyncDir, readIfExists, writeFileAtomic } from './fsutil.ts';
import {
  MARK_SUFFIX,
  MarkWriter,
  NO_AUX,
  readMark,
  replaceMark,
  type Mark,
  type MarkRead,
} from './wal-mark.ts';
import { CorruptLogError, LostRecordsError, type RecordCodec } from './wal-codec.ts';
import {
  markProblem,
  parseWal,
  scanInto,
  scanWal,
  TableSink,
  viewOf,
  type ScanView,
} from './wal-scan.ts';
import { Wal, type WalOptions } from './wal-writer.ts';

export { MARK_SUFFIX, NO_AUX, type Mark };
export * from './wal-codec.ts';
export { CheckedPage, parseWal, scanPage, scanWal, type Parsed } from './wal-scan.ts';
export { Wal, type WalOptions } from './wal-writer.ts';

export interface WalInspection<R> {
  /**
   * ok: opens as is; torn: opens after cutting a torn tail; corrupt / lost: refused; missing: no
   * file and no mark claiming records.
   */
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

/**
 * A missing file beside a mark that says records were durable (or that cannot be read) is lost
 * records.
 */
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

/**
 * The file's bytes; a missing file is created (header only) unless its mark says records are lost.
 */
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

/**
 * The file opened for appends and its mark writer, the mark brought up to `mark` (what the file
 * holds).
 */
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
