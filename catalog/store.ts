/**
 * The catalog's stock: an in-memory map that every change hits first, made durable in
 * `DATA_DIR/catalog/products.csv` (header `name,price,quantity`) before anyone is told about it.
 *
 * Why it is shaped so:
 * - Check-and-decrement is one synchronous step on the live map. Node runs one callback at a time,
 *   so two concurrent purchases can never both see the same stock; no lock is needed. Only after
 *   the change is in memory does the caller await durability.
 * - The whole CSV is rewritten with `writeFileAtomic` (temp + fsync + rename + dir fsync), so a
 *   kill -9 at any instant leaves either the previous file or the new one, never a torn one.
 * - Group commit: while one write is on disk, every change made meanwhile joins the single next
 *   write. Each caller awaits a write whose snapshot was taken after its own change, so one fsync
 *   acknowledges many purchases and the write rate is bounded by the disk, not by the request rate.
 * - Reads (`list`/`get`) serve the last durable snapshot, not the live map: a frontend can never
 *   cache a quantity that a crash would take back.
 * - A purchase is idempotent by `key`: the outcome (result or error) of recent keys is remembered,
 *   so a retried request never decrements twice. The memory is in-process only (see the report on
 *   what a catalog crash means for a retry).
 * - The file store and the memory twin are the same class with a different `persist` step, so
 *   tests of the app without a disk exercise the very code path that runs in production.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { Product, PurchaseResult } from '../shared/contracts.ts';
import { badRequest, insufficientStock, productNotFound } from '../shared/errors.ts';
import { crashOnDurabilityError, fsyncDir, writeFileAtomic } from '../shared/fsutil.ts';
import { INITIAL_STOCK, initialToys } from './toys.ts';

export const PRODUCTS_FILE = 'products.csv';
export const CSV_COLUMNS = ['name', 'price', 'quantity'] as const;
/** How many recent purchase keys are remembered for idempotency. */
export const DEFAULT_MAX_KEYS = 100_000;

export interface PurchaseCommand {
  name: string;
  quantity: number;
  /** Identity of the order attempt; the same key never decrements twice. */
  key: string;
  /** Epoch of the leader asking; recorded with the key, not enforced yet. */
  epoch: number;
}

export interface CatalogStore {
  /** Every product as of the last durable write, in catalog order. */
  list(): Product[];
  /** One product as of the last durable write, or undefined. */
  get(name: string): Product | undefined;
  /**
   * Takes `quantity` of `name` if that much is in stock, durably, and returns what is left.
   * Throws productNotFound() or insufficientStock(name, left); the same `key` again gives the same
   * outcome without a second decrement.
   */
  purchase(cmd: PurchaseCommand): Promise<PurchaseResult>;
  /** Refills every toy at 0 to INITIAL_STOCK, durably; returns the names refilled. */
  restockEmpty(): Promise<string[]>;
  /** Resolves once every change made so far is durable. */
  flush(): Promise<void>;
  /** Refuses further changes and waits for pending writes. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Products a new store starts with (default: the Hall of Fame toys at INITIAL_STOCK). */
  initial?: Product[];
  maxKeys?: number;
}

export interface FileStoreOptions extends StoreOptions {
  /** Replaces the file whole; tests inject failures here. */
  writeFile?: (file: string, contents: string) => Promise<void>;
  /** Called when a write fails; must not return normally (the default exits the process). */
  onDurabilityError?: (what: string, err: unknown) => never;
}

/** Persists one snapshot; resolves only once it is durable. */
type Persist = (snapshot: Product[]) => Promise<void>;

/**
 * One write on disk at a time, and at most one queued behind it that every later change joins.
 * The queued write takes its snapshot only when it starts, i.e. after every change that joined it.
 */
class GroupCommit {
  private inFlight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Set by a failed write: the disk and memory may disagree, so no later change is ever acknowledged. */
  private failure: unknown = null;

  constructor(
    private readonly take: () => Product[],
    private readonly persist: Persist,
    private readonly onDurable: (snapshot: Product[]) => void,
  ) {}

  /** Call right after a change in memory: resolves when a write that includes it is durable. */
  request(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.queued) return this.queued;
    if (!this.inFlight) return this.start();
    // The in-flight snapshot predates this change, so it must wait for the next write. If the
    // in-flight write fails the queued one rejects too: nothing after a failed fsync is acknowledged.
    const queued = this.inFlight.then(() => {
      this.queued = null;
      return this.start();
    });
    this.queued = queued;
    return queued;
  }

  /** Resolves when every change requested so far is durable. */
  idle(): Promise<void> {
    return this.queued ?? this.inFlight ?? Promise.resolve();
  }

  private start(): Promise<void> {
    const snapshot = this.take();
    const write: Promise<void> = this.persist(snapshot)
      .then(
        () => this.onDurable(snapshot),
        (err: unknown) => {
          this.failure = err ?? new Error('write failed');
          throw err;
        },
      )
      .finally(() => {
        if (this.inFlight === write) this.inFlight = null;
      });
    this.inFlight = write;
    return write;
  }
}

interface RememberedKey {
  name: string;
  quantity: number;
  epoch: number;
  outcome: Promise<PurchaseResult>;
}

class StockStore implements CatalogStore {
  /** Where changes happen, synchronously. */
  private readonly live = new Map<string, Product>();
  /** What reads see: the last snapshot known to be on disk. */
  private durable = new Map<string, Product>();
  private readonly keys = new Map<string, RememberedKey>();
  private readonly commit: GroupCommit;
  private readonly maxKeys: number;
  private closed = false;

  constructor(products: Product[], persist: Persist, maxKeys: number) {
    for (const p of products) this.live.set(p.name, { ...p });
    this.durable = copyMap(this.live);
    this.maxKeys = maxKeys;
    this.commit = new GroupCommit(
      () => [...this.live.values()].map((p) => ({ ...p })),
      persist,
      (snapshot) => {
        this.durable = new Map(snapshot.map((p) => [p.name, p]));
      },
    );
  }

  list(): Product[] {
    return [...this.durable.values()].map((p) => ({ ...p }));
  }

  get(name: string): Product | undefined {
    const p = this.durable.get(name);
    return p && { ...p };
  }

  purchase(cmd: PurchaseCommand): Promise<PurchaseResult> {
    if (this.closed) return Promise.reject(closedError());
    const prior = this.keys.get(cmd.key);
    if (prior) {
      if (prior.name !== cmd.name || prior.quantity !== cmd.quantity) {
        return Promise.reject(badRequest(`key ${cmd.key} was already used for a different purchase`));
      }
      return prior.outcome;
    }
    // apply() runs its check and decrement before its first await, i.e. right here, so the key is
    // remembered in the same synchronous step as the change it names: a concurrent retry finds it.
    const outcome = this.apply(cmd);
    outcome.catch(() => {}); // the caller handles the error; a remembered rejection is not unhandled
    this.remember(cmd, outcome);
    return outcome;
  }

  async restockEmpty(): Promise<string[]> {
    if (this.closed) throw closedError();
    const names: string[] = [];
    for (const p of this.live.values()) {
      if (p.quantity === 0) {
        p.quantity = INITIAL_STOCK;
        names.push(p.name);
      }
    }
    if (names.length) await this.commit.request();
    return names;
  }

  flush(): Promise<void> {
    return this.commit.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.commit.idle();
  }

  private async apply({ name, quantity }: PurchaseCommand): Promise<PurchaseResult> {
    if (!Number.isSafeInteger(quantity) || quantity <= 0) throw badRequest('quantity must be a positive integer');
    const product = this.live.get(name);
    if (!product) throw productNotFound();
    if (product.quantity < quantity) {
      const left = product.quantity;
      // The refusal is based on decrements that may not be on disk yet; answering before they are
      // could refuse an order on the strength of purchases a crash would undo.
      await this.commit.idle();
      throw insufficientStock(name, left);
    }
    product.quantity -= quantity;
    const remaining = product.quantity;
    await this.commit.request();
    return { name, quantity: remaining };
  }

  private remember(cmd: PurchaseCommand, outcome: Promise<PurchaseResult>): void {
    this.keys.set(cmd.key, { name: cmd.name, quantity: cmd.quantity, epoch: cmd.epoch, outcome });
    while (this.keys.size > this.maxKeys) {
      const oldest = this.keys.keys().next();
      if (oldest.done) break;
      this.keys.delete(oldest.value);
    }
  }
}

function closedError(): Error {
  return new Error('catalog store is closed');
}

function copyMap(m: Map<string, Product>): Map<string, Product> {
  return new Map([...m].map(([k, v]) => [k, { ...v }]));
}

/** The same store with no disk: every write is "durable" at once. For tests. */
export function createMemoryCatalogStore(opts: StoreOptions = {}): CatalogStore {
  return new StockStore(opts.initial ?? initialToys(), async () => {}, opts.maxKeys ?? DEFAULT_MAX_KEYS);
}

/**
 * Opens (or creates) the store in `dir`. A missing file is created with the initial toys, durably,
 * before the store serves anything. A leftover `products.csv.tmp-*` is a write that never reached
 * its rename, so no caller was ever told about it: it is deleted, and the CSV is the truth.
 */
export async function openFileCatalogStore(dir: string, opts: FileStoreOptions = {}): Promise<CatalogStore> {
  const file = path.join(dir, PRODUCTS_FILE);
  const writeFile = opts.writeFile ?? writeFileAtomic;
  const onDurabilityError = opts.onDurabilityError ?? crashOnDurabilityError;

  await mkdirDurable(dir);
  for (const entry of await fs.readdir(dir)) {
    if (entry.startsWith(`${PRODUCTS_FILE}.tmp-`)) await fs.rm(path.join(dir, entry), { force: true });
  }

  let products: Product[];
  let text: string | null;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = null;
  }
  if (text === null) {
    products = (opts.initial ?? initialToys()).map((p) => ({ ...p }));
    // Before any request is served: a failure here is a start-up error, not a lost acknowledgement.
    await writeFile(file, toCsv(products));
  } else {
    products = parseProductsCsv(text, file);
  }

  const persist: Persist = async (snapshot) => {
    try {
      await writeFile(file, toCsv(snapshot));
    } catch (err) {
      onDurabilityError(`writing ${file}`, err);
    }
  };
  return new StockStore(products, persist, opts.maxKeys ?? DEFAULT_MAX_KEYS);
}

export function toCsv(products: Product[]): string {
  return stringify(products.map((p) => ({ name: p.name, price: p.price, quantity: p.quantity })), {
    header: true,
    columns: [...CSV_COLUMNS],
  });
}

/** Parses and checks the products file; anything malformed is an error naming the line, never a guess. */
export function parseProductsCsv(text: string, file = PRODUCTS_FILE): Product[] {
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    throw new Error(`${file}: not valid CSV: ${(err as Error).message}`);
  }
  const header = rows[0];
  if (!header || header.join(',') !== CSV_COLUMNS.join(',')) {
    throw new Error(`${file}: expected header "${CSV_COLUMNS.join(',')}", found ${JSON.stringify(header?.join(',') ?? '')}`);
  }
  const products: Product[] = [];
  const seen = new Set<string>();
  rows.slice(1).forEach((row, i) => {
    const where = `${file}: record ${i + 1}`;
    const [name = '', rawPrice = '', rawQuantity = ''] = row;
    const price = Number(rawPrice);
    if (name === '') throw new Error(`${where}: empty name`);
    if (seen.has(name)) throw new Error(`${where}: ${name} appears twice`);
    if (rawPrice.trim() === '' || !Number.isFinite(price) || price < 0) throw new Error(`${where}: bad price ${JSON.stringify(rawPrice)}`);
    if (!/^\d{1,15}$/.test(rawQuantity)) throw new Error(`${where}: bad quantity ${JSON.stringify(rawQuantity)}`);
    seen.add(name);
    products.push({ name, price, quantity: Number(rawQuantity) });
  });
  return products;
}

/** mkdir -p, then fsync the parent of every directory it created so the new entries survive a crash. */
async function mkdirDurable(dir: string): Promise<void> {
  const target = path.resolve(dir);
  const first = await fs.mkdir(target, { recursive: true });
  if (first === undefined) return;
  const top = path.resolve(first);
  for (let d = target; ; d = path.dirname(d)) {
    await fsyncDir(path.dirname(d));
    if (d === top || path.dirname(d) === d) break;
  }
}
