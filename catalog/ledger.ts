/**
 * The catalog's durable record of every stock change, and its small meta file.
 *
 * The ledger (`ledger.csv`, header `seq,kind,key,epoch,name,delta,quantityAfter,crc`) is the
 * source of truth: stock, the outcome of every purchase key and the epoch fence are rebuilt from
 * it on start, and it gets the same crash treatment as the order log (shared/wal.ts). The meta
 * file holds what is not a stock change: the highest leader epoch the catalog was told about (a
 * fence) and the ledger position up to which leaders have accounted for every purchase.
 */
import path from 'node:path';
import type { LedgerEntry } from '../shared/contracts.ts';
import { openJsonFile } from '../shared/fsutil.ts';
import { chainFields, openWal, type RecordCodec, type Wal, type WalOptions } from '../shared/wal.ts';

export const LEDGER_FILE = 'ledger.csv';
export const META_FILE = 'meta.json';

export type SignedLedgerEntry = LedgerEntry & { crc: number };

const KINDS = new Set(['purchase', 'release', 'restock', 'refusal']);
const int = (s: string | undefined) => (s !== undefined && /^-?\d{1,15}$/.test(s) ? Number(s) : NaN);

export const ledgerCodec: RecordCodec<SignedLedgerEntry> = {
  header: 'seq,kind,key,epoch,name,delta,quantityAfter,crc',
  fields: (e) => [e.seq, e.kind, e.key, e.epoch, e.name, e.delta, e.quantityAfter],
  crcOf: (e) => e.crc,
  inSequence: (e, i) => e.seq === i,
  decode(f) {
    if (f.length !== 8 || !KINDS.has(f[1]!) || !f[4]) return null;
    const [seq, epoch, delta, quantityAfter, crc] = [int(f[0]), int(f[3]), int(f[5]), int(f[6]), int(f[7])];
    if ([seq, epoch, delta, quantityAfter, crc].some(Number.isNaN) || seq < 0 || quantityAfter < 0 || crc < 0) return null;
    return { seq, kind: f[1] as LedgerEntry['kind'], key: f[2]!, epoch, name: f[4]!, delta, quantityAfter, crc };
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
  let meta: CatalogMeta = { fenceEpoch: 0, accountedBelowSeq: 0 };
  return { load: () => ({ ...meta }), save: async (m) => void (meta = { ...m }) };
}

/** The catalog's meta file (shared/fsutil.ts openJsonFile: atomic, durable, in call order). */
export function openMetaFile(dir: string): Promise<MetaFile> {
  return openJsonFile<CatalogMeta>(path.join(dir, META_FILE), { fenceEpoch: 0, accountedBelowSeq: 0 }, (raw) => ({
    fenceEpoch: Number(raw.fenceEpoch ?? 0),
    accountedBelowSeq: Number(raw.accountedBelowSeq ?? 0),
  }));
}
