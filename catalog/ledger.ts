/**
 * The catalog's durable record of every stock change, and its small meta file.
 *
 * The ledger (`ledger.csv`, header `seq,kind,key,epoch,name,delta,quantityAfter,refused,crc`) is
 * the source of truth: stock, the outcome of every purchase key and the epoch fence are rebuilt
 * from it on start, and it gets the same crash treatment as the order log (shared/wal.ts). The meta
 * file holds what is not a stock change: the highest leader epoch the catalog was told about (a
 * fence) and the ledger position up to which leaders have accounted for every purchase.
 *
 * `refused` (a refusal's asked quantity) came later: a ledger created before it keeps its 8-column
 * header and records, is read with `refused` 0 (unknown) on its refusals, and new records are
 * appended in the 9-column format, which the reader tells apart by their field count.
 */
import path from 'node:path';
import type { LedgerEntry } from '../shared/contracts.ts';
import { LEDGER_FILE, META_FILE } from '../shared/data-dir.ts';
import {
  CRC32,
  EPOCH,
  IDEMPOTENCY_KEY,
  LEDGER_SEQ,
  MAX_ORDER_QUANTITY,
  REFUSED_QUANTITY,
  STOCK,
  STOCK_DELTA,
  TOY_NAME,
} from '../shared/fields.ts';
import { openJsonFile, type JsonFileOptions } from '../shared/fsutil.ts';
import {
  chainFields,
  openWal,
  type RecordCodec,
  type Wal,
  type WalOptions,
} from '../shared/wal.ts';

export { LEDGER_FILE, META_FILE };

export type SignedLedgerEntry = LedgerEntry & { crc: number };

const KINDS = new Set<string>(['purchase', 'release', 'restock', 'refusal']);

/**
 * Why a ledger record cannot be written (or was not written by us), or null. Beyond each field's
 * bounds (shared/fields.ts), the kind decides the key and the sign of the change: a purchase takes
 * 1..MAX_ORDER_QUANTITY, a release gives it back, a refusal changes nothing, a restock adds and
 * belongs to no order (empty key).
 */
export function checkLedgerEntry(e: LedgerEntry & { crc?: number }): string | null {
  if (!LEDGER_SEQ.valid(e.seq)) return `seq ${e.seq} is not an integer from 0 to ${LEDGER_SEQ.max}`;
  if (!KINDS.has(e.kind)) return `unknown kind ${JSON.stringify(e.kind)}`;
  if (!EPOCH.valid(e.epoch)) return `epoch ${e.epoch} is not an integer from 0 to ${EPOCH.max}`;
  if (!STOCK_DELTA.valid(e.delta)) return `delta ${e.delta} is not a safe integer`;
  if (!STOCK.valid(e.quantityAfter))
    return `quantityAfter ${e.quantityAfter} is not a stock (0 to ${STOCK.max})`;
  if (!REFUSED_QUANTITY.valid(e.refused))
    return `refused ${e.refused} is not a quantity from 0 to ${REFUSED_QUANTITY.max}`;
  if (e.kind !== 'refusal' && e.refused !== 0) return `a ${e.kind} refuses nothing (refused 0)`;
  if (e.crc !== undefined && !CRC32.valid(e.crc)) return `crc ${e.crc} is not a crc32`;
  const name = TOY_NAME.problem(String(e.name));
  if (name) return name;
  if (e.kind === 'restock')
    return e.key !== ''
      ? 'a restock has no key'
      : e.delta > 0
        ? null
        : `a restock adds stock, not ${e.delta}`;
  const key = IDEMPOTENCY_KEY.problem(String(e.key));
  if (key) return key;
  const [lo, hi] =
    e.kind === 'purchase'
      ? [-MAX_ORDER_QUANTITY, -1]
      : e.kind === 'release'
        ? [1, MAX_ORDER_QUANTITY]
        : [0, 0];
  return e.delta >= lo && e.delta <= hi
    ? null
    : `a ${e.kind} changes stock by ${lo} to ${hi}, not ${e.delta}`;
}

const COLUMNS = [
  'seq',
  'kind',
  'key',
  'epoch',
  'name',
  'delta',
  'quantityAfter',
  'refused',
  'crc',
] as const;
/** The columns before `refused` existed; such files are still read (see the module comment). */
const COLUMNS_V1 = COLUMNS.filter((c) => c !== 'refused');
const REFUSED_AT = COLUMNS.indexOf('refused');

/**
 * A ledger record from its CSV fields, each decoded by its definition (shared/fields.ts), or what
 * is wrong with them. The rules across fields (a kind's key and sign) are `checkLedgerEntry`'s:
 * the checker decodes with this alone so that it can report those as stock violations.
 */
export function decodeLedgerFields(fields: string[]): SignedLedgerEntry | string {
  if (fields.length !== COLUMNS.length && fields.length !== COLUMNS_V1.length)
    return `expected ${COLUMNS.length} fields, found ${fields.length}`;
  // An older record has no `refused` field: read it as 0 (unknown), where the column now stands.
  const f =
    fields.length === COLUMNS.length
      ? fields
      : [...fields.slice(0, REFUSED_AT), '0', ...fields.slice(REFUSED_AT)];
  const [seq, epoch, delta, quantityAfter, refused, crc] = [
    LEDGER_SEQ.decode(f[0]),
    EPOCH.decode(f[3]),
    STOCK_DELTA.decode(f[5]),
    STOCK.decode(f[6]),
    REFUSED_QUANTITY.decode(f[7]),
    CRC32.decode(f[8]),
  ];
  if (seq === null)
    return `seq ${JSON.stringify(f[0])} is not a number from 0 to ${LEDGER_SEQ.max}`;
  if (!KINDS.has(f[1]!)) return `unknown kind ${JSON.stringify(f[1])}`;
  if (epoch === null) return `epoch ${JSON.stringify(f[3])} is not a number from 0 to ${EPOCH.max}`;
  if (delta === null) return `delta ${JSON.stringify(f[5])} is not a safe integer`;
  if (quantityAfter === null) return `quantityAfter ${JSON.stringify(f[6])} is not a stock`;
  if (refused === null) return `refused ${JSON.stringify(f[7])} is not a quantity`;
  if (crc === null) return `crc ${JSON.stringify(f[8])} is not a crc32`;
  return (
    TOY_NAME.problem(f[4]!) ?? {
      seq,
      kind: f[1] as LedgerEntry['kind'],
      key: f[2]!,
      epoch,
      name: f[4]!,
      delta,
      quantityAfter,
      refused,
      crc,
    }
  );
}

/**
 * A ledger record from its CSV fields, or what is wrong with them (fields and the rules across
 * them).
 */
function decodeLedger(f: string[]): SignedLedgerEntry | string {
  const e = decodeLedgerFields(f);
  return typeof e === 'string' ? e : (checkLedgerEntry(e) ?? e);
}

export const ledgerCodec: RecordCodec<SignedLedgerEntry> = {
  header: COLUMNS.join(','),
  olderHeaders: [COLUMNS_V1.join(',')],
  fields: (e) => [e.seq, e.kind, e.key, e.epoch, e.name, e.delta, e.quantityAfter, e.refused],
  crcOf: (e) => e.crc,
  inSequence: (e, i) => e.seq === i,
  check: checkLedgerEntry,
  decode: (f) => {
    const r = decodeLedger(f);
    return typeof r === 'string' ? null : r;
  },
  explain: (f) => {
    const r = decodeLedger(f);
    return typeof r === 'string' ? r : 'well-formed';
  },
};

/** The ledger as the store uses it; the file and the memory twin behave alike. */
export interface Ledger {
  readonly length: number;
  all(): SignedLedgerEntry[];
  slice(from: number, to: number): SignedLedgerEntry[];
  /** Signs and appends; visible at once, resolves once durable. */
  append(entries: LedgerEntry[]): Promise<void>;
  close(): Promise<void>;
}

export interface CatalogMeta {
  fenceEpoch: number;
  /** Every purchase with seq below this has a committed order or was released. */
  accountedBelowSeq: number;
}

export interface MetaFile {
  load(): CatalogMeta;
  save(meta: CatalogMeta): Promise<void>;
}

function sign(entries: LedgerEntry[], prevCrc: number): SignedLedgerEntry[] {
  let crc = prevCrc;
  return entries.map((e) => {
    crc = chainFields(crc, ledgerCodec.fields({ ...e, crc: 0 }));
    return { ...e, crc };
  });
}

class WalLedger implements Ledger {
  constructor(private readonly wal: Wal<SignedLedgerEntry>) {}
  get length() {
    return this.wal.length;
  }
  all() {
    return this.wal.slice(0, this.wal.length);
  }
  slice(from: number, to: number) {
    return this.wal.slice(from, to);
  }
  append(entries: LedgerEntry[]) {
    return this.wal.append(sign(entries, this.wal.lastCrc()));
  }
  close() {
    return this.wal.close();
  }
}

export class MemoryLedger implements Ledger {
  private readonly entries: SignedLedgerEntry[] = [];
  get length() {
    return this.entries.length;
  }
  all() {
    return [...this.entries];
  }
  slice(from: number, to: number) {
    return this.entries.slice(from, to);
  }
  async append(entries: LedgerEntry[]) {
    this.entries.push(...sign(entries, this.entries.at(-1)?.crc ?? 0));
  }
  async close() {}
}

export async function openFileLedger(dir: string, opts: WalOptions = {}): Promise<Ledger> {
  return new WalLedger(await openWal(path.join(dir, LEDGER_FILE), ledgerCodec, opts));
}

export function createMemoryMetaFile(): MetaFile {
  let meta: CatalogMeta = { ...INITIAL_CATALOG_META };
  return { load: () => ({ ...meta }), save: async (m) => void (meta = { ...m }) };
}

export const INITIAL_CATALOG_META: CatalogMeta = { fenceEpoch: 0, accountedBelowSeq: 0 };

/**
 * A meta file's values, checked against their fields; throws (the file is unreadable) on anything
 * else.
 */
export function normalizeCatalogMeta(raw: Partial<CatalogMeta>): CatalogMeta {
  const fenceEpoch = raw.fenceEpoch ?? 0;
  const accountedBelowSeq = raw.accountedBelowSeq ?? 0;
  if (!EPOCH.valid(fenceEpoch))
    throw new Error(`fenceEpoch ${JSON.stringify(fenceEpoch)} is not an epoch`);
  if (!LEDGER_SEQ.valid(accountedBelowSeq) && accountedBelowSeq !== LEDGER_SEQ.max + 1)
    throw new Error(
      `accountedBelowSeq ${JSON.stringify(accountedBelowSeq)} is not a ledger position`,
    );
  return { fenceEpoch, accountedBelowSeq };
}

/**
 * The catalog's meta file (shared/fsutil.ts openJsonFile: atomic, durable, in call order, memory
 * after disk, a failed save fatal). An unreadable one is an UnreadableFileError.
 */
export function openMetaFile(dir: string, opts: JsonFileOptions = {}): Promise<MetaFile> {
  return openJsonFile<CatalogMeta>(
    path.join(dir, META_FILE),
    INITIAL_CATALOG_META,
    normalizeCatalogMeta,
    opts,
  );
}
