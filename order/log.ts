/**
 * The order log: the interface every replica writes through, its record checksum, and the
 * in-memory twin used by tests and the simulator.
 *
 * Records are stamped with (index, epoch) and a crc32 chained to the previous record's crc, so
 * equal crcs at an index mean equal prefixes (what log matching compares) and a torn or flipped
 * byte is detectable on load. `append` changes the in-memory view at once and resolves only when
 * the records are durable; `durableIndex` says how far that is, which is what the leader counts
 * toward commit for itself.
 */
import { crc32 } from 'node:zlib';
import type { OrderEntry } from '../shared/contracts.ts';
import type { CheckedPage } from '../shared/wal.ts';
import { assertEncodes, orderFields, recordsText } from './record-codec.ts';

export interface OrderLogStore {
  lastIndex(): number;
  /** Highest index known to be on stable storage. */
  durableIndex(): number;
  entryAt(index: number): OrderEntry | undefined;
  /** crc of the record at `index`; 0 for index -1 (the empty prefix); undefined past the end. */
  crcAt(index: number): number | undefined;
  slice(fromIndex: number, toIndexExclusive: number): OrderEntry[];
  /** The index of the record holding idempotency key `key`, if the log holds one. */
  indexOfKey(key: string): number | undefined;
  /**
   * The records [from, to) as the log file holds them (record-codec.ts): what a leader sends a
   * follower that takes records as text.
   */
  text(fromIndex: number, toIndexExclusive: number): string;
  /** Appends after lastIndex(); visible at once, resolves once durable. */
  append(entries: OrderEntry[]): Promise<void>;
  /**
   * Appends a page sent as the log's text (record-codec.ts recordsOfPage), its bytes written as
   * they are; like append otherwise.
   */
  appendPage(page: CheckedPage<OrderEntry>): Promise<void>;
  /** Drops records from `index` on; visible at once, resolves once durable. */
  truncateFrom(index: number): Promise<void>;
  /** Resolves once every append and truncation made so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** The commit index recorded durably beside the log when it was opened (-1: none). */
  readonly loadedCommitIndex: number;
  /** Records that everything up to `index` is known committed (durably, soon; coalesced). */
  recordCommitIndex(index: number): void;
}

export type UnsignedEntry = Omit<OrderEntry, 'crc'>;

/**
 * The bytes a record's checksum covers: its fields joined, as shared/wal.ts chainFields sees them.
 */
export function recordContent(e: UnsignedEntry): string {
  return orderFields(e).join(',');
}

export function chainCrc(prevCrc: number, e: UnsignedEntry): number {
  return crc32(recordContent(e), prevCrc) >>> 0;
}

export function signEntry(prevCrc: number, e: UnsignedEntry): OrderEntry {
  return { ...e, crc: chainCrc(prevCrc, e) };
}

/**
 * True if `entries` continue a log whose last record is (prevIndex, prevCrc) with a valid chain.
 */
export function verifyChain(
  prevIndex: number,
  prevCrc: number,
  entries: readonly OrderEntry[],
): boolean {
  let crc = prevCrc;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index !== prevIndex + 1 + i || chainCrc(crc, e) !== e.crc) return false;
    crc = e.crc;
  }
  return true;
}

/**
 * Key -> index over an in-memory array of entries: the twins' key index (the file log keeps its
 * own, shared/wal-table.ts). Entries appended are indexed on the next lookup; a truncation must
 * be announced with `dropFrom` before it, so a key cut from the log is forgotten at once.
 */
export class EntryKeyIndex {
  private readonly byKey = new Map<string, number>();
  private indexed = 0;

  constructor(private readonly entries: () => readonly OrderEntry[]) {}

  get(key: string): number | undefined {
    const es = this.entries();
    if (es.length < this.indexed) this.dropFrom(es.length);
    for (; this.indexed < es.length; this.indexed++)
      this.byKey.set(es[this.indexed]!.key, this.indexed);
    const i = this.byKey.get(key);
    return i !== undefined && es[i]?.key === key ? i : undefined;
  }

  /** Forgets the keys of entries from `index` on (call before cutting them). */
  dropFrom(index: number): void {
    const es = this.entries();
    for (let i = index; i < this.indexed; i++) {
      const key = es[i]?.key;
      if (key !== undefined && this.byKey.get(key) === i) this.byKey.delete(key);
    }
    this.indexed = Math.min(this.indexed, index);
    if (index === 0) this.byKey.clear();
  }
}

/** The in-memory twin: the same contract with no disk; everything is durable at once. */
export class MemoryLogStore implements OrderLogStore {
  readonly entries: OrderEntry[] = [];
  /** Survives a "restart" the way the file's mark does: a new replica over this store reads it. */
  committed = -1;
  private readonly keys = new EntryKeyIndex(() => this.entries);

  constructor(initial: OrderEntry[] = []) {
    this.entries.push(...initial);
  }
  get loadedCommitIndex(): number {
    return this.committed;
  }
  recordCommitIndex(index: number): void {
    this.committed = Math.max(this.committed, index);
  }
  lastIndex(): number {
    return this.entries.length - 1;
  }
  durableIndex(): number {
    return this.entries.length - 1;
  }
  entryAt(index: number): OrderEntry | undefined {
    return this.entries[index];
  }
  crcAt(index: number): number | undefined {
    return index === -1 ? 0 : this.entries[index]?.crc;
  }
  slice(from: number, to: number): OrderEntry[] {
    return this.entries.slice(from, to);
  }
  indexOfKey(key: string): number | undefined {
    return this.keys.get(key);
  }
  text(from: number, to: number): string {
    return recordsText(this.slice(Math.max(0, from), Math.max(0, to)));
  }
  async append(entries: OrderEntry[]): Promise<void> {
    assertContinues(this, entries);
    this.entries.push(...entries);
  }
  appendPage(page: CheckedPage<OrderEntry>): Promise<void> {
    assertEncodes(page);
    return this.append([...page.records]);
  }
  async truncateFrom(index: number): Promise<void> {
    this.keys.dropFrom(Math.max(0, index));
    this.entries.length = Math.min(this.entries.length, Math.max(0, index));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/**
 * Asserts that `entries` continue the log: consecutive indexes from its end, and the first one
 * chained to its last record's crc. The chain within `entries` is their producer's to check, and
 * every producer does, once: intake signs each order (signEntry), a follower's decideAppend and a
 * new leader's adoption verify what a peer sent (verifyChain). Checking it here again cost a
 * catching-up follower a second crc of every record.
 */
export function assertContinues(log: OrderLogStore, entries: readonly OrderEntry[]): void {
  const last = log.lastIndex();
  const first = entries[0];
  let ok = first === undefined || chainCrc(log.crcAt(last) ?? 0, first) === first.crc;
  for (let i = 0; ok && i < entries.length; i++) ok = entries[i]!.index === last + 1 + i;
  if (!ok) {
    throw new Error(
      `append does not continue the log at index ${last}: broken index sequence or checksum chain`,
    );
  }
}
