/**
 * Offline loading: a stopped store's data dir (layout: shared/data-dir.ts). An order log is
 * parsed twice: by `parseLog` (the replica's own loader, whose `CorruptLogError` says "the replica
 * would refuse to open this") and leniently, record by record, keeping every complete record, so
 * one flipped byte does not turn every later order into "lost". The lenient pass is the logs' own
 * (shared/wal.ts `scanRecords`: the same record splitting, quoted newlines included) with the
 * codecs' own field rules (order/file-log.ts, catalog/ledger.ts), so a record reads the same here
 * as in the service. A torn last line (no newline) is ignored, with a note.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { catalogPaths, replicaIdsIn, replicaPaths } from '../../../shared/data-dir.ts';
import { readIfExists } from '../../../shared/fsutil.ts';
import { scanRecords, splitRecord } from '../../../shared/wal-records.ts';
import { CorruptLogError, parseLog } from '../../../order/file-log.ts';
import { LOG_HEADER, orderCodec } from '../../../order/record-codec.ts';
import { decodeLedgerFields } from '../../../catalog/ledger.ts';
import { parseProductsCsv } from '../../../catalog/store.ts';
import type { LedgerRecord, Violation } from '../invariants/index.ts';
import { CheckInputError, LEDGER_HEADER, type ReplicaLog, type Snapshot } from './snapshot.ts';

const decodeOrder = (fields: string[]) =>
  orderCodec.decode(fields) ?? orderCodec.explain?.(fields) ?? 'not an order record';

/** Parses one replica's `orders.csv` bytes into records plus the problems a checker must report. */
export function readOrderLog(id: number, file: string, content: Buffer | null): ReplicaLog {
  const name = replicaPaths('', id).name;
  const log: ReplicaLog = { id, name, entries: [], raw: content, problems: [], notes: [] };
  if (content === null) {
    log.notes.push(
      `${name}: ${file} does not exist (the replica never started?); treated as an empty log`,
    );
    return log;
  }
  try {
    const { validEnd } = parseLog(file, content);
    if (validEnd < content.length && content.indexOf(0x0a, validEnd) >= 0) {
      log.notes.push(
        `${name}: on restart the replica would cut ${content.length - validEnd} bytes from line ${content.subarray(0, validEnd).filter((b) => b === 0x0a).length + 1} on`,
      );
    }
  } catch (err) {
    if (!(err instanceof CorruptLogError)) throw err;
    log.problems.push({
      kind: 'checksum',
      detail: `corrupt log, the replica would refuse to open it: ${err.message}`,
      records: [{ file, line: err.lineNumber }],
    });
  }
  // Lenient pass: every complete record, so the checks can name each bad one. A first line that
  // is the header, or no record at all, is passed over (parseLog above reports a wrong header).
  const headerEnd = content.indexOf(0x0a);
  let start = 0;
  if (headerEnd >= 0) {
    const first = content.subarray(0, headerEnd).toString('utf8');
    const fields = splitRecord(first);
    if (`${first}\n` === LOG_HEADER || typeof fields === 'string' || !orderCodec.decode(fields))
      start = headerEnd + 1;
  }
  const scan = scanRecords(content, start, decodeOrder);
  log.entries = scan.records.map((r) => r.record);
  for (const b of scan.bad)
    log.problems.push({
      kind: 'checksum',
      detail: `line ${b.line} is not a valid record (${b.why})`,
      records: [{ file, line: b.line, text: b.text }],
    });
  if (scan.tornBytes > 0 && headerEnd >= 0)
    log.notes.push(`${name}: torn last line (${scan.tornBytes} bytes, no newline) ignored`);
  return log;
}

/** Parses the catalog's `ledger.csv` (see LEDGER_HEADER); a torn last line is ignored. */
export function readLedger(
  file: string,
  content: Buffer,
): { entries: LedgerRecord[]; problems: Violation[]; notes: string[] } {
  const entries: LedgerRecord[] = [];
  const problems: Violation[] = [];
  const notes: string[] = [];
  const headerEnd = content.indexOf(0x0a);
  if (headerEnd < 0 || content.subarray(0, headerEnd + 1).toString('utf8') !== LEDGER_HEADER) {
    problems.push({
      kind: 'checksum',
      message: `ledger: ${file} does not start with the header ${JSON.stringify(LEDGER_HEADER.trim())}`,
      records: [
        {
          file,
          line: 1,
          text: content.subarray(0, headerEnd < 0 ? 200 : headerEnd).toString('utf8'),
        },
      ],
    });
    return { entries, problems, notes };
  }
  // Each field by the ledger's own definitions; the rules across fields (a kind's key and sign)
  // are left to the stock checks, which name them.
  const scan = scanRecords(content, headerEnd + 1, decodeLedgerFields);
  for (const r of scan.records) entries.push({ ...r.record, line: r.line });
  for (const b of scan.bad)
    problems.push({
      kind: 'checksum',
      message: `ledger: line ${b.line} is not a valid record (${b.why})`,
      records: [{ file, line: b.line, text: b.text }],
    });
  if (scan.tornBytes > 0)
    notes.push(`ledger: torn last line (${scan.tornBytes} bytes, no newline) ignored`);
  return { entries, problems, notes };
}

/**
 * Reads `DATA_DIR/order-N/orders.csv` for every `order-N` dir, and
 * `DATA_DIR/catalog/{ledger,products}.csv`.
 */
export async function loadDataDir(dataDir: string): Promise<Snapshot> {
  const dir = path.resolve(dataDir);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new CheckInputError(`cannot read data dir ${dir}: ${(err as Error).message}`);
  }
  const ids = replicaIdsIn(names);
  if (ids.length === 0) throw new CheckInputError(`no order-N directories in ${dir}`);
  const replicas: ReplicaLog[] = [];
  for (const id of ids) {
    const file = replicaPaths(dir, id).log;
    replicas.push(readOrderLog(id, file, await readIfExists(file)));
  }

  const snap: Snapshot = {
    mode: 'offline',
    source: dir,
    replicas,
    ledger: null,
    ledgerSkipped: null,
    catalogProblems: [],
    products: null,
    notes: [],
  };
  const catalog = catalogPaths(dir);
  const ledgerFile = catalog.ledger;
  const ledgerBytes = await readIfExists(ledgerFile);
  if (ledgerBytes === null) {
    snap.ledgerSkipped = 'no ledger';
    return snap;
  }
  const ledger = readLedger(ledgerFile, ledgerBytes);
  snap.ledger = ledger.entries;
  snap.catalogProblems.push(...ledger.problems);
  snap.notes.push(...ledger.notes);
  const productsFile = catalog.products;
  const productsText = await readIfExists(productsFile);
  if (productsText === null) {
    snap.catalogProblems.push({
      kind: 'stock',
      message: `catalog: ${productsFile} is missing though the ledger exists`,
      records: [],
    });
  } else {
    try {
      snap.products = parseProductsCsv(productsText.toString('utf8'), productsFile);
    } catch (err) {
      snap.catalogProblems.push({
        kind: 'stock',
        message: `catalog: ${(err as Error).message}`,
        records: [],
      });
    }
  }
  return snap;
}
