/**
 * Stories about the catalog store itself: opening and recovering the file, group commit, durability
 * before acknowledgement, and what a failed write does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PRODUCTS_FILE,
  createMemoryCatalogStore,
  openFileCatalogStore,
  parseProductsCsv,
  toCsv,
  type CatalogStore,
} from '../../catalog/store.ts';
import { TOY_NAMES } from '../../catalog/toys.ts';
import { AppError } from '../../shared/errors.ts';
import { writeFileAtomic } from '../../shared/fsutil.ts';
import { deferred, diskQuantity, makeTempDir, readDisk, removeDir } from './helpers.ts';

let dir: string;
const opened: CatalogStore[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((s) => s.close()));
  await removeDir(dir);
});

async function open(d: string, opts: Parameters<typeof openFileCatalogStore>[1] = {}): Promise<CatalogStore> {
  const s = await openFileCatalogStore(d, opts);
  opened.push(s);
  return s;
}

describe('opening the store', () => {
  it('creates the directory and a products file with the initial toys when there is none', async () => {
    const nested = path.join(dir, 'data', 'catalog');
    await open(nested);
    const text = await fs.readFile(path.join(nested, PRODUCTS_FILE), 'utf8');
    expect(text.split('\n')[0]).toBe('name,price,quantity');
    expect([...readDisk(nested).keys()]).toEqual([...TOY_NAMES]);
    expect(readDisk(nested).get('Tux')).toEqual({ name: 'Tux', price: 15.99, quantity: 100 });
  });

  it('reads an existing file instead of resetting it', async () => {
    await writeFileAtomic(path.join(dir, PRODUCTS_FILE), toCsv([{ name: 'Tux', price: 15.99, quantity: 42 }]));
    const store = await open(dir);
    expect(store.list()).toEqual([{ name: 'Tux', price: 15.99, quantity: 42 }]);
    expect(diskQuantity(dir, 'Tux')).toBe(42);
  });

  it('ignores and removes a leftover temp file from a write that never reached its rename', async () => {
    await writeFileAtomic(path.join(dir, PRODUCTS_FILE), toCsv([{ name: 'Tux', price: 15.99, quantity: 42 }]));
    // A crash between the temp write and the rename: a half-written temp file is left behind.
    await fs.writeFile(path.join(dir, `${PRODUCTS_FILE}.tmp-99999`), 'name,price,quantity\nTux,15.99,4');
    const store = await open(dir);
    expect(store.get('Tux')?.quantity).toBe(42);
    expect(await fs.readdir(dir)).toEqual([PRODUCTS_FILE]);
    // And writes still work afterwards.
    await store.purchase({ name: 'Tux', quantity: 2, key: 'k', epoch: 1 });
    expect(diskQuantity(dir, 'Tux')).toBe(40);
  });

  it('starts fresh when only a leftover temp file exists (the first write never committed)', async () => {
    await fs.writeFile(path.join(dir, `${PRODUCTS_FILE}.tmp-1234`), 'name,pri');
    const store = await open(dir);
    expect(store.get('Tux')?.quantity).toBe(100);
    expect(await fs.readdir(dir)).toEqual([PRODUCTS_FILE]);
  });

  it('refuses to start from a file that is not a products CSV, naming the problem', async () => {
    const file = path.join(dir, PRODUCTS_FILE);
    await fs.writeFile(file, 'name,price,quantity\nTux,15.99,-3\n');
    await expect(openFileCatalogStore(dir)).rejects.toThrow(/bad quantity/);
    await fs.writeFile(file, 'toy,cost\nTux,15.99\n');
    await expect(openFileCatalogStore(dir)).rejects.toThrow(/expected header/);
    await fs.writeFile(file, 'name,price,quantity\nTux,15.99,3\nTux,15.99,4\n');
    await expect(openFileCatalogStore(dir)).rejects.toThrow(/appears twice/);
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

describe('durability and group commit', () => {
  it('answers each purchase only once a file holding its change is on disk, sharing writes among concurrent purchases', async () => {
    let writes = 0;
    const store = await open(dir, {
      writeFile: async (file, contents) => {
        writes++;
        await writeFileAtomic(file, contents);
      },
    });
    writes = 0; // the file creation does not count
    const checks = Array.from({ length: 50 }, (_, i) =>
      store.purchase({ name: 'Lego', quantity: 1, key: `k${i}`, epoch: 1 }).then((r) => {
        // At the moment this caller hears back, the file already reflects its decrement.
        expect(diskQuantity(dir, 'Lego')).toBeLessThanOrEqual(r.quantity);
        return r.quantity;
      }),
    );
    const remaining = await Promise.all(checks);
    expect(new Set(remaining).size).toBe(50);
    expect(diskQuantity(dir, 'Lego')).toBe(50);
    // One write for the first purchase, one shared by the 49 that arrived while it was on disk.
    expect(writes).toBe(2);
  });

  it('serves reads from what is durable, not from a change still being written', async () => {
    const gate = deferred<void>();
    let hold = false;
    const store = await open(dir, {
      writeFile: async (file, contents) => {
        if (hold) await gate.promise;
        await writeFileAtomic(file, contents);
      },
    });
    hold = true;
    const p = store.purchase({ name: 'Tux', quantity: 10, key: 'k', epoch: 1 });
    try {
      expect(store.get('Tux')?.quantity).toBe(100);
      expect(store.list().find((x) => x.name === 'Tux')?.quantity).toBe(100);
    } finally {
      gate.resolve(); // a failed assertion must not leave the write parked forever
    }
    expect(await p).toEqual({ name: 'Tux', quantity: 90 });
    expect(store.get('Tux')?.quantity).toBe(90);
  });

  it('holds a refusal until the purchases it was based on are durable', async () => {
    const gate = deferred<void>();
    let hold = false;
    const store = await open(dir, {
      writeFile: async (file, contents) => {
        if (hold) await gate.promise;
        await writeFileAtomic(file, contents);
      },
    });
    hold = true;
    const bought = store.purchase({ name: 'Tux', quantity: 100, key: 'a', epoch: 1 });
    let refusedEarly = false;
    const refused = store.purchase({ name: 'Tux', quantity: 1, key: 'b', epoch: 1 }).catch((e: unknown) => {
      refusedEarly = true;
      return e;
    });
    try {
      for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
      expect(refusedEarly).toBe(false);
    } finally {
      gate.resolve();
    }
    await bought;
    const err = await refused;
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(409);
    expect((err as AppError).message).toContain('0 left');
  });

  it('crashes through the durability handler on a failed write and never acknowledges the change', async () => {
    const crashes: string[] = [];
    let fail = false;
    const store = await open(dir, {
      writeFile: async (file, contents) => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        await writeFileAtomic(file, contents);
      },
      onDurabilityError: (what) => {
        crashes.push(what);
        throw new Error(`crashed: ${what}`);
      },
    });
    fail = true;
    await expect(store.purchase({ name: 'Tux', quantity: 1, key: 'k', epoch: 1 })).rejects.toThrow(/crashed/);
    expect(crashes).toHaveLength(1);
    expect(crashes[0]).toContain(PRODUCTS_FILE);
    expect(store.get('Tux')?.quantity).toBe(100);
    expect(diskQuantity(dir, 'Tux')).toBe(100);
    // Nothing after a failed write is acknowledged either, even once the disk would work again.
    fail = false;
    await expect(store.purchase({ name: 'Lego', quantity: 1, key: 'k2', epoch: 1 })).rejects.toThrow(/crashed/);
    expect(diskQuantity(dir, 'Lego')).toBe(100);
    expect(crashes).toHaveLength(1);
  });

  it('waits for pending writes on close and refuses changes afterwards', async () => {
    const store = await open(dir);
    const p = store.purchase({ name: 'Slinky', quantity: 7, key: 'k', epoch: 1 });
    await store.close();
    expect(diskQuantity(dir, 'Slinky')).toBe(93);
    await p;
    await expect(store.purchase({ name: 'Slinky', quantity: 1, key: 'k2', epoch: 1 })).rejects.toThrow(/closed/);
    await expect(store.restockEmpty()).rejects.toThrow(/closed/);
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
    const outcomes = await Promise.allSettled([1, 2, 3].map((i) => store.purchase({ name: 'Tux', quantity: 1, key: `k${i}`, epoch: 1 })));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await store.purchase({ name: 'Tux', quantity: 1, key: 'k1', epoch: 1 })).toEqual({ name: 'Tux', quantity: 1 });
    await expect(store.purchase({ name: 'Nope', quantity: 1, key: 'n', epoch: 1 })).rejects.toMatchObject({ status: 404 });
    expect((await store.restockEmpty()).sort()).toEqual(['Lego', 'Tux']);
    expect(store.list()).toEqual([
      { name: 'Tux', price: 15.99, quantity: 100 },
      { name: 'Lego', price: 49.99, quantity: 100 },
    ]);
    expect(await store.restockEmpty()).toEqual([]);
  });

  it('forgets the oldest keys beyond its bound', async () => {
    const store = createMemoryCatalogStore({ maxKeys: 2 });
    for (const key of ['a', 'b', 'c']) await store.purchase({ name: 'Tux', quantity: 1, key, epoch: 1 });
    // 'c' and 'b' are remembered; 'a' was forgotten and counts as new.
    await store.purchase({ name: 'Tux', quantity: 1, key: 'c', epoch: 1 });
    expect(store.get('Tux')?.quantity).toBe(97);
    await store.purchase({ name: 'Tux', quantity: 1, key: 'a', epoch: 1 });
    expect(store.get('Tux')?.quantity).toBe(96);
  });
});
