/**
 * Stock conservation, checked on the real catalog's ledger while the run goes on and at the end.
 *
 * Every step the checker reads the ledger records added since the last step and the orders the
 * replication checker (checker.ts) has seen committed since, and holds them to:
 * - arithmetic: each record's `quantityAfter` is the stock before it plus its delta, never
 *   negative;
 * - one net decrement per key: a key is purchased again only after a release, and a release
 *   undoes a purchase in force;
 * - a committed order has a purchase in force with its name and quantity, and that purchase is
 *   never released (a release of it gives the stock of a sold toy back: issue 9 item 1).
 *
 * At the end, once every pending purchase is accounted for, the shared rules
 * (scripts/lib/invariants) over the whole ledger: per toy `initial + restocked + released −
 * purchased = stock`, the stock the catalog serves equals the ledger's, and the net purchases
 * match the final log one to one.
 */
import type { LedgerEntry, OrderEntry } from '../../../shared/contracts.ts';
import {
  checkLedgerMatchesLog,
  checkLedgerWellFormed,
  checkStockConservation,
} from '../invariants/index.ts';
import type { SimCatalogService } from './catalog.ts';
import type { Checker } from './checker.ts';

export class StockChecker {
  private scanned = 0;
  private committedSeen = 0;
  private readonly stock = new Map<string, number>();
  /** key -> the purchase in force. */
  private readonly held = new Map<string, LedgerEntry>();
  /** key -> its latest release. */
  private readonly released = new Map<string, LedgerEntry>();

  constructor(
    private readonly checker: Checker,
    private readonly catalog: SimCatalogService,
  ) {
    for (const [name, q] of catalog.initial) this.stock.set(name, q);
  }

  /** Cheap, incremental: the records and commits since the last call. */
  step(): void {
    const { ledger } = this.catalog;
    if (this.scanned < ledger.length) {
      for (const e of ledger.slice(this.scanned, ledger.length)) this.onRecord(e);
      this.scanned = ledger.length;
    }
    const committed = this.checker.committed;
    for (; this.committedSeen < committed.length; this.committedSeen++)
      this.onCommitted(committed[this.committedSeen]!);
  }

  private onRecord(e: LedgerEntry): void {
    const before = this.stock.get(e.name) ?? 0;
    if (before + e.delta !== e.quantityAfter || e.quantityAfter < 0) {
      this.checker.fail(
        'stock',
        `ledger seq ${e.seq} (${e.kind} ${e.delta} ${e.name}) leaves ${e.quantityAfter}, but the stock before it was ${before}`,
      );
    }
    this.stock.set(e.name, e.quantityAfter);
    if (e.kind === 'purchase') {
      const prior = this.held.get(e.key);
      if (prior)
        this.checker.fail(
          'stock',
          `key ${e.key} decremented stock twice (ledger seq ${prior.seq} and ${e.seq}) without a release`,
        );
      this.held.set(e.key, e);
    } else if (e.kind === 'release') {
      const prior = this.held.get(e.key);
      if (!prior)
        this.checker.fail(
          'stock',
          `ledger seq ${e.seq} releases key ${e.key}, which holds no purchase`,
        );
      this.held.delete(e.key);
      this.released.set(e.key, e);
      const index = this.checker.committedKeys.get(e.key);
      if (index !== undefined && index < this.committedSeen)
        this.releasedCommitted(this.checker.committed[index]!, e);
    }
  }

  private onCommitted(o: OrderEntry): void {
    // a second order with one key: checkUniqueKeys reports it
    if (this.checker.committedKeys.get(o.key) !== o.index) return;
    const p = this.held.get(o.key);
    if (p) {
      if (p.name !== o.name || -p.delta !== o.quantity)
        this.checker.fail(
          'stock',
          `order ${o.index} (key ${o.key}) is ${o.quantity} ${o.name}, but ledger seq ${p.seq} decremented ${-p.delta} ${p.name}`,
        );
      return;
    }
    const r = this.released.get(o.key);
    if (r) this.releasedCommitted(o, r);
    else
      this.checker.fail(
        'stock',
        `order ${o.index} (key ${o.key}) is committed with no stock decrement in the ledger`,
      );
  }

  private releasedCommitted(o: OrderEntry, r: LedgerEntry): void {
    this.checker.fail(
      'released-committed',
      `order ${o.index} (${o.quantity} ${o.name} key ${o.key}) is committed, but its purchase was released by epoch ${r.epoch} (ledger seq ${r.seq})`,
    );
  }

  /** Purchases no leader has accounted for yet. */
  pendingCount(): number {
    return this.catalog.store.pending().entries.length;
  }

  /** After healing, once nothing is pending: the whole ledger against the final log. */
  end(finalLog: readonly OrderEntry[]): void {
    this.step();
    const ledger = this.catalog.ledger.all();
    const served = this.catalog.store.list();
    const violations = [
      ...checkLedgerWellFormed(ledger),
      ...checkLedgerMatchesLog('the final log', ledger, finalLog),
    ];
    for (const [name, initial] of this.catalog.initial) {
      violations.push(
        ...checkStockConservation(
          ledger.filter((e) => e.name === name),
          served.filter((p) => p.name === name),
          initial,
        ),
      );
    }
    for (const v of violations)
      this.checker.fail(v.kind === 'stock' ? 'stock' : `ledger-${v.kind}`, v.message);
  }
}
