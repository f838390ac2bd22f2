/**
 * The store's safety invariants as plain functions over parsed data: replica order logs, client
 * acknowledgements and histories, the catalog's stock ledger and product list. One module, used by
 * the tests, the end-to-end tier, the consistency checker (scripts/check-lib.ts) and the chaos
 * tools, so "correct" means the same thing everywhere.
 *
 * Why it is shaped so: every check is pure (no disk, no network, no clock) and returns a list of
 * violations, empty when the invariant holds. Loading, choosing which log is "the" committed one
 * and printing are the caller's job, so each rule can be tested with a few hand-built records.
 * Each violation carries a stable `kind` (scripts and tests match on it), a one-line `message`
 * naming the place, and the offending `records` themselves (log entries, ledger entries, history
 * events) so a report shows the evidence, not just the verdict.
 */
import type { HistoryEvent, LedgerEntry, OrderEntry, Product } from './contracts.ts';
import { chainCrc } from '../order/log.ts';
import { crc32 } from 'node:zlib';
import { INITIAL_STOCK } from '../catalog/toys.ts';

export type ViolationKind =
  | 'gap'
  | 'checksum'
  | 'duplicate-key'
  | 'divergence'
  | 'lost'
  | 'wrong-content'
  | 'epoch-order'
  | 'phantom'
  | 'failed-committed'
  | 'stale-read'
  | 'stock';

export interface Violation {
  kind: ViolationKind;
  message: string;
  /** The offending records (order entries, ledger entries, history events, or small descriptors). */
  records?: unknown[];
}

// ================================================================ order logs

/** Order numbers run 0..n-1 with no gap or repeat, epochs never go down, the checksum chain holds. */
export function checkLogWellFormed(name: string, log: readonly OrderEntry[]): Violation[] {
  const out: Violation[] = [];
  let prevCrc = 0;
  let prevEpoch = 0;
  for (let i = 0; i < log.length; i++) {
    const e = log[i]!;
    if (e.index !== i) out.push({ kind: 'gap', message: `${name}: record ${i} has order number ${e.index}`, records: [e] });
    if (chainCrc(prevCrc, e) !== e.crc) out.push({ kind: 'checksum', message: `${name}: record ${i} fails its checksum`, records: [e] });
    if (e.epoch < prevEpoch) out.push({ kind: 'epoch-order', message: `${name}: record ${i} has epoch ${e.epoch} after epoch ${prevEpoch}`, records: [e] });
    prevCrc = e.crc;
    prevEpoch = Math.max(prevEpoch, e.epoch);
  }
  return out;
}

/** One key, one order. */
export function checkUniqueKeys(name: string, log: readonly OrderEntry[]): Violation[] {
  const seen = new Map<string, OrderEntry>();
  const out: Violation[] = [];
  for (const e of log) {
    const first = seen.get(e.key);
    if (first !== undefined) out.push({ kind: 'duplicate-key', message: `${name}: key ${e.key} is both order ${first.index} and order ${e.index}`, records: [first, e] });
    else seen.set(e.key, e);
  }
  return out;
}

/**
 * Replicas agree on every record they both hold up to `upTo` (the committed prefix; pass
 * Infinity after catch-up, when the logs must be identical, lengths included).
 */
export function checkLogsAgree(logs: ReadonlyMap<string, readonly OrderEntry[]>, upTo = Infinity): Violation[] {
  const out: Violation[] = [];
  const named = [...logs.entries()];
  const [refName, ref] = named[0] ?? ['', []];
  for (const [name, log] of named.slice(1)) {
    if (upTo === Infinity && log.length !== ref.length) {
      const longer = log.length > ref.length ? log : ref;
      const extra = longer.slice(Math.min(log.length, ref.length), Math.min(log.length, ref.length) + 3);
      out.push({ kind: 'divergence', message: `${name} has ${log.length} orders, ${refName} has ${ref.length}`, records: extra });
    }
    const n = Math.min(log.length, ref.length, upTo === Infinity ? Infinity : upTo + 1);
    for (let i = 0; i < n; i++) {
      if (log[i]!.crc !== ref[i]!.crc) {
        out.push({ kind: 'divergence', message: `${name} and ${refName} differ at order ${i}`, records: [{ replica: name, entry: log[i] }, { replica: refName, entry: ref[i] }] });
        break;
      }
    }
  }
  return out;
}

export interface Acknowledged {
  orderNumber: number;
  name: string;
  quantity: number;
}

/** Every order a client was told about is in the log, with what the client asked for. */
export function checkAcknowledged(name: string, log: readonly OrderEntry[], acked: readonly Acknowledged[]): Violation[] {
  const out: Violation[] = [];
  for (const a of acked) {
    const e = log[a.orderNumber];
    if (!e) out.push({ kind: 'lost', message: `${name}: acknowledged order ${a.orderNumber} is missing`, records: [a] });
    else if (e.name !== a.name || e.quantity !== a.quantity) {
      out.push({ kind: 'wrong-content', message: `${name}: order ${a.orderNumber} is ${e.quantity} ${e.name}, client was told ${a.quantity} ${a.name}`, records: [a, e] });
    }
  }
  return out;
}

/** All of the above over a set of replica logs that should have converged. */
export function checkConvergedCluster(logs: ReadonlyMap<string, readonly OrderEntry[]>, acked: readonly Acknowledged[]): Violation[] {
  const out = checkLogsAgree(logs);
  for (const [name, log] of logs) out.push(...checkLogWellFormed(name, log), ...checkUniqueKeys(name, log), ...checkAcknowledged(name, log, acked));
  return out;
}

// ================================================================ client histories

/** One operation of a history: its invoke and (if the history has it) its completion. */
export interface Operation {
  /** Which history (file) it came from: op ids and times are only comparable within one. */
  history: number;
  op: number;
  f: HistoryEvent['f'];
  /** The idempotency key of an order (from the invoke, else the completion). */
  key: string | null;
  invoke: HistoryEvent;
  /** null when the history ends before the operation completed: an unknown outcome, like `info`. */
  completion: HistoryEvent | null;
}

/**
 * Pairs each invoke with its completion (same `op` within one history). A completion without an
 * invoke is kept with the completion standing in for the invoke, so no evidence is dropped.
 */
export function pairOperations(histories: readonly (readonly HistoryEvent[])[]): Operation[] {
  const out: Operation[] = [];
  histories.forEach((events, history) => {
    const byOp = new Map<number, Operation>();
    for (const ev of events) {
      const prior = byOp.get(ev.op);
      if (ev.type === 'invoke') {
        if (prior) continue; // an op id reused: keep the first pairing
        const op: Operation = { history, op: ev.op, f: ev.f, key: ev.key, invoke: ev, completion: null };
        byOp.set(ev.op, op);
        out.push(op);
      } else if (prior) {
        if (!prior.completion) {
          prior.completion = ev;
          prior.key ??= ev.key;
        }
      } else {
        const op: Operation = { history, op: ev.op, f: ev.f, key: ev.key, invoke: ev, completion: ev };
        byOp.set(ev.op, op);
        out.push(op);
      }
    }
  });
  return out;
}

function bodyData(ev: HistoryEvent | null): unknown {
  const body = ev?.response?.body;
  return body !== null && typeof body === 'object' ? (body as { data?: unknown }).data : undefined;
}

/** The order number an `ok` order completion acknowledged (`{"data":{"order_number":N}}`), or null. */
export function acknowledgedNumber(ev: HistoryEvent | null): number | null {
  const data = bodyData(ev);
  const n = data !== null && typeof data === 'object' ? (data as { order_number?: unknown }).order_number : undefined;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null;
}

/**
 * The order number a `read` operation asked for. The request may carry it as `number`,
 * `order_number` or `orderNumber`, or only as a path/url ending in `/orders/N`.
 */
export function readNumber(op: Operation): number | null {
  const req = op.invoke.request;
  for (const field of ['number', 'order_number', 'orderNumber'] as const) {
    const v = req[field];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  }
  for (const field of ['path', 'url'] as const) {
    const v = req[field];
    const m = typeof v === 'string' ? /\/orders\/(\d{1,15})(?:[?#].*)?$/.exec(v) : null;
    if (m) return Number(m[1]);
  }
  return null;
}

function requestedOrder(op: Operation): { name: string | null; quantity: number | null } {
  const req = op.invoke.request;
  return {
    name: typeof req.name === 'string' ? req.name : null,
    quantity: typeof req.quantity === 'number' ? req.quantity : null,
  };
}

/**
 * Every order a history says was acknowledged (`ok` with an order number) is in `log` at that
 * number, with the key, name and quantity the client sent. Missing (no record at that number, and
 * its key nowhere in the log) is `lost`; there but different, or its key at another number, is
 * `wrong-content`.
 */
export function checkAcknowledgedOrders(name: string, log: readonly OrderEntry[], ops: readonly Operation[]): Violation[] {
  const out: Violation[] = [];
  const byKey = new Map<string, OrderEntry>();
  for (const e of log) if (!byKey.has(e.key)) byKey.set(e.key, e);
  for (const op of ops) {
    if (op.f !== 'order' || op.completion?.type !== 'ok') continue;
    const n = acknowledgedNumber(op.completion);
    const want = requestedOrder(op);
    const evidence = [op.invoke, op.completion];
    if (n === null) {
      out.push({ kind: 'lost', message: `${name}: order op ${op.op} (key ${op.key}) is ok but its response carries no order number`, records: evidence });
      continue;
    }
    const at = log[n];
    const keyMatches = at !== undefined && (op.key === null || at.key === op.key);
    if (keyMatches) {
      const diffs: string[] = [];
      if (want.name !== null && at.name !== want.name) diffs.push(`name ${at.name}, client sent ${want.name}`);
      if (want.quantity !== null && at.quantity !== want.quantity) diffs.push(`quantity ${at.quantity}, client sent ${want.quantity}`);
      if (diffs.length) out.push({ kind: 'wrong-content', message: `${name}: acknowledged order ${n} (key ${at.key}) has ${diffs.join(', ')}`, records: [...evidence, at] });
      continue;
    }
    const elsewhere = op.key === null ? undefined : byKey.get(op.key);
    if (elsewhere) {
      out.push({ kind: 'wrong-content', message: `${name}: client was told order ${n} for key ${op.key}, the log has that key at order ${elsewhere.index}`, records: [...evidence, elsewhere, ...(at ? [at] : [])] });
    } else if (!at) {
      out.push({ kind: 'lost', message: `${name}: acknowledged order ${n} (key ${op.key}) is missing; the log ends at ${log.length - 1}`, records: evidence });
    } else {
      out.push({ kind: 'lost', message: `${name}: acknowledged order ${n} (key ${op.key}) is not in the log; order ${n} there has key ${at.key}`, records: [...evidence, at] });
    }
  }
  return out;
}

/**
 * Every order in `log` carries a key some client sent. Only meaningful when the histories of all
 * clients are given. Orders a client sent without a key get a key from the store, so they cannot
 * be matched by key: then only a surplus is a violation, i.e. more unmatched orders in the log
 * than keyless orders that may have happened (not `fail`); the surplus (the last ones) is reported.
 */
export function checkNoPhantoms(name: string, log: readonly OrderEntry[], ops: readonly Operation[]): Violation[] {
  const sent = new Set<string>();
  let keyless = 0;
  for (const op of ops) {
    if (op.f !== 'order') continue;
    if (op.key !== null) sent.add(op.key);
    else if (op.completion?.type !== 'fail') keyless++;
  }
  const unmatched = log.filter((e) => !sent.has(e.key));
  if (keyless === 0) {
    return unmatched.map((e) => ({ kind: 'phantom' as const, message: `${name}: order ${e.index} has key ${e.key}, which no client sent`, records: [e] }));
  }
  if (unmatched.length <= keyless) return [];
  const surplus = unmatched.slice(keyless);
  return [{
    kind: 'phantom',
    message: `${name}: ${unmatched.length} orders carry keys no client sent, but clients sent only ${keyless} orders without a key that may have happened`,
    records: surplus,
  }];
}

/** An order a history says definitely failed (`fail`) must not be in the log. */
export function checkFailedNotCommitted(name: string, log: readonly OrderEntry[], ops: readonly Operation[]): Violation[] {
  const byKey = new Map<string, OrderEntry>();
  for (const e of log) if (!byKey.has(e.key)) byKey.set(e.key, e);
  const out: Violation[] = [];
  for (const op of ops) {
    if (op.f !== 'order' || op.completion?.type !== 'fail' || op.key === null) continue;
    const e = byKey.get(op.key);
    if (e) {
      out.push({
        kind: 'failed-committed',
        message: `${name}: order op ${op.op} (key ${op.key}) failed with status ${op.completion.response?.status ?? '?'}, but it is order ${e.index}`,
        records: [op.invoke, op.completion, e],
      });
    }
  }
  return out;
}

/**
 * A read of order N invoked after an order acknowledged as N completed (within the same history,
 * whose clock is shared) must find it: a 404 is a stale read. A read that finds it with content
 * other than the final log's is `wrong-content` (when a log is given).
 */
export function checkReads(name: string, log: readonly OrderEntry[] | null, ops: readonly Operation[]): Violation[] {
  const out: Violation[] = [];
  // Per history: order number -> the earliest completion time of an ok order that was told it.
  const ackedAt = new Map<string, Operation>();
  for (const op of ops) {
    if (op.f !== 'order' || op.completion?.type !== 'ok') continue;
    const n = acknowledgedNumber(op.completion);
    if (n === null) continue;
    const id = `${op.history}:${n}`;
    const prior = ackedAt.get(id);
    if (!prior || op.completion.timeMs < prior.completion!.timeMs) ackedAt.set(id, op);
  }
  for (const op of ops) {
    if (op.f !== 'read' || !op.completion) continue;
    const n = readNumber(op);
    if (n === null) continue;
    const status = op.completion.response?.status;
    if (status === 404) {
      const acked = ackedAt.get(`${op.history}:${n}`);
      if (acked && op.invoke.timeMs > acked.completion!.timeMs) {
        out.push({
          kind: 'stale-read',
          message: `read op ${op.op} of order ${n} invoked at ${op.invoke.timeMs} ms got 404, but order ${n} was acknowledged at ${acked.completion!.timeMs} ms (op ${acked.op})`,
          records: [acked.invoke, acked.completion, op.invoke, op.completion],
        });
      }
    } else if (op.completion.type === 'ok' && log) {
      const data = bodyData(op.completion) as { number?: unknown; name?: unknown; quantity?: unknown } | undefined;
      const e = log[n];
      if (data && typeof data === 'object' && typeof data.name === 'string' && typeof data.quantity === 'number') {
        if (!e || e.name !== data.name || e.quantity !== data.quantity) {
          out.push({
            kind: 'wrong-content',
            message: `${name}: read op ${op.op} saw order ${n} as ${data.quantity} ${data.name}, the log has ${e ? `${e.quantity} ${e.name}` : 'no such order'}`,
            records: [op.invoke, op.completion, ...(e ? [e] : [])],
          });
        }
      }
    }
  }
  return out;
}

/** Every history check against the committed log. `ops` from `pairOperations`. */
export function checkHistories(name: string, log: readonly OrderEntry[], ops: readonly Operation[]): Violation[] {
  return [...checkAcknowledgedOrders(name, log, ops), ...checkNoPhantoms(name, log, ops), ...checkFailedNotCommitted(name, log, ops), ...checkReads(name, log, ops)];
}

// ================================================================ catalog ledger and stock

/** A ledger entry as read from disk: `crc` and `line` are present for a file, absent live. */
export type LedgerRecord = LedgerEntry & { crc?: number; line?: number };

/** The bytes a ledger row's checksum covers (everything but the checksum itself). */
export function ledgerRecordContent(e: LedgerEntry): string {
  return `${e.seq},${e.kind},${e.key},${e.epoch},${e.name},${e.delta},${e.quantityAfter}`;
}

/** crc32 of a ledger row chained to the previous row's crc (0 for the first), like the order log. */
export function chainLedgerCrc(prevCrc: number, e: LedgerEntry): number {
  return crc32(ledgerRecordContent(e), prevCrc) >>> 0;
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
    if (e.seq !== i) out.push({ kind: 'gap', message: prev ? `${where} follows seq ${prev.seq}` : `${where} is the first entry (expected seq 0)`, records: prev ? [prev, e] : [e] });
    if (e.crc !== undefined) {
      if (chainLedgerCrc(prevCrc, e) !== e.crc) out.push({ kind: 'checksum', message: `${where} fails its checksum`, records: [e] });
      prevCrc = e.crc;
    }
    const signOk = e.kind === 'purchase' ? e.delta < 0 : e.kind === 'refusal' ? e.delta === 0 : e.delta > 0;
    if (!signOk) out.push({ kind: 'stock', message: `${where}: a ${e.kind} with delta ${e.delta}`, records: [e] });
    if (e.kind === 'restock' ? e.key !== '' : e.key === '') out.push({ kind: 'stock', message: `${where}: a ${e.kind} with key ${JSON.stringify(e.key)}`, records: [e] });
  }
  return out;
}

/**
 * Per toy, `initialStock + restocked + released − purchased = current stock`, where the current
 * stock is the toy's last `quantityAfter`; every `quantityAfter` follows from the one before it;
 * no stock is negative; and the current stock equals what the catalog serves (`products`, when
 * given). A toy the ledger never touched must still hold `initialStock`.
 */
export function checkStockConservation(ledger: readonly LedgerRecord[], products: readonly Product[] | null, initialStock = INITIAL_STOCK): Violation[] {
  const out: Violation[] = [];
  interface Toy { restocked: number; released: number; purchased: number; current: number; last: LedgerRecord | null }
  const toys = new Map<string, Toy>();
  for (const e of ledger) {
    let t = toys.get(e.name);
    if (!t) toys.set(e.name, (t = { restocked: 0, released: 0, purchased: 0, current: initialStock, last: null }));
    if (e.kind === 'restock') t.restocked += e.delta;
    else if (e.kind === 'release') t.released += e.delta;
    else if (e.kind === 'purchase') t.purchased -= e.delta;
    else if (e.delta !== 0) t.purchased -= e.delta; // a refusal with a delta is reported by checkLedgerWellFormed; count it so the sums still close
    if (e.quantityAfter !== t.current + e.delta) {
      out.push({
        kind: 'stock',
        message: `${e.name}: ledger seq ${e.seq} (${e.kind} ${e.delta}) leaves ${e.quantityAfter}, but the stock before it was ${t.current}`,
        records: t.last ? [t.last, e] : [e],
      });
    }
    if (e.quantityAfter < 0) out.push({ kind: 'stock', message: `${e.name}: ledger seq ${e.seq} leaves stock ${e.quantityAfter} < 0`, records: [e] });
    t.current = e.quantityAfter;
    t.last = e;
  }
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
  if (products) {
    const served = new Map(products.map((p) => [p.name, p]));
    for (const p of products) {
      if (p.quantity < 0) out.push({ kind: 'stock', message: `${p.name}: the catalog serves stock ${p.quantity} < 0`, records: [p] });
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
      if (!served.has(name)) out.push({ kind: 'stock', message: `${name}: in the ledger but not in the catalog's products`, records: t.last ? [t.last] : [] });
    }
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
export function checkLedgerMatchesLog(name: string, ledger: readonly LedgerRecord[], log: readonly OrderEntry[]): Violation[] {
  const out: Violation[] = [];
  /** key -> the purchase currently in force (null once released). */
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
      if (held) out.push({ kind: 'stock', message: `key ${e.key} decremented stock twice (ledger seq ${held.seq} and ${e.seq}) without a release`, records: [held, e] });
      else net.set(e.key, e);
    } else if (!held) {
      out.push({ kind: 'stock', message: `ledger seq ${e.seq} releases key ${e.key}, which holds no purchase`, records: [e] });
    } else {
      if (held.name !== e.name || held.delta !== -e.delta) {
        out.push({ kind: 'stock', message: `ledger seq ${e.seq} releases ${e.delta} ${e.name} for key ${e.key}, but seq ${held.seq} purchased ${-held.delta} ${held.name}`, records: [held, e] });
      }
      net.set(e.key, null);
    }
  }
  const orders = new Map<string, OrderEntry>();
  for (const o of log) if (!orders.has(o.key)) orders.set(o.key, o);
  for (const [key, p] of net) {
    if (!p) continue;
    const o = orders.get(key);
    if (!o) out.push({ kind: 'stock', message: `ledger seq ${p.seq} decremented ${-p.delta} ${p.name} for key ${key}, but ${name} has no order with that key`, records: [p] });
    else if (o.name !== p.name || o.quantity !== -p.delta) {
      out.push({ kind: 'stock', message: `order ${o.index} (key ${key}) is ${o.quantity} ${o.name}, but ledger seq ${p.seq} decremented ${-p.delta} ${p.name}`, records: [o, p] });
    }
  }
  for (const [key, o] of orders) {
    if (net.get(key)) continue;
    const released = net.has(key);
    const why = released ? 'is committed but its purchase was released' : refused.has(key) ? 'is committed but the catalog refused that key' : 'has no stock decrement in the ledger';
    out.push({
      kind: 'stock',
      message: `order ${o.index} (key ${key}) ${why}`,
      records: [o, ...ledger.filter((e) => e.key === key)],
    });
  }
  return out;
}
