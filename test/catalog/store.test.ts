/**
 * Stories about the catalog store itself: rebuilding from the ledger, torn and corrupt ledgers,
 * durability before acknowledgement, what a failed write does, exactly-once keys across restarts,
 * fencing, and accounting for purchases whose orders never committed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PRODUCTS_FILE,
  createCatalogStoreWith,
  createMemoryCatalogStore,
  openFileCatalogStore,
  parseProductsCsv,
  toCsv,
  type CatalogStore,
} from '../../catalog/store.ts';
import { TOY_NAMES, initialToys } from '../../catalog/toys.ts';
import {
  LEDGER_FILE,
  MemoryLedger,
  createMemoryMetaFile,
  ledgerCodec,
  type Ledger,
  type SignedLedgerEntry,
} from '../../catalog/ledger.ts';
import { AppError } from '../../shared/errors.ts';
import { writeFileAtomic } from '../../shared/fsutil.ts';
import {
  deferred,
  diskQuantity,
  makeTempDir,
  readDisk,
  readSnapshot,
  removeDir,
} from './helpers.ts';
import { pendingRefs } from '../support/purchase-refs.ts';
import { chainFields, type RecordCodec } from '../../shared/wal-codec.ts';
import { openWal } from '../../shared/wal.ts';

let dir: string;
const opened: CatalogStore[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  await removeDir(dir);
});

async function open(
  d: string,
  opts: Parameters<typeof openFileCatalogStore>[1] = {},
): Promise<CatalogStore> {
  const s = await openFileCatalogStore(d, opts);
  opened.push(s);
  return s;
}

describe('opening the store', () => {
  it('creates the directory, an empty ledger and a products snapshot with the initial toys', async () => {
    const nested = path.join(dir, 'data', 'catalog');
    await open(nested);
    const text = await fs.readFile(path.join(nested, PRODUCTS_FILE), 'utf8');
    expect(text.split('\n')[0]).toBe('name,price,quantity');
    expect((await fs.readFile(path.join(nested, LEDGER_FILE), 'utf8')).trim()).toBe(
      ledgerCodec.header,
    );
    expect([...readDisk(nested).keys()]).toEqual([...TOY_NAMES]);
    expect(readSnapshot(nested).get('Tux')).toEqual({ name: 'Tux', price: 15.99, quantity: 100 });
  });

  it('rebuilds stock from the ledger on restart, and rewrites a stale snapshot to match', async () => {
    const first = await open(dir);
    await first.purchase({ name: 'Tux', quantity: 58, key: 'k', epoch: 1 });
    await first.close();
    // A snapshot that lags the ledger (a crash before it was rewritten) is not the truth.
    await writeFileAtomic(path.join(dir, PRODUCTS_FILE), toCsv(initialToys()));
    const store = await open(dir);
    expect(store.get('Tux')?.quantity).toBe(42);
    expect(readSnapshot(dir).get('Tux')?.quantity).toBe(42);
  });

  it('ignores and removes a leftover snapshot temp file from an earlier process', async () => {
    await fs.writeFile(
      path.join(dir, `${PRODUCTS_FILE}.tmp-99999-1`),
      'name,price,quantity\nTux,15.99,4',
    );
    const store = await open(dir);
    expect(store.get('Tux')?.quantity).toBe(100);
    expect((await fs.readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await store.purchase({ name: 'Tux', quantity: 2, key: 'k', epoch: 1 });
    expect(diskQuantity(dir, 'Tux')).toBe(98);
  });

  it('a torn last ledger line is cut on restart, keeping every complete record', async () => {
    const first = await open(dir);
    await first.purchase({ name: 'Lego', quantity: 3, key: 'a', epoch: 1 });
    await first.close();
    await fs.appendFile(path.join(dir, LEDGER_FILE), '1,purchase,b,1,Lego,-2,9');
    const store = await open(dir);
    expect(store.get('Lego')?.quantity).toBe(97);
    expect((await fs.readdir(dir)).some((f) => f.startsWith(`${LEDGER_FILE}.torn-`))).toBe(true);
  });

  it('a damaged ledger record followed by good ones is corruption: the catalog refuses to start', async () => {
    const first = await open(dir);
    for (const key of ['a', 'b', 'c'])
      await first.purchase({ name: 'Lego', quantity: 1, key, epoch: 1 });
    await first.close();
    const file = path.join(dir, LEDGER_FILE);
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace(',b,1,Lego,-1,98,', ',b,1,Lego,-1,99,'));
    await expect(openFileCatalogStore(dir)).rejects.toThrow(/corrupt record/);
  });

  it('round-trips names with quotes and awkward characters through the CSV', () => {
    const products = [
      { name: "Rubik's Cube", price: 11.99, quantity: 3 },
      { name: 'Say "hi" doll', price: 1, quantity: 0 },
      { name: 'Comma, really', price: 0.5, quantity: 7 },
    ];
    expect(parseProductsCsv(toCsv(products))).toEqual(products);
  });
});

/** A memory ledger whose appends wait at a gate: "on disk" only when the test says so. */
function gatedLedger() {
  const inner = new MemoryLedger();
  let gate = deferred<void>();
  let holding = false;
  const ledger: Ledger = {
    get length() {
      return inner.length;
    },
    all: () => inner.all(),
    slice: (a, b) => inner.slice(a, b),
    async append(entries) {
      const p = inner.append(entries);
      if (holding) await gate.promise;
      return p;
    },
    close: () => inner.close(),
  };
  return {
    ledger,
    hold() {
      holding = true;
      gate = deferred<void>();
    },
    release() {
      holding = false;
      gate.resolve();
    },
  };
}

describe('durability', () => {
  it('answers each purchase only once its ledger record is on disk, many purchases sharing one fsync', async () => {
    const store = await open(dir);
    const checks = Array.from({ length: 50 }, (_, i) =>
      store.purchase({ name: 'Lego', quantity: 1, key: `k${i}`, epoch: 1 }).then((r) => {
        // At the moment this caller hears back, the ledger on disk already holds its decrement.
        expect(diskQuantity(dir, 'Lego')).toBeLessThanOrEqual(r.quantity);
        return r.quantity;
      }),
    );
    const remaining = await Promise.all(checks);
    expect(new Set(remaining).size).toBe(50);
    expect(diskQuantity(dir, 'Lego')).toBe(50);
  });

  it('serves reads from what is durable, not from a change still being written', async () => {
    const g = gatedLedger();
    const store = createCatalogStoreWith(g.ledger, createMemoryMetaFile());
    g.hold();
    const p = store.purchase({ name: 'Tux', quantity: 10, key: 'k', epoch: 1 });
    try {
      expect(store.get('Tux')?.quantity).toBe(100);
    } finally {
      g.release();
    }
    expect(await p).toEqual({ name: 'Tux', quantity: 90 });
    expect(store.get('Tux')?.quantity).toBe(90);
  });

  it('holds a refusal until the purchases it was based on are durable', async () => {
    const g = gatedLedger();
    const store = createCatalogStoreWith(g.ledger, createMemoryMetaFile());
    g.hold();
    const bought = store.purchase({ name: 'Tux', quantity: 100, key: 'a', epoch: 1 });
    let refusedEarly = false;
    const refused = store
      .purchase({ name: 'Tux', quantity: 1, key: 'b', epoch: 1 })
      .catch((e: unknown) => {
        refusedEarly = true;
        return e;
      });
    try {
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
      expect(refusedEarly).toBe(false);
    } finally {
      g.release();
    }
    await bought;
    const err = await refused;
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toContain('0 left');
  });

  it('never acknowledges a change after a failed ledger write, even once the disk would work again', async () => {
    let fail = false;
    const inner = new MemoryLedger();
    const ledger: Ledger = {
      get length() {
        return inner.length;
      },
      all: () => inner.all(),
      slice: (a, b) => inner.slice(a, b),
      append: async (e) => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        return inner.append(e);
      },
      close: () => inner.close(),
    };
    const store = createCatalogStoreWith(ledger, createMemoryMetaFile());
    fail = true;
    await expect(store.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 })).rejects.toThrow(
      /EIO/,
    );
    expect(store.get('Tux')?.quantity).toBe(100);
    fail = false;
    await expect(
      store.purchase({ name: 'Lego', quantity: 1, key: 'k2', epoch: 1 }),
    ).rejects.toThrow(/EIO/);
    expect(store.get('Lego')?.quantity).toBe(100);
  });

  it('waits for pending writes on close and refuses changes afterwards', async () => {
    const store = await open(dir);
    const p = store.purchase({ name: 'Slinky', quantity: 7, key: 'k', epoch: 1 });
    await store.close();
    expect(diskQuantity(dir, 'Slinky')).toBe(93);
    await p;
    await expect(
      store.purchase({ name: 'Slinky', quantity: 1, key: 'k2', epoch: 1 }),
    ).rejects.toThrow(/shutting down/);
    await expect(store.restockEmpty()).rejects.toThrow(/shutting down/);
  });
});

describe('exactly once per key, across restarts', () => {
  it('same key after a catalog restart: the first outcome, no second decrement', async () => {
    const first = await open(dir);
    expect(await first.purchase({ name: 'Frisbee', quantity: 4, key: 'k', epoch: 1 })).toEqual({
      name: 'Frisbee',
      quantity: 96,
    });
    await first.close();
    const store = await open(dir);
    expect(await store.purchase({ name: 'Frisbee', quantity: 4, key: 'k', epoch: 1 })).toEqual({
      name: 'Frisbee',
      quantity: 96,
    });
    expect(store.get('Frisbee')?.quantity).toBe(96);
  });

  it('a refused key stays refused after a restock and a restart', async () => {
    const first = await open(dir);
    await first.purchase({ name: 'Yo-Yo', quantity: 100, key: 'all', epoch: 1 });
    await expect(
      first.purchase({ name: 'Yo-Yo', quantity: 1, key: 'late', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    await first.restockEmpty();
    await first.close();
    const store = await open(dir);
    expect(store.get('Yo-Yo')?.quantity).toBe(100);
    await expect(
      store.purchase({ name: 'Yo-Yo', quantity: 1, key: 'late', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409, message: expect.stringContaining('0 left') });
    expect(store.get('Yo-Yo')?.quantity).toBe(100);
  });

  it('after a restart, a refused key reused with another quantity is a 422, not the refusal', async () => {
    const first = await open(dir);
    await expect(
      first.purchase({ name: 'Yo-Yo', quantity: 500, key: 'big', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    await first.close();
    const store = await open(dir);
    await expect(
      store.purchase({ name: 'Yo-Yo', quantity: 5, key: 'big', epoch: 1 }),
    ).rejects.toMatchObject({ status: 422, reason: 'idempotency_key_reused' });
    await expect(
      store.purchase({ name: 'Yo-Yo', quantity: 500, key: 'big', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    expect(store.get('Yo-Yo')?.quantity).toBe(100);
  });

  it('a ledger written before refusals kept their quantity opens, keeps its records and takes new ones', async () => {
    // The 8-column format, written through the log itself so its mark is right.
    const v1Header = ledgerCodec.header.replace(',refused', '');
    const v1: RecordCodec<SignedLedgerEntry> = {
      ...ledgerCodec,
      header: v1Header,
      olderHeaders: [],
      fields: (e) => ledgerCodec.fields(e).slice(0, 7),
    };
    const old = await openWal(path.join(dir, LEDGER_FILE), v1);
    const rows = [
      { kind: 'purchase', key: 'a', name: 'Yo-Yo', delta: -60, quantityAfter: 40 },
      { kind: 'refusal', key: 'big', name: 'Yo-Yo', delta: 0, quantityAfter: 40 },
    ] as const;
    let crc = 0;
    await old.append(
      rows.map((r, seq) => {
        const e = { ...r, seq, epoch: 1, refused: 0 };
        crc = chainFields(crc, v1.fields({ ...e, crc: 0 }));
        return { ...e, crc };
      }),
    );
    await old.close();

    const first = await open(dir);
    // Its refusal does not know what was asked: any quantity gets the same refusal back.
    await expect(
      first.purchase({ name: 'Yo-Yo', quantity: 3, key: 'big', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    await expect(
      first.purchase({ name: 'Yo-Yo', quantity: 900, key: 'huge', epoch: 1 }),
    ).rejects.toMatchObject({ status: 409 });
    await first.purchase({ name: 'Yo-Yo', quantity: 2, key: 'k', epoch: 1 });
    await first.close();

    const lines = (await fs.readFile(path.join(dir, LEDGER_FILE), 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(v1Header);
    expect(lines.slice(1, 3).map((l) => l.split(',').length)).toEqual([8, 8]);
    expect(lines.slice(3).every((l) => l.split(',').length === 9)).toBe(true);
    const store = await open(dir);
    await expect(
      store.purchase({ name: 'Yo-Yo', quantity: 1, key: 'huge', epoch: 1 }),
    ).rejects.toMatchObject({ status: 422 });
    expect(await store.purchase({ name: 'Yo-Yo', quantity: 2, key: 'k', epoch: 1 })).toEqual({
      name: 'Yo-Yo',
      quantity: 38,
    });
    expect(store.get('Yo-Yo')?.quantity).toBe(38);
  });
});

describe('fencing and accounting for purchases', () => {
  it('a fenced epoch refuses purchases and releases from older leaders, durably', async () => {
    const first = await open(dir);
    await first.fence(5);
    await expect(
      first.purchase({ name: 'Tux', quantity: 1, key: 'old', epoch: 4 }),
    ).rejects.toMatchObject({ reason: 'stale_epoch' });
    await first.close();
    const store = await open(dir);
    await expect(
      store.purchase({ name: 'Tux', quantity: 1, key: 'old', epoch: 4 }),
    ).rejects.toMatchObject({ reason: 'stale_epoch' });
    await expect(store.reconcile({ epoch: 4, committed: [], release: [] })).rejects.toMatchObject({
      reason: 'stale_epoch',
    });
    expect(await store.purchase({ name: 'Tux', quantity: 1, key: 'new', epoch: 5 })).toEqual({
      name: 'Tux',
      quantity: 99,
    });
  });

  it('a purchase stays pending until a leader says its order committed or releases it; a release puts the stock back once', async () => {
    const first = await open(dir);
    await first.purchase({ name: 'Barbie', quantity: 2, key: 'committed', epoch: 1 });
    await first.purchase({ name: 'Barbie', quantity: 3, key: 'orphan', epoch: 1 });
    expect(first.pending().entries.map((p) => p.key)).toEqual(['committed', 'orphan']);
    expect(
      await first.reconcile({
        epoch: 2,
        committed: pendingRefs(first, 'committed'),
        release: [...pendingRefs(first, 'orphan'), ...pendingRefs(first, 'orphan')],
      }),
    ).toEqual({ released: 1, pending: 0 });
    expect(first.get('Barbie')?.quantity).toBe(98);
    await first.close();
    const store = await open(dir);
    expect(store.get('Barbie')?.quantity).toBe(98);
    expect(store.pending().entries).toEqual([]);
    // A released key is free again: a retry of that order buys once more.
    expect(await store.purchase({ name: 'Barbie', quantity: 3, key: 'orphan', epoch: 2 })).toEqual({
      name: 'Barbie',
      quantity: 95,
    });
    const kinds = store.ledger(0, 100).entries.map((e) => e.kind);
    expect(kinds).toEqual(['purchase', 'purchase', 'release', 'purchase']);
  });

  it('when a reconcile arrives twice and the key was bought again in between, the late copy releases nothing', async () => {
    const store = await open(dir);
    await store.purchase({ name: 'Barbie', quantity: 3, key: 'retried', epoch: 2 });
    const first = { epoch: 2, committed: [], release: pendingRefs(store, 'retried') };
    expect(await store.reconcile(first)).toEqual({ released: 1, pending: 0 });
    // The client's retry buys under the same key; its order will commit.
    await store.purchase({ name: 'Barbie', quantity: 3, key: 'retried', epoch: 2 });
    // The network delivers the first reconcile again: it names the released purchase's seq.
    expect(await store.reconcile(first)).toEqual({ released: 0, pending: 1 });
    expect(await store.reconcile({ ...first, release: [], committed: first.release })).toEqual({
      released: 0,
      pending: 1,
    });
    expect(store.get('Barbie')?.quantity).toBe(97);
    expect(store.pending().entries.map((p) => p.key)).toEqual(['retried']);
    await store.close();
  });
});

describe('the memory twin', () => {
  it('behaves like the file store: atomic check-and-decrement, idempotent keys, restock of empty toys', async () => {
    const store = createMemoryCatalogStore({
      initial: [
        { name: 'Tux', price: 15.99, quantity: 2 },
        { name: 'Lego', price: 49.99, quantity: 0 },
      ],
    });
    const outcomes = await Promise.allSettled(
      [1, 2, 3].map((i) => store.purchase({ name: 'Tux', quantity: 1, key: `k${i}`, epoch: 1 })),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await store.purchase({ name: 'Tux', quantity: 1, key: 'k1', epoch: 1 })).toEqual({
      name: 'Tux',
      quantity: 1,
    });
    await expect(
      store.purchase({ name: 'Nope', quantity: 1, key: 'n', epoch: 1 }),
    ).rejects.toMatchObject({ status: 404 });
    expect((await store.restockEmpty()).sort()).toEqual(['Lego', 'Tux']);
    expect(store.list()).toEqual([
      { name: 'Tux', price: 15.99, quantity: 100 },
      { name: 'Lego', price: 49.99, quantity: 100 },
    ]);
    expect(await store.restockEmpty()).toEqual([]);
  });

  it('forgets the oldest keys beyond its bound (IDEMPOTENCY_KEYS_RETAINED)', async () => {
    const store = createMemoryCatalogStore({ maxKeys: 2 });
    for (const key of ['a', 'b', 'c'])
      await store.purchase({ name: 'Tux', quantity: 1, key, epoch: 1 });
    // 'c' and 'b' are remembered; 'a' was forgotten and counts as new.
    await store.purchase({ name: 'Tux', quantity: 1, key: 'c', epoch: 1 });
    expect(store.get('Tux')?.quantity).toBe(97);
    await store.purchase({ name: 'Tux', quantity: 1, key: 'a', epoch: 1 });
    expect(store.get('Tux')?.quantity).toBe(96);
  });
});
