/**
 * Hand-built evidence for the consistency checker's tests: order logs, catalog ledgers, product
 * lists and client histories, written in the on-disk formats (orders.csv, ledger.csv,
 * products.csv, JSON-lines histories) into private temp data dirs.
 *
 * Why it is shaped so: the ledger and the history are produced by tiny simulators (`Catalog`,
 * `History`) that keep stock, sequence numbers, checksums and clocks consistent by construction,
 * so a test breaks exactly one thing on purpose and the checker must find exactly that. The files
 * are written by hand from the documented formats, not by the services, so the checker is tested
 * against the contract rather than against one implementation of it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HistoryEvent, LedgerEntry, OrderEntry, Product } from '../../shared/contracts.ts';
import { signEntry } from '../../order/log.ts';
import { formatRecord, LOG_HEADER } from '../../order/record-codec.ts';
import { toCsv } from '../../catalog/store.ts';
import { ledgerCodec } from '../../catalog/ledger.ts';
import { encodeRecord } from '../../shared/wal.ts';
import { INITIAL_STOCK, initialToys } from '../../catalog/toys.ts';
import { chainLedgerCrc, type LedgerRecord } from '../../scripts/lib/invariants/index.ts';

export interface OrderSpec {
  name: string;
  quantity: number;
  key: string;
  epoch?: number;
  /** Override the order number (default: position). */
  index?: number;
}

/** A correctly chained log (index = position unless overridden, epoch 1 unless given). */
export function buildLog(specs: readonly OrderSpec[]): OrderEntry[] {
  let crc = 0;
  return specs.map((s, i) => {
    const e = signEntry(crc, {
      index: s.index ?? i,
      epoch: s.epoch ?? 1,
      name: s.name,
      quantity: s.quantity,
      key: s.key,
    });
    crc = e.crc;
    return e;
  });
}

export function logCsv(entries: readonly OrderEntry[]): string {
  return LOG_HEADER + entries.map(formatRecord).join('');
}

/** A catalog that writes its ledger: stock, sequence numbers and quantityAfter stay consistent. */
export class Catalog {
  readonly stock = new Map(initialToys().map((p) => [p.name, p.quantity]));
  readonly entries: LedgerEntry[] = [];
  private held = new Map<string, { name: string; quantity: number }>();

  private add(
    kind: LedgerEntry['kind'],
    key: string,
    epoch: number,
    name: string,
    delta: number,
    refused = 0,
  ): this {
    const quantityAfter = (this.stock.get(name) ?? INITIAL_STOCK) + delta;
    this.stock.set(name, quantityAfter);
    const seq = this.entries.length;
    this.entries.push({ seq, kind, key, epoch, name, delta, quantityAfter, refused });
    return this;
  }
  purchase(key: string, name: string, quantity: number, epoch = 1): this {
    this.held.set(key, { name, quantity });
    return this.add('purchase', key, epoch, name, -quantity);
  }
  release(key: string, epoch = 1): this {
    const h = this.held.get(key);
    if (!h) throw new Error(`fixture: nothing to release for ${key}`);
    this.held.delete(key);
    return this.add('release', key, epoch, h.name, h.quantity);
  }
  refuse(key: string, name: string, epoch = 1, quantity = 1): this {
    return this.add('refusal', key, epoch, name, 0, quantity);
  }
  restock(name: string): this {
    return this.add('restock', '', 0, name, INITIAL_STOCK - (this.stock.get(name) ?? 0));
  }
  /** A purchase for every order of a log, in order. */
  purchaseAll(log: readonly OrderEntry[]): this {
    for (const o of log) this.purchase(o.key, o.name, o.quantity, o.epoch);
    return this;
  }
  products(): Product[] {
    return initialToys().map((p) => ({ ...p, quantity: this.stock.get(p.name) ?? p.quantity }));
  }
}

/** Signs ledger entries (chained crc32) unless an entry already carries a crc (to tamper with). */
export function signLedger(
  entries: readonly (LedgerEntry & { crc?: number })[],
): (LedgerEntry & { crc: number })[] {
  let crc = 0;
  return entries.map((e) => {
    const signed = { ...e, crc: e.crc ?? chainLedgerCrc(crc, e) };
    crc = signed.crc;
    return signed;
  });
}

export const LEDGER_HEADER_LINE = `${ledgerCodec.header}\n`;

export function ledgerCsv(entries: readonly (LedgerEntry & { crc?: number })[]): string {
  return (
    LEDGER_HEADER_LINE +
    signLedger(entries)
      .map((e) => encodeRecord(ledgerCodec, e))
      .join('')
  );
}

/** A Jepsen-style client history with a logical clock (each event one ms after the previous). */
export class History {
  readonly events: HistoryEvent[] = [];
  private nextOp = 0;
  private clock = 0;

  private emit(e: Omit<HistoryEvent, 'timeMs'>): void {
    this.events.push({ ...e, timeMs: ++this.clock });
  }
  /** Starts an operation; call the returned function to complete it (possibly later). */
  invoke(f: HistoryEvent['f'], key: string | null, request: Record<string, unknown>, client = 0) {
    const op = this.nextOp++;
    this.emit({ type: 'invoke', op, client, f, key, request, response: null });
    return (type: 'ok' | 'fail' | 'info', response: HistoryEvent['response']) =>
      this.emit({ type, op, client, f, key, request, response });
  }
  orderOk(key: string, name: string, quantity: number, orderNumber: number): this {
    this.invoke('order', key, { name, quantity })('ok', {
      status: 200,
      body: { data: { order_number: orderNumber } },
    });
    return this;
  }
  orderFail(key: string, name: string, quantity: number, status = 409): this {
    this.invoke('order', key, { name, quantity })('fail', {
      status,
      body: { error: { code: status, message: 'no' } },
    });
    return this;
  }
  orderInfo(key: string, name: string, quantity: number): this {
    this.invoke('order', key, { name, quantity })('info', null);
    return this;
  }
  read(orderNumber: number, found: OrderEntry | null): this {
    const response = found
      ? {
          status: 200,
          body: { data: { number: found.index, name: found.name, quantity: found.quantity } },
        }
      : { status: 404, body: { error: { code: 404, message: 'order not found' } } };
    this.invoke('read', found?.key ?? null, { order_number: orderNumber })('ok', response);
    return this;
  }
  /** Every order of a log acknowledged in turn, each read back right after. */
  ackAll(log: readonly OrderEntry[]): this {
    for (const o of log) this.orderOk(o.key, o.name, o.quantity, o.index).read(o.index, o);
    return this;
  }
  jsonl(): string {
    return this.events.map((e) => `${JSON.stringify(e)}\n`).join('');
  }
}

export interface DataDirSpec {
  /** Replica id -> orders.csv contents (null: the dir exists but the file does not). */
  replicas: Record<number, string | Buffer | null>;
  ledger?: string | Buffer;
  products?: string;
}

export async function makeTempDir(prefix = 'toystore-check-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function writeDataDir(dir: string, spec: DataDirSpec): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const [id, content] of Object.entries(spec.replicas)) {
    const d = path.join(dir, `order-${id}`);
    await fs.mkdir(d, { recursive: true });
    if (content !== null) await fs.writeFile(path.join(d, 'orders.csv'), content);
  }
  if (spec.ledger !== undefined || spec.products !== undefined)
    await fs.mkdir(path.join(dir, 'catalog'), { recursive: true });
  if (spec.ledger !== undefined)
    await fs.writeFile(path.join(dir, 'catalog', 'ledger.csv'), spec.ledger);
  if (spec.products !== undefined)
    await fs.writeFile(path.join(dir, 'catalog', 'products.csv'), spec.products);
  return dir;
}

/**
 * A clean run: five orders over three epochs, one order with an unknown outcome whose purchase
 * was released, one refused for lack of stock, a sold-out toy restocked, every acknowledgement
 * read back. Everything agrees.
 */
export function cleanScenario() {
  const log = buildLog([
    { name: 'Tux', quantity: 2, key: 'k-0', epoch: 1 },
    { name: 'Lego', quantity: 1, key: 'k-1', epoch: 1 },
    { name: 'Hot Wheels', quantity: 100, key: 'k-2', epoch: 2 },
    { name: "Rubik's Cube", quantity: 3, key: 'k-3', epoch: 2 },
    { name: 'Tux', quantity: 5, key: 'k-4', epoch: 3 },
  ]);
  const catalog = new Catalog()
    .purchase('k-0', 'Tux', 2, 1)
    .purchase('k-1', 'Lego', 1, 1)
    .purchase('k-lost-leader', 'Barbie', 4, 1)
    .purchase('k-2', 'Hot Wheels', 100, 2)
    .refuse('k-refused', 'Hot Wheels', 2)
    .release('k-lost-leader', 2)
    .restock('Hot Wheels')
    .purchase('k-3', "Rubik's Cube", 3, 2)
    .purchase('k-4', 'Tux', 5, 3);
  const history = new History()
    .ackAll(log.slice(0, 2))
    .orderInfo('k-lost-leader', 'Barbie', 4)
    .ackAll(log.slice(2, 3))
    .orderFail('k-refused', 'Hot Wheels', 2)
    .ackAll(log.slice(3));
  return { log, catalog, history };
}

export type Scenario = ReturnType<typeof cleanScenario>;

/**
 * Writes a scenario as a three-replica data dir (every replica holding `log` unless overridden).
 */
export async function writeScenario(
  dir: string,
  s: { log: readonly OrderEntry[]; catalog: Catalog },
  over: Partial<DataDirSpec> = {},
): Promise<string> {
  const csv = logCsv(s.log);
  return writeDataDir(dir, {
    replicas: { 1: csv, 2: csv, 3: csv, ...over.replicas },
    ledger: 'ledger' in over ? over.ledger : ledgerCsv(s.catalog.entries),
    products: 'products' in over ? over.products : toCsv(s.catalog.products()),
  });
}

export async function writeHistory(
  dir: string,
  h: History,
  name = 'history.jsonl',
): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, h.jsonl());
  return file;
}

export const kinds = (vs: readonly { kind: string }[]) => vs.map((v) => v.kind);

export type { LedgerRecord };
