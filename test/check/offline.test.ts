/**
 * The consistency checker, offline: hand-written data dirs (orders.csv per replica, the catalog's
 * ledger.csv and products.csv) and JSON-lines histories, each broken in exactly one way, and the
 * report must name that violation kind with the offending records. One test per kind, named after
 * it, plus a clean run that must report zero and the "skipped: no ledger" case.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrderEntry } from '../../shared/contracts.ts';
import { signEntry } from '../../order/log.ts';
import { toCsv } from '../../catalog/store.ts';
import {
  checkDataDir,
  formatReport,
  summaryLine,
  type CheckReport,
} from '../../scripts/lib/check/index.ts';
import {
  buildLog,
  Catalog,
  cleanScenario,
  History,
  kinds,
  ledgerCsv,
  logCsv,
  makeTempDir,
  signLedger,
  writeDataDir,
  writeHistory,
  writeScenario,
} from './fixtures.ts';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const ofKind = (r: CheckReport, kind: string) => r.violations.filter((v) => v.kind === kind);

/** Writes the scenario and its history into the temp dir and checks it. */
async function check(
  s: ReturnType<typeof cleanScenario>,
  over: Parameters<typeof writeScenario>[2] = {},
  history: History | null = s.history,
): Promise<CheckReport> {
  const dataDir = path.join(dir, 'data');
  await writeScenario(dataDir, s, over);
  const files = history ? [await writeHistory(dir, history)] : [];
  return checkDataDir(dataDir, files);
}

describe('offline check', () => {
  it('clean: a consistent data dir and history report zero violations', async () => {
    const r = await check(cleanScenario());
    expect(r.violations).toEqual([]);
    expect(r.orders).toBe(5);
    expect(r.replicas).toBe(3);
    expect(r.reference).toBe('order-1/order-2/order-3');
    expect(r.ledgerEntries).toBe(9);
    expect(r.skipped).toEqual([]);
    expect(summaryLine(r)).toBe('check: 5 orders, 3 replicas, 0 violations');
  });

  it('clean without histories: the history checks are skipped, nothing else', async () => {
    const r = await check(cleanScenario(), {}, null);
    expect(r.violations).toEqual([]);
    expect(r.skipped.join('\n')).toMatch(/no histories given/);
  });

  it('stock conservation is "skipped: no ledger" when the data dir has no ledger', async () => {
    const s = cleanScenario();
    const r = await check(s, { ledger: undefined, products: undefined });
    expect(r.violations).toEqual([]);
    expect(r.skipped).toContain('stock conservation: skipped: no ledger');
    expect(r.ledgerEntries).toBeNull();
    expect(formatReport(r)).toContain('stock conservation: skipped: no ledger');
  });

  it('lost: an acknowledged order missing from the final log', async () => {
    const s = cleanScenario();
    s.history.orderOk('k-5', 'Lego', 2, 5); // told "order 5", the log ends at 4
    s.history.orderOk('k-6', 'Lego', 1, 3); // told "order 3", which is someone else's order
    const r = await check(s);
    expect(kinds(r.violations)).toEqual(['lost', 'lost']);
    const [missing, other] = ofKind(r, 'lost');
    expect(missing!.message).toMatch(/acknowledged order 5 \(key k-5\) is missing/);
    expect(missing!.records).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'ok', key: 'k-5' })]),
    );
    expect(other!.message).toMatch(
      /order 3 \(key k-6\) is not in the log; order 3 there has key k-3/,
    );
    expect(other!.records).toContainEqual(s.log[3]);
  });

  it('wrong-content: an acknowledged order present with another name, quantity or number', async () => {
    const s = cleanScenario();
    const h = new History()
      .orderOk('k-0', 'Tux', 3, 0) // quantity differs
      .orderOk('k-1', 'Barbie', 1, 1) // name differs
      .orderOk('k-2', 'Hot Wheels', 100, 4) // its key is order 2, not 4
      .orderOk('k-3', "Rubik's Cube", 3, 3)
      .orderOk('k-4', 'Tux', 5, 4);
    const r = await check(s, {}, h);
    expect(kinds(r.violations)).toEqual(['wrong-content', 'wrong-content', 'wrong-content']);
    expect(r.violations[0]!.message).toMatch(/order 0 \(key k-0\) has quantity 2, client sent 3/);
    expect(r.violations[1]!.message).toMatch(/name Lego, client sent Barbie/);
    expect(r.violations[2]!.message).toMatch(
      /told order 4 for key k-2, the log has that key at order 2/,
    );
    expect(r.violations[0]!.records).toContainEqual(s.log[0]);
  });

  it('duplicate-key: one idempotency key, two orders', async () => {
    const s = cleanScenario();
    const log = buildLog([...s.log, { name: 'Tux', quantity: 2, key: 'k-0', epoch: 3 }]);
    const r = await check({ ...s, log });
    expect(kinds(r.violations)).toEqual(['duplicate-key']);
    expect(r.violations[0]!.message).toBe(
      'order-1/order-2/order-3: key k-0 is both order 0 and order 5',
    );
    expect(r.violations[0]!.records).toEqual([log[0], log[5]]);
  });

  it("phantom: an order in the log under a key shaped like the clients' keys that no client sent", async () => {
    const s = cleanScenario();
    const log = buildLog([...s.log, { name: 'Lego', quantity: 1, key: 'k-77', epoch: 3 }]);
    s.catalog.purchase('k-77', 'Lego', 1, 3);
    const r = await check({ ...s, log });
    expect(kinds(r.violations)).toEqual(['phantom']);
    expect(r.violations[0]!.message).toMatch(/order 5 has key k-77, which no client sent/);
    expect(r.violations[0]!.records).toEqual([log[5]]);
    expect(r.uncovered).toBe(0);
    // Without histories there is nothing to compare keys with.
    expect((await checkDataDir(path.join(dir, 'data'))).violations).toEqual([]);
  });

  it("when the histories do not cover every writer, says so instead of calling the other writer's orders phantoms", async () => {
    const s = cleanScenario();
    const toys = ['Frisbee', 'Slinky', 'Scrabble', 'Hot Wheels', 'Teddy Bear'];
    const strangers = Array.from({ length: 300 }, (_, i) => ({
      name: toys[i % toys.length]!,
      quantity: 1,
      key: `by-hand/${i}/x`,
      epoch: 3,
    }));
    const log = buildLog([...s.log, ...strangers]);
    for (const o of strangers) s.catalog.purchase(o.key, o.name, o.quantity, 3);
    const r = await check({ ...s, log });
    expect(r.violations).toEqual([]);
    expect(r.uncovered).toBe(300);
    expect(r.notes.join('\n')).toMatch(
      /300 committed orders are not in any history .* \(order 5 key by-hand\/0\/x, order 6 key by-hand\/1\/x, order 7 key by-hand\/2\/x, \.\.\.\): the histories do not cover every writer; phantom check skipped for them/,
    );
    expect(summaryLine(r)).toBe(
      'check: 305 orders, 3 replicas, 0 violations; 300 committed orders in no history',
    );
  });

  it('puts the summary first and shows at most a cap of each kind', async () => {
    const s = cleanScenario();
    const phantoms = Array.from({ length: 30 }, (_, i) => ({
      name: 'Lego',
      quantity: 1,
      key: `k-${100 + i}`,
      epoch: 3,
    }));
    const log = buildLog([...s.log, ...phantoms]);
    for (const o of phantoms) s.catalog.purchase(o.key, o.name, o.quantity, 3);
    const r = await check({ ...s, log });
    const text = formatReport(r, 5);
    expect(text.split('\n')[0]).toBe('check: 35 orders, 3 replicas, 30 violations (phantom 30)');
    expect(text.match(/^\[phantom\]/gm)).toHaveLength(5);
    expect(text).toContain('  ... and 25 more phantom');
  });

  it('failed-committed: an order a client was told failed is in the log', async () => {
    const s = cleanScenario();
    const h = new History()
      .ackAll(s.log.slice(0, 3))
      .orderFail('k-3', "Rubik's Cube", 3, 503)
      .ackAll(s.log.slice(4));
    const r = await check(s, {}, h);
    expect(kinds(r.violations)).toEqual(['failed-committed']);
    expect(r.violations[0]!.message).toMatch(/key k-3\) failed with status 503, but it is order 3/);
    expect(r.violations[0]!.records).toContainEqual(s.log[3]);
  });

  it('an info (unknown) order is neither lost nor phantom, in the log or not', async () => {
    const s = cleanScenario();
    const h = new History()
      .ackAll(s.log.slice(0, 3))
      .orderInfo('k-3', "Rubik's Cube", 3)
      .orderInfo('k-9', 'Lego', 1)
      .ackAll(s.log.slice(4));
    const r = await check(s, {}, h);
    expect(r.violations).toEqual([]);
  });

  describe('divergence', () => {
    it('divergence: a replica missing the last order', async () => {
      const s = cleanScenario();
      const r = await check(s, { replicas: { 1: logCsv(s.log.slice(0, 4)) } });
      expect(kinds(r.violations)).toEqual(['divergence']);
      expect(r.reference).toBe('order-2/order-3');
      expect(r.violations[0]!.message).toBe('order-1 has 4 orders, order-2/order-3 has 5');
      expect(r.violations[0]!.records).toEqual([s.log[4]]);
    });

    it('divergence: replicas that differ at an order', async () => {
      const s = cleanScenario();
      const other = buildLog([
        ...s.log.slice(0, 3).map((e) => ({ ...e })),
        { name: 'Lego', quantity: 9, key: 'k-x', epoch: 2 },
        { ...s.log[4]! },
      ]);
      const r = await check(s, { replicas: { 3: logCsv(other) } }, null);
      const div = ofKind(r, 'divergence');
      expect(div).toHaveLength(1);
      expect(div[0]!.message).toBe('order-3 and order-1/order-2 differ at order 3');
      expect(div[0]!.records).toEqual([
        { replica: 'order-3', entry: other[3] },
        { replica: 'order-1/order-2', entry: s.log[3] },
      ]);
    });

    it('divergence: same records but files that are not byte-identical', async () => {
      const s = cleanScenario();
      // The same record, quoted: parses the same, but the files must be byte-identical after
      // catch-up.
      const quoted = logCsv(s.log).replace('\n1,1,Lego,', '\n1,1,"Lego",');
      const r = await check(s, { replicas: { 2: quoted } });
      expect(kinds(r.violations)).toEqual(['divergence']);
      expect(r.violations[0]!.message).toMatch(
        /order-2 and order-1\/order-3 hold the same records but their files differ at line 3/,
      );
    });

    it('a torn last line (a crash mid-write) is ignored, with a note', async () => {
      const s = cleanScenario();
      const csv = logCsv(s.log);
      const torn = `${csv}5,3,Lego,1,k-5,12`;
      const r = await check(s, { replicas: { 1: torn, 2: torn, 3: torn } });
      expect(r.violations).toEqual([]);
      expect(r.notes.join('\n')).toMatch(/torn last line/);
    });
  });

  it('gap: order numbers that skip', async () => {
    const s = cleanScenario();
    const log = buildLog(s.log.map((e, i) => ({ ...e, index: i >= 3 ? i + 1 : i })));
    const r = await check({ ...s, log }, {}, null);
    const gaps = ofKind(r, 'gap');
    expect(gaps.map((g) => g.message)).toEqual([
      'order-1/order-2/order-3: record 3 has order number 4',
      'order-1/order-2/order-3: record 4 has order number 5',
    ]);
    expect(gaps[0]!.records).toEqual([log[3]]);
    // The replica itself would refuse to open this file: reported, not a crash.
    expect(
      ofKind(r, 'checksum')
        .map((v) => v.message)
        .join('\n'),
    ).toMatch(/refuse to open/);
  });

  it('gap: a repeated order number', async () => {
    const s = cleanScenario();
    const log = buildLog(s.log.map((e, i) => ({ ...e, index: i === 2 ? 1 : i })));
    const r = await check({ ...s, log }, {}, null);
    expect(ofKind(r, 'gap').map((g) => g.message)).toEqual([
      'order-1/order-2/order-3: record 2 has order number 1',
    ]);
  });

  it('checksum: a damaged record mid-file is reported (CorruptLogError), not a crash', async () => {
    const s = cleanScenario();
    const bad = logCsv(s.log).replace('\n1,1,Lego,1,', '\n1,1,Lego,7,'); // content changed, crc kept
    const r = await check(s, { replicas: { 1: bad, 2: bad, 3: bad } }, null);
    expect(new Set(kinds(r.violations))).toEqual(new Set(['checksum', 'stock']));
    const sums = ofKind(r, 'checksum');
    expect(sums.map((v) => v.message)).toEqual([
      expect.stringMatching(/corrupt log, the replica would refuse to open it: .*line 3/),
      'order-1/order-2/order-3: record 1 fails its checksum',
    ]);
    expect(sums[1]!.records).toEqual([{ ...s.log[1], quantity: 7 }]);
    // The ledger decremented 1 Lego; the (damaged) log says 7.
    expect(ofKind(r, 'stock')[0]!.message).toMatch(
      /order 1 \(key k-1\) is 7 Lego, but ledger seq 1 decremented 1 Lego/,
    );
  });

  it('checksum: an unparseable line and a bad header are reported', async () => {
    const s = cleanScenario();
    const csv = logCsv(s.log);
    const garbage = csv.replace('\n2,2,', '\n2,2,\u0000\u0000,');
    const r = await check(s, { replicas: { 1: garbage, 2: garbage, 3: garbage } }, null);
    expect(
      ofKind(r, 'checksum')
        .map((v) => v.message)
        .join('\n'),
    ).toMatch(/line 4 is not a valid record/);
    const noHeader = csv.slice(csv.indexOf('\n') + 1);
    const r2 = await check(s, { replicas: { 1: noHeader, 2: noHeader, 3: noHeader } }, null);
    expect(
      ofKind(r2, 'checksum')
        .map((v) => v.message)
        .join('\n'),
    ).toMatch(/missing or unexpected header/);
    expect(r2.orders).toBe(5); // the records are still read and checked
  });

  it('checksum: a damaged ledger row', async () => {
    const s = cleanScenario();
    const signed = signLedger(s.catalog.entries);
    signed[3] = { ...signed[3]!, epoch: 7 }; // content changed (not the stock), crc kept
    const r = await check(s, { ledger: ledgerCsv(signed) });
    expect(kinds(r.violations)).toEqual(['checksum']);
    expect(r.violations[0]!.message).toBe('ledger seq 3 (line 5) fails its checksum');
  });

  it('epoch-order: a record with a lower epoch than an earlier one', async () => {
    const s = cleanScenario();
    const log = buildLog(s.log.map((e, i) => ({ ...e, epoch: i === 3 ? 1 : e.epoch })));
    const r = await check({ ...s, log }, {}, null);
    expect(kinds(r.violations)).toEqual(['epoch-order']);
    expect(r.violations[0]!.message).toBe(
      'order-1/order-2/order-3: record 3 has epoch 1 after epoch 2',
    );
    expect(r.violations[0]!.records).toEqual([log[3]]);
  });

  it('stale-read: a read invoked after an acknowledged order completed gets 404', async () => {
    const s = cleanScenario();
    const h = new History().ackAll(s.log.slice(0, 4)).orderOk('k-4', 'Tux', 5, 4).read(4, null);
    const r = await check(s, {}, h);
    expect(kinds(r.violations)).toEqual(['stale-read']);
    expect(r.violations[0]!.message).toMatch(
      /read op \d+ of order 4 invoked at \d+ ms got 404, but order 4 was acknowledged at \d+ ms/,
    );
    expect(r.violations[0]!.records).toHaveLength(4);
  });

  it('stale-read: a read concurrent with the order may miss it', async () => {
    const s = cleanScenario();
    const h = new History().ackAll(s.log.slice(0, 4));
    const order = h.invoke('order', 'k-4', { name: 'Tux', quantity: 5 });
    h.read(4, null); // invoked before the order completed
    order('ok', { status: 200, body: { data: { order_number: 4 } } });
    expect((await check(s, {}, h)).violations).toEqual([]);
  });

  describe('stock', () => {
    it('stock: products.csv disagrees with the ledger', async () => {
      const s = cleanScenario();
      const products = s.catalog
        .products()
        .map((p) => (p.name === 'Tux' ? { ...p, quantity: p.quantity + 1 } : p));
      const r = await check(s, { products: toCsv(products) });
      expect(kinds(r.violations)).toEqual(['stock']);
      expect(r.violations[0]!.message).toBe('Tux: the catalog serves stock 94, the ledger says 93');
    });

    it('stock: a ledger entry whose quantityAfter does not follow, and the sums that no longer close', async () => {
      const s = cleanScenario();
      s.catalog.entries[1] = { ...s.catalog.entries[1]!, quantityAfter: 98 }; // Lego 100 - 1 is 99
      const r = await check(s, {
        products: toCsv(
          s.catalog.products().map((p) => (p.name === 'Lego' ? { ...p, quantity: 98 } : p)),
        ),
      });
      expect(kinds(r.violations)).toEqual(['stock', 'stock']);
      expect(r.violations[0]!.message).toBe(
        'Lego: ledger seq 1 (purchase -1) leaves 98, but the stock before it was 100',
      );
      expect(r.violations[1]!.message).toBe(
        'Lego: 100 + 0 restocked + 0 released - 1 purchased = 99, but the ledger ends at 98',
      );
    });

    it('stock: an order without a decrement', async () => {
      const s = cleanScenario();
      const log = buildLog([...s.log, { name: 'Lego', quantity: 1, key: 'k-5', epoch: 3 }]);
      s.history.orderOk('k-5', 'Lego', 1, 5);
      const r = await check({ ...s, log });
      expect(kinds(r.violations)).toEqual(['stock']);
      expect(r.violations[0]!.message).toBe(
        'order 5 (key k-5) has no stock decrement in the ledger',
      );
      expect(r.violations[0]!.records).toEqual([log[5]]);
    });

    it('stock: a decrement without an order', async () => {
      const s = cleanScenario();
      s.catalog.purchase('k-5', 'Lego', 2, 3);
      s.history.orderInfo('k-5', 'Lego', 2);
      const r = await check(s);
      expect(kinds(r.violations)).toEqual(['stock']);
      expect(r.violations[0]!.message).toBe(
        'ledger seq 9 decremented 2 Lego for key k-5, but order-1/order-2/order-3 has no order with that key',
      );
    });

    it('stock: one key decremented twice, and an order whose purchase was released', async () => {
      const s = cleanScenario();
      const c = new Catalog()
        .purchaseAll(s.log.slice(0, 4))
        .purchase('k-0', 'Tux', 2, 3)
        .purchase('k-4', 'Tux', 5, 3)
        .release('k-4', 3);
      const r = await check({ ...s, catalog: c });
      expect(kinds(r.violations)).toEqual(['stock', 'stock']);
      expect(r.violations[0]!.message).toBe(
        'key k-0 decremented stock twice (ledger seq 0 and 4) without a release',
      );
      expect(r.violations[1]!.message).toBe(
        'order 4 (key k-4) is committed but its purchase was released',
      );
    });

    it('stock: negative stock and a missing products.csv', async () => {
      const s = cleanScenario();
      s.catalog.purchase('k-neg', 'Hot Wheels', 101, 3);
      s.history.orderInfo('k-neg', 'Hot Wheels', 101);
      const r = await check(s, { products: undefined });
      const messages = ofKind(r, 'stock').map((v) => v.message);
      expect(messages).toContain(
        'catalog: ' +
          path.join(dir, 'data', 'catalog', 'products.csv') +
          ' is missing though the ledger exists',
      );
      // A stock below 0 is outside the field's definition (shared/fields.ts STOCK): the catalog
      // would refuse to open this ledger, and the checker reads the record the same way.
      expect(ofKind(r, 'checksum').map((v) => v.message)).toEqual([
        'ledger: line 11 is not a valid record (quantityAfter "-1" is not a stock)',
      ]);
    });

    it('reads a record as the services do: a quoted newline is inside one record, a 16-digit epoch is an epoch', async () => {
      // The codecs split records by quotes, not lines: a name holding a newline is one bad record
      // (a toy name has no control characters), not two broken lines, and the records after it
      // read.
      const s = cleanScenario();
      s.catalog.purchase('k-nl', 'Tux', 1, 3);
      const quoted = ledgerCsv(s.catalog.entries).replace(',Tux,-1,', ',"T\nux",-1,');
      const r1 = await check(s, { ledger: quoted });
      expect(ofKind(r1, 'checksum').map((v) => v.message)).toEqual([
        expect.stringMatching(/^ledger: line 11 is not a valid record \(name .*control/),
      ]);
      expect(r1.ledgerEntries).toBe(9);
      // EPOCH allows every safe integer (16 digits): the catalog reads such a purchase, so must the
      // checker.
      const t = cleanScenario();
      t.catalog.purchase('k-big', 'Tux', 1, 1_234_567_890_123_456);
      const r2 = await check(t);
      expect(ofKind(r2, 'checksum')).toEqual([]);
      expect(r2.ledgerEntries).toBe(10);
      expect(ofKind(r2, 'stock').map((v) => v.message)).toContain(
        'ledger seq 9 decremented 1 Tux for key k-big, but order-1/order-2/order-3 has no order with that key',
      );
    });
  });

  it('a replica dir without a log is an empty log: divergence if the others have orders', async () => {
    const s = cleanScenario();
    const r = await check(s, { replicas: { 2: null } }, null);
    expect(kinds(r.violations)).toEqual(['divergence']);
    expect(r.notes.join('\n')).toMatch(/order-2: .* does not exist/);
  });

  it('reports every kind at once from one broken data dir, with a readable report', async () => {
    const s = cleanScenario();
    let crc = 0;
    const log: OrderEntry[] = [];
    for (const spec of [...s.log.slice(0, 4), { ...s.log[4]!, epoch: 1 }]) {
      const e = signEntry(crc, spec);
      log.push(e);
      crc = e.crc;
    }
    s.history.orderOk('k-lost', 'Lego', 1, 9);
    const r = await check({ ...s, log }, { replicas: { 3: logCsv(log.slice(0, 3)) } });
    expect(new Set(kinds(r.violations))).toEqual(new Set(['epoch-order', 'divergence', 'lost']));
    const text = formatReport(r);
    expect(text.split('\n')[0]).toBe(
      `check: 5 orders, 3 replicas, ${r.violations.length} violations (${Object.entries(r.counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
    );
    expect(text).toMatch(/^lost: 1$/m);
    expect(text).toMatch(/^\[lost\] order-1\/order-2: acknowledged order 9/m);
    expect(text).toMatch(/^ {4}\{"type":"invoke"/m);
  });

  it('an unreadable data dir is an input error, not a report', async () => {
    await expect(checkDataDir(path.join(dir, 'nope'))).rejects.toThrow(/cannot read data dir/);
    await writeDataDir(path.join(dir, 'empty'), { replicas: {} });
    await expect(checkDataDir(path.join(dir, 'empty'))).rejects.toThrow(/no order-N directories/);
  });
});
