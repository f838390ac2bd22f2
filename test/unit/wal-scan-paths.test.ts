/**
 * The open of a log takes an unquoted record from its bytes (shared/wal-scan.ts acceptBytes: one
 * pass finding the commas and running the crc); the tools decode every record. Both must accept
 * exactly the same records and report the same damage at the same place, or a replica would open
 * a file the checker calls corrupt (or refuse one it calls sound).
 *
 * Story: a log of a few hundred orders is damaged at random, a byte flipped, a byte dropped or
 * doubled, a comma or a quote or a newline planted; each damaged file is read both ways.
 */
import { describe, expect, it } from 'vitest';
import { formatRecord, LOG_HEADER, orderCodec } from '../../order/record-codec.ts';
import { signEntry } from '../../order/log.ts';
import type { OrderEntry } from '../../shared/contracts.ts';
import { scanInto, scanWal, TableSink } from '../../shared/wal-scan.ts';
import { Rng } from '../../scripts/lib/rng/rng.ts';
import { damageBytes } from '../support/byte-damage.ts';

function validLog(n: number): Buffer {
  let crc = 0;
  const lines = [LOG_HEADER];
  for (let i = 0; i < n; i++) {
    const e: OrderEntry = signEntry(crc, {
      index: i,
      epoch: 1 + (i >> 6),
      name: i % 7 === 0 ? 'Lego, the big one' : 'Tux',
      quantity: 1 + (i % 5),
      key: `k-${i}-${'x'.repeat(i % 40)}`,
    });
    crc = e.crc;
    lines.push(formatRecord(e));
  }
  return Buffer.from(lines.join(''));
}

function bothWays(content: Buffer) {
  const sink = new TableSink(orderCodec);
  const fast = scanInto('orders.csv', content, orderCodec, sink, true);
  const slow = scanWal('orders.csv', content, orderCodec);
  const crcs = slow.records.map((r) => r.crc);
  return {
    fast: { count: sink.count, offsets: sink.offsets, crcs: sink.crcs, ...said(fast) },
    slow: { count: slow.records.length, offsets: slow.offsets, crcs, ...said(slow) },
    fastLastCrc: fast.lastCrc,
  };
}

const said = (s: { validEnd: number; damage: Error | null }) => ({
  validEnd: s.validEnd,
  damage: s.damage?.message ?? null,
});

describe('the byte path and the decoding path read every file alike', () => {
  it('a sound log: every record, the same offsets and crcs', () => {
    const log = validLog(300);
    const { fast, slow, fastLastCrc } = bothWays(log);
    expect(fast).toEqual(slow);
    expect(slow.count).toBe(300);
    expect(slow.damage).toBeNull();
    expect(fastLastCrc).toBe(slow.crcs.at(-1));
  });

  it('a log damaged at random, 600 ways: the same records accepted, the same damage named', () => {
    const log = validLog(300);
    const rng = new Rng(2026);
    let damaged = 0;
    for (let round = 0; round < 600; round++) {
      const { fast, slow } = bothWays(damageBytes(log, rng, LOG_HEADER.length));
      expect(fast, `round ${round}`).toEqual(slow);
      if (slow.damage !== null || slow.count < 300) damaged++;
    }
    // The damage is real: nearly every change is caught (a flipped bit in a key's case, say, is
    // caught by the crc; only a change inside a torn tail or an equal byte could pass).
    expect(damaged).toBeGreaterThan(550);
  });
});
