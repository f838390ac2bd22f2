/**
 * Invariants over client histories (Jepsen style: invoke, then ok / fail / info per operation)
 * against the committed order log: acknowledged orders are there, no order nobody sent,
 * definite failures never committed, reads after an acknowledgement find it.
 */
import type { HistoryAttempt, HistoryEvent, OrderEntry } from '../../../shared/contracts.ts';
import type { Violation } from './types.ts';
import { ORDER_NUMBER } from '../../../shared/fields.ts';

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
        const op: Operation = {
          history,
          op: ev.op,
          f: ev.f,
          key: ev.key,
          invoke: ev,
          completion: null,
        };
        byOp.set(ev.op, op);
        out.push(op);
      } else if (prior) {
        if (!prior.completion) {
          prior.completion = ev;
          prior.key ??= ev.key;
        }
      } else {
        const op: Operation = {
          history,
          op: ev.op,
          f: ev.f,
          key: ev.key,
          invoke: ev,
          completion: ev,
        };
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

/**
 * The order number an `ok` order completion acknowledged (`{"data":{"order_number":N}}`), or null.
 */
export function acknowledgedNumber(ev: HistoryEvent | null): number | null {
  const data = bodyData(ev);
  const n =
    data !== null && typeof data === 'object'
      ? (data as { order_number?: unknown }).order_number
      : undefined;
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
    if (ORDER_NUMBER.valid(v)) return v;
    const n = typeof v === 'string' ? ORDER_NUMBER.parse(v) : null;
    if (n !== null) return n;
  }
  for (const field of ['path', 'url'] as const) {
    const v = req[field];
    const m = typeof v === 'string' ? /\/orders\/(\d+)(?:[?#].*)?$/.exec(v) : null;
    const n = m ? ORDER_NUMBER.parse(m[1]!) : null;
    if (n !== null) return n;
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
export function checkAcknowledgedOrders(
  name: string,
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): Violation[] {
  const out: Violation[] = [];
  const byKey = new Map<string, OrderEntry>();
  for (const e of log) if (!byKey.has(e.key)) byKey.set(e.key, e);
  for (const op of ops) {
    if (op.f !== 'order' || op.completion?.type !== 'ok') continue;
    const n = acknowledgedNumber(op.completion);
    const want = requestedOrder(op);
    const evidence = [op.invoke, op.completion];
    if (n === null) {
      out.push({
        kind: 'lost',
        message: `${name}: order op ${op.op} (key ${op.key}) is ok but its response carries no order number`,
        records: evidence,
      });
      continue;
    }
    const at = log[n];
    const keyMatches = at !== undefined && (op.key === null || at.key === op.key);
    if (keyMatches) {
      const diffs: string[] = [];
      if (want.name !== null && at.name !== want.name)
        diffs.push(`name ${at.name}, client sent ${want.name}`);
      if (want.quantity !== null && at.quantity !== want.quantity)
        diffs.push(`quantity ${at.quantity}, client sent ${want.quantity}`);
      if (diffs.length)
        out.push({
          kind: 'wrong-content',
          message: `${name}: acknowledged order ${n} (key ${at.key}) has ${diffs.join(', ')}`,
          records: [...evidence, at],
        });
      continue;
    }
    const elsewhere = op.key === null ? undefined : byKey.get(op.key);
    if (elsewhere) {
      out.push({
        kind: 'wrong-content',
        message: `${name}: client was told order ${n} for key ${op.key}, the log has that key at order ${elsewhere.index}`,
        records: [...evidence, elsewhere, ...(at ? [at] : [])],
      });
    } else if (!at) {
      out.push({
        kind: 'lost',
        message: `${name}: acknowledged order ${n} (key ${op.key}) is missing; the log ends at ${log.length - 1}`,
        records: evidence,
      });
    } else {
      out.push({
        kind: 'lost',
        message: `${name}: acknowledged order ${n} (key ${op.key}) is not in the log; order ${n} there has key ${at.key}`,
        records: [...evidence, at],
      });
    }
  }
  return out;
}

/**
 * A key's shape: each run of hex digits becomes `h`, each run of other letters `a`, every other
 * character stays. A UUID is `h-h-h-h-h`, the client's keys (`<uuid>-<client>-<iteration>`)
 * `h-h-h-h-h-h-h`, `k-3` is `a-h`. Keys of one writer share a shape; another writer's (a client
 * of another kind, keys the frontend made for keyless requests) usually do not.
 */
export function keyShape(key: string): string {
  return key
    .replace(/[0-9a-fA-F]+|[g-zG-Z]+/g, (run) => (/^[0-9a-fA-F]+$/.test(run) ? 'h' : 'a'))
    .replace(/(?:a|h){2,}/g, (m) => (m.includes('a') ? 'a' : 'h'));
}

const UUID_SHAPE = keyShape('00000000-0000-4000-8000-000000000000');

/**
 * The orders in `log` whose key no history sent, split by whether they could come from a writer
 * the histories cover:
 *  - `lookalike`: the key has the shape of some history key: the histories' writers made keys
 *    like it, so an order under it that none of them invoked is a phantom;
 *  - `foreign`: a key of a shape no history key has: another writer made it (or the frontend, for
 *    a keyless request), so the histories do not cover every writer and these orders are not
 *    judged. With keyless orders in the histories, foreign keys are first matched against them.
 */
export function unmatchedOrders(
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): { lookalike: OrderEntry[]; foreign: OrderEntry[]; keyless: number } {
  const sent = new Set<string>();
  let keyless = 0;
  for (const op of ops) {
    if (op.f !== 'order') continue;
    if (op.key !== null) sent.add(op.key);
    else if (op.completion?.type !== 'fail') keyless++;
  }
  const shapes = new Set([...sent].map(keyShape));
  // A keyless order gets its key from the frontend (a UUID, frontend/order-router.ts).
  if (keyless > 0) shapes.add(UUID_SHAPE);
  const lookalike: OrderEntry[] = [];
  const foreign: OrderEntry[] = [];
  for (const e of log) {
    if (sent.has(e.key)) continue;
    (shapes.has(keyShape(e.key)) ? lookalike : foreign).push(e);
  }
  return { lookalike, foreign, keyless };
}

/**
 * Every order in `log` carries a key some client sent. Only orders whose key looks like the
 * histories' keys are judged (see `unmatchedOrders`); the others are reported by the checker as
 * not covered by any history. Orders a client sent without a key get a key from the store, so
 * they cannot be matched by key: then only a surplus is a violation, i.e. more unmatched orders
 * than keyless orders that may have happened (not `fail`); the surplus (the last ones) is
 * reported.
 */
export function checkNoPhantoms(
  name: string,
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): Violation[] {
  const { lookalike, foreign, keyless } = unmatchedOrders(log, ops);
  if (keyless === 0) {
    return lookalike.map((e) => ({
      kind: 'phantom' as const,
      message: `${name}: order ${e.index} has key ${e.key}, which no client sent (its keys look like this one)`,
      records: [e],
    }));
  }
  const unmatched = [...foreign, ...lookalike].sort((a, b) => a.index - b.index);
  if (unmatched.length <= keyless) return [];
  const surplus = unmatched.slice(keyless).filter((e) => lookalike.includes(e));
  if (surplus.length === 0) return [];
  return [
    {
      kind: 'phantom',
      message: `${name}: ${unmatched.length} orders carry keys no client sent, but clients sent only ${keyless} orders without a key that may have happened`,
      records: surplus,
    },
  ];
}

/**
 * Committed orders no history accounts for, from writers the histories do not cover (foreign
 * keys beyond what keyless orders explain). Not violations: the checker says how many.
 */
export function uncoveredOrders(
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): OrderEntry[] {
  const { foreign, keyless } = unmatchedOrders(log, ops);
  return foreign.slice(Math.min(keyless, foreign.length));
}

/** An order a history says definitely failed (`fail`) must not be in the log. */
export function checkFailedNotCommitted(
  name: string,
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): Violation[] {
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
export function checkReads(
  name: string,
  log: readonly OrderEntry[] | null,
  ops: readonly Operation[],
): Violation[] {
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
      const data = bodyData(op.completion) as
        | { number?: unknown; name?: unknown; quantity?: unknown }
        | undefined;
      const e = log[n];
      if (
        data &&
        typeof data === 'object' &&
        typeof data.name === 'string' &&
        typeof data.quantity === 'number'
      ) {
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

/**
 * Whether an answer, given after an attempt whose outcome was unknown, breaks the store's promise:
 * it says "certainly not taken" (503) or fails the request outright (another 4xx), though the
 * earlier attempt may have committed (issue 9 item 2: such an order can only end in success, the
 * same definite outcome the log holds, or 504). A 409 is not one: a stock refusal is the definite
 * outcome the catalog's ledger holds for the key (a replay gives it again), and 409
 * request_in_progress says "still unknown".
 */
export function contradictsUnknown(a: HistoryAttempt): boolean {
  if (a.status === null || a.status === 409) return false;
  return a.status === 503 || (a.status >= 400 && a.status < 500);
}

/** `network timeout -> 503 no_quorum -> 200`: what each attempt got. */
export function describeAttempts(attempts: readonly HistoryAttempt[]): string {
  return attempts
    .map((a) =>
      a.status === null
        ? (a.reason ?? 'no answer')
        : `${a.status}${a.reason ? ` ${a.reason}` : ''}`,
    )
    .join(' -> ');
}

/**
 * No order got a definite "no" after one of its attempts had an unknown outcome (from `attempts`).
 */
export function checkNoDefiniteAfterUnknown(ops: readonly Operation[]): Violation[] {
  const out: Violation[] = [];
  for (const op of ops) {
    const attempts = op.f === 'order' ? op.completion?.attempts : undefined;
    if (!attempts) continue;
    const firstUnknown = attempts.findIndex((a) => a.uncertain);
    if (firstUnknown < 0) continue;
    const bad = attempts.slice(firstUnknown + 1).find(contradictsUnknown);
    if (!bad) continue;
    const trail = describeAttempts(attempts);
    out.push({
      kind: 'definite-after-unknown',
      message: `order op ${op.op} (key ${op.key}) was answered ${bad.status}${bad.reason ? ` ${bad.reason}` : ''} after an attempt whose outcome was unknown: ${trail}`,
      records: [op.invoke, op.completion],
    });
  }
  return out;
}

/** Every history check against the committed log. `ops` from `pairOperations`. */
export function checkHistories(
  name: string,
  log: readonly OrderEntry[],
  ops: readonly Operation[],
): Violation[] {
  return [
    ...checkAcknowledgedOrders(name, log, ops),
    ...checkNoPhantoms(name, log, ops),
    ...checkFailedNotCommitted(name, log, ops),
    ...checkReads(name, log, ops),
    ...checkNoDefiniteAfterUnknown(ops),
  ];
}
