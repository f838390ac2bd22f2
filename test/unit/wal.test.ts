/**
 * The shared log file (shared/wal.ts) under faults: what a torn write, a damaged record and a
 * lost suffix look like on open, and the durable watermark (`<file>.mark`) that tells them apart.
 *
 * Stories: a key with a newline, written quoted, poisoned every later record because the reader
 * split lines before CSV-decoding; a complete bad last record was cut as if torn (on the catalog
 * that erased an acknowledged purchase); a log cut back at a record boundary looked like a
 * shorter, healthy log. Each now reads back, is corruption, or is lost records.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrderEntry } from '../../shared/contracts.ts';
import { LOG_FILE, openFileLogStore, type FileLogStore } from '../../order/file-log.ts';
import { formatRecord, LOG_HEADER, orderCodec } from '../../order/record-codec.ts';
import { signEntry } from '../../order/log.ts';
import {
  CorruptLogError,
  LostRecordsError,
  MARK_SUFFIX,
  keepValidPrefix,
  openWal,
  parseWal,
  writeMarkFor,
  type RecordCodec,
} from '../../shared/wal.ts';
import { decodeMark, encodeMark, MARK_BYTES } from '../../shared/wal-mark.ts';

let dir: string;
let opened: FileLogStore[] = [];
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-wal-'));
});
afterEach(async () => {
  await Promise.allSettled(opened.map((l) => l.close()));
  opened = [];
  await fs.rm(dir, { recursive: true, force: true });
});

const noFatal = (what: string, err: unknown): never => {
  throw new Error(`unexpected fatal: ${what}: ${String(err)}`);
};
const logPath = () => path.join(dir, LOG_FILE);
const markPath = () => `${logPath()}${MARK_SUFFIX}`;
const readMarkNow = async () => decodeMark(await fs.readFile(markPath()));

async function open(): Promise<FileLogStore> {
  const log = await openFileLogStore(dir, { onFatal: noFatal });
  opened.push(log);
  return log;
}
async function close(log: FileLogStore): Promise<void> {
  await log.close();
  opened = opened.filter((l) => l !== log);
}
async function openError(): Promise<unknown> {
  return openFileLogStore(dir, { onFatal: noFatal }).then(
    (log) => {
      opened.push(log);
      return null;
    },
    (e: unknown) => e,
  );
}

function chain(
  n: number,
  opts: {
    from?: number;
    prevCrc?: number;
    key?: (i: number) => string;
    name?: (i: number) => string;
  } = {},
): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = opts.prevCrc ?? 0;
  for (let i = opts.from ?? 0; out.length < n; i++) {
    const e = signEntry(crc, {
      index: i,
      epoch: 1,
      name: opts.name?.(i) ?? 'Tux',
      quantity: 1,
      key: opts.key?.(i) ?? `k-${i}`,
    });
    out.push(e);
    crc = e.crc;
  }
  return out;
}

describe('the reader reads back whatever the writer writes', () => {
  /** A codec that accepts any key, as the order codec did before keys were bounded. */
  const permissive: RecordCodec<OrderEntry> = {
    ...orderCodec,
    check: () => null,
    decode: (f) =>
      f.length === 6
        ? {
            index: Number(f[0]),
            epoch: Number(f[1]),
            name: f[2]!,
            quantity: Number(f[3]),
            key: f[4]!,
            crc: Number(f[5]),
          }
        : null,
  };

  it('a record whose key holds a newline (quoted by the writer) reads back whole, and so do the records after it', async () => {
    const entries = chain(4, { key: (i) => (i === 1 ? 'line one\nline "two", three' : `k-${i}`) });
    const wal = await openWal(logPath(), permissive, { onFatal: noFatal });
    await wal.append(entries);
    await wal.close();
    const content = await fs.readFile(logPath());
    expect(content.toString()).toContain('"line one\nline ""two"", three"');
    const parsed = parseWal(logPath(), content, permissive);
    expect(parsed.records).toEqual(entries);
    expect(parsed.validEnd).toBe(content.length);
    const again = await openWal(logPath(), permissive, { onFatal: noFatal });
    expect(again.slice(0, 10)).toEqual(entries);
    await again.close();
  });

  it('a multi-line record torn before its end is a torn tail; one whose quote never closes before a newline at the end of the file is corruption', () => {
    const entries = chain(2);
    const base = LOG_HEADER + entries.map(formatRecord).join('');
    const torn = Buffer.from(`${base}2,1,Tux,1,"half a key\nand no end`);
    expect(parseWal('orders.csv', torn, permissive).validEnd).toBe(Buffer.byteLength(base));
    const unclosed = Buffer.from(`${base}2,1,Tux,1,"never closed\n`);
    expect(() => parseWal('orders.csv', unclosed, permissive)).toThrow(CorruptLogError);
  });

  it('a stray quote mid-file is corruption, not a torn tail swallowing the records after it', () => {
    const entries = chain(5);
    const lines = entries.map(formatRecord);
    lines[1] = lines[1]!.replace('Tux', 'T"x');
    const content = Buffer.from(`${LOG_HEADER}${lines.join('')}5,1,Tu`);
    const err = (() => {
      try {
        parseWal('orders.csv', content, orderCodec);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as CorruptLogError).lineNumber).toBe(3);
    expect((err as CorruptLogError).validRecords).toBe(1);
  });
});

describe('torn versus corrupt: only an incomplete last line is torn', () => {
  it('a complete last record with a bad checksum is corruption, named with its line, its position and what is wrong', async () => {
    const log = await open();
    const entries = chain(3);
    await log.append(entries);
    await close(log);
    const text = await fs.readFile(logPath(), 'utf8');
    await fs.writeFile(
      logPath(),
      text.replace(/,k-2,(\d+)\n$/, (_m, crc) => `,k-2,${(Number(crc) ^ 1) >>> 0}\n`),
    );
    const err = await openError();
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(err).toMatchObject({
      lineNumber: 4,
      validRecords: 2,
      detail: 'checksum mismatch',
      code: 'corrupt_log',
    });
    expect((await fs.readdir(dir)).some((f) => f.includes('.torn-'))).toBe(false);
  });

  it('a complete last record with an unparseable field says which field', async () => {
    const log = await open();
    await log.append(chain(2));
    await close(log);
    await fs.appendFile(logPath(), '2,1,Tux,zero,k-2,5\n');
    expect(await openError()).toMatchObject({
      lineNumber: 4,
      detail: 'quantity "zero" is not a number from 1 to 10000',
    });
  });
});

describe('the durable watermark', () => {
  it('a new log gets its mark at creation, and every append resolves only once the mark covers it', async () => {
    const log = await open();
    expect(await readMarkNow()).toEqual({
      records: 0,
      bytes: LOG_HEADER.length,
      lastCrc: 0,
      aux: -1,
    });
    const entries = chain(30);
    const seen: number[] = [];
    await Promise.all(
      entries.map((e) =>
        log.append([e]).then(async () => seen.push((await readMarkNow())!.records - 1 - e.index)),
      ),
    );
    // When each waiter ran, the mark on disk already covered its record.
    expect(seen.every((d) => d >= 0)).toBe(true);
    expect(await readMarkNow()).toEqual({
      records: 30,
      bytes: (await fs.stat(logPath())).size,
      lastCrc: entries[29]!.crc,
      aux: -1,
    });
    expect(MARK_BYTES).toBe((await fs.stat(markPath())).size);
  });

  it('a log cut back at a record boundary, its mark kept, is lost records: what the mark claimed and what the file holds', async () => {
    const log = await open();
    const entries = chain(5);
    await log.append(entries);
    await close(log);
    const content = await fs.readFile(logPath());
    const cutAt = Buffer.byteLength(LOG_HEADER + entries.slice(0, 3).map(formatRecord).join(''));
    await fs.writeFile(logPath(), content.subarray(0, cutAt));
    const err = await openError();
    expect(err).toBeInstanceOf(LostRecordsError);
    expect(err).toMatchObject({
      code: 'lost_records',
      markRecords: 5,
      validRecords: 3,
      validPrefixBytes: cutAt,
    });
    expect((err as Error).message).toMatch(/holds 3 valid records, its mark says 5/);
    // Nothing was touched: the evidence stays for the repair.
    expect((await fs.readFile(logPath())).length).toBe(cutAt);
    expect((await readMarkNow())!.records).toBe(5);
  });

  it('a different record where the mark ends is lost records, though the file is as long', async () => {
    const log = await open();
    await log.append(chain(3));
    await close(log);
    const other = chain(3, { key: (i) => `other-${i}` });
    await fs.writeFile(logPath(), LOG_HEADER + other.map(formatRecord).join(''));
    expect(await openError()).toMatchObject({ name: 'LostRecordsError', validRecords: 3 });
  });

  it('records with no mark beside them, or an unreadable one, are lost records; a deleted log with its mark too', async () => {
    const log = await open();
    await log.append(chain(2));
    await close(log);
    const good = await fs.readFile(markPath());
    await fs.writeFile(markPath(), Buffer.from(good).fill(0x20, 20, 30));
    expect(await openError()).toMatchObject({
      name: 'LostRecordsError',
      mark: null,
      validRecords: 2,
    });
    await fs.rm(markPath());
    expect(((await openError()) as Error).message).toMatch(/no mark beside 2 records/);
    await fs.writeFile(markPath(), good);
    await fs.rm(logPath());
    expect(((await openError()) as Error).message).toMatch(
      /file is missing, its mark says 2 records/,
    );
  });

  it('records past the mark (a crash between the fdatasync and the mark write) are kept and the mark catches up', async () => {
    const log = await open();
    const entries = chain(4);
    await log.append(entries.slice(0, 2));
    await close(log);
    await fs.appendFile(logPath(), entries.slice(2).map(formatRecord).join(''));
    const again = await open();
    expect(again.slice(0, 10)).toEqual(entries);
    expect(again.durableIndex()).toBe(3);
    expect((await readMarkNow())!.records).toBe(4);
  });

  it('a truncation lowers the mark before it cuts, so a reopened log is never short of its mark', async () => {
    const log = await open();
    const entries = chain(6);
    await log.append(entries);
    await log.truncateFrom(2);
    expect(await readMarkNow()).toMatchObject({ records: 2, lastCrc: entries[1]!.crc });
    const fresh = chain(2, { from: 2, prevCrc: entries[1]!.crc, key: (i) => `new-${i}` });
    await log.append(fresh);
    await close(log);
    const again = await open();
    expect(again.slice(0, 10)).toEqual([...entries.slice(0, 2), ...fresh]);
  });

  it('a truncation queued behind an append in flight: the mark never names a record that is not on disk', async () => {
    const log = await open();
    const old = chain(5, { key: (i) => `old-${i}` });
    const first = log.append(old);
    const cut = log.truncateFrom(1);
    const fresh = chain(3, { from: 1, prevCrc: old[0]!.crc, key: (i) => `new-${i}` });
    const second = log.append(fresh);
    await first;
    // The old batch is on disk, but only record 0 of it is still in the log.
    expect((await readMarkNow())!.records).toBeLessThanOrEqual(1);
    await Promise.all([cut, second]);
    expect(await readMarkNow()).toMatchObject({ records: 4, lastCrc: fresh[2]!.crc });
    await close(log);
    expect((await open()).slice(0, 10)).toEqual([old[0], ...fresh]);
  });

  it('the commit index kept in the mark survives reopening; updates coalesce', async () => {
    const log = await open();
    expect(log.loadedCommitIndex).toBe(-1);
    await log.append(chain(3));
    for (const i of [0, 1, 2, 1, 7]) log.recordCommitIndex(i);
    await log.flush();
    // Never lowered, and never ahead of the records this log holds durably.
    expect((await readMarkNow())!.aux).toBe(2);
    await close(log);
    const again = await open();
    expect(again.loadedCommitIndex).toBe(2);
    expect(() => again.recordCommitIndex(-2)).toThrow(RangeError);
  });

  it('a mark is one fixed-width checksummed line; a flipped byte makes it unreadable, not wrong', () => {
    const m = { records: 12, bytes: 3456, lastCrc: 0xdeadbeef, aux: -1 };
    const bytes = encodeMark(m);
    expect(bytes.length).toBe(MARK_BYTES);
    expect(decodeMark(bytes)).toEqual(m);
    expect(
      encodeMark({
        records: Number.MAX_SAFE_INTEGER,
        bytes: Number.MAX_SAFE_INTEGER,
        lastCrc: 0xffff_ffff,
        aux: Number.MAX_SAFE_INTEGER,
      }).length,
    ).toBe(MARK_BYTES);
    const flipped = Buffer.from(bytes);
    flipped[30] = flipped[30]! ^ 0x01;
    expect(decodeMark(flipped)).toBeNull();
    expect(decodeMark(bytes.subarray(0, MARK_BYTES - 1))).toBeNull();
  });
});

describe('repairing down to the valid prefix', () => {
  it('after corruption: a copy is kept, the mark lowered, the prefix reopens, and the commit index is kept', async () => {
    const log = await open();
    const entries = chain(4);
    await log.append(entries);
    log.recordCommitIndex(3);
    await log.flush();
    await close(log);
    const text = await fs.readFile(logPath(), 'utf8');
    await fs.writeFile(logPath(), text.replace(',k-1,', ',k-x,'));
    const err = (await openError()) as CorruptLogError;
    expect(err).toBeInstanceOf(CorruptLogError);
    const kept = await keepValidPrefix(logPath(), err);
    expect(kept).toMatchObject({ keptRecords: 1 });
    expect(await fs.readFile(kept.movedTo!, 'utf8')).toBe(text.replace(',k-1,', ',k-x,'));
    const again = await open();
    expect(again.slice(0, 10)).toEqual(entries.slice(0, 1));
    expect(again.loadedCommitIndex).toBe(3);
  });

  it('after lost records: the mark comes down to what the file holds', async () => {
    const log = await open();
    await log.append(chain(3));
    await close(log);
    await fs.rm(markPath());
    const err = (await openError()) as LostRecordsError;
    await keepValidPrefix(logPath(), err);
    expect((await open()).lastIndex()).toBe(2);
  });

  it('writeMarkFor vouches for a log written by other means, and refuses a damaged one', async () => {
    const entries = chain(3);
    await fs.writeFile(logPath(), LOG_HEADER + entries.map(formatRecord).join(''));
    expect(await writeMarkFor(logPath(), orderCodec)).toMatchObject({
      records: 3,
      lastCrc: entries[2]!.crc,
    });
    expect((await open()).lastIndex()).toBe(2);
    await fs.writeFile(logPath(), `${LOG_HEADER}garbage\n`);
    await expect(writeMarkFor(logPath(), orderCodec)).rejects.toThrow(CorruptLogError);
  });
});
