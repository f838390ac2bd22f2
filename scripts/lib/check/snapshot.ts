/**
 * What a loader hands the judge: each replica's parsed log with the problems found while
 * parsing, the catalog's ledger and products, and notes. Plain data, so offline and live runs
 * are judged by the same code.
 */
import type { OrderEntry, Product } from '../../../shared/contracts.ts';
import { ledgerCodec } from '../../../catalog/ledger.ts';
import type { LedgerRecord, Violation, ViolationKind } from '../invariants/index.ts';

export { LEDGER_FILE } from '../../../shared/data-dir.ts';
/** The ledger's header line, as catalog/ledger.ts writes it. */
export const LEDGER_HEADER = `${ledgerCodec.header}\n`;

/** Bad input or an unreachable source: the check could not be run at all (CLI exit 2). */
export class CheckInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckInputError';
  }
}

/**
 * A problem found while loading one replica's log; its message is prefixed with the replica (group)
 * name.
 */
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
  /**
   * Violations found while reading the ledger or products (corrupt lines, a missing products file).
   */
  catalogProblems: Violation[];
  products: Product[] | null;
  notes: string[];
}
