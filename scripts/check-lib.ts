/**
 * The consistency checker as a library: loads what the store left behind (replica order logs, the
 * catalog's stock ledger and product list) either offline from a data dir or live over HTTP, plus
 * optional client histories, runs every invariant of scripts/lib/invariants over them and returns
 * one report. `scripts/check.ts` is the thin CLI around it; the tests drive it in-process.
 *
 * Why it is shaped so:
 * - Loading and judging are separate. A loader produces a `Snapshot` (plain parsed data plus the
 *   problems found while parsing, such as a corrupt line); `runChecks` is pure over a snapshot and
 *   the histories. So offline and live runs are judged by the very same code.
 * - A damaged file is evidence, not a crash. An order log is parsed twice: by `parseLog` (the
 *   replica's own loader, whose `CorruptLogError` says "the replica would refuse to open this")
 *   and leniently, line by line, keeping every complete record, so the gap/checksum/epoch checks
 *   name the exact bad records and one flipped byte does not turn every later order into "lost".
 *   A torn last line (no newline) is what a crash mid-write leaves; it is ignored, with a note.
 * - Replicas holding identical logs are checked once, as a group ("order-1/order-2"), so one bad
 *   record is reported once, not three times. The history and ledger checks run against one
 *   reference log: the one most replicas hold (then the longest); any other log is a divergence.
 * - Offline, divergence compares the raw bytes (after catch-up the files must be byte-identical);
 *   live it compares records. A live check is only meaningful on a quiescent store: an order in
 *   flight shows as a lagging replica or a decrement without an order.
 * - Live loading takes an `HttpClient`, so tests serve fakes in-process.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { FetchLogResponseSchema, HistoryEventSchema, LedgerEntrySchema, ProductSchema, type HistoryEvent, type OrderEntry, type Product } from '../shared/contracts.ts';
import { expectData, type HttpClient } from '../shared/http.ts';
import {
  checkHistories, checkLedgerMatchesLog, checkLedgerWellFormed, checkLogsAgree, checkLogWellFormed, checkStockConservation, checkUniqueKeys,
  pairOperations, type LedgerRecord, type Violation, type ViolationKind,
} from './lib/invariants/index.ts';
import { CorruptLogError, LOG_FILE, LOG_HEADER, orderCodec, parseLog } from '../order/file-log.ts';
import { PRODUCTS_FILE, parseProductsCsv } from '../catalog/store.ts';
import { INITIAL_STOCK } from '../catalog/toys.ts';

export const LEDGER_FILE = 'ledger.csv';
export const LEDGER_HEADER = 'seq,kind,key,epoch,name,delta,quantityAfter,crc\n';
export const LOG_PAGE_SIZE = 2_000;
export const LEDGER_PAGE_SIZE = 2_000;
const LIVE_TIMEOUT_MS = 15_000;

/** Bad input or an unreachable source: the check could not be run at all (CLI exit 2). */
export class CheckInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckInputError';
  }
}

// ---------------------------------------------------------------- snapshot

/** A problem found while loading one replica's log; its message is prefixed with the replica (group) name. */
export interface LoadProblem {
  kind: ViolationKind;
  detail: string;
  records: unknown[];
}

export interface ReplicaLog {
  id: number;
  /** `order-N`. */
  name: string;
  /** Every complete, parseable record, in file order (offline) or as served (live). */
  entries: OrderEntry[];
  /** The file's bytes (offline); null live or when the file does not exist. */
  raw: Buffer | null;
  problems: LoadProblem[];
  notes: string[];
}

export interface Snapshot {
  mode: 'offline' | 'live';
  /** The data dir, or the replica URLs. */
  source: string;
  replicas: ReplicaLog[];
  /** null: there is no ledger to check (see `ledgerSkipped`). */
  ledger: LedgerRecord[] | null;
  /** Why the stock checks are skipped, when `ledger` is null. */
  ledgerSkipped: string | null;
  /** Violations found while reading the ledger or products (corrupt lines, a missing products file). */
  catalogProblems: Violation[];
  products: Product[] | null;
  notes: string[];
}

// ---------------------------------------------------------------- offline loading

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

// ---------------------------------------------------------------- live loading

export interface ReplicaTarget {
  id: number;
  url: string;
}

/** Parses `1=http://127.0.0.1:8011,2=...` (the ORDER_REPLICAS format). */
export function parseReplicaList(s: string): ReplicaTarget[] {
  const out: ReplicaTarget[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)=(.+)$/.exec(part);
    if (!m) throw new CheckInputError(`--replicas: entry ${JSON.stringify(part)} is not id=http://host:port`);
    const id = Number(m[1]);
    if (out.some((r) => r.id === id)) throw new CheckInputError(`--replicas: id ${id} appears twice`);
    out.push({ id, url: httpOrigin('--replicas', m[2]!) });
  }
  if (out.length === 0) throw new CheckInputError('--replicas: at least one replica is required');
  return out.sort((a, b) => a.id - b.id);
}

function httpOrigin(flag: string, raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.origin;
  } catch {
    throw new CheckInputError(`${flag}: ${JSON.stringify(raw)} is not an http:// URL`);
  }
}

async function getData<T>(http: HttpClient, url: string, schema: z.ZodType<T>, what: string): Promise<T> {
  let res;
  try {
    res = await http({ method: 'GET', url, timeoutMs: LIVE_TIMEOUT_MS });
  } catch (err) {
    throw new CheckInputError(`${what}: ${url}: ${(err as Error).message}`);
  }
  try {
    return expectData(res, schema);
  } catch (err) {
    throw new CheckInputError(`${what}: ${url}: HTTP ${res.status}: ${(err as Error).message}`);
  }
}

/**
 * Pages through `GET {url}/internal/log?from=N&limit=…` until past `lastIndex`. If a page does not
 * continue the previous one (its prevCrc differs: the log was cut meanwhile), starts over.
 */
export async function fetchReplicaLog(http: HttpClient, target: ReplicaTarget, pageSize = LOG_PAGE_SIZE): Promise<ReplicaLog> {
  const name = `order-${target.id}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const entries: OrderEntry[] = [];
    let from = 0;
    let consistent = true;
    for (;;) {
      const page = await getData(http, `${target.url}/internal/log?from=${from}&limit=${pageSize}`, FetchLogResponseSchema, name);
      if (from > 0 && page.prevCrc !== entries[from - 1]!.crc) {
        consistent = false;
        break;
      }
      entries.push(...page.entries);
      from += page.entries.length;
      if (page.entries.length === 0 || from > page.lastIndex) break;
    }
    if (consistent) return { id: target.id, name, entries, raw: null, problems: [], notes: [] };
  }
  throw new CheckInputError(`${name}: its log kept changing while it was read; check a quiescent store`);
}

/**
 * A live ledger entry may claim a negative stock: let the checker report it rather than refuse the
 * page. If the catalog serves each entry's crc, the chain is checked live too.
 */
const LiveLedgerEntrySchema = LedgerEntrySchema.extend({ quantityAfter: z.number().int(), crc: z.number().int().nonnegative().optional() });
const LedgerPageSchema = z.object({ entries: z.array(LiveLedgerEntrySchema), lastSeq: z.number().int() });

/** Pages through `GET {catalog}/internal/ledger?from=SEQ&limit=N`; null when the catalog has no ledger (404). */
export async function fetchLedger(http: HttpClient, catalog: string, pageSize = LEDGER_PAGE_SIZE): Promise<LedgerRecord[] | null> {
  const out: LedgerRecord[] = [];
  let from = 0;
  for (;;) {
    const url = `${catalog}/internal/ledger?from=${from}&limit=${pageSize}`;
    if (out.length === 0) {
      let res;
      try {
        res = await http({ method: 'GET', url, timeoutMs: LIVE_TIMEOUT_MS });
      } catch (err) {
        throw new CheckInputError(`catalog: ${url}: ${(err as Error).message}`);
      }
      if (res.status === 404) return null;
    }
    const page = await getData(http, url, LedgerPageSchema, 'catalog ledger');
    out.push(...page.entries);
    if (page.entries.length === 0) break;
    from = page.entries[page.entries.length - 1]!.seq + 1;
    if (from > page.lastSeq) break;
  }
  return out;
}

export async function fetchProducts(http: HttpClient, catalog: string): Promise<Product[]> {
  return getData(http, `${catalog}/products`, z.array(ProductSchema.extend({ quantity: z.number().int() })), 'catalog products');
}

export interface LiveSources {
  replicas: ReplicaTarget[];
  /** Catalog origin; without it the stock checks are skipped. */
  catalog?: string;
  http: HttpClient;
}

export async function loadLive(src: LiveSources): Promise<Snapshot> {
  const replicas = await Promise.all(src.replicas.map((r) => fetchReplicaLog(src.http, r)));
  const snap: Snapshot = {
    mode: 'live',
    source: src.replicas.map((r) => `${r.id}=${r.url}`).join(','),
    replicas,
    ledger: null,
    ledgerSkipped: null,
    catalogProblems: [],
    products: null,
    notes: [],
  };
  if (!src.catalog) {
    snap.ledgerSkipped = 'no catalog given';
    return snap;
  }
  const catalog = httpOrigin('--catalog', src.catalog);
  const ledger = await fetchLedger(src.http, catalog);
  if (ledger === null) {
    snap.ledgerSkipped = 'no ledger';
    return snap;
  }
  snap.ledger = ledger;
  snap.products = await fetchProducts(src.http, catalog);
  return snap;
}

// ---------------------------------------------------------------- histories

/**
 * Reads JSON-lines history files, one array of events per file (op ids and times are only
 * comparable within one file). A torn last line is ignored; any other bad line is an input error.
 */
export async function loadHistories(files: readonly string[]): Promise<{ histories: HistoryEvent[][]; notes: string[] }> {
  const histories: HistoryEvent[][] = [];
  const notes: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new CheckInputError(`history ${file}: ${(err as Error).message}`);
    }
    const parsed = parseHistory(text, file);
    histories.push(parsed.events);
    if (parsed.tornLast) notes.push(`history ${file}: torn last line ignored`);
  }
  return { histories, notes };
}

export function parseHistory(text: string, file = 'history'): { events: HistoryEvent[]; tornLast: boolean } {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  let tornLast = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const last = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (last) {
        tornLast = true;
        continue;
      }
      throw new CheckInputError(`history ${file}:${i + 1}: not JSON`);
    }
    const r = HistoryEventSchema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new CheckInputError(`history ${file}:${i + 1}: ${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}`);
    }
    events.push(r.data);
  }
  return { events, tornLast };
}

// ---------------------------------------------------------------- judging

export interface CheckReport {
  mode: Snapshot['mode'];
  source: string;
  /** Orders in the reference (committed) log. */
  orders: number;
  replicas: number;
  /** The replicas holding the reference log, e.g. "order-1/order-2/order-3". */
  reference: string | null;
  /** Ledger entries checked, or null when the stock checks were skipped. */
  ledgerEntries: number | null;
  historyEvents: number;
  violations: Violation[];
  /** Checks not run and why, e.g. "stock conservation: skipped: no ledger". */
  skipped: string[];
  /** Facts worth knowing that are not violations (torn tails, missing files). */
  notes: string[];
  /** Violations per kind. */
  counts: Partial<Record<ViolationKind, number>>;
}

interface Group {
  name: string;
  members: ReplicaLog[];
  entries: OrderEntry[];
  recordsKey: string;
}

const recordsKey = (entries: readonly OrderEntry[]) => entries.map((e) => `${e.index},${e.epoch},${e.name},${e.quantity},${e.key},${e.crc}`).join('\n');

/** Groups replicas with identical logs (identical bytes offline, identical records live). */
function groupReplicas(replicas: readonly ReplicaLog[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of replicas) {
    const rk = recordsKey(r.entries);
    const id = r.raw ? `raw:${r.raw.toString('latin1')}` : `rec:${rk}`;
    const g = groups.get(id);
    if (g) g.members.push(r);
    else groups.set(id, { name: '', members: [r], entries: r.entries, recordsKey: rk });
  }
  for (const g of groups.values()) g.name = g.members.map((m) => m.name).join('/');
  return [...groups.values()];
}

/** The log most replicas hold; ties go to the longer log, then to the group with the highest replica id. */
function pickReference(groups: readonly Group[]): Group | null {
  let best: Group | null = null;
  const score = (g: Group) => [g.members.length, g.entries.length, Math.max(...g.members.map((m) => m.id))];
  for (const g of groups) {
    if (!best) {
      best = g;
      continue;
    }
    const [a, b] = [score(g), score(best)];
    for (let i = 0; i < a.length; i++) {
      if (a[i]! !== b[i]!) {
        if (a[i]! > b[i]!) best = g;
        break;
      }
    }
  }
  return best;
}

function firstDifferingLine(a: Buffer, b: Buffer): { line: number; offset: number; a: string; b: string } {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const lineStart = Math.max(a.lastIndexOf(0x0a, i - 1), -1) + 1;
  const line = a.subarray(0, lineStart).filter((x) => x === 0x0a).length + 1;
  const lineOf = (buf: Buffer) => {
    const end = buf.indexOf(0x0a, lineStart);
    return buf.subarray(lineStart, end < 0 ? buf.length : end).toString('utf8');
  };
  return { line, offset: i, a: lineOf(a), b: lineOf(b) };
}

/** Runs every check over a snapshot and (optionally) histories. Pure. */
export function runChecks(snap: Snapshot, histories: readonly (readonly HistoryEvent[])[] = []): CheckReport {
  const violations: Violation[] = [];
  const skipped: string[] = [];
  const notes = [...snap.notes];
  for (const r of snap.replicas) notes.push(...r.notes);

  const groups = groupReplicas(snap.replicas);
  const ref = pickReference(groups);

  // Per distinct log: what it was made of, its numbering, checksums, epochs and keys.
  for (const g of groups) {
    for (const p of g.members[0]!.problems) violations.push({ kind: p.kind, message: `${g.name}: ${p.detail}`, records: p.records });
    violations.push(...checkLogWellFormed(g.name, g.entries), ...checkUniqueKeys(g.name, g.entries));
  }

  // Divergence: every replica against the reference, by records, then (offline) by bytes.
  if (ref) {
    const refMember = ref.members[0]!;
    const ordered = new Map<string, OrderEntry[]>([[ref.name, ref.entries]]);
    for (const r of snap.replicas) if (!ref.members.includes(r)) ordered.set(r.name, r.entries);
    const byRecords = checkLogsAgree(ordered);
    violations.push(...byRecords);
    for (const r of snap.replicas) {
      if (ref.members.includes(r) || !r.raw || !refMember.raw) continue;
      if (recordsKey(r.entries) !== ref.recordsKey) {
        // checkLogsAgree compares crcs; records with equal crcs but other content still differ here.
        if (!byRecords.some((v) => v.message.startsWith(`${r.name} `))) {
          violations.push({ kind: 'divergence', message: `${r.name} and ${ref.name} hold different records with equal checksums`, records: [] });
        }
        continue;
      }
      if (!r.raw.equals(refMember.raw)) {
        const d = firstDifferingLine(r.raw, refMember.raw);
        violations.push({
          kind: 'divergence',
          message: `${r.name} and ${ref.name} hold the same records but their files differ at line ${d.line} (byte ${d.offset})`,
          records: [{ replica: r.name, line: d.line, text: d.a }, { replica: ref.name, line: d.line, text: d.b }],
        });
      }
    }
  }
  const refName = ref?.name ?? 'log';
  const refLog = ref?.entries ?? [];

  const historyEvents = histories.reduce((n, h) => n + h.length, 0);
  if (histories.length > 0) violations.push(...checkHistories(refName, refLog, pairOperations(histories)));
  else skipped.push('lost/phantom/failed-committed/stale-read: skipped: no histories given');

  if (snap.ledger === null) {
    skipped.push(`stock conservation: skipped: ${snap.ledgerSkipped ?? 'no ledger'}`);
    violations.push(...snap.catalogProblems);
  } else {
    violations.push(
      ...snap.catalogProblems,
      ...checkLedgerWellFormed(snap.ledger),
      ...checkStockConservation(snap.ledger, snap.products, INITIAL_STOCK),
      ...checkLedgerMatchesLog(refName, snap.ledger, refLog),
    );
  }

  const counts: Partial<Record<ViolationKind, number>> = {};
  for (const v of violations) counts[v.kind] = (counts[v.kind] ?? 0) + 1;
  return {
    mode: snap.mode,
    source: snap.source,
    orders: refLog.length,
    replicas: snap.replicas.length,
    reference: ref?.name ?? null,
    ledgerEntries: snap.ledger?.length ?? null,
    historyEvents,
    violations,
    skipped,
    notes,
    counts,
  };
}

/** Offline: load `dataDir` and the history files, then check. */
export async function checkDataDir(dataDir: string, historyFiles: readonly string[] = []): Promise<CheckReport> {
  const [snap, h] = await Promise.all([loadDataDir(dataDir), loadHistories(historyFiles)]);
  const report = runChecks(snap, h.histories);
  report.notes.push(...h.notes);
  return report;
}

/** Live: read the running services, then check. */
export async function checkLive(src: LiveSources, historyFiles: readonly string[] = []): Promise<CheckReport> {
  const [snap, h] = await Promise.all([loadLive(src), loadHistories(historyFiles)]);
  const report = runChecks(snap, h.histories);
  report.notes.push(...h.notes);
  return report;
}

// ---------------------------------------------------------------- output

export function summaryLine(r: CheckReport): string {
  return `check: ${r.orders} orders, ${r.replicas} replicas, ${r.violations.length} violations`;
}

const MAX_RECORDS_SHOWN = 10;

/** The human report: summary line, skipped checks, notes, then each violation with its records. */
export function formatReport(r: CheckReport): string {
  const lines = [summaryLine(r)];
  lines.push(`  source: ${r.mode} ${r.source}; reference log: ${r.reference ?? '(none)'}; ledger entries: ${r.ledgerEntries ?? '-'}; history events: ${r.historyEvents}`);
  for (const s of r.skipped) lines.push(`  ${s}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.violations.length) {
    lines.push(`violations by kind: ${Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const v of r.violations) {
      lines.push(`[${v.kind}] ${v.message}`);
      const recs = v.records ?? [];
      for (const rec of recs.slice(0, MAX_RECORDS_SHOWN)) lines.push(`    ${JSON.stringify(rec)}`);
      if (recs.length > MAX_RECORDS_SHOWN) lines.push(`    ... ${recs.length - MAX_RECORDS_SHOWN} more`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- arguments

export const USAGE = `usage:
  npm run check -- [--data-dir DIR] [--history FILE]... [--json]
  npm run check -- --replicas 1=http://127.0.0.1:8011,2=...,3=... [--catalog http://127.0.0.1:8001] [--history FILE]... [--json]

Offline (default, DIR defaults to ./data) reads DIR/order-N/orders.csv and DIR/catalog/{ledger,products}.csv.
Live reads each replica's GET /internal/log and the catalog's GET /internal/ledger and /products.
--history takes a JSON-lines client history; repeat it or give a comma-separated list.
Exit: 0 no violation, 1 violations, 2 bad arguments or unreadable input.`;

export type CheckArgs =
  | { mode: 'offline'; dataDir: string; histories: string[]; json: boolean; help: boolean }
  | { mode: 'live'; replicas: ReplicaTarget[]; catalog: string | undefined; histories: string[]; json: boolean; help: boolean };

/** Parses the CLI's flags (argv without node and the script); throws CheckInputError on misuse. */
export function parseCheckArgs(argv: readonly string[]): CheckArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        replicas: { type: 'string' },
        catalog: { type: 'string' },
        history: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CheckInputError((err as Error).message);
  }
  const histories = (values.history ?? []).flatMap((h) => h.split(',')).map((h) => h.trim()).filter(Boolean);
  const json = values.json ?? false;
  const help = values.help ?? false;
  if (values.replicas !== undefined) {
    if (values['data-dir'] !== undefined) throw new CheckInputError('--data-dir and --replicas exclude each other (offline or live)');
    return { mode: 'live', replicas: parseReplicaList(values.replicas), catalog: values.catalog === undefined ? undefined : httpOrigin('--catalog', values.catalog), histories, json, help };
  }
  if (values.catalog !== undefined) throw new CheckInputError('--catalog needs --replicas (it is for a live check)');
  if (values['data-dir'] === '') throw new CheckInputError('--data-dir must not be empty');
  return { mode: 'offline', dataDir: values['data-dir'] ?? './data', histories, json, help };
}
