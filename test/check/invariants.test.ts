/**
 * The checker's new pure invariants (scripts/lib/invariants) on hand-built records, for the edge
 * cases a data dir test would bury: how histories pair up and name orders, keyless orders and
 * phantoms, clocks that are only comparable within one history, and the ledger's own rules
 * (sequence, signs, keys, refusals, releases).
 */
import { describe, expect, it } from 'vitest';
import type { HistoryEvent, LedgerEntry } from '../../shared/contracts.ts';
import {
  checkAcknowledgedOrders,
  checkLedgerMatchesLog,
  checkNoDefiniteAfterUnknown,
  checkProductReadsFresh,
  contradictsUnknown,
  checkLedgerWellFormed,
  checkNoPhantoms,
  checkReads,
  checkStockConservation,
  keyShape,
  pairOperations,
  readNumber,
  uncoveredOrders,
  type LedgerRecord,
} from '../../scripts/lib/invariants/index.ts';
import { buildLog, Catalog, History, kinds, signLedger } from './fixtures.ts';

const log = buildLog([
  { name: 'Tux', quantity: 2, key: 'a' },
  { name: 'Lego', quantity: 1, key: 'b' },
]);

describe('pairOperations', () => {
  it('pairs invoke and completion per history, takes the key from either, keeps orphans', () => {
    const ev = (e: Partial<HistoryEvent>): HistoryEvent => ({
      type: 'invoke',
      op: 0,
      client: 0,
      f: 'order',
      key: null,
      request: {},
      response: null,
      timeMs: 0,
      ...e,
    });
    const ops = pairOperations([
      [ev({ op: 0 }), ev({ op: 0, type: 'ok', key: 'k', timeMs: 3 }), ev({ op: 1, type: 'info' })],
      [ev({ op: 0, key: 'other' })],
    ]);
    expect(ops.map((o) => [o.history, o.op, o.key, o.completion?.type ?? null])).toEqual([
      [0, 0, 'k', 'ok'],
      [0, 1, null, 'info'],
      [1, 0, 'other', null],
    ]);
  });

  it('readNumber takes the order number from the request fields or the path', () => {
    const op = (request: Record<string, unknown>) => {
      const h = new History();
      h.invoke('read', null, request);
      return pairOperations([h.events])[0]!;
    };
    expect(readNumber(op({ order_number: 4 }))).toBe(4);
    expect(readNumber(op({ number: '7' }))).toBe(7);
    expect(readNumber(op({ path: '/orders/12' }))).toBe(12);
    expect(readNumber(op({ url: 'http://x:1/orders/3?epoch=2' }))).toBe(3);
    expect(readNumber(op({ name: 'Tux' }))).toBeNull();
  });
});

describe('history checks', () => {
  it('an acknowledgement without a key is judged by name and quantity', () => {
    const h = new History();
    h.invoke('order', null, { name: 'Lego', quantity: 1 })('ok', {
      status: 200,
      body: { data: { order_number: 1 } },
    });
    h.invoke('order', null, { name: 'Lego', quantity: 1 })('ok', {
      status: 200,
      body: { data: { order_number: 0 } },
    });
    h.invoke('order', null, { name: 'Lego', quantity: 1 })('ok', {
      status: 200,
      body: { data: { order_number: 2 } },
    });
    h.invoke('order', 'z', { name: 'Lego', quantity: 1 })('ok', {
      status: 200,
      body: { data: {} },
    });
    const v = checkAcknowledgedOrders('r', log, pairOperations([h.events]));
    expect(kinds(v)).toEqual(['wrong-content', 'lost', 'lost']);
    expect(v[2]!.message).toMatch(/carries no order number/);
  });

  it('phantom: with keyless orders, only a surplus of unmatched orders is a violation', () => {
    // The frontend gives a keyless order a UUID: orders under UUIDs may be those.
    const uuids = buildLog([
      { name: 'Tux', quantity: 2, key: '6f1c2e4a-0b1d-4c3e-9f00-1a2b3c4d5e6f' },
      { name: 'Lego', quantity: 1, key: '7a2d3f5b-1c2e-4d4f-8a11-2b3c4d5e6f70' },
    ]);
    const keyless = (type: 'ok' | 'fail' | 'info') => {
      const h = new History();
      h.invoke('order', null, { name: 'Tux', quantity: 2 })(type, null);
      return h;
    };
    expect(
      checkNoPhantoms('r', uuids, pairOperations([keyless('info').events, keyless('ok').events])),
    ).toEqual([]);
    const v = checkNoPhantoms(
      'r',
      uuids,
      pairOperations([keyless('info').events, keyless('fail').events]),
    );
    expect(kinds(v)).toEqual(['phantom']);
    expect(v[0]!.message).toMatch(
      /2 orders carry keys no client sent, but clients sent only 1 orders without a key/,
    );
    expect(v[0]!.records).toEqual([uuids[1]]);
  });

  it("phantom or not covered: an unmatched key shaped like the histories' keys is a phantom, another shape is another writer", () => {
    const mixed = buildLog([
      { name: 'Tux', quantity: 2, key: 'run1-0-0' },
      { name: 'Lego', quantity: 1, key: 'run1-0-7' },
      { name: 'Lego', quantity: 1, key: 'curl order by hand' },
    ]);
    const h = new History().orderOk('run1-0-0', 'Tux', 2, 0);
    const ops = pairOperations([h.events]);
    expect(keyShape('run1-0-7')).toBe(keyShape('run1-0-0'));
    expect(keyShape('6f1c2e4a-0b1d-4c3e-9f00-1a2b3c4d5e6f')).toBe('h-h-h-h-h');
    const v = checkNoPhantoms('r', mixed, ops);
    expect(v.map((x) => x.records)).toEqual([[mixed[1]]]);
    expect(uncoveredOrders(mixed, ops)).toEqual([mixed[2]]);
  });

  it('stale reads compare times within one history only; a read of other content is wrong-content', () => {
    const acked = new History().orderOk('a', 'Tux', 2, 0);
    // its clock is later, but it is another history
    const late = new History().orderInfo('q', 'Tux', 1).orderInfo('q2', 'Tux', 1).read(0, null);
    expect(checkReads('r', log, pairOperations([acked.events, late.events]))).toEqual([]);
    const wrong = new History().read(1, { ...log[1]!, quantity: 9 });
    const v = checkReads('r', log, pairOperations([wrong.events]));
    expect(kinds(v)).toEqual(['wrong-content']);
    expect(v[0]!.message).toBe('r: read op 0 saw order 1 as 9 Lego, the log has 1 Lego');
  });
});

describe('ledger checks', () => {
  const entry = (e: Partial<LedgerEntry>): LedgerRecord => ({
    seq: 0,
    kind: 'purchase',
    key: 'a',
    epoch: 1,
    name: 'Tux',
    delta: -2,
    quantityAfter: 98,
    refused: 0,
    ...e,
  });

  it('a good ledger passes, crcs included', () => {
    const c = new Catalog()
      .purchase('a', 'Tux', 2)
      .purchase('b', 'Lego', 1)
      .refuse('c', 'Lego')
      .restock('Tux');
    expect(checkLedgerWellFormed(signLedger(c.entries))).toEqual([]);
    expect(checkStockConservation(c.entries, c.products())).toEqual([]);
    expect(checkLedgerMatchesLog('r', c.entries, log)).toEqual([]);
  });

  it('sequence from 0 with no gap, signs and keys per kind', () => {
    const v = checkLedgerWellFormed([
      entry({ seq: 1 }),
      entry({ seq: 3, kind: 'restock', key: 'x', delta: 2, quantityAfter: 100 }),
      entry({ seq: 4, kind: 'refusal', delta: -1 }),
      entry({ seq: 5, kind: 'release', key: '', delta: -2 }),
    ]);
    expect(v.map((x) => `${x.kind}: ${x.message}`)).toEqual([
      'gap: ledger seq 1 is the first entry (expected seq 0)',
      'gap: ledger seq 3 follows seq 1',
      'stock: ledger seq 3: a restock with key "x"',
      'gap: ledger seq 4 follows seq 3',
      'stock: ledger seq 4: a refusal with delta -1',
      'gap: ledger seq 5 follows seq 4',
      'stock: ledger seq 5: a release with delta -2',
      'stock: ledger seq 5: a release with key ""',
    ]);
  });

  it('a release must undo a purchase of the same key, toy and quantity', () => {
    const v = checkLedgerMatchesLog(
      'r',
      [
        entry({ seq: 0, key: 'a' }),
        entry({ seq: 1, key: 'b', name: 'Lego', delta: -1, quantityAfter: 99 }),
        entry({ seq: 2, kind: 'release', key: 'zz', delta: 1, quantityAfter: 99 }),
        entry({ seq: 3, kind: 'release', key: 'a', delta: 3, quantityAfter: 101 }),
      ],
      log,
    );
    expect(v.map((x) => x.message)).toEqual([
      'ledger seq 2 releases key zz, which holds no purchase',
      'ledger seq 3 releases 3 Tux for key a, but seq 0 purchased 2 Tux',
      'order 0 (key a) is committed but its purchase was released',
    ]);
  });

  it('an order committed under a refused key has no decrement', () => {
    const c = new Catalog().purchase('a', 'Tux', 2).refuse('b', 'Lego');
    expect(checkLedgerMatchesLog('r', c.entries, log).map((x) => x.message)).toEqual([
      'order 1 (key b) is committed but the catalog refused that key',
    ]);
  });

  it('products: a toy the ledger never touched holds the initial stock; every ledger toy is served', () => {
    const c = new Catalog().purchase('a', 'Tux', 2);
    const products = c
      .products()
      .filter((p) => p.name !== 'Tux')
      .map((p) => (p.name === 'Slinky' ? { ...p, quantity: 50 } : p));
    expect(checkStockConservation(c.entries, products).map((x) => x.message)).toEqual([
      'Slinky: the catalog serves stock 50, the ledger says 100 (never changed)',
      "Tux: in the ledger but not in the catalog's products",
    ]);
  });
});

describe('a definite answer after an unknown outcome', () => {
  const orderWith = (attempts: HistoryEvent['attempts'], type: 'ok' | 'fail' | 'info' = 'info') => {
    const h = new History();
    const done = h.invoke('order', 'k', { name: 'Tux', quantity: 1 });
    done(type, { status: 200, body: { data: { order_number: 0 } } });
    h.events[1]!.attempts = attempts;
    return pairOperations([h.events]);
  };

  it('when a retry of an order whose first attempt timed out is answered 503 no_quorum, it is a violation', () => {
    const v = checkNoDefiniteAfterUnknown(
      orderWith(
        [
          { status: null, reason: 'network timeout', uncertain: true },
          { status: 503, reason: 'no_quorum', uncertain: false },
          { status: 200, reason: null, uncertain: false },
        ],
        'ok',
      ),
    );
    expect(kinds(v)).toEqual(['definite-after-unknown']);
    expect(v[0]!.message).toBe(
      'order op 0 (key k) was answered 503 no_quorum after an attempt whose outcome was unknown: network timeout -> 503 no_quorum -> 200',
    );
  });

  it('a 503 before any unknown attempt, a stock refusal or a request still in progress after one are no violation', () => {
    expect(
      checkNoDefiniteAfterUnknown(
        orderWith(
          [
            { status: 503, reason: 'no_leader', uncertain: false },
            { status: 200, reason: null, uncertain: false },
          ],
          'ok',
        ),
      ),
    ).toEqual([]);
    expect(
      checkNoDefiniteAfterUnknown(
        orderWith(
          [
            { status: 504, reason: 'outcome_unknown', uncertain: true },
            { status: 409, reason: 'request_in_progress', uncertain: true },
            { status: 409, reason: 'insufficient_stock', uncertain: false },
          ],
          'fail',
        ),
      ),
    ).toEqual([]);
    expect(checkNoDefiniteAfterUnknown(orderWith(undefined))).toEqual([]);
    expect(
      contradictsUnknown({ status: 422, reason: 'idempotency_key_reused', uncertain: false }),
    ).toBe(true);
  });
});

describe('cached product reads after an order through the same frontend', () => {
  /** Tux: 100 -> 98 (order a) -> 97 (order b, another client). */
  const ledger = new Catalog().purchase('a', 'Tux', 2).purchase('b', 'Tux', 1).entries;
  const query = (h: History, quantity: number) =>
    h.invoke('query', null, { name: 'Tux' })('ok', {
      status: 200,
      body: { data: { name: 'Tux', price: 1, quantity } },
    });

  it('when a query that starts after the acknowledgement shows the stock from before the order, it is a stale product read', () => {
    const h = new History().orderOk('a', 'Tux', 2, 0);
    query(h, 100);
    const v = checkProductReadsFresh(ledger, pairOperations([h.events]));
    expect(kinds(v)).toEqual(['stale-product-read']);
    expect(v[0]!.message).toMatch(
      /^query op 1 of Tux invoked at 3 ms saw stock 100, which the toy held never, per the ledger, before the purchase \(seq 0\) of order op 0 acknowledged at 2 ms$/,
    );
  });

  it('the stock at or after the purchase is fresh, and so is anything read before the acknowledgement or through another frontend', () => {
    const h = new History();
    query(h, 100); // before the order
    h.orderOk('a', 'Tux', 2, 0);
    query(h, 98);
    query(h, 97); // a later purchase by someone else
    expect(checkProductReadsFresh(ledger, pairOperations([h.events]))).toEqual([]);
    const other = new History();
    query(other, 100);
    expect(
      checkProductReadsFresh(
        ledger,
        pairOperations([new History().orderOk('a', 'Tux', 2, 0).events, other.events]),
      ),
    ).toEqual([]);
  });

  it('after a second order, the stock between the two purchases is stale too', () => {
    const h = new History().orderOk('a', 'Tux', 2, 0).orderOk('b', 'Tux', 1, 1);
    query(h, 98);
    expect(kinds(checkProductReadsFresh(ledger, pairOperations([h.events])))).toEqual([
      'stale-product-read',
    ]);
  });
});
