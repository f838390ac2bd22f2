/**
 * Offline loading: a stopped store's data dir. An order log is parsed twice: by `parseLog` (the
 * replica's own loader, whose `CorruptLogError` says "the replica would refuse to open this") and
 * leniently, line by line, keeping every complete record, so one flipped byte does not turn every
 * later order into "lost". A torn last line (no newline) is ignored, with a note.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { LedgerEntrySchema, type OrderEntry } from '../../../shared/contracts.ts';
import { CorruptLogError, LOG_FILE, LOG_HEADER, orderCodec, parseLog } from '../../../order/file-log.ts';
import { PRODUCTS_FILE, parseProductsCsv } from '../../../catalog/store.ts';
import type { LedgerRecord, Violation } from '../invariants/index.ts';
import { CheckInputError, LEDGER_FILE, LEDGER_HEADER, type ReplicaLog, type Snapshot } from './snapshot.ts';

/** One order-log line decoded by the replica's own codec (order/file-log.ts), for the lenient pass. */
function parseOrderRecord(line: string): OrderEntry | null {
  const fields = splitCsvLine(line);
  return fields ? orderCodec.decode(fields) : null;
}

function splitCsvLine(line: string): string[] | null {
  if (!line.includes('"')) return line.split(',');
  try {
    return (parseCsv(line) as string[][])[0] ?? [];
  } catch {
    return null;
  }
}

/** Complete lines (each ended by a newline) after `start`, and the torn fragment after the last newline. */
function splitLines(content: Buffer, start: number): { lines: { text: string; lineNumber: number; offset: number }[]; torn: Buffer } {
  const lines: { text: string; lineNumber: number; offset: number }[] = [];
  let pos = start;
  let lineNumber = content.subarray(0, start).filter((b) => b === 0x0a).length;
  for (;;) {
    const nl = content.indexOf(0x0a, pos);
    if (nl < 0) break;
    lineNumber++;
    lines.push({ text: content.subarray(pos, nl).toString('utf8'), lineNumber, offset: pos });
    pos = nl + 1;
  }
  return { lines, torn: content.subarray(pos) };
}

/** Parses one replica's `orders.csv` bytes into records plus the problems a checker must report. */
export function readOrderLog(id: number, file: string, content: Buffer | null): ReplicaLog {
  const name = `order-${id}`;
  const log: ReplicaLog = { id, name, entries: [], raw: content, problems: [], notes: [] };
  if (content === null) {
    log.notes.push(`${name}: ${file} does not exist (the replica never started?); treated as an empty log`);
    return log;
  }
  try {
    const { validEnd } = parseLog(file, content);
    if (validEnd < content.length && content.indexOf(0x0a, validEnd) >= 0) {
      log.notes.push(`${name}: on restart the replica would cut ${content.length - validEnd} bytes from line ${content.subarray(0, validEnd).filter((b) => b === 0x0a).length + 1} on`);
    }
  } catch (err) {
    if (!(err instanceof CorruptLogError)) throw err;
    log.problems.push({ kind: 'checksum', detail: `corrupt log, the replica would refuse to open it: ${err.message}`, records: [{ file, line: err.lineNumber }] });
  }
  // Lenient pass: every complete line, so the checks can name each bad record.
  const headerEnd = content.indexOf(0x0a);
  let start = 0;
  if (headerEnd >= 0) {
    const first = content.subarray(0, headerEnd).toString('utf8');
    if (`${first}\n` === LOG_HEADER || !parseOrderRecord(first)) start = headerEnd + 1;
  }
  const { lines, torn } = splitLines(content, start);
  for (const l of lines) {
    const e = parseOrderRecord(l.text);
    if (e) log.entries.push(e);
    else log.problems.push({ kind: 'checksum', detail: `line ${l.lineNumber} is not a valid record`, records: [{ file, line: l.lineNumber, text: l.text }] });
  }
  if (torn.length > 0 && headerEnd >= 0) log.notes.push(`${name}: torn last line (${torn.length} bytes, no newline) ignored`);
  return log;
}

/** Parses the catalog's `ledger.csv` (see LEDGER_HEADER); a torn last line is ignored. */
export function readLedger(file: string, content: Buffer): { entries: LedgerRecord[]; problems: Violation[]; notes: string[] } {
  const entries: LedgerRecord[] = [];
  const problems: Violation[] = [];
  const notes: string[] = [];
  const headerEnd = content.indexOf(0x0a);
  if (headerEnd < 0 || content.subarray(0, headerEnd + 1).toString('utf8') !== LEDGER_HEADER) {
    problems.push({ kind: 'checksum', message: `ledger: ${file} does not start with the header ${JSON.stringify(LEDGER_HEADER.trim())}`, records: [{ file, line: 1, text: content.subarray(0, headerEnd < 0 ? 200 : headerEnd).toString('utf8') }] });
    return { entries, problems, notes };
  }
  const { lines, torn } = splitLines(content, headerEnd + 1);
  for (const l of lines) {
    const e = parseLedgerRecord(l.text);
    if (e) entries.push({ ...e, line: l.lineNumber });
    else problems.push({ kind: 'checksum', message: `ledger: line ${l.lineNumber} is not a valid record`, records: [{ file, line: l.lineNumber, text: l.text }] });
  }
  if (torn.length > 0) notes.push(`ledger: torn last line (${torn.length} bytes, no newline) ignored`);
  return { entries, problems, notes };
}

const LEDGER_KINDS = new Set<string>(LedgerEntrySchema.shape.kind.options);

function parseLedgerRecord(line: string): (LedgerRecord & { crc: number }) | null {
  const fields = splitCsvLine(line);
  if (!fields || fields.length !== 8) return null;
  const [seq, kind, key, epoch, name, delta, quantityAfter, crc] = fields as [string, string, string, string, string, string, string, string];
  const nat = (s: string) => (/^\d{1,15}$/.test(s) ? Number(s) : NaN);
  const int = (s: string) => (/^-?\d{1,15}$/.test(s) ? Number(s) : NaN);
  const nums = [nat(seq), nat(epoch), int(delta), int(quantityAfter), nat(crc)];
  if (nums.some(Number.isNaN) || !LEDGER_KINDS.has(kind) || !name) return null;
  return { seq: nums[0]!, kind: kind as LedgerRecord['kind'], key, epoch: nums[1]!, name, delta: nums[2]!, quantityAfter: nums[3]!, crc: nums[4]! };
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Reads `DATA_DIR/order-N/orders.csv` for every `order-N` dir, and `DATA_DIR/catalog/{ledger,products}.csv`. */
export async function loadDataDir(dataDir: string): Promise<Snapshot> {
  const dir = path.resolve(dataDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new CheckInputError(`cannot read data dir ${dir}: ${(err as Error).message}`);
  }
  const ids = names.map((n) => /^order-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  if (ids.length === 0) throw new CheckInputError(`no order-N directories in ${dir}`);
  const replicas: ReplicaLog[] = [];
  for (const id of ids) {
    const file = path.join(dir, `order-${id}`, LOG_FILE);
    replicas.push(readOrderLog(id, file, await readIfExists(file)));
  }

  const snap: Snapshot = { mode: 'offline', source: dir, replicas, ledger: null, ledgerSkipped: null, catalogProblems: [], products: null, notes: [] };
  const catalogDir = path.join(dir, 'catalog');
  const ledgerFile = path.join(catalogDir, LEDGER_FILE);
  const ledgerBytes = await readIfExists(ledgerFile);
  if (ledgerBytes === null) {
    snap.ledgerSkipped = 'no ledger';
    return snap;
  }
  const ledger = readLedger(ledgerFile, ledgerBytes);
  snap.ledger = ledger.entries;
  snap.catalogProblems.push(...ledger.problems);
  snap.notes.push(...ledger.notes);
  const productsFile = path.join(catalogDir, PRODUCTS_FILE);
  const productsText = await readIfExists(productsFile);
  if (productsText === null) {
    snap.catalogProblems.push({ kind: 'stock', message: `catalog: ${productsFile} is missing though the ledger exists`, records: [] });
  } else {
    try {
      snap.products = parseProductsCsv(productsText.toString('utf8'), productsFile);
    } catch (err) {
      snap.catalogProblems.push({ kind: 'stock', message: `catalog: ${(err as Error).message}`, records: [] });
    }
  }
  return snap;
}
