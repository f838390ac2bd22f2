/**
 * Invariants over the catalog's stock ledger: sequence and checksum chain, signs per kind, stock
 * conservation per toy, and a one-to-one match between net purchases and committed orders.
 */
import type { LedgerEntry, OrderEntry, Product } from '../../../shared/contracts.ts';
import { INITIAL_STOCK } from '../../../catalog/toys.ts';
import { ledgerCodec } from '../../../catalog/ledger.ts';
import { chainFields } from '../../../shared/wal.ts';
import type { Violation } from './types.ts';

/** A ledger entry as read from disk: `crc` and `line` are present for a file, absent live. */
export type LedgerRecord = LedgerEntry & { crc?: number; line?: number };

/**
 * The bytes a ledger row's checksum covers (everything but the checksum itself):
 * catalog/ledger.ts's fields.
 */
export function ledgerRecordContent(e: LedgerEntry): string {
  return ledgerCodec.fields({ ...e, crc: 0 }).join(',');
}

/**
 * crc32 of a ledger row chained to the previous row's crc (0 for the first), as the ledger signs
 * it.
 */
export function chainLedgerCrc(prevCrc: number, e: LedgerEntry): number {
  return chainFields(prevCrc, ledgerCodec.fields({ ...e, crc: 0 }));
}

/**
 * Sequence numbers run 0, 1, 2, …, the crc chain holds (where rows carry one), and each kind has
 * its sign and key: a purchase takes (delta < 0), a release or restock gives back (> 0), a refusal
 * changes nothing (0); only a restock has an empty key.
 */
export function checkLedgerWellFormed(ledger: readonly LedgerRecord[]): Violation[] {
  const out: Violation[] = [];
  let prevCrc = 0;
  for (let i = 0; i < ledger.length; i++) {
    const e = ledger[i]!;
    const where = `ledger seq ${e.seq}${e.line !== undefined ? ` (line ${e.line})` : ''}`;
    const prev = ledger[i - 1];
    if (e.seq !== i)
      out.push({
        kind: 'gap',
        message: prev
          ? `${where} follows seq ${prev.seq}`
          : `${where} is the first entry (expected seq 0)`,
        records: prev ? [prev, e] : [e],
      });
    if (e.crc !== undefined) {
      if (chainLedgerCrc(prevCrc, e) !== e.crc)
        out.push({ kind: 'checksum', message: `${where} fails its checksum`, records: [e] });
      prevCrc = e.crc;
    }
    const signOk =
      e.kind === 'purchase' ? e.delta < 0 : e.kind === 'refusal' ? e.delta === 0 : e.delta > 0;
    if (!signOk)
      out.push({
        kind: 'stock',
        message: `${where}: a ${e.kind} with delta ${e.delta}`,
        records: [e],
      });
    if (e.kind === 'restock' ? e.key !== '' : e.key === '')
      out.push({
        kind: 'stock',
        message: `${where}: a ${e.kind} with key ${JSON.stringify(e.key)}`,
        records: [e],
      });
  }
  return out;
}

/** One toy's ledger rows summed: what came in and went out, and where its stock stands. */
interface ToyTally {
  restocked: number;
  released: number;
  purchased: number;
  current: number;
  last: LedgerRecord | null;
}

/**
 * Per toy, `initialStock + restocked + released − purchased = current stock`, where the current
 * stock is the toy's last `quantityAfter`; every `quantityAfter` follows from the one before it;
 * no stock is negative; and the current stock equals what the catalog serves (`products`, when
 * given). A toy the ledger never touched must still hold `initialStock`.
 */
export function checkStockConservation(
  ledger: readonly LedgerRecord[],
  products: readonly Product[] | null,
  initialStock = INITIAL_STOCK,
): Violation[] {
  const out: Violation[] = [];
  const toys = tallyToys(ledger, initialStock, out);
  for (const [name, t] of toys) {
    const expected = initialStock + t.restocked + t.released - t.purchased;
    if (expected !== t.current) {
      out.push({
        kind: 'stock',
        message: `${name}: ${initialStock} + ${t.restocked} restocked + ${t.released} released - ${t.purchased} purchased = ${expected}, but the ledger ends at ${t.current}`,
        records: t.last ? [t.last] : [],
      });
    }
  }
  if (products) out.push(...servedStockProblems(products, toys, initialStock));
  return out;
}

/**
 * Sums the ledger per toy, reporting into `out` every row that does not follow from the one before.
 */
function tallyToys(
  ledger: readonly LedgerRecord[],
  initialStock: number,
  out: Violation[],
): Map<string, ToyTally> {
  const toys = new Map<string, ToyTally>();
  for (const e of ledger) {
    let t = toys.get(e.name);
    if (!t)
      toys.set(
        e.name,
        (t = { restocked: 0, released: 0, purchased: 0, current: initialStock, last: null }),
      );
    // A refusal with a delta is reported by checkLedgerWellFormed; it is counted so the sums
    // still close.
    if (e.kind === 'restock') t.restocked += e.delta;
    else if (e.kind === 'release') t.released += e.delta;
    else if (e.kind === 'purchase') t.purchased -= e.delta;
    else if (e.delta !== 0) t.purchased -= e.delta;
    if (e.quantityAfter !== t.current + e.delta) {
      out.push({
        kind: 'stock',
        message: `${e.name}: ledger seq ${e.seq} (${e.kind} ${e.delta}) leaves ${e.quantityAfter}, but the stock before it was ${t.current}`,
        records: t.last ? [t.last, e] : [e],
      });
    }
    if (e.quantityAfter < 0)
      out.push({
        kind: 'stock',
        message: `${e.name}: ledger seq ${e.seq} leaves stock ${e.quantityAfter} < 0`,
        records: [e],
      });
    t.current = e.quantityAfter;
    t.last = e;
  }
  return toys;
}

/** What the catalog serves against what its ledger says, toy by toy, both ways. */
function servedStockProblems(
  products: readonly Product[],
  toys: ReadonlyMap<string, ToyTally>,
  initialStock: number,
): Violation[] {
  const out: Violation[] = [];
  const served = new Map(products.map((p) => [p.name, p]));
  for (const p of products) {
    if (p.quantity < 0)
      out.push({
        kind: 'stock',
        message: `${p.name}: the catalog serves stock ${p.quantity} < 0`,
        records: [p],
      });
    const t = toys.get(p.name);
    const current = t ? t.current : initialStock;
    if (p.quantity !== current) {
      out.push({
        kind: 'stock',
        message: `${p.name}: the catalog serves stock ${p.quantity}, the ledger says ${current}${t ? '' : ' (never changed)'}`,
        records: t?.last ? [p, t.last] : [p],
      });
    }
  }
  for (const [name, t] of toys) {
    if (!served.has(name))
      out.push({
        kind: 'stock',
        message: `${name}: in the ledger but not in the catalog's products`,
        records: t.last ? [t.last] : [],
      });
  }
  return out;
}

/**
 * The ledger's net purchases (purchases whose key was not released afterwards) correspond one to
 * one, with equal name and quantity, to the orders in the committed log. Also: a key is never
 * purchased twice without a release in between, and a release undoes an earlier purchase of the
 * same toy and quantity. Refusals (a key turned away for lack of stock) change nothing; an order
 * committed under a refused key has no decrement and is reported as such.
 */
export function checkLedgerMatchesLog(
  name: string,
  ledger: readonly LedgerRecord[],
  log: readonly OrderEntry[],
): Violation[] {
  const out: Violation[] = [];
  const { net, refused } = netPurchases(ledger, out);
  const orders = new Map<string, OrderEntry>();
  for (const o of log) if (!orders.has(o.key)) orders.set(o.key, o);
  for (const [key, p] of net) {
    if (!p) continue;
    const o = orders.get(key);
    if (!o)
      out.push({
        kind: 'stock',
        message: `ledger seq ${p.seq} decremented ${-p.delta} ${p.name} for key ${key}, but ${name} has no order with that key`,
        records: [p],
      });
    else if (o.name !== p.name || o.quantity !== -p.delta) {
      out.push({
        kind: 'stock',
        message: `order ${o.index} (key ${key}) is ${o.quantity} ${o.name}, but ledger seq ${p.seq} decremented ${-p.delta} ${p.name}`,
        records: [o, p],
      });
    }
  }
  for (const [key, o] of orders) {
    if (net.get(key)) continue;
    const released = net.has(key);
    const why = released
      ? 'is committed but its purchase was released'
      : refused.has(key)
        ? 'is committed but the catalog refused that key'
        : 'has no stock decrement in the ledger';
    out.push({
      kind: 'stock',
      message: `order ${o.index} (key ${key}) ${why}`,
      records: [o, ...ledger.filter((e) => e.key === key)],
    });
  }
  return out;
}

/**
 * Replays purchases and releases per key: `net` maps a key to the purchase in force (null once
 * released), `refused` to its refusal. A second purchase without a release, or a release that
 * undoes no matching purchase, is reported into `out`.
 */
function netPurchases(
  ledger: readonly LedgerRecord[],
  out: Violation[],
): { net: Map<string, LedgerRecord | null>; refused: Map<string, LedgerRecord> } {
  const net = new Map<string, LedgerRecord | null>();
  const refused = new Map<string, LedgerRecord>();
  for (const e of ledger) {
    if (e.kind === 'restock') continue;
    if (e.kind === 'refusal') {
      refused.set(e.key, e);
      continue;
    }
    const held = net.get(e.key) ?? null;
    if (e.kind === 'purchase') {
      if (held)
        out.push({
          kind: 'stock',
          message: `key ${e.key} decremented stock twice (ledger seq ${held.seq} and ${e.seq}) without a release`,
          records: [held, e],
        });
      else net.set(e.key, e);
    } else if (!held) {
      out.push({
        kind: 'stock',
        message: `ledger seq ${e.seq} releases key ${e.key}, which holds no purchase`,
        records: [e],
      });
    } else {
      if (held.name !== e.name || held.delta !== -e.delta) {
        out.push({
          kind: 'stock',
          message: `ledger seq ${e.seq} releases ${e.delta} ${e.name} for key ${e.key}, but seq ${held.seq} purchased ${-held.delta} ${held.name}`,
          records: [held, e],
        });
      }
      net.set(e.key, null);
    }
  }
  return { net, refused };
}
