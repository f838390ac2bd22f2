/**
 * What a ledger repair appends, decided without touching a file: given the valid prefix of a
 * damaged ledger and the orders the replicas committed, the records that make stock add up again.
 *
 * Why it is shaped so: the order log is the truth about which orders happened; the ledger's
 * damaged part held (among others) the purchases of some of them. Every order whose key has no
 * purchase in force in the kept prefix gets its purchase back, so each committed order is matched
 * by exactly one net decrement. Purchases, refusals and restocks that were only in the damaged
 * part and belong to no order are gone, which is what they would have been had their orders
 * never been placed. Where a restored purchase would take a toy below zero (a restock in the
 * damaged part is gone too), a restock of exactly the missing amount comes first, so no stock is
 * ever negative and `initial + restocked + released - purchased = stock` holds by construction.
 * Pure, so the plan is testable and `--dry-run` shows exactly what would be written.
 */
import type { LedgerEntry, OrderEntry, Product } from '../../../shared/contracts.ts';

export interface RestoredPurchase {
  order: OrderEntry;
  seq: number;
}

export interface RepairRestock {
  name: string;
  delta: number;
  seq: number;
  /** The order whose restored purchase needed it. */
  forOrder: number;
}

export interface LedgerRepairPlan {
  /** Records to append after the kept prefix, in order, with their seqs. */
  append: LedgerEntry[];
  restored: RestoredPurchase[];
  restocks: RepairRestock[];
  /** Orders that cannot be restored (a toy the catalog does not sell). */
  skipped: { order: OrderEntry; why: string }[];
  /** Each toy's stock once the records are appended. */
  stock: Map<string, number>;
}

/**
 * Stock per toy and the keys whose purchase is in force (bought and not released) after `ledger`.
 */
export function replayLedger(
  ledger: readonly LedgerEntry[],
  initial: readonly Product[],
): { stock: Map<string, number>; inForce: Set<string> } {
  const stock = new Map(initial.map((p) => [p.name, p.quantity]));
  const inForce = new Set<string>();
  for (const e of ledger) {
    stock.set(e.name, e.quantityAfter);
    if (e.kind === 'purchase') inForce.add(e.key);
    else if (e.kind === 'release') inForce.delete(e.key);
  }
  return { stock, inForce };
}

export function planLedgerRepair(
  kept: readonly LedgerEntry[],
  orders: readonly OrderEntry[],
  initial: readonly Product[],
): LedgerRepairPlan {
  const { stock, inForce } = replayLedger(kept, initial);
  const plan: LedgerRepairPlan = { append: [], restored: [], restocks: [], skipped: [], stock };
  let seq = kept.length;
  for (const order of orders) {
    if (inForce.has(order.key)) continue;
    const left = stock.get(order.name);
    if (left === undefined) {
      plan.skipped.push({
        order,
        why: `the catalog has no toy named ${JSON.stringify(order.name)}`,
      });
      continue;
    }
    let have = left;
    if (have < order.quantity) {
      const delta = order.quantity - have;
      have = order.quantity;
      plan.append.push({
        seq,
        kind: 'restock',
        key: '',
        epoch: 0,
        name: order.name,
        delta,
        quantityAfter: have,
        refused: 0,
      });
      plan.restocks.push({ name: order.name, delta, seq, forOrder: order.index });
      seq++;
    }
    have -= order.quantity;
    plan.append.push({
      seq,
      kind: 'purchase',
      key: order.key,
      epoch: order.epoch,
      name: order.name,
      delta: -order.quantity,
      quantityAfter: have,
      refused: 0,
    });
    plan.restored.push({ order, seq });
    seq++;
    stock.set(order.name, have);
    inForce.add(order.key);
  }
  return plan;
}
