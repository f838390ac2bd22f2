/**
 * The catalog repair: a damaged ledger (corruption or lost records) or an unreadable meta file
 * made the catalog refuse to start; this brings it back with stock conserved.
 *
 * Steps, each durable before the next, so a crash anywhere leaves something the catalog refuses
 * (and this command repairs again) or something it opens:
 * 1. read, without changing anything: the ledger's valid prefix and its damage, the meta file,
 *    every replica's order log (the longest valid one is the reference: it holds every order
 *    the others hold, the committed ones included);
 * 2. plan (plan.ts): restore a purchase for every order whose key has no purchase in force in the
 *    kept prefix, with restocks where stock would go negative;
 * 3. the meta file first: accountedBelowSeq may not point past the kept prefix (the records
 *    after it are new), the fence never below any epoch known; then the ledger keeps its valid
 *    prefix (shared/wal.ts keepValidPrefix: a copy of the damaged file kept whole, mark lowered,
 *    atomic swap); then the planned records are appended through the ledger's own writer;
 * 4. the catalog store itself opens the result (the same replay and checks as at start) and
 *    rewrites products.csv from it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { OrderEntry, Product } from '../../../shared/contracts.ts';
import { EPOCH } from '../../../shared/fields.ts';
import {
  UnreadableFileError,
  crashOnDurabilityError,
  writeFileAtomic,
} from '../../../shared/fsutil.ts';
import { inspectWal, keepValidPrefix, type WalInspection } from '../../../shared/wal.ts';
import { LOG_FILE } from '../../../order/file-log.ts';
import { orderCodec } from '../../../order/record-codec.ts';
import {
  INITIAL_CATALOG_META,
  LEDGER_FILE,
  META_FILE,
  ledgerCodec,
  openFileLedger,
  openMetaFile,
  type CatalogMeta,
  type SignedLedgerEntry,
} from '../../../catalog/ledger.ts';
import { describeCatalogDamage, openFileCatalogStore } from '../../../catalog/store.ts';
import { initialToys } from '../../../catalog/toys.ts';
import { planLedgerRepair, type LedgerRepairPlan } from './plan.ts';
import { replicaPathsIn } from '../../../shared/data-dir.ts';

/** The repair could not run at all (bad flags, nothing to read). */
export class RepairInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepairInputError';
  }
}

export interface RepairOptions {
  catalogDir: string;
  /** Each replica's data dir (holding orders.csv). */
  orderDirs: readonly string[];
  /** Plan and report, write nothing. */
  dryRun?: boolean;
  /** The toys a new catalog starts with (default: the catalog's own seed). */
  initial?: readonly Product[];
  onFatal?: (what: string, err: unknown) => never;
}

export interface OrderLogReading {
  dir: string;
  state: WalInspection<OrderEntry>['state'];
  records: OrderEntry[];
  /** The commit index the replica kept in its log's mark, -1 if none. */
  commitIndex: number;
  problem: string | null;
}

export interface RepairReport {
  /** False when there was nothing to repair (or a dry run). */
  changed: boolean;
  ledger: {
    file: string;
    state: WalInspection<SignedLedgerEntry>['state'];
    problem: string | null;
    keptRecords: number;
    movedTo: string | null;
  };
  meta: { file: string; before: CatalogMeta | null; after: CatalogMeta; problem: string | null };
  logs: OrderLogReading[];
  /** The log the orders were taken from. */
  reference: OrderLogReading | null;
  plan: LedgerRepairPlan | null;
  /** Ledger records once repaired. */
  finalRecords: number;
  /** What was done, one line each, for people. */
  lines: string[];
}

async function readOrderLog(dir: string): Promise<OrderLogReading> {
  const i = await inspectWal(path.join(dir, LOG_FILE), orderCodec);
  return {
    dir,
    state: i.state,
    records: i.records,
    commitIndex: i.mark?.aux ?? -1,
    problem: i.damage?.message ?? null,
  };
}

async function readMeta(
  catalogDir: string,
): Promise<{ meta: CatalogMeta | null; problem: string | null }> {
  try {
    return { meta: (await openMetaFile(catalogDir)).load(), problem: null };
  } catch (err) {
    if (err instanceof UnreadableFileError) return { meta: null, problem: err.message };
    throw err;
  }
}

/**
 * The highest epoch any replica promised (their meta files), read leniently: only a floor for the
 * fence.
 */
async function highestPromisedEpoch(orderDirs: readonly string[]): Promise<number> {
  let best = 0;
  for (const dir of orderDirs) {
    const raw = await fs.readFile(replicaPathsIn(dir).meta, 'utf8').catch(() => null);
    if (raw === null) continue;
    try {
      const e = (JSON.parse(raw) as { promisedEpoch?: unknown }).promisedEpoch;
      if (EPOCH.valid(e)) best = Math.max(best, e);
    } catch {
      // an unreadable replica meta is the replica's own damage; it only lowers this floor
    }
  }
  return best;
}

const maxEpoch = (records: readonly { epoch: number }[]) =>
  records.reduce((m, r) => Math.max(m, r.epoch), 0);

/** Reads everything and decides what to do; changes nothing. */
async function survey(opts: RepairOptions) {
  const ledgerFile = path.join(opts.catalogDir, LEDGER_FILE);
  const ledger = await inspectWal(ledgerFile, ledgerCodec);
  const meta = await readMeta(opts.catalogDir);
  const logs = await Promise.all(opts.orderDirs.map(readOrderLog));
  const present = logs.filter((l) => l.state !== 'missing' || l.records.length > 0);
  const reference = present.reduce<OrderLogReading | null>(
    (best, l) => (!best || l.records.length > best.records.length ? l : best),
    null,
  );
  const kept = ledger.records;
  const fenceFloor = Math.max(
    maxEpoch(kept),
    maxEpoch(reference?.records ?? []),
    await highestPromisedEpoch(opts.orderDirs),
  );
  const after: CatalogMeta = meta.meta
    ? {
        fenceEpoch: meta.meta.fenceEpoch,
        accountedBelowSeq: Math.min(meta.meta.accountedBelowSeq, kept.length),
      }
    : { ...INITIAL_CATALOG_META, fenceEpoch: fenceFloor };
  return { ledgerFile, ledger, meta, logs, reference, after };
}

export async function repairCatalog(opts: RepairOptions): Promise<RepairReport> {
  const s = await survey(opts);
  const damaged =
    s.ledger.damage !== null ||
    s.meta.meta === null ||
    s.after.accountedBelowSeq !== s.meta.meta.accountedBelowSeq;
  const report: RepairReport = {
    changed: false,
    ledger: {
      file: s.ledgerFile,
      state: s.ledger.state,
      problem: s.ledger.damage ? describeCatalogDamage(s.ledger.damage) : null,
      keptRecords: s.ledger.records.length,
      movedTo: null,
    },
    meta: {
      file: path.join(opts.catalogDir, META_FILE),
      before: s.meta.meta,
      after: s.after,
      problem: s.meta.problem,
    },
    logs: s.logs,
    reference: s.reference,
    plan: null,
    finalRecords: s.ledger.records.length,
    lines: [],
  };
  const say = (line: string) => report.lines.push(line);
  say(
    `ledger ${s.ledgerFile}: ${report.ledger.problem ?? `${s.ledger.state}, ${s.ledger.records.length} records`}`,
  );
  if (s.meta.problem) say(`meta: ${s.meta.problem}`);
  if (!damaged) {
    say('nothing to repair: the catalog opens this ledger and meta file as they are');
    return report;
  }
  if (!s.reference)
    throw new RepairInputError(
      `no order log found in ${opts.orderDirs.join(', ') || '(no --order-dir given)'}: the purchases of committed orders cannot be restored without one`,
    );
  for (const l of s.logs)
    say(
      `order log ${path.join(l.dir, LOG_FILE)}: ${l.records.length} valid records${l.problem ? ` (${l.problem})` : ''}${l.commitIndex >= 0 ? `, committed through ${l.commitIndex}` : ''}`,
    );
  say(
    `using ${path.join(s.reference.dir, LOG_FILE)}: the longest valid log (${s.reference.records.length} orders)`,
  );
  const plan = (report.plan = planLedgerRepair(
    s.ledger.records,
    s.reference.records,
    opts.initial ?? initialToys(),
  ));
  describePlan(report, plan);
  if (opts.dryRun) {
    say('dry run: nothing written');
    return report;
  }
  await apply(opts, s, report, plan);
  report.changed = true;
  return report;
}

function describePlan(report: RepairReport, plan: LedgerRepairPlan): void {
  const say = (line: string) => report.lines.push(line);
  say(`keeping the ${report.ledger.keptRecords} valid ledger records before the damage`);
  say(
    `restoring ${plan.restored.length} purchases for orders whose key has no decrement in the kept ledger${
      plan.restored.length
        ? `: ${plan.restored
            .slice(0, 10)
            .map(
              (r) =>
                `order ${r.order.index} (${r.order.quantity} ${r.order.name}, key ${r.order.key})`,
            )
            .join(
              ', ',
            )}${plan.restored.length > 10 ? `, and ${plan.restored.length - 10} more` : ''}`
        : ''
    }`,
  );
  for (const r of plan.restocks)
    say(
      `adding a restock of ${r.delta} ${r.name} (seq ${r.seq}) so that restoring order ${r.forOrder} leaves no negative stock`,
    );
  for (const k of plan.skipped) say(`not restoring order ${k.order.index}: ${k.why}`);
  const { before, after } = report.meta;
  if (!before)
    say(
      `meta: writing a new one: fenceEpoch ${after.fenceEpoch} (the highest epoch known), accountedBelowSeq ${after.accountedBelowSeq}`,
    );
  else if (before.accountedBelowSeq !== after.accountedBelowSeq)
    say(
      `meta: accountedBelowSeq ${before.accountedBelowSeq} -> ${after.accountedBelowSeq} (it pointed past the kept ledger)`,
    );
}

async function apply(
  opts: RepairOptions,
  s: Awaited<ReturnType<typeof survey>>,
  report: RepairReport,
  plan: LedgerRepairPlan,
): Promise<void> {
  const say = (line: string) => report.lines.push(line);
  const metaFile = report.meta.file;
  if (!report.meta.before) {
    const old = await fs.readFile(metaFile).catch(() => null);
    if (old !== null) await writeFileAtomic(`${metaFile}.unreadable-${Date.now()}`, old);
  }
  if (
    !report.meta.before ||
    report.meta.before.accountedBelowSeq !== report.meta.after.accountedBelowSeq
  ) {
    await writeFileAtomic(metaFile, `${JSON.stringify(report.meta.after)}\n`);
  }
  if (s.ledger.damage) {
    const kept = await keepValidPrefix(s.ledgerFile, s.ledger.damage);
    report.ledger.movedTo = kept.movedTo;
    if (kept.movedTo) say(`moved the damaged ledger aside whole: ${kept.movedTo}`);
  }
  const ledger = await openFileLedger(opts.catalogDir, {
    onFatal: opts.onFatal ?? crashOnDurabilityError,
  });
  try {
    await ledger.append(plan.append);
    report.finalRecords = ledger.length;
  } finally {
    await ledger.close();
  }
  say(`appended ${plan.append.length} records; the ledger holds ${report.finalRecords}`);
  // The proof that the catalog will start: its own store replays and checks the result.
  const store = await openFileCatalogStore(opts.catalogDir, {
    initial: opts.initial ? [...opts.initial] : undefined,
    onDurabilityError: opts.onFatal,
  });
  const stock = store
    .list()
    .filter(
      (p) =>
        plan.stock.has(p.name) &&
        (plan.restored.some((r) => r.order.name === p.name) ||
          plan.restocks.some((r) => r.name === p.name)),
    );
  await store.close();
  say(
    `the catalog opens the repaired ledger; products.csv rewritten${stock.length ? `; stock now ${stock.map((p) => `${p.name} ${p.quantity}`).join(', ')}` : ''}`,
  );
}
