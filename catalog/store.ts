/**
 * The catalog's stock: an in-memory view rebuilt from, and kept by, the durable ledger
 * (catalog/ledger.ts). `products.csv` (header `name,price,quantity`) is a snapshot of it for
 * people and the lab, rewritten atomically after changes; the ledger is the truth.
 *
 * Why it is shaped so:
 * - Check-and-decrement is one synchronous step on the live map. Node runs one callback at a time,
 *   so two concurrent purchases can never both see the same stock; no lock is needed. The step
 *   also appends the ledger record, so the change and its record are ordered identically, and the
 *   caller is answered only once that record is fsynced (group commit batches many per fsync).
 * - Reads serve the last durable state, never a change a crash could take back.
 * - Exactly once per key: every purchase, refusal and release is in the ledger with its key, so
 *   after a restart a retried key still gets its first outcome and never decrements twice.
 * - Fencing: a leader announces its epoch before it serves; purchases and releases from an older
 *   epoch are refused, so a deposed leader cannot take stock.
 * - No leaks: a purchase stays "pending" until a leader accounts for it, as committed (its order
 *   is in the log) or released (it never will be, the stock goes back). The position below which
 *   everything is accounted for is kept in the meta file, so the pending set stays small.
 * - The change sequence is the ledger's: `changeSeq()` is the seq of the last durable record, and
 *   `onDurable` listeners hear each batch in the same callback that makes it readable, so "every
 *   change up to seq N" means the same thing to the invalidation feed as to a read. It survives
 *   restarts because the ledger does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PRODUCTS_FILE } from '../shared/data-dir.ts';
import type {
  LedgerEntry,
  PendingPurchase,
  PendingResponse,
  Product,
  PurchaseResult,
  ReconcileRequest,
  ReconcileResult,
} from '../shared/contracts.ts';
import {
  AppError,
  badRequest,
  idempotencyKeyReused,
  insufficientStock,
  productNotFound,
  staleEpoch,
} from '../shared/errors.ts';
import { EPOCH, IDEMPOTENCY_KEY, ORDER_QUANTITY, TOY_NAME } from '../shared/fields.ts';
import { crashOnDurabilityError, fsyncDir, UnreadableFileError } from '../shared/fsutil.ts';
import { CorruptLogError, LostRecordsError } from '../shared/wal.ts';
import {
  createMemoryMetaFile,
  MemoryLedger,
  openFileLedger,
  openMetaFile,
  type CatalogMeta,
  type Ledger,
  type MetaFile,
} from './ledger.ts';
import { CSV_COLUMNS, createSnapshotWriter, parseProductsCsv, toCsv } from './products-csv.ts';
import { INITIAL_STOCK, initialToys } from './toys.ts';

export { CSV_COLUMNS, PRODUCTS_FILE, parseProductsCsv, toCsv };

export interface PurchaseCommand {
  name: string;
  quantity: number;
  /** Identity of the order attempt; the same key never decrements twice. */
  key: string;
  /** Epoch of the leader asking: a fencing token. */
  epoch: number;
}

/** One batch of ledger records that just became durable (and readable). */
export interface DurableChange {
  /** Seq of the batch's last record: the new change sequence. */
  seq: number;
  /** Toys whose stock the batch changed, each once; empty for a batch of refusals. */
  names: string[];
}

export interface CatalogStore {
  /** Every product as of the last durable change, in catalog order. */
  list(): Product[];
  get(name: string): Product | undefined;
  /**
   * Takes `quantity` of `name` if that much is in stock, durably, and returns what is left.
   * Throws productNotFound(), insufficientStock(name, left) or staleEpoch(fence); the same key
   * again gives the same outcome without a second decrement.
   */
  purchase(cmd: PurchaseCommand): Promise<PurchaseResult>;
  /** Refills every toy at 0 to INITIAL_STOCK, durably; returns the names refilled. */
  restockEmpty(): Promise<string[]>;
  /** Raises the epoch fence (durably); an older epoch is refused. Returns the fence. */
  fence(epoch: number): Promise<number>;
  /** Purchases no leader has accounted for yet, oldest first. */
  pending(): PendingResponse;
  /** Marks pending purchases as committed, or undoes them; see the module comment. */
  reconcile(req: ReconcileRequest): Promise<ReconcileResult>;
  /** Ledger records from `from` on (for the consistency checker). */
  ledger(from: number, limit: number): { entries: LedgerEntry[]; lastSeq: number };
  /**
   * The change sequence: seq of the last durable ledger record, -1 for an empty ledger. Never goes
   * back.
   */
  changeSeq(): number;
  /**
   * Calls `listener` after each batch of records becomes durable, before anything else can read
   * it; returns an unsubscribe. A listener that throws is ignored (durability does not wait on it).
   */
  onDurable(listener: (change: DurableChange) => void): () => void;
  /** Resolves once every change made so far is durable. */
  flush(): Promise<void>;
  /** Refuses further changes and waits for pending writes. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Products a new store starts with (default: the Hall of Fame toys at INITIAL_STOCK). */
  initial?: Product[];
  /** How many purchase keys to remember (oldest forgotten first); 0 or absent: all of them. */
  maxKeys?: number;
}

export interface FileStoreOptions extends StoreOptions {
  /** Called when a write fails; must not return normally (the default exits the process). */
  onDurabilityError?: (what: string, err: unknown) => never;
  onTornTail?: (info: { bytes: number; savedAs: string }) => void;
  onSynced?: (syncedBytes: number) => void;
  groupCommit?: boolean;
}

type KeyState =
  | {
      state: 'purchased';
      seq: number;
      name: string;
      quantity: number;
      epoch: number;
      outcome: Promise<PurchaseResult>;
    }
  | {
      state: 'refused';
      name: string;
      quantity: number;
      left: number;
      outcome: Promise<PurchaseResult>;
    }
  | { state: 'released'; name: string; quantity: number };

class StockStore implements CatalogStore {
  private readonly live = new Map<string, Product>();
  private readonly durable = new Map<string, Product>();
  private readonly keys = new Map<string, KeyState>();
  private readonly pendingByKey = new Map<string, PendingPurchase>();
  /**
   * What decisions use: the durable meta, with the fence raised by purchases (their records carry
   * it).
   */
  private meta: CatalogMeta;
  /** The meta as last asked to be saved (what the next save builds on), and that save. */
  private metaTarget: CatalogMeta;
  private metaSaved: Promise<void> = Promise.resolve();
  private closed = false;
  private failure: unknown = null;
  private lastWrite: Promise<void> = Promise.resolve();
  private durableSeq: number;
  private readonly listeners = new Set<(change: DurableChange) => void>();

  constructor(
    products: Product[],
    private readonly ledgerLog: Ledger,
    private readonly metaFile: MetaFile,
    private readonly maxKeys: number,
    private readonly onSnapshot: (products: Product[]) => void,
  ) {
    for (const p of products) this.live.set(p.name, { ...p });
    this.meta = metaFile.load();
    this.metaTarget = { ...this.meta };
    this.replay(ledgerLog.all());
    for (const [name, p] of this.live) this.durable.set(name, { ...p });
    this.durableSeq = ledgerLog.length - 1;
  }

  /** Rebuilds stock, key outcomes, the fence and the pending set from the ledger. */
  private replay(entries: LedgerEntry[]): void {
    for (const e of entries) {
      const p = this.live.get(e.name);
      if (!p) throw new Error(`ledger record ${e.seq} names unknown toy ${e.name}`);
      if (p.quantity + e.delta !== e.quantityAfter) {
        throw new Error(
          `ledger record ${e.seq}: ${e.name} goes from ${p.quantity} by ${e.delta} to ${e.quantityAfter}`,
        );
      }
      p.quantity = e.quantityAfter;
      if (e.kind === 'purchase' || e.kind === 'release')
        this.meta.fenceEpoch = Math.max(this.meta.fenceEpoch, e.epoch);
      if (e.kind === 'purchase') {
        const result = { name: e.name, quantity: e.quantityAfter };
        this.remember(e.key, {
          state: 'purchased',
          seq: e.seq,
          name: e.name,
          quantity: -e.delta,
          epoch: e.epoch,
          outcome: Promise.resolve(result),
        });
        if (e.seq >= this.meta.accountedBelowSeq)
          this.pendingByKey.set(e.key, {
            seq: e.seq,
            key: e.key,
            epoch: e.epoch,
            name: e.name,
            quantity: -e.delta,
          });
      } else if (e.kind === 'release') {
        const prior = this.keys.get(e.key);
        this.remember(e.key, {
          state: 'released',
          name: e.name,
          quantity: prior?.quantity ?? e.delta,
        });
        this.pendingByKey.delete(e.key);
      } else if (e.kind === 'refusal') {
        const outcome = Promise.reject(insufficientStock(e.name, e.quantityAfter));
        outcome.catch(() => {});
        this.remember(e.key, {
          state: 'refused',
          name: e.name,
          quantity: e.refused,
          left: e.quantityAfter,
          outcome,
        });
      }
    }
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
    const invalid = purchaseProblem(cmd);
    if (invalid) return Promise.reject(badRequest(invalid));
    if (cmd.epoch < this.meta.fenceEpoch) return Promise.reject(staleEpoch(this.meta.fenceEpoch));
    const prior = this.keys.get(cmd.key);
    if (prior && prior.state !== 'released') {
      // A refusal read back from a ledger written before it had the `refused` column does not know
      // the quantity that was asked (0): any quantity matches it.
      if (
        prior.name !== cmd.name ||
        (prior.quantity !== cmd.quantity && !(prior.state === 'refused' && prior.quantity === 0))
      ) {
        // The README's rule for a key reused with a different body, whichever path found it.
        return Promise.reject(idempotencyKeyReused());
      }
      return prior.outcome;
    }
    const product = this.live.get(cmd.name);
    if (!product) return Promise.reject(productNotFound());
    // Check and decrement (or refusal) in this same synchronous step: no other purchase runs
    // between.
    return product.quantity < cmd.quantity
      ? this.refuse(cmd, product.quantity)
      : this.take(cmd, product);
  }

  /**
   * Recorded so the same key is refused again later, even after a restock or a restart (with the
   * quantity asked, so a reuse with another is a 422). Answered only once durable: the refusal
   * rests on earlier purchases that must not be undone by a crash.
   */
  private refuse(cmd: PurchaseCommand, left: number): Promise<PurchaseResult> {
    const outcome = this.write([
      {
        kind: 'refusal',
        key: cmd.key,
        epoch: cmd.epoch,
        name: cmd.name,
        delta: 0,
        quantityAfter: left,
        refused: cmd.quantity,
      },
    ]).then(() => {
      throw insufficientStock(cmd.name, left);
    });
    outcome.catch(() => {});
    this.remember(cmd.key, {
      state: 'refused',
      name: cmd.name,
      quantity: cmd.quantity,
      left,
      outcome,
    });
    return outcome;
  }

  /**
   * Takes the stock now (live), answers once the ledger record is durable; pending until accounted
   * for.
   */
  private take(cmd: PurchaseCommand, product: Product): Promise<PurchaseResult> {
    product.quantity -= cmd.quantity;
    const seq = this.ledgerLog.length;
    const result = { name: cmd.name, quantity: product.quantity };
    const outcome = this.write([
      {
        kind: 'purchase',
        key: cmd.key,
        epoch: cmd.epoch,
        name: cmd.name,
        delta: -cmd.quantity,
        quantityAfter: product.quantity,
        refused: 0,
      },
    ]).then(() => result);
    outcome.catch(() => {});
    this.meta.fenceEpoch = Math.max(this.meta.fenceEpoch, cmd.epoch);
    const { key, epoch, name, quantity } = cmd;
    this.remember(key, { state: 'purchased', seq, name, quantity, epoch, outcome });
    this.pendingByKey.set(key, { seq, key, epoch, name, quantity });
    return outcome;
  }

  async restockEmpty(): Promise<string[]> {
    if (this.closed) throw closedError();
    const entries: Omit<LedgerEntry, 'seq'>[] = [];
    for (const p of this.live.values()) {
      if (p.quantity === 0) {
        p.quantity = INITIAL_STOCK;
        entries.push({
          kind: 'restock',
          key: '',
          epoch: 0,
          name: p.name,
          delta: INITIAL_STOCK,
          quantityAfter: INITIAL_STOCK,
          refused: 0,
        });
      }
    }
    if (entries.length) await this.write(entries);
    return entries.map((e) => e.name);
  }

  async fence(epoch: number): Promise<number> {
    if (epoch < this.meta.fenceEpoch) throw staleEpoch(this.meta.fenceEpoch);
    // Answered (and enforced) only once durable: a leader that heard "fenced" must find the fence
    // after a crash. Compared with what was saved, not with memory: a fence raised by a purchase
    // still in flight is not durable yet. Until then older epochs are still served, which is the
    // same as if they had arrived just before this call.
    if (epoch > this.metaTarget.fenceEpoch) await this.saveMeta({ fenceEpoch: epoch });
    else await this.metaSaved;
    this.meta = { ...this.meta, fenceEpoch: Math.max(this.meta.fenceEpoch, epoch) };
    return this.meta.fenceEpoch;
  }

  pending(): PendingResponse {
    return {
      entries: [...this.pendingByKey.values()].sort((a, b) => a.seq - b.seq),
      fenceEpoch: this.meta.fenceEpoch,
    };
  }

  async reconcile(req: ReconcileRequest): Promise<ReconcileResult> {
    if (this.closed) throw closedError();
    if (req.epoch < this.meta.fenceEpoch) throw staleEpoch(this.meta.fenceEpoch);
    // Each purchase is named by key and seq: a duplicate of an older reconcile, delivered after the
    // key was released and bought again, names a seq that is no longer the pending one.
    for (const { key, seq } of req.committed)
      if (this.pendingByKey.get(key)?.seq === seq) this.pendingByKey.delete(key);
    const releases: Omit<LedgerEntry, 'seq'>[] = [];
    for (const { key, seq } of req.release) {
      const prior = this.keys.get(key);
      if (prior?.state !== 'purchased' || this.pendingByKey.get(key)?.seq !== seq) continue;
      const p = this.live.get(prior.name)!;
      p.quantity += prior.quantity;
      releases.push({
        kind: 'release',
        key,
        epoch: req.epoch,
        name: prior.name,
        delta: prior.quantity,
        quantityAfter: p.quantity,
        refused: 0,
      });
      this.remember(key, { state: 'released', name: prior.name, quantity: prior.quantity });
      this.pendingByKey.delete(key);
    }
    if (releases.length) await this.write(releases);
    // The releases are durable before the meta file says they are accounted for.
    let below = this.ledgerLog.length;
    for (const p of this.pendingByKey.values()) below = Math.min(below, p.seq);
    if (below !== this.metaTarget.accountedBelowSeq) {
      await this.saveMeta({ accountedBelowSeq: below });
      this.meta = { ...this.meta, accountedBelowSeq: below };
    }
    return { released: releases.length, pending: this.pendingByKey.size };
  }

  ledger(from: number, limit: number): { entries: LedgerEntry[]; lastSeq: number } {
    const entries = this.ledgerLog.slice(from, from + limit).map(({ crc: _crc, ...e }) => e);
    return { entries, lastSeq: this.ledgerLog.length - 1 };
  }

  changeSeq(): number {
    return this.durableSeq;
  }

  onDurable(listener: (change: DurableChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  flush(): Promise<void> {
    return this.lastWrite;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.lastWrite.catch(() => {});
    await this.ledgerLog.close();
  }

  /**
   * Appends records whose changes are already in `live`; resolves when durable, then reads see
   * them.
   */
  private write(entries: Omit<LedgerEntry, 'seq'>[]): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const base = this.ledgerLog.length;
    const records = entries.map((e, i) => ({ ...e, seq: base + i }));
    const done = this.ledgerLog.append(records).then(
      () => {
        for (const r of records)
          this.durable.set(r.name, { ...this.durable.get(r.name)!, quantity: r.quantityAfter });
        this.durableSeq = Math.max(this.durableSeq, records[records.length - 1]!.seq);
        this.announce(records);
        this.onSnapshot(this.list());
      },
      (err: unknown) => {
        // Nothing after a failed write is ever acknowledged: memory and disk may now disagree.
        this.failure = err ?? new Error('write failed');
        throw err;
      },
    );
    this.lastWrite = done.catch(() => {});
    return done;
  }

  /** Saves the meta with `change`, after every earlier save; memory follows once it is durable. */
  private saveMeta(change: Partial<CatalogMeta>): Promise<void> {
    this.metaTarget = { ...this.metaTarget, ...change };
    return (this.metaSaved = this.metaFile.save(this.metaTarget));
  }

  /** Tells the listeners about records that just became durable (see `onDurable`). */
  private announce(records: LedgerEntry[]): void {
    if (this.listeners.size === 0) return;
    const change: DurableChange = {
      seq: this.durableSeq,
      names: [...new Set(records.filter((r) => r.delta !== 0).map((r) => r.name))],
    };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own; the write is durable either way
      }
    }
  }

  private remember(key: string, state: KeyState): void {
    this.keys.delete(key);
    this.keys.set(key, state);
    if (this.maxKeys > 0) {
      while (this.keys.size > this.maxKeys) {
        const oldest = this.keys.keys().next();
        if (oldest.done) break;
        this.keys.delete(oldest.value);
      }
    }
  }
}

/** Why a purchase cannot be recorded (shared/fields.ts: what the ledger can hold), or null. */
function purchaseProblem(cmd: PurchaseCommand): string | null {
  if (!ORDER_QUANTITY.valid(cmd.quantity))
    return `quantity must be an integer from 1 to ${ORDER_QUANTITY.max}`;
  if (!EPOCH.valid(cmd.epoch)) return `epoch must be an integer from 0 to ${EPOCH.max}`;
  return IDEMPOTENCY_KEY.problem(String(cmd.key)) ?? TOY_NAME.problem(String(cmd.name));
}

function closedError(): AppError {
  return new AppError(503, 'upstream_unavailable', 'catalog is shutting down', 1);
}

/** The same store with no disk: every write is durable at once. For tests. */
export function createMemoryCatalogStore(opts: StoreOptions = {}): CatalogStore {
  return createCatalogStoreWith(new MemoryLedger(), createMemoryMetaFile(), opts);
}

/** A store over any ledger and meta file (tests inject slow or failing ones). */
export function createCatalogStoreWith(
  ledger: Ledger,
  metaFile: MetaFile,
  opts: StoreOptions = {},
): CatalogStore {
  return new StockStore(
    opts.initial ?? initialToys(),
    ledger,
    metaFile,
    opts.maxKeys ?? 0,
    () => {},
  );
}

/**
 * Opens (or creates) the store in `dir`: replays the ledger over the initial stock, then brings
 * products.csv up to date with it. A leftover `products.csv.tmp-*` is a snapshot that never
 * reached its rename and is deleted; the ledger is the truth.
 */
export async function openFileCatalogStore(
  dir: string,
  opts: FileStoreOptions = {},
): Promise<CatalogStore> {
  const file = path.join(dir, PRODUCTS_FILE);
  await mkdirDurable(dir);
  // Leftovers are from an earlier process (temp names carry the writer's pid); ours may be live.
  for (const entry of await fs.readdir(dir)) {
    if (
      entry.startsWith(`${PRODUCTS_FILE}.tmp-`) &&
      !entry.startsWith(`${PRODUCTS_FILE}.tmp-${process.pid}-`)
    ) {
      await fs.rm(path.join(dir, entry), { force: true });
    }
  }
  const metaFile = await openMetaFile(dir, {
    onFatal: opts.onDurabilityError ?? crashOnDurabilityError,
  });
  const ledger = await openFileLedger(dir, {
    onFatal: opts.onDurabilityError ?? crashOnDurabilityError,
    onTornTail: opts.onTornTail,
    onSynced: opts.onSynced,
    groupCommit: opts.groupCommit,
  });
  const snapshots = createSnapshotWriter(file);
  let store: StockStore;
  try {
    store = new StockStore(
      opts.initial ?? initialToys(),
      ledger,
      metaFile,
      opts.maxKeys ?? 0,
      snapshots.write,
    );
  } catch (err) {
    await ledger.close();
    throw err;
  }
  await snapshots.writeNow(store.list());
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await snapshots.writeNow(store.list());
  };
  return store;
}

/**
 * One line naming what is damaged in a catalog dir (file, line, seq, what is wrong), or null if
 * `err` is not damage. A damaged ledger or meta file is never served from: the catalog refuses
 * to start with this line and the repair command (scripts/repair.ts).
 */
export function describeCatalogDamage(err: unknown): string | null {
  if (err instanceof CorruptLogError)
    return `${err.file}: corrupt record at line ${err.lineNumber} (seq ${err.validRecords}): ${err.detail}`;
  if (err instanceof LostRecordsError || err instanceof UnreadableFileError) return err.message;
  return null;
}

/**
 * mkdir -p, then fsync the parent of every directory it created so the new entries survive a crash.
 */
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
