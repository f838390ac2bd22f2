/**
 * Cached product reads are fresh for the client that ordered: the frontend drops a toy from its
 * cache before it acknowledges an order for it (frontend/app.ts), so a query of that toy that
 * starts after the acknowledgement, through the same frontend (the same history), must see the
 * stock as it was at or after that order's purchase, never the stock from before it.
 *
 * "At or after the purchase" is read off the catalog's ledger: the toy's stock took the values
 * `quantityAfter` of its entries from the purchase's seq on. A value that the toy held only
 * before the purchase (or never) is a stale read. Coinciding values can hide a stale read, never
 * invent one.
 */
import { acknowledgedNumber, type Operation } from './history.ts';
import type { LedgerRecord } from './ledger.ts';
import type { Violation } from './types.ts';

interface Ack {
  atMs: number;
  purchaseSeq: number;
  op: Operation;
}

function bodyData(op: Operation): { name?: unknown; quantity?: unknown } | undefined {
  const body = op.completion?.response?.body;
  const data =
    body !== null && typeof body === 'object' ? (body as { data?: unknown }).data : undefined;
  return data !== null && typeof data === 'object'
    ? (data as { name?: unknown; quantity?: unknown })
    : undefined;
}

/** Per history and toy: acknowledged orders by completion time, each with its purchase's seq. */
function acksByToy(ledger: readonly LedgerRecord[], ops: readonly Operation[]): Map<string, Ack[]> {
  const firstPurchase = new Map<string, number>();
  for (const e of ledger)
    if (e.kind === 'purchase' && !firstPurchase.has(e.key)) firstPurchase.set(e.key, e.seq);
  const out = new Map<string, Ack[]>();
  for (const op of ops) {
    if (
      op.f !== 'order' ||
      op.completion?.type !== 'ok' ||
      op.key === null ||
      acknowledgedNumber(op.completion) === null
    )
      continue;
    const seq = firstPurchase.get(op.key);
    const name = op.invoke.request.name;
    if (seq === undefined || typeof name !== 'string') continue;
    const id = `${op.history}\n${name}`;
    out.set(id, [...(out.get(id) ?? []), { atMs: op.completion.timeMs, purchaseSeq: seq, op }]);
  }
  for (const list of out.values()) list.sort((a, b) => a.atMs - b.atMs);
  return out;
}

/** The latest purchase (highest seq) among acknowledgements completed before `t`. */
function newestBefore(acks: readonly Ack[], t: number): Ack | null {
  let best: Ack | null = null;
  for (const a of acks) {
    if (a.atMs >= t) break;
    if (!best || a.purchaseSeq > best.purchaseSeq) best = a;
  }
  return best;
}

export function checkProductReadsFresh(
  ledger: readonly LedgerRecord[],
  ops: readonly Operation[],
): Violation[] {
  // toy -> stock value -> the last seq at which the toy held it.
  const lastSeqOf = new Map<string, Map<number, number>>();
  for (const e of ledger) {
    let m = lastSeqOf.get(e.name);
    if (!m) lastSeqOf.set(e.name, (m = new Map()));
    m.set(e.quantityAfter, e.seq);
  }
  const acks = acksByToy(ledger, ops);
  const out: Violation[] = [];
  for (const op of ops) {
    if (op.f !== 'query' || op.completion?.type !== 'ok' || op.completion.response?.status !== 200)
      continue;
    const data = bodyData(op);
    if (typeof data?.name !== 'string' || typeof data.quantity !== 'number') continue;
    const ack = newestBefore(acks.get(`${op.history}\n${data.name}`) ?? [], op.invoke.timeMs);
    if (!ack) continue;
    const held = lastSeqOf.get(data.name)?.get(data.quantity);
    if (held !== undefined && held >= ack.purchaseSeq) continue;
    out.push({
      kind: 'stale-product-read',
      message:
        `query op ${op.op} of ${data.name} invoked at ${op.invoke.timeMs} ms saw stock ${data.quantity}, which the toy held ` +
        `${held === undefined ? 'never, per the ledger' : `last at ledger seq ${held}`}, before the purchase (seq ${ack.purchaseSeq}) of order op ${ack.op.op} acknowledged at ${ack.atMs} ms`,
      records: [ack.op.invoke, ack.op.completion, op.invoke, op.completion],
    });
  }
  return out;
}
