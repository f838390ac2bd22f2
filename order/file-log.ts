/**
 * The order log on disk: one CSV file per replica (`orders.csv`, header
 * `number,epoch,name,quantity,key,crc`), kept by the shared checksummed log (shared/wal.ts) with
 * group commit, a durable watermark (`orders.csv.mark`), torn-tail cutting and corruption and
 * lost-record detection. This module only says what an order record looks like (every field's
 * bounds from shared/fields.ts, the same the wire schemas use) and adapts the file to the
 * `OrderLogStore` interface the replica uses. The mark's aux holds the replica's commit index.
 */
import path from 'node:path';
import type { OrderEntry } from '../shared/contracts.ts';
import { ORDER_LOG_FILE } from '../shared/data-dir.ts';
import { LOG_POSITION } from '../shared/fields.ts';
import {
  CorruptLogError,
  type CheckedPage,
  LostRecordsError,
  NO_AUX,
  openWal,
  parseWal,
  type Wal,
  type WalOptions,
} from '../shared/wal.ts';
import { assertContinues, type OrderLogStore } from './log.ts';
import { orderCodec } from './record-codec.ts';

export { CorruptLogError, LostRecordsError };
export const LOG_FILE = ORDER_LOG_FILE;

export type FileLogOptions = WalOptions;

/** Parses a whole log file (the checker and tests read logs this way). */
export function parseLog(
  file: string,
  content: Buffer,
): { entries: OrderEntry[]; offsets: number[]; validEnd: number } {
  const p = parseWal(file, content, orderCodec);
  return { entries: p.records, offsets: p.offsets, validEnd: p.validEnd };
}

/**
 * Opens (or creates) the log in `dir`. Damage is a named error and leaves the files untouched:
 * `CorruptLogError` (a record fails its checks) or `LostRecordsError` (fewer records than the
 * mark says were durable, or no mark beside records). `keepValidPrefix` (shared/wal.ts) repairs
 * either down to the valid prefix.
 */
export async function openFileLogStore(
  dir: string,
  opts: FileLogOptions = {},
): Promise<FileLogStore> {
  // The mark is fdatasynced only after the data ('after-data', the default): with both at once, a
  // power loss in between leaves the mark ahead, the replica must be rebuilt from its peers, and
  // two replicas losing power together leave no quorum of intact ones to lead (shared/wal.ts).
  return new FileLogStore(await openWal(path.join(dir, LOG_FILE), orderCodec, opts));
}

export class FileLogStore implements OrderLogStore {
  /** The highest commit index handed to the mark so far (it never goes down). */
  private recordedCommitIndex: number;

  constructor(private readonly wal: Wal<OrderEntry>) {
    this.recordedCommitIndex = this.loadedCommitIndex;
  }

  get file(): string {
    return this.wal.file;
  }
  /** The commit index the mark held when the log was opened; -1 if none was ever recorded. */
  get loadedCommitIndex(): number {
    return this.wal.loadedAux === NO_AUX ? -1 : this.wal.loadedAux;
  }
  /**
   * Keeps `index` as the known commit index in the mark, with the next mark write (coalesced;
   * `flush` waits for it). Capped at what this log holds durably, like the twins, and never
   * lowered: a commit index that lags is safe, one ahead of the log's own records is not recorded.
   */
  recordCommitIndex(index: number): void {
    if (!LOG_POSITION.valid(index))
      throw new RangeError(`commit index ${index} is not an index or -1`);
    const capped = Math.min(index, this.durableIndex());
    if (capped <= this.recordedCommitIndex) return;
    this.recordedCommitIndex = capped;
    // A closed log records nothing more; the mark keeps the last value that made it.
    this.wal.setAux(capped).catch(() => {});
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
    return index === -1 ? 0 : this.wal.crcAt(index);
  }
  indexOfKey(key: string): number | undefined {
    return this.wal.indexOfKey(key);
  }
  slice(from: number, to: number): OrderEntry[] {
    return this.wal.slice(from, to);
  }
  append(entries: OrderEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    assertContinues(this, entries);
    return this.wal.append(entries);
  }
  appendPage(page: CheckedPage<OrderEntry>): Promise<void> {
    assertContinues(this, page.records);
    return this.wal.appendPage(page);
  }
  text(from: number, to: number): string {
    return this.wal.text(from, to);
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
