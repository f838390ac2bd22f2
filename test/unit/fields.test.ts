/**
 * One definition per field (shared/fields.ts): whatever the wire accepts, the disk writes and
 * reads back, at every bound; whatever the disk could not read back, the wire refuses.
 *
 * The faults these stories are about: an epoch of 2^53 passed the schemas, was written, and the
 * codec (1-15 digits) could not read it back, so the next restart cut every later record; a key
 * with a newline was written quoted and read back split in two; a space passed as "visible ASCII".
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AppendRequestSchema,
  FenceRequestSchema,
  LeadRequestSchema,
  LeaderOrderRequestSchema,
  OrderEntrySchema,
  OrderRequestSchema,
  PromiseRequestSchema,
  PurchaseRequestSchema,
  ReconcileRequestSchema,
  parseIdempotencyKeyHeader,
  parseOrderNumber,
  parseWith,
  type OrderEntry,
} from '../../shared/contracts.ts';
import { AppError } from '../../shared/errors.ts';
import {
  EPOCH,
  IDEMPOTENCY_KEY,
  LEDGER_SEQ,
  ORDER_NUMBER,
  ORDER_QUANTITY,
  REFUSED_QUANTITY,
  STOCK,
  TOY_NAME,
  nextEpoch,
} from '../../shared/fields.ts';
import { LOG_FILE, openFileLogStore } from '../../order/file-log.ts';
import { orderCodec } from '../../order/record-codec.ts';
import { signEntry } from '../../order/log.ts';
import { ledgerCodec, openFileLedger, type SignedLedgerEntry } from '../../catalog/ledger.ts';
import { RecordRefusedError, chainFields, encodeRecord } from '../../shared/wal.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-fields-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const VISIBLE_ASCII = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) =>
  String.fromCharCode(0x21 + i),
).join('');
/** 255 visible ASCII characters, quotes and commas included (the CSV writer must quote them). */
const LONGEST_KEY = (VISIBLE_ASCII + VISIBLE_ASCII + VISIBLE_ASCII).slice(0, 255);
/** 100 UTF-16 units: quotes, commas, an apostrophe, accents and an emoji (two units). */
const LONGEST_NAME = `Rubik's "Cube", ñandú 🧸 ${'x'.repeat(100)}`.slice(0, 100);
const noFatal = (what: string, err: unknown): never => {
  throw new Error(`unexpected fatal: ${what}: ${String(err)}`);
};

/**
 * What the log reader does with one written line: CSV-decode it and hand the fields to the codec.
 */
function readBack<R>(codec: { decode(f: string[]): R | null }, line: string): R | null {
  const rows = parseCsv(line) as string[][];
  return rows.length === 1 ? codec.decode(rows[0]!) : null;
}

function badRequestFrom(f: () => unknown): AppError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    return err as AppError;
  }
  throw new Error('expected a 400');
}

describe('every order-log field at its bounds: what the schema accepts, the codec writes and reads back', () => {
  const cases: OrderEntry[] = [];
  for (const index of [0, ORDER_NUMBER.max]) {
    for (const epoch of [EPOCH.min, EPOCH.max]) {
      for (const quantity of [ORDER_QUANTITY.min, ORDER_QUANTITY.max]) {
        for (const [name, key] of [
          ['T', '!'],
          [LONGEST_NAME, LONGEST_KEY],
        ] as const) {
          cases.push(signEntry(0xffff_ffff, { index, epoch, name, quantity, key }));
        }
      }
    }
  }

  it('each combination passes OrderEntrySchema and decodes from its own line to the same record', () => {
    for (const e of cases) {
      expect(OrderEntrySchema.parse(e)).toEqual(e);
      expect(readBack(orderCodec, encodeRecord(orderCodec, e))).toEqual(e);
    }
  });

  it('a log holding the largest epoch, quantity, name and key survives reopening', async () => {
    let log = await openFileLogStore(dir, { onFatal: noFatal });
    const a = signEntry(0, {
      index: 0,
      epoch: EPOCH.max,
      name: LONGEST_NAME,
      quantity: ORDER_QUANTITY.max,
      key: LONGEST_KEY,
    });
    const b = signEntry(a.crc, { index: 1, epoch: EPOCH.max, name: 'T', quantity: 1, key: '!' });
    await log.append([a, b]);
    await log.close();
    log = await openFileLogStore(dir, { onFatal: noFatal });
    expect(log.slice(0, 2)).toEqual([a, b]);
    await log.close();
  });
});

describe('every ledger field at its bounds round-trips through the ledger file', () => {
  it('purchases, refusals, releases and restocks at their extremes read back as written', async () => {
    let ledger = await openFileLedger(dir, { onFatal: noFatal });
    const entries = [
      {
        seq: 0,
        kind: 'restock',
        key: '',
        epoch: 0,
        name: LONGEST_NAME,
        delta: STOCK.max,
        quantityAfter: STOCK.max,
        refused: 0,
      },
      {
        seq: 1,
        kind: 'purchase',
        key: LONGEST_KEY,
        epoch: EPOCH.max,
        name: LONGEST_NAME,
        delta: -ORDER_QUANTITY.max,
        quantityAfter: STOCK.max - ORDER_QUANTITY.max,
        refused: 0,
      },
      {
        seq: 2,
        kind: 'refusal',
        key: '!',
        epoch: EPOCH.max,
        name: 'T',
        delta: 0,
        quantityAfter: 0,
        refused: REFUSED_QUANTITY.max,
      },
      {
        seq: 3,
        kind: 'release',
        key: LONGEST_KEY,
        epoch: EPOCH.max,
        name: LONGEST_NAME,
        delta: ORDER_QUANTITY.max,
        quantityAfter: STOCK.max,
        refused: 0,
      },
    ] as const;
    await ledger.append(entries.map((e) => ({ ...e })));
    await ledger.close();
    ledger = await openFileLedger(dir, { onFatal: noFatal });
    expect(ledger.all().map(({ crc: _crc, ...e }) => e)).toEqual(entries);
    await ledger.close();
  });

  it('the largest seq decodes from its own line', () => {
    const e = {
      seq: LEDGER_SEQ.max,
      kind: 'purchase',
      key: LONGEST_KEY,
      epoch: EPOCH.max,
      name: LONGEST_NAME,
      delta: -1,
      quantityAfter: 0,
      refused: 0,
    } as const;
    const signed: SignedLedgerEntry = {
      ...e,
      crc: chainFields(0, ledgerCodec.fields({ ...e, crc: 0 })),
    };
    expect(readBack(ledgerCodec, encodeRecord(ledgerCodec, signed))).toEqual(signed);
  });
});

describe('epochs beyond the safe integers', () => {
  const over = 2 ** 53;

  it('an epoch of 2^53 is refused by every schema that carries an epoch; the largest safe epoch passes', () => {
    const schemas = [
      [LeadRequestSchema, (epoch: number) => ({ epoch })],
      [FenceRequestSchema, (epoch: number) => ({ epoch })],
      [PromiseRequestSchema, (epoch: number) => ({ epoch, candidateId: 3 })],
      [PurchaseRequestSchema, (epoch: number) => ({ name: 'Tux', quantity: 1, key: 'k', epoch })],
      [
        LeaderOrderRequestSchema,
        (epoch: number) => ({ name: 'Tux', quantity: 1, key: 'k', epoch }),
      ],
      [ReconcileRequestSchema, (epoch: number) => ({ epoch, committed: [], release: [] })],
      [
        AppendRequestSchema,
        (epoch: number) => ({
          epoch,
          leaderId: 3,
          prevIndex: -1,
          prevCrc: 0,
          entries: [],
          commitIndex: -1,
          viewStartIndex: -1,
          leaderLastIndex: -1,
          established: false,
        }),
      ],
    ] as const;
    for (const [schema, body] of schemas) {
      expect(badRequestFrom(() => parseWith(schema, body(over))).message).toMatch(/epoch/);
      expect(() => parseWith(schema, body(MAX_SAFE))).not.toThrow();
    }
  });

  it('a record carrying epoch 2^53 in an append is refused at the schema', () => {
    const e = { index: 0, epoch: over, name: 'Tux', quantity: 1, key: 'k', crc: 1 };
    const req = {
      epoch: 5,
      leaderId: 3,
      prevIndex: -1,
      prevCrc: 0,
      entries: [e],
      commitIndex: -1,
      viewStartIndex: -1,
      leaderLastIndex: 0,
      established: false,
    };
    expect(badRequestFrom(() => parseWith(AppendRequestSchema, req)).message).toMatch(
      /entries\.0\.epoch/,
    );
  });

  it('and never reaches the log: the file log refuses to write it and stays readable', async () => {
    let log = await openFileLogStore(dir, { onFatal: noFatal });
    const good = signEntry(0, { index: 0, epoch: 1, name: 'Tux', quantity: 1, key: 'a' });
    await log.append([good]);
    const bad = signEntry(good.crc, { index: 1, epoch: over, name: 'Tux', quantity: 1, key: 'b' });
    await expect(log.append([bad])).rejects.toThrow(RecordRefusedError);
    expect(log.lastIndex()).toBe(0);
    const more = signEntry(good.crc, { index: 1, epoch: 2, name: 'Lego', quantity: 2, key: 'c' });
    await log.append([more]);
    await log.close();
    log = await openFileLogStore(dir, { onFatal: noFatal });
    expect(log.slice(0, 5)).toEqual([good, more]);
    await log.close();
    expect((await fs.readFile(path.join(dir, LOG_FILE), 'utf8')).includes(String(over))).toBe(
      false,
    );
  });

  it('no election can open an epoch past the bound', () => {
    expect(nextEpoch(EPOCH.max - 1)).toBe(EPOCH.max);
    expect(() => nextEpoch(EPOCH.max)).toThrow(RangeError);
  });
});

describe('idempotency keys: 1-255 visible ASCII (0x21-0x7e), nothing else', () => {
  const refused = [
    '',
    ' ',
    'a b',
    'a\nb',
    'a\r\nb',
    'a\tb',
    'ké',
    'a\u0000',
    'a\u007f',
    'x'.repeat(256),
    'a, b',
  ];

  it('the field, the order schemas and the header parser refuse the same keys', () => {
    for (const key of refused) {
      expect(IDEMPOTENCY_KEY.valid(key)).toBe(false);
      for (const schema of [LeaderOrderRequestSchema, PurchaseRequestSchema]) {
        badRequestFrom(() => parseWith(schema, { name: 'Tux', quantity: 1, key, epoch: 1 }));
      }
      badRequestFrom(() =>
        parseWith(ReconcileRequestSchema, { epoch: 1, committed: [{ key, seq: 0 }], release: [] }),
      );
      badRequestFrom(() =>
        parseWith(ReconcileRequestSchema, { epoch: 1, committed: [], release: [{ key, seq: 0 }] }),
      );
      badRequestFrom(() => parseIdempotencyKeyHeader(key));
    }
  });

  it('every visible ASCII character, and exactly 255 of them, are accepted', () => {
    for (const key of [VISIBLE_ASCII, LONGEST_KEY, '!', '~', 'a,b', '"quoted"']) {
      expect(IDEMPOTENCY_KEY.valid(key)).toBe(true);
      expect(parseIdempotencyKeyHeader(key)).toBe(key);
    }
  });

  it('a header sent twice is refused even if each copy alone is a valid key', () => {
    expect(badRequestFrom(() => parseIdempotencyKeyHeader('a', 2)).message).toMatch(/2 times/);
    expect(parseIdempotencyKeyHeader(undefined, 0)).toBeUndefined();
  });
});

describe('toy names: 1-100 printable characters', () => {
  it('control characters, line breaks, lone surrogates and 101 characters are refused', () => {
    for (const name of [
      '',
      'a\nb',
      'a\rb',
      'a\tb',
      '\u0000',
      'a\u007f',
      'a\u0085',
      'a\u2028b',
      'a\u2029b',
      'bad\uD800',
      'x'.repeat(101),
    ]) {
      expect(TOY_NAME.valid(name)).toBe(false);
      badRequestFrom(() => parseWith(OrderRequestSchema, { name, quantity: 1 }));
    }
  });

  it('commas, quotes, apostrophes, accents and emoji are accepted', () => {
    for (const name of [
      LONGEST_NAME,
      'Etch A Sketch',
      `Rubik's Cube`,
      'Say "hi"',
      'Yo-Yo, deluxe',
      '🧸',
    ])
      expect(TOY_NAME.valid(name)).toBe(true);
  });
});

describe('order numbers in a URL', () => {
  it('decimal digits from 0 to the largest order number; anything else is a 400', () => {
    expect(parseOrderNumber('0')).toBe(0);
    expect(parseOrderNumber('007')).toBe(7);
    expect(parseOrderNumber(String(ORDER_NUMBER.max))).toBe(ORDER_NUMBER.max);
    for (const raw of [
      '',
      '-1',
      '1.5',
      '1e3',
      ' 1',
      '0x10',
      String(ORDER_NUMBER.max + 1),
      '9007199254740993',
      '1'.repeat(30),
    ]) {
      badRequestFrom(() => parseOrderNumber(raw));
    }
  });
});
