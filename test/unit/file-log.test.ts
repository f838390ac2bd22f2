/**
 * The order log on disk (order/file-log.ts): what survives reopening, group commit, truncation,
 * and how a damaged file is told apart — a torn tail (cut, copy kept) from corruption (refused).
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrderEntry } from '../../shared/contracts.ts';
import {
  CorruptLogError,
  LOG_FILE,
  openFileLogStore,
  parseLog,
  type FileLogOptions,
  type FileLogStore,
} from '../../order/file-log.ts';
import {
  formatRecord,
  LOG_HEADER,
  orderCodec,
  recordsOfPage,
  recordsText,
} from '../../order/record-codec.ts';
import { chainCrc, signEntry } from '../../order/log.ts';
import { hashKeyString } from '../../shared/wal-table.ts';
import { writeMarkFor } from '../../shared/wal.ts';
import { decodeMark } from '../../shared/wal-mark.ts';

let dir: string;
let opened: FileLogStore[] = [];

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-file-log-'));
});

afterEach(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  opened = [];
  await fs.rm(dir, { recursive: true, force: true });
});

/** A test never lets a write failure exit the process: it fails loudly instead. */
const failOnFatal: FileLogOptions['onFatal'] = (what, err) => {
  throw new Error(`unexpected fatal durability error: ${what}: ${String(err)}`);
};

async function open(opts: FileLogOptions = {}): Promise<FileLogStore> {
  const log = await openFileLogStore(dir, { onFatal: failOnFatal, ...opts });
  opened.push(log);
  return log;
}

async function reopen(log: FileLogStore, opts: FileLogOptions = {}): Promise<FileLogStore> {
  await log.close();
  opened = opened.filter((s) => s !== log);
  return open(opts);
}

/** `n` records continuing a log whose last record is (startIndex - 1, prevCrc). */
function records(
  n: number,
  opts: { startIndex?: number; prevCrc?: number; epoch?: number; name?: string; tag?: string } = {},
): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = opts.prevCrc ?? 0;
  const start = opts.startIndex ?? 0;
  for (let i = 0; i < n; i++) {
    const index = start + i;
    const e = signEntry(crc, {
      index,
      epoch: opts.epoch ?? 1,
      name: opts.name ?? (index % 2 ? 'Lego' : 'Tux'),
      quantity: 1 + (index % 5),
      key: `${opts.tag ?? 'k'}-${index}`,
    });
    out.push(e);
    crc = e.crc;
  }
  return out;
}

const logPath = () => path.join(dir, LOG_FILE);
const readLogBytes = () => fs.readFile(logPath());
const readLogText = () => fs.readFile(logPath(), 'utf8');
const expectedFile = (entries: OrderEntry[]) => LOG_HEADER + entries.map(formatRecord).join('');

async function tornCopies(): Promise<string[]> {
  return (await fs.readdir(dir)).filter((f) => f.startsWith(`${LOG_FILE}.torn-`));
}

/**
 * Writes a log file directly, bypassing the store: header + records, with a mark saying those
 * records are durable (what the store leaves), then a raw tail the mark does not cover (what a
 * crash or a fault adds).
 */
async function writeRawLog(entries: OrderEntry[], tail: Buffer | string = ''): Promise<void> {
  await fs.writeFile(logPath(), expectedFile(entries));
  await writeMarkFor(logPath(), orderCodec);
  await fs.appendFile(logPath(), Buffer.from(tail));
}

describe('opening', () => {
  it('a new directory gets a log holding only the header', async () => {
    const log = await open();
    expect(log.lastIndex()).toBe(-1);
    expect(log.durableIndex()).toBe(-1);
    expect(log.crcAt(-1)).toBe(0);
    expect(log.crcAt(0)).toBeUndefined();
    expect(await readLogText()).toBe(LOG_HEADER);
  });

  it('creates missing parent directories', async () => {
    const nested = path.join(dir, 'a', 'b');
    const log = await openFileLogStore(nested, { onFatal: failOnFatal });
    opened.push(log);
    expect(await fs.readFile(path.join(nested, LOG_FILE), 'utf8')).toBe(LOG_HEADER);
  });
});

describe('appending', () => {
  it('appended records survive reopening with identical content', async () => {
    let log = await open();
    const all = records(5);
    await log.append(all.slice(0, 2));
    await log.append(all.slice(2));
    expect(log.lastIndex()).toBe(4);
    expect(log.durableIndex()).toBe(4);
    log = await reopen(log);
    expect(log.lastIndex()).toBe(4);
    expect(log.slice(0, 5)).toEqual(all);
    expect(log.crcAt(4)).toBe(all[4]!.crc);
    expect(await readLogText()).toBe(expectedFile(all));
  });

  it('an append is visible at once, before it is durable', async () => {
    const log = await open();
    const [e] = records(1);
    const done = log.append([e!]);
    expect(log.lastIndex()).toBe(0);
    expect(log.entryAt(0)).toEqual(e);
    await done;
    expect(log.durableIndex()).toBe(0);
  });

  it('an append that does not continue the chain is refused and leaves the log unchanged', async () => {
    let log = await open();
    const all = records(3);
    await log.append(all.slice(0, 2));
    // Skips index 2.
    const gap = records(1, { startIndex: 3, prevCrc: all[2]!.crc });
    await expect((async () => log.append(gap))()).rejects.toThrow(/does not continue/);
    // Right index, wrong previous checksum.
    const badCrc = records(1, { startIndex: 2, prevCrc: 12345 });
    await expect((async () => log.append(badCrc))()).rejects.toThrow(/does not continue/);
    // Restarts from 0 on a non-empty log.
    await expect((async () => log.append(records(1)))()).rejects.toThrow(/does not continue/);
    // Continues at first, then skips an index inside the batch.
    const holed = [all[2]!, ...records(1, { startIndex: 4, prevCrc: all[2]!.crc })];
    await expect((async () => log.append(holed))()).rejects.toThrow(/does not continue/);
    expect(log.lastIndex()).toBe(1);
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual(all.slice(0, 2));
  });

  it('an empty append resolves and writes nothing', async () => {
    const log = await open();
    await log.append([]);
    expect(log.lastIndex()).toBe(-1);
    expect(await readLogText()).toBe(LOG_HEADER);
  });

  it('200 appends started without awaiting are all durable and in order after reopen', async () => {
    let log = await open();
    const all = records(200);
    const waits = all.map((e) => log.append([e]));
    expect(log.lastIndex()).toBe(199);
    await Promise.all(waits);
    expect(log.durableIndex()).toBe(199);
    log = await reopen(log);
    expect(log.lastIndex()).toBe(199);
    expect(log.slice(0, 200)).toEqual(all);
    const text = await readLogText();
    expect(text.split('\n').filter(Boolean)).toHaveLength(201);
    expect(text).toBe(expectedFile(all));
  });

  it('group commit: every waiter resolves, in append order, with its record durable when it does', async () => {
    const log = await open();
    const all = records(50);
    const resolved: number[] = [];
    const durableAtResolve: number[] = [];
    await Promise.all(
      all.map((e) =>
        log.append([e]).then(() => {
          resolved.push(e.index);
          durableAtResolve.push(log.durableIndex());
        }),
      ),
    );
    expect(resolved).toEqual(all.map((e) => e.index));
    for (let i = 0; i < resolved.length; i++)
      expect(durableAtResolve[i]).toBeGreaterThanOrEqual(resolved[i]!);
    const lines = (await readLogText()).split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(1, -1)).toHaveLength(50);
  });

  it('close waits for appends that were queued but not awaited', async () => {
    let log = await open();
    const all = records(20);
    for (const e of all) void log.append([e]);
    log = await reopen(log);
    expect(log.slice(0, 20)).toEqual(all);
  });

  it('after close, append rejects', async () => {
    const log = await open();
    await log.close();
    opened = opened.filter((s) => s !== log);
    await expect(log.append(records(1))).rejects.toThrow(/closed/);
    expect(await readLogText()).toBe(LOG_HEADER);
  });
});

describe('names in the CSV', () => {
  it('a name with a comma or quote round-trips through the CSV', async () => {
    let log = await open();
    const name = `Rubik's "Cube", deluxe`;
    const a = signEntry(0, { index: 0, epoch: 1, name: 'Tux', quantity: 1, key: 'k-0' });
    const b = signEntry(a.crc, { index: 1, epoch: 1, name, quantity: 2, key: 'k-1' });
    const c = signEntry(b.crc, { index: 2, epoch: 1, name: 'Lego', quantity: 1, key: 'k-2' });
    const all = [a, b, c];
    await log.append(all);
    log = await reopen(log);
    expect(log.lastIndex()).toBe(2);
    expect(log.entryAt(1)!.name).toBe(name);
    expect(log.slice(0, 3)).toEqual(all);
  });

  it('offsets are bytes, not characters: truncating after a multi-byte name cuts at the right place', async () => {
    let log = await open();
    const a = signEntry(0, {
      index: 0,
      epoch: 1,
      name: 'Ourson en peluche ñandú 🧸',
      quantity: 1,
      key: 'a',
    });
    const b = signEntry(a.crc, { index: 1, epoch: 1, name: 'Tux', quantity: 2, key: 'b' });
    const c = signEntry(b.crc, { index: 2, epoch: 1, name: 'Lego', quantity: 3, key: 'c' });
    await log.append([a, b, c]);
    await log.truncateFrom(2);
    log = await reopen(log);
    expect(log.slice(0, 3)).toEqual([a, b]);
    expect(await readLogText()).toBe(expectedFile([a, b]));
  });
});

describe('pages sent as the log holds them', () => {
  /** A page of `entries` as a leader sends it, checked as the follower checks it. */
  function pageOf(entries: OrderEntry[], prevIndex: number, prevCrc: number) {
    const page = recordsOfPage(recordsText(entries), prevIndex, prevCrc);
    if (typeof page === 'string') throw new Error(page);
    return page;
  }

  it('a page is written byte for byte as sent, and reads back as its records after reopen', async () => {
    let log = await open();
    const name = `Rubik's "Cube", ñandú 🧸`;
    const first = records(3);
    const quoted = signEntry(first[2]!.crc, { index: 3, epoch: 2, name, quantity: 2, key: 'q' });
    const rest = records(2, { startIndex: 4, prevCrc: quoted.crc, epoch: 2 });
    await log.append(first);
    await log.appendPage(pageOf([quoted, ...rest], 2, first[2]!.crc));
    expect(log.slice(0, 6)).toEqual([...first, quoted, ...rest]);
    expect(log.indexOfKey('q')).toBe(3);
    log = await reopen(log);
    expect(log.slice(0, 6)).toEqual([...first, quoted, ...rest]);
    expect(await readLogText()).toBe(expectedFile([...first, quoted, ...rest]));
  });

  it("a page that does not continue the log is refused, and the log's file is unchanged", async () => {
    const log = await open();
    await log.append(records(3));
    const before = await readLogBytes();
    const page = pageOf(records(2, { startIndex: 4 }), 3, 0);
    expect(() => log.appendPage(page)).toThrow(/does not continue the log/);
    expect(log.lastIndex()).toBe(2);
    expect(await readLogBytes()).toEqual(before);
  });

  it('text of any range, over records read at open and appended since, is their encoding', async () => {
    let log = await open();
    const all = records(8, { name: 'Lego, the big one' });
    await log.append(all.slice(0, 5));
    log = await reopen(log);
    await log.append(all.slice(5));
    for (const [from, to] of [
      [0, 8],
      [2, 4],
      [3, 7],
      [6, 8],
      [4, 4],
      [7, 20],
    ] as const)
      expect(log.text(from, to), `[${from}, ${to})`).toBe(recordsText(all.slice(from, to)));
    await log.truncateFrom(3);
    await log.append(records(2, { startIndex: 3, prevCrc: all[2]!.crc, tag: 'new' }));
    expect(log.text(0, 5)).toBe(recordsText(log.slice(0, 5)));
  });
});

describe('truncation', () => {
  it('truncateFrom drops the records from that index on, durably', async () => {
    let log = await open();
    const all = records(6);
    await log.append(all);
    await log.truncateFrom(3);
    expect(log.lastIndex()).toBe(2);
    expect(log.entryAt(3)).toBeUndefined();
    expect(log.crcAt(3)).toBeUndefined();
    expect(log.durableIndex()).toBe(2);
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual(all.slice(0, 3));
    expect(await readLogText()).toBe(expectedFile(all.slice(0, 3)));
  });

  it('truncateFrom(0) empties the log down to the header', async () => {
    let log = await open();
    await log.append(records(4));
    await log.truncateFrom(0);
    expect(log.lastIndex()).toBe(-1);
    log = await reopen(log);
    expect(log.lastIndex()).toBe(-1);
    expect(await readLogText()).toBe(LOG_HEADER);
  });

  it('truncateFrom past the end changes nothing', async () => {
    let log = await open();
    const all = records(3);
    await log.append(all);
    await log.truncateFrom(3);
    await log.truncateFrom(10);
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual(all);
  });

  it('truncate then append then reopen holds the new suffix after the kept prefix', async () => {
    let log = await open();
    const old = records(5, { tag: 'old' });
    await log.append(old);
    await log.truncateFrom(2);
    const fresh = records(4, { startIndex: 2, prevCrc: old[1]!.crc, epoch: 2, tag: 'new' });
    await log.append(fresh);
    expect(log.lastIndex()).toBe(5);
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual([...old.slice(0, 2), ...fresh]);
    expect(await readLogText()).toBe(expectedFile([...old.slice(0, 2), ...fresh]));
  });

  it('truncate and append queued without awaiting apply in call order on disk', async () => {
    let log = await open();
    const old = records(5, { tag: 'old' });
    const fresh = records(2, { startIndex: 3, prevCrc: old[2]!.crc, epoch: 2, tag: 'new' });
    const p1 = log.append(old);
    const p2 = log.truncateFrom(3);
    const p3 = log.append(fresh);
    await Promise.all([p1, p2, p3]);
    expect(log.durableIndex()).toBe(4);
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual([...old.slice(0, 3), ...fresh]);
  });

  it('durableIndex never counts records that replaced a truncated suffix before they are written', async () => {
    const log = await open();
    const old = records(5, { tag: 'old' });
    const first = log.append(old); // in flight from here on
    void log.truncateFrom(2);
    const fresh = records(2, { startIndex: 2, prevCrc: old[1]!.crc, epoch: 2, tag: 'new' });
    const second = log.append(fresh);
    await first;
    // The old batch (indices 0..4) is durable, but indices 2 and 3 now hold `fresh`, which has not
    // been written yet (the truncation queued before it has not even finished). Only 0..1 are
    // durable records of the current log.
    expect(log.durableIndex()).toBeLessThanOrEqual(1);
    await second;
    expect(log.durableIndex()).toBe(3);
  });
});

describe('recovering a damaged file', () => {
  it('a torn last line is cut on open, a copy of exactly the cut bytes is kept, and the records before it remain', async () => {
    const all = records(3);
    const torn = '3,1,Tux,';
    await writeRawLog(all, torn);
    const reports: { bytes: number; savedAs: string }[] = [];
    const log = await open({ onTornTail: (info) => reports.push(info) });
    expect(log.lastIndex()).toBe(2);
    expect(log.slice(0, 10)).toEqual(all);
    expect(await readLogText()).toBe(expectedFile(all));
    const copies = await tornCopies();
    expect(copies).toHaveLength(1);
    expect(await fs.readFile(path.join(dir, copies[0]!), 'utf8')).toBe(torn);
    expect(reports).toEqual([{ bytes: torn.length, savedAs: path.join(dir, copies[0]!) }]);
  });

  it('after a torn tail is cut, new appends continue the valid records', async () => {
    const all = records(4);
    await writeRawLog(all.slice(0, 3), '3,1,Tu');
    let log = await open();
    await log.append(all.slice(3));
    log = await reopen(log);
    expect(log.slice(0, 10)).toEqual(all);
    expect(await readLogText()).toBe(expectedFile(all));
  });

  it('the torn-tail copy holds the cut bytes exactly, even when they are not ASCII', async () => {
    const all = records(2);
    // A crash mid-write of a record with a multi-byte name, cut inside the last character.
    const full = Buffer.from('2,1,Peluche ñandú,1,k-2,', 'utf8');
    const torn = Buffer.concat([full, Buffer.from([0xc3])]);
    await writeRawLog(all, torn);
    const reports: { bytes: number; savedAs: string }[] = [];
    await open({ onTornTail: (info) => reports.push(info) });
    expect(await readLogText()).toBe(expectedFile(all));
    const copies = await tornCopies();
    expect(copies).toHaveLength(1);
    const saved = await fs.readFile(path.join(dir, copies[0]!));
    expect(reports[0]!.bytes).toBe(torn.length);
    expect(saved.toString('hex')).toBe(torn.toString('hex'));
  });

  // Changed with the torn/corrupt rule (brief decision 3): these two used to be cut as torn tails,
  // which silently dropped a complete record. A torn write cannot end in a newline.
  it('a complete last line with a bad checksum is corruption, not a torn tail: refused, the file left as it is', async () => {
    const all = records(3);
    const bad = { ...records(1, { startIndex: 3, prevCrc: all[2]!.crc })[0]! };
    bad.crc = (bad.crc + 1) >>> 0;
    await writeRawLog(all, formatRecord(bad));
    const before = await readLogBytes();
    const err = await openFileLogStore(dir, { onFatal: failOnFatal }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as CorruptLogError).lineNumber).toBe(5);
    expect((err as CorruptLogError).detail).toBe('checksum mismatch');
    expect((err as CorruptLogError).validRecords).toBe(3);
    expect((await readLogBytes()).equals(before)).toBe(true);
    expect(await tornCopies()).toEqual([]);
  });

  it('a complete last line with the wrong order number is corruption, not a torn tail', async () => {
    const all = records(3);
    const skip = records(1, { startIndex: 4, prevCrc: all[2]!.crc });
    await writeRawLog(all, formatRecord(skip[0]!));
    await expect(openFileLogStore(dir, { onFatal: failOnFatal })).rejects.toThrow(CorruptLogError);
    expect(await tornCopies()).toEqual([]);
  });

  it('a log with no damage leaves no torn copy', async () => {
    await writeRawLog(records(3));
    const log = await open();
    expect(log.lastIndex()).toBe(2);
    expect(await tornCopies()).toEqual([]);
  });

  it('a corrupt record followed by a valid record is corruption, not a tail: the log refuses to open and is left untouched', async () => {
    const all = records(3);
    await writeRawLog(all);
    const before = await readLogBytes();
    // Flip one bit of the first name character of the middle record.
    const middleStart = Buffer.byteLength(LOG_HEADER) + Buffer.byteLength(formatRecord(all[0]!));
    const nameAt = middleStart + formatRecord(all[1]!).indexOf(all[1]!.name);
    const damaged = Buffer.from(before);
    damaged[nameAt] = damaged[nameAt]! ^ 0x01;
    await fs.writeFile(logPath(), damaged);

    const err = await openFileLogStore(dir, { onFatal: failOnFatal }).then(
      (log) => {
        opened.push(log);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    expect((err as CorruptLogError).lineNumber).toBe(3);
    expect((await readLogBytes()).equals(damaged)).toBe(true);
    expect(await tornCopies()).toEqual([]);
  });
});

describe('when the power fails mid-batch', () => {
  it('the mark on disk never claims bytes the data fdatasync has not yet covered (what a power loss keeps)', async () => {
    // Each call of onSynced says "the data is durable up to here". If the mark were written before
    // (or beside) that, a power loss in between would leave it claiming records the file lost:
    // the replica would come back recovering, and two of them at once stop the cluster.
    const markFile = `${logPath()}.mark`;
    let synced = -1; // the first call, at open, reports what the file held already
    const ahead: string[] = [];
    const log = await open({
      onSynced: (bytes) => {
        const mark = decodeMark(readFileSync(markFile));
        if (synced >= 0 && mark && mark.bytes > synced)
          ahead.push(`mark at ${mark.bytes} while the data was synced to ${synced}`);
        synced = Math.max(synced, bytes);
      },
    });
    let prev = 0;
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      const [e] = records(1, { startIndex: i, prevCrc: prev });
      prev = e!.crc;
      waits.push(log.append([e!]));
      if (i % 7 === 0) await Promise.all(waits.splice(0));
    }
    await Promise.all(waits);
    expect(log.durableIndex()).toBe(39);
    expect(ahead).toEqual([]);
  });
});

describe('a log opened from its bytes (records decoded only when read)', () => {
  it('finds every key after reopening, and forgets the keys a truncation cut', async () => {
    let log = await open();
    const all = records(50);
    await log.append(all);
    log = await reopen(log);
    for (const e of all) expect(log.indexOfKey(e.key)).toBe(e.index);
    expect(log.indexOfKey('never-used')).toBeUndefined();
    await log.truncateFrom(20);
    expect(log.indexOfKey('k-19')).toBe(19);
    expect(log.indexOfKey('k-20')).toBeUndefined();
    expect(log.indexOfKey('k-49')).toBeUndefined();
    // The cut positions are taken by other keys: the old ones must not come back through them.
    const next = records(5, { startIndex: 20, prevCrc: log.crcAt(19)!, tag: 'n' });
    await log.append(next);
    expect(log.indexOfKey('k-20')).toBeUndefined();
    expect(log.indexOfKey('n-24')).toBe(24);
    log = await reopen(log);
    expect(log.indexOfKey('k-20')).toBeUndefined();
    expect(log.indexOfKey('n-20')).toBe(20);
    expect(log.slice(0, 25)).toEqual([...all.slice(0, 20), ...next]);
  });

  it('a truncation into the records read at open, then appends, reads back what is there now', async () => {
    let log = await open();
    await log.append(records(10));
    log = await reopen(log);
    await log.truncateFrom(4);
    const next = records(3, { startIndex: 4, prevCrc: log.crcAt(3)!, tag: 'x', name: 'Slinky' });
    await log.append(next);
    expect(log.entryAt(3)).toEqual(records(4)[3]);
    expect(log.entryAt(4)).toEqual(next[0]);
    expect(log.entryAt(7)).toBeUndefined();
    expect(log.crcAt(6)).toBe(next[2]!.crc);
  });

  it('a quoted record (a name with a comma) is found by key and read back after reopening', async () => {
    let log = await open();
    const a = signEntry(0, { index: 0, epoch: 1, name: 'Tux', quantity: 1, key: 'k-0' });
    const b = signEntry(a.crc, {
      index: 1,
      epoch: 1,
      name: 'Mr. Potato Head, deluxe',
      quantity: 2,
      key: 'k-1',
    });
    await log.append([a, b]);
    log = await reopen(log);
    expect(log.indexOfKey('k-1')).toBe(1);
    expect(log.entryAt(1)).toEqual(b);
  });

  it('two keys with the same 30-bit hash are both found, each at its own record', async () => {
    // Found once by hashing c-0, c-1, ... until two collided.
    const [k1, k2] = ['c-238098', 'c-810216'];
    expect(hashKeyString(k1)).toBe(hashKeyString(k2));
    let log = await open();
    const e0 = signEntry(0, { index: 0, epoch: 1, name: 'Tux', quantity: 1, key: k1 });
    const e1 = signEntry(e0.crc, { index: 1, epoch: 1, name: 'Tux', quantity: 1, key: k2 });
    await log.append([e0, e1]);
    expect([log.indexOfKey(k1), log.indexOfKey(k2)]).toEqual([0, 1]);
    log = await reopen(log);
    expect([log.indexOfKey(k1), log.indexOfKey(k2)]).toEqual([0, 1]);
    await log.truncateFrom(1);
    expect([log.indexOfKey(k1), log.indexOfKey(k2)]).toEqual([0, undefined]);
  });

  it('a record whose bytes carry a valid crc chain but a field no writer may write stops the process when read, never answers from it', async () => {
    // Quantity 0 is outside ORDER_QUANTITY: Wal.append refuses it, so only another writer makes it.
    const bad = { index: 0, epoch: 1, name: 'Tux', quantity: 0, key: 'k-0' };
    const crc = chainCrc(0, bad);
    await fs.writeFile(logPath(), `${LOG_HEADER}0,1,Tux,0,k-0,${crc}\n`);
    await writeMarkFor(logPath(), {
      ...orderCodec,
      decode: (f) => ({
        index: 0,
        epoch: 1,
        name: f[2]!,
        quantity: 0,
        key: f[4]!,
        crc: Number(f[5]),
      }),
    });
    const fatal: string[] = [];
    const log = await open({
      onFatal: (what, err) => {
        fatal.push(`${what}: ${(err as Error).message}`);
        throw err;
      },
    });
    expect(log.lastIndex()).toBe(0);
    expect(() => log.entryAt(0)).toThrow(CorruptLogError);
    expect(fatal).toEqual([
      expect.stringContaining('a record with a valid crc chain does not decode'),
    ]);
  });
});

describe('parseLog', () => {
  const file = 'orders.csv';

  it('a missing header is corruption', () => {
    const body = records(2).map(formatRecord).join('');
    expect(() => parseLog(file, Buffer.from(body))).toThrow(CorruptLogError);
  });

  it('a garbled header is corruption', () => {
    expect(() => parseLog(file, Buffer.from('number,epoch,name,qty,key,crc\n'))).toThrow(
      CorruptLogError,
    );
    expect(() => parseLog(file, Buffer.from('garbage'))).toThrow(CorruptLogError);
  });

  it('an empty or torn header is corruption, not an empty log', () => {
    expect(() => parseLog(file, Buffer.alloc(0))).toThrow(CorruptLogError);
    expect(() => parseLog(file, Buffer.from(LOG_HEADER.slice(0, 10)))).toThrow(CorruptLogError);
  });

  it('a header-only file is an empty log', () => {
    expect(parseLog(file, Buffer.from(LOG_HEADER))).toEqual({
      entries: [],
      offsets: [],
      validEnd: LOG_HEADER.length,
    });
  });

  it('reports each record with its byte offset and where the valid bytes end', () => {
    const all = records(3);
    const content = Buffer.from(expectedFile(all) + '3,1,T');
    const r = parseLog(file, content);
    expect(r.entries).toEqual(all);
    const lens = all.map((e) => Buffer.byteLength(formatRecord(e)));
    const h = LOG_HEADER.length;
    expect(r.offsets).toEqual([h, h + lens[0]!, h + lens[0]! + lens[1]!]);
    expect(r.validEnd).toBe(content.length - 5);
  });
});
