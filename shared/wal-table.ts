/**
 * The records a log presents in memory (shared/wal.ts keeps one per open file), shaped for a
 * replica that opens a million-record log and must answer within a second of starting.
 *
 * Why it is shaped so:
 * - **Loaded records stay bytes.** The records read at open live on as the file's own bytes (one
 *   Buffer, outside the JS heap) with their offsets, crcs and key hashes in flat number arrays. A
 *   record becomes an object only when someone reads it (an order read, a catch-up page), and that
 *   object is not kept. A million decoded objects and a Map of a million key strings were most of
 *   a replica's start-up (their garbage collection alone a third of it) and most of its memory.
 * - **Appended records stay objects**, as their writer made them: they are few, and new.
 * - **The key index is a hash of the key's bytes** (FNV-1a, 30 bits), taken at open straight from
 *   the file's bytes, in an open-addressing table of record numbers (one Int32Array, at most half
 *   full; a Map of a million entries cost more than reading the file). A hit is confirmed by the
 *   record's hash and then its decoded key, so a collision can never answer with another key's
 *   record. A truncation leaves its slots behind: a slot naming a record past the end, or a record
 *   whose hash is not the one sought, is skipped, and the table is rebuilt from the hashes (no
 *   decoding) when live and dead slots fill half of it.
 *
 * A record read at open passed its crc and its chain (shared/wal.ts), so its bytes are what a
 * writer that checked every field wrote (Wal.append refuses a record that fails codec.check). One
 * that still fails to decode was written by something else: the table reports it to `unreadable`,
 * which stops the process (the owner's fatal path), never answering from it.
 */

export interface TableCodec<R> {
  crcOf(r: R): number;
  /** The record's key, for logs that look records up by key (the order log's idempotency key). */
  keyOf?(r: R): string;
}

/** What the scan at open hands over: records as bytes (`loaded`) and/or as objects. */
export interface LoadedRecords<R> {
  /** The file's bytes; records [0, count) start at `offsets` and end at the next start or `end`. */
  bytes: Buffer;
  end: number;
  offsets: number[];
  crcs: number[];
  /** Key hashes per record (empty when the codec has no key). */
  hashes: number[];
  /**
   * Records the scan decoded anyway (quoted ones, or every one for a codec without a layout), by
   * index.
   */
  decoded: Map<number, R>;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const HASH_MASK = 0x3fff_ffff;

/** FNV-1a of bytes [from, to) of `buf`, in 30 bits. */
export function hashKeyBytes(buf: Buffer, from: number, to: number): number {
  let h = FNV_OFFSET;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return (h & HASH_MASK) >>> 0;
}

/** The same hash of a key string's UTF-8 bytes (keys are visible ASCII: one byte per character). */
export function hashKeyString(key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) {
      const b = Buffer.from(key, 'utf8');
      return hashKeyBytes(b, 0, b.length);
    }
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return (h & HASH_MASK) >>> 0;
}

export class RecordTable<R> {
  /** Records [0, loadedCount) are read from `bytes`; the rest are `later`. */
  private loadedCount: number;
  /** Where loaded record `loadedCount - 1` ends. */
  private loadedEnd: number;
  private readonly bytes: Buffer;
  private readonly decoded: Map<number, R>;
  private readonly later: R[] = [];
  private readonly offsets: number[];
  private readonly crcs: number[];
  private readonly hashes: number[];
  private readonly keys: KeyTable | null;

  constructor(
    private readonly codec: TableCodec<R>,
    loaded: LoadedRecords<R>,
    /** Decodes the text of one record (without its newline); null if it does not decode. */
    private readonly decodeText: (text: string) => R | null,
    private readonly unreadable: (index: number, text: string) => never,
  ) {
    this.bytes = loaded.bytes;
    this.loadedEnd = loaded.end;
    this.offsets = loaded.offsets;
    this.crcs = loaded.crcs;
    this.hashes = loaded.hashes;
    this.decoded = loaded.decoded;
    this.loadedCount = loaded.offsets.length;
    this.keys = codec.keyOf ? new KeyTable(this.hashes) : null;
  }

  get length(): number {
    return this.offsets.length;
  }

  at(i: number): R | undefined {
    if (!(i >= 0 && i < this.offsets.length)) return undefined;
    if (i >= this.loadedCount) return this.later[i - this.loadedCount];
    const kept = this.decoded.get(i);
    if (kept !== undefined) return kept;
    const end = i + 1 < this.loadedCount ? this.offsets[i + 1]! : this.loadedEnd;
    const text = this.bytes.toString('utf8', this.offsets[i]!, end - 1);
    return this.decodeText(text) ?? this.unreadable(i, text);
  }

  slice(from: number, to: number): R[] {
    const out: R[] = [];
    const end = Math.min(to, this.offsets.length);
    for (let i = Math.max(0, from); i < end; i++) out.push(this.at(i)!);
    return out;
  }

  /** How many records (from the first) are held as the bytes read at open. */
  get loadedLength(): number {
    return this.loadedCount;
  }

  /** The text of loaded records [from, to), as the file holds them (from <= to <= loadedLength). */
  loadedText(from: number, to: number): string {
    if (!(from >= 0 && from <= to && to <= this.loadedCount))
      throw new RangeError(`records [${from}, ${to}) are not all loaded (${this.loadedCount})`);
    const end = to < this.loadedCount ? this.offsets[to]! : this.loadedEnd;
    return from === to ? '' : this.bytes.toString('utf8', this.offsets[from]!, end);
  }

  crcAt(i: number): number | undefined {
    return this.crcs[i];
  }

  offsetOf(i: number): number | undefined {
    return this.offsets[i];
  }

  push(r: R, offset: number): void {
    const i = this.offsets.length;
    this.offsets.push(offset);
    this.crcs.push(this.codec.crcOf(r));
    this.later.push(r);
    if (this.codec.keyOf) {
      this.hashes.push(hashKeyString(this.codec.keyOf(r)));
      this.keys!.add(i);
    }
  }

  /** Drops records from `keep` on. */
  truncate(keep: number): void {
    if (keep >= this.offsets.length) return;
    if (keep < this.loadedCount) {
      this.loadedEnd = this.offsets[keep]!;
      this.loadedCount = keep;
      for (const i of this.decoded.keys()) if (i >= keep) this.decoded.delete(i);
      this.later.length = 0;
    } else {
      this.later.length = keep - this.loadedCount;
    }
    this.offsets.length = keep;
    this.crcs.length = keep;
    this.hashes.length = Math.min(this.hashes.length, keep);
  }

  /** The index of the record holding `key`, if any (codecs with a key only). */
  indexOfKey(key: string): number | undefined {
    const keyOf = this.codec.keyOf;
    if (!keyOf || !this.keys) return undefined;
    return this.keys.find(
      hashKeyString(key),
      this.offsets.length,
      (i) => keyOf(this.at(i)!) === key,
    );
  }
}

/**
 * Record numbers by key hash: linear probing over an Int32Array of (record number + 1), 0 empty.
 */
class KeyTable {
  private slots = new Int32Array(16);
  private mask = 15;
  /** Occupied slots, live or left behind by a truncation. */
  private used = 0;

  constructor(private readonly hashes: readonly number[]) {
    this.rebuild();
  }

  /** Indexes record `i`, whose hash is already in `hashes`. */
  add(i: number): void {
    if ((this.used + 1) * 2 > this.slots.length) this.rebuild();
    else this.place(i);
  }

  find(h: number, length: number, matches: (i: number) => boolean): number | undefined {
    for (let s = h & this.mask; this.slots[s] !== 0; s = (s + 1) & this.mask) {
      const i = this.slots[s]! - 1;
      if (i < length && this.hashes[i] === h && matches(i)) return i;
    }
    return undefined;
  }

  private place(i: number): void {
    if (i >= 0x7fff_ffff)
      throw new RangeError(`record ${i}: the key table holds at most 2^31 - 1 records`);
    let s = this.hashes[i]! & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.slots[s] = i + 1;
    this.used++;
  }

  /** A table at most half full of the records there are now (dead slots dropped). */
  private rebuild(): void {
    const n = this.hashes.length;
    let size = 16;
    while (size < 2 * n + 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    this.used = 0;
    for (let i = 0; i < n; i++) this.place(i);
  }
}
