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
import type { HistoryEvent, OrderEntry } from '../../../shared/contracts.ts';
import { INITIAL_STOCK } from '../../../catalog/toys.ts';
import {
  checkHistories,
  checkLedgerMatchesLog,
  checkProductReadsFresh,
  checkLedgerWellFormed,
  checkLogsAgree,
  checkLogWellFormed,
  checkStockConservation,
  checkUniqueKeys,
  pairOperations,
  uncoveredOrders,
  type Violation,
  type ViolationKind,
} from '../invariants/index.ts';
import { loadHistories } from './histories.ts';
import { loadLive, type LiveSources } from './live.ts';
import { loadDataDir } from './offline.ts';
import type { ReplicaLog, Snapshot } from './snapshot.ts';

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
  /** Committed orders no history accounts for (another writer's): not judged as phantoms. */
  uncovered: number;
}

interface Group {
  name: string;
  members: ReplicaLog[];
  entries: OrderEntry[];
  recordsKey: string;
}

const recordsKey = (entries: readonly OrderEntry[]) =>
  entries.map((e) => `${e.index},${e.epoch},${e.name},${e.quantity},${e.key},${e.crc}`).join('\n');

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

/**
 * The log most replicas hold; ties go to the longer log, then to the group with the highest replica
 * id.
 */
function pickReference(groups: readonly Group[]): Group | null {
  let best: Group | null = null;
  const score = (g: Group) => [
    g.members.length,
    g.entries.length,
    Math.max(...g.members.map((m) => m.id)),
  ];
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

function firstDifferingLine(
  a: Buffer,
  b: Buffer,
): { line: number; offset: number; a: string; b: string } {
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

/** Per distinct log: what it was made of, its numbering, checksums, epochs and keys. */
function checkEachLog(groups: readonly Group[]): Violation[] {
  const out: Violation[] = [];
  for (const g of groups) {
    for (const p of g.members[0]!.problems)
      out.push({ kind: p.kind, message: `${g.name}: ${p.detail}`, records: p.records });
    out.push(...checkLogWellFormed(g.name, g.entries), ...checkUniqueKeys(g.name, g.entries));
  }
  return out;
}

/** Divergence: every replica against the reference, by records, then (offline) by bytes. */
function checkDivergence(replicas: readonly ReplicaLog[], ref: Group): Violation[] {
  const refMember = ref.members[0]!;
  const ordered = new Map<string, OrderEntry[]>([[ref.name, ref.entries]]);
  for (const r of replicas) if (!ref.members.includes(r)) ordered.set(r.name, r.entries);
  const byRecords = checkLogsAgree(ordered);
  const out = [...byRecords];
  for (const r of replicas) {
    if (ref.members.includes(r) || !r.raw || !refMember.raw) continue;
    if (recordsKey(r.entries) !== ref.recordsKey) {
      // checkLogsAgree compares crcs; records with equal crcs but other content still differ here.
      if (!byRecords.some((v) => v.message.startsWith(`${r.name} `))) {
        out.push({
          kind: 'divergence',
          message: `${r.name} and ${ref.name} hold different records with equal checksums`,
          records: [],
        });
      }
      continue;
    }
    if (!r.raw.equals(refMember.raw)) {
      const d = firstDifferingLine(r.raw, refMember.raw);
      out.push({
        kind: 'divergence',
        message: `${r.name} and ${ref.name} hold the same records but their files differ at line ${d.line} (byte ${d.offset})`,
        records: [
          { replica: r.name, line: d.line, text: d.a },
          { replica: ref.name, line: d.line, text: d.b },
        ],
      });
    }
  }
  return out;
}

/** The ledger's own shape, stock conservation, and the ledger against the committed log. */
function checkStock(
  snap: Snapshot,
  refName: string,
  refLog: readonly OrderEntry[],
  skipped: string[],
): Violation[] {
  if (snap.ledger === null) {
    skipped.push(`stock conservation: skipped: ${snap.ledgerSkipped ?? 'no ledger'}`);
    return [...snap.catalogProblems];
  }
  return [
    ...snap.catalogProblems,
    ...checkLedgerWellFormed(snap.ledger),
    ...checkStockConservation(snap.ledger, snap.products, INITIAL_STOCK),
    ...checkLedgerMatchesLog(refName, snap.ledger, refLog),
  ];
}

/** Runs every check over a snapshot and (optionally) histories. Pure. */
export function runChecks(
  snap: Snapshot,
  histories: readonly (readonly HistoryEvent[])[] = [],
): CheckReport {
  const skipped: string[] = [];
  const notes = [...snap.notes];
  for (const r of snap.replicas) notes.push(...r.notes);
  const groups = groupReplicas(snap.replicas);
  const ref = pickReference(groups);
  const refName = ref?.name ?? 'log';
  const refLog = ref?.entries ?? [];

  const violations = [...checkEachLog(groups), ...(ref ? checkDivergence(snap.replicas, ref) : [])];
  const historyEvents = histories.reduce((n, h) => n + h.length, 0);
  let uncovered = 0;
  if (histories.length > 0) {
    const ops = pairOperations(histories);
    violations.push(...checkHistories(refName, refLog, ops));
    if (snap.ledger) violations.push(...checkProductReadsFresh(snap.ledger, ops));
    const strangers = uncoveredOrders(refLog, ops);
    uncovered = strangers.length;
    if (uncovered > 0) notes.push(describeUncovered(strangers));
  } else skipped.push('lost/phantom/failed-committed/stale-read: skipped: no histories given');
  violations.push(...checkStock(snap, refName, refLog, skipped));

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
    uncovered,
  };
}

function describeUncovered(strangers: readonly OrderEntry[]): string {
  const shown = strangers
    .slice(0, 3)
    .map((e) => `order ${e.index} key ${e.key}`)
    .join(', ');
  return (
    `${strangers.length} committed orders are not in any history and their keys look like none of the histories' keys ` +
    `(${shown}${strangers.length > 3 ? ', ...' : ''}): the histories do not cover every writer; phantom check skipped for them`
  );
}

/** Offline: load `dataDir` and the history files, then check. */
export async function checkDataDir(
  dataDir: string,
  historyFiles: readonly string[] = [],
): Promise<CheckReport> {
  const [snap, h] = await Promise.all([loadDataDir(dataDir), loadHistories(historyFiles)]);
  const report = runChecks(snap, h.histories);
  report.notes.push(...h.notes);
  return report;
}

/** Live: read the running services, then check. */
export async function checkLive(
  src: LiveSources,
  historyFiles: readonly string[] = [],
): Promise<CheckReport> {
  const [snap, h] = await Promise.all([loadLive(src), loadHistories(historyFiles)]);
  const report = runChecks(snap, h.histories);
  report.notes.push(...h.notes);
  return report;
}
