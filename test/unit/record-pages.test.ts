/**
 * A leader sends a follower catching up its log's own CSV lines (an append's `records`), and the
 * follower writes the very bytes it received once `recordsOfPage` has checked them. So that page
 * check must take exactly what opening a file takes, refuse everything else with a reason, and
 * never pass bytes that differ from what encoding the records would write: a page that passed
 * with other bytes would put into a replica's log a line no other replica holds.
 *
 * Story: a page of a few hundred orders is damaged at random (a byte flipped, dropped, doubled,
 * a comma, quote or newline planted); each damaged page is read as a page and, behind a header,
 * as a file. Then the damage a forger would choose, one kind at a time.
 */
import { describe, expect, it } from 'vitest';
import { signEntry } from '../../order/log.ts';
import {
  assertEncodes,
  formatRecord,
  LOG_HEADER,
  orderCodec,
  recordsOfPage,
  recordsText,
} from '../../order/record-codec.ts';
import { sendsAsText } from '../../order/replication.ts';
import type { OrderEntry } from '../../shared/contracts.ts';
import { CheckedPage, scanWal } from '../../shared/wal.ts';
import { Rng } from '../../scripts/lib/rng/rng.ts';
import { damageBytes } from '../support/byte-damage.ts';

/** `n` records numbered from `first`, chained from `prevCrc`; some need quotes. */
function records(n: number, first = 10, prevCrc = 12345): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = prevCrc;
  for (let i = first; i < first + n; i++) {
    const e = signEntry(crc, {
      index: i,
      epoch: 2 + (i >> 6),
      name: i % 7 === 0 ? 'Lego, the big one' : 'Tux',
      quantity: 1 + (i % 5),
      key: `k-${i}-${'x'.repeat(i % 30)}`,
    });
    crc = e.crc;
    out.push(e);
  }
  return out;
}

/** A page numbered from 0 and chained from crc 0, read as a page and behind a header as a file. */
function bothWays(text: Buffer) {
  const page = recordsOfPage(text.toString('utf8'), -1, 0);
  const asFile = scanWal('orders.csv', Buffer.concat([Buffer.from(LOG_HEADER), text]), orderCodec);
  return { page, asFile };
}

describe('a page of records sent as the log holds them', () => {
  it('a sound page: the records an open would read, the bytes as sent, each start in them', () => {
    const sent = records(200, 0, 0);
    const page = recordsOfPage(recordsText(sent), -1, 0);
    if (typeof page === 'string') throw new Error(page);
    expect(page.records).toEqual(sent);
    expect(page.bytes.toString()).toBe(recordsText(sent));
    expect(page.starts[1]).toBe(Buffer.byteLength(formatRecord(sent[0]!)));
    expect(() => assertEncodes(page)).not.toThrow();
  });

  it('damaged at random, 600 ways: taken only when whole and sound, then in the one encoding', () => {
    const sent = records(150, 0, 0);
    const clean = Buffer.from(recordsText(sent));
    const rng = new Rng(2027);
    let refused = 0;
    for (let round = 0; round < 600; round++) {
      const text = damageBytes(clean, rng);
      const { page, asFile } = bothWays(text);
      const whole = asFile.damage === null && asFile.validEnd === text.length + LOG_HEADER.length;
      expect(typeof page !== 'string', `round ${round}: ${String(page)}`).toBe(whole);
      if (typeof page === 'string') {
        refused++;
        continue;
      }
      expect(page.records).toEqual(asFile.records);
      expect(() => assertEncodes(page), `round ${round}`).not.toThrow();
    }
    // The damage is real: nearly every change is refused.
    expect(refused).toBeGreaterThan(550);
  });

  it('refuses each forgery with a reason: torn, out of sequence, a broken chain, a bad field', () => {
    const sent = records(5);
    const text = recordsText(sent);
    const why = (t: string, prevIndex = 9, prevCrc = 12345) => {
      const page = recordsOfPage(t, prevIndex, prevCrc);
      return typeof page === 'string' ? page : 'taken';
    };
    expect(why(text)).toBe('taken');
    expect(why(text.slice(0, -1))).toBe('the page ends inside a record');
    expect(why(text, 10)).toMatch(/out of sequence/);
    expect(why(text, 9, 54321)).toMatch(/checksum mismatch/);
    const noQuantity = signEntry(12345, { ...sent[0]!, quantity: 0 });
    expect(why(`${formatRecord(noQuantity)}`)).toMatch(/quantity/);
    expect(why('')).toBe('taken');
  });

  it('refuses a record quoted where the log would not quote it, though its crc is right', () => {
    const [first, e] = records(2, 10, 12345);
    // The crc covers the fields, not their quoting: this line decodes to a sound record.
    const line = `${e!.index},${e!.epoch},"${e!.name}",${e!.quantity},${e!.key},${e!.crc}\n`;
    const quoted = recordsOfPage(formatRecord(first!) + line, 9, 12345);
    expect(quoted).toMatch(/record 11: not in the encoding the log writes/);
    const canonical = recordsOfPage(formatRecord(first!) + formatRecord(e!), 9, 12345);
    expect(typeof canonical === 'string' ? canonical : canonical.records).toEqual([first, e]);
  });
});

describe('a checked page', () => {
  it('cannot be made but by the scan, whatever a caller passes', () => {
    const Forged = CheckedPage as unknown as new (...a: unknown[]) => unknown;
    expect(() => new Forged(Symbol('scanPage'), [], Buffer.alloc(0), [])).toThrow(TypeError);
  });

  it('gives its last records with their bytes, as if scanned on their own', () => {
    const sent = records(6);
    const page = recordsOfPage(recordsText(sent), 9, 12345);
    if (typeof page === 'string') throw new Error(page);
    const tail = page.suffix(2);
    expect(tail.records).toEqual(sent.slice(4));
    expect(tail.bytes.toString()).toBe(recordsText(sent.slice(4)));
    expect(tail.starts).toEqual([0, Buffer.byteLength(formatRecord(sent[4]!))]);
    expect(() => assertEncodes(tail)).not.toThrow();
    expect(page.suffix(6)).toBe(page);
    expect(page.suffix(0).records).toEqual([]);
    expect(page.suffix(0).bytes.length).toBe(0);
    expect(() => page.suffix(7)).toThrow(RangeError);
    expect(() => page.suffix(-1)).toThrow(RangeError);
  });
});

describe('which pages a leader sends as text', () => {
  it('a page at least half the largest (catching up), never an empty one or a few fresh orders', () => {
    expect(sendsAsText(0, 1000)).toBe(false);
    expect(sendsAsText(1, 1000)).toBe(false);
    expect(sendsAsText(499, 1000)).toBe(false);
    expect(sendsAsText(500, 1000)).toBe(true);
    expect(sendsAsText(1000, 1000)).toBe(true);
    expect(sendsAsText(1, 1)).toBe(true);
  });
});
