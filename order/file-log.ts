/**
 * The order log on disk: one CSV file per replica (`orders.csv`, header
 * `number,epoch,name,quantity,key,crc`), kept by the shared checksummed log (shared/wal.ts) with
 * group commit, torn-tail cutting and corruption detection. This module only says what an order
 * record looks like and adapts the file to the `OrderLogStore` interface the replica uses.
 */
import path from 'node:path';
import type { OrderEntry } from '../shared/contracts.ts';
import { CorruptLogError, encodeRecord, openWal, parseWal, type RecordCodec, type Wal, type WalOptions } from '../shared/wal.ts';
import { assertContinues, type OrderLogStore } from './log.ts';

export { CorruptLogError };
export const LOG_FILE = 'orders.csv';
export const LOG_HEADER = 'number,epoch,name,quantity,key,crc\n';

const num = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : NaN);

export const orderCodec: RecordCodec<OrderEntry> = {
  header: LOG_HEADER.trimEnd(),
  // Must match recordContent() in order/log.ts: the crc covers exactly these fields.
  fields: (e) => [e.index, e.epoch, e.name, e.quantity, e.key],
  crcOf: (e) => e.crc,
  inSequence: (e, i) => e.index === i,
  decode(f) {
    if (f.length !== 6) return null;
    const [index, epoch, quantity, crc] = [num(f[0]), num(f[1]), num(f[3]), num(f[5])];
    if ([index, epoch, quantity, crc].some(Number.isNaN) || !f[2] || !f[4]) return null;
    return { index, epoch, name: f[2], quantity, key: f[4], crc };
  },
};

export type FileLogOptions = WalOptions;

/** Parses a whole log file (the checker and tests read logs this way). */
export function parseLog(file: string, content: Buffer): { entries: OrderEntry[]; offsets: number[]; validEnd: number } {
  const p = parseWal(file, content, orderCodec);
  return { entries: p.records, offsets: p.offsets, validEnd: p.validEnd };
}

export function formatRecord(e: OrderEntry): string {
  return encodeRecord(orderCodec, e);
}

export async function openFileLogStore(dir: string, opts: FileLogOptions = {}): Promise<FileLogStore> {
  return new FileLogStore(await openWal(path.join(dir, LOG_FILE), orderCodec, opts));
}

export class FileLogStore implements OrderLogStore {
  readonly loadedCommitIndex: number = -1;
  constructor(private readonly wal: Wal<OrderEntry>) {}

  recordCommitIndex(_index: number): void {}

  get file(): string {
    return this.wal.file;
  }
  lastIndex(): number {
    return this.wal.length - 1;
  }
  durableIndex(): number {
    return this.wal.durableCount - 1;
  }
  entryAt(index: number): OrderEntry | undefined {
    return this.wal.at(index);
  }
  crcAt(index: number): number | undefined {
    return index === -1 ? 0 : this.wal.at(index)?.crc;
  }
  slice(from: number, to: number): OrderEntry[] {
    return this.wal.slice(from, to);
  }
  append(entries: OrderEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    assertContinues(this, entries);
    return this.wal.append(entries);
  }
  truncateFrom(index: number): Promise<void> {
    return this.wal.truncateFrom(index);
  }
  flush(): Promise<void> {
    return this.wal.flush();
  }
  close(): Promise<void> {
    return this.wal.close();
  }
}
