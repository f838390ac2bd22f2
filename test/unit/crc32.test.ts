/**
 * The JavaScript crc32 (shared/crc32.ts) that the open of a log runs byte by byte must be zlib's,
 * which writes every crc: if they differed, every record would fail its check at open (or a
 * damaged one pass).
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Range } from '../../shared/crc32.ts';
import { Rng } from '../../scripts/lib/rng/rng.ts';

describe('crc32 in JavaScript is zlib crc32', () => {
  // Non-empty ranges: zlib answers 0 for no bytes at all (a null buffer, whatever the previous
  // crc), where the continued crc is the previous one. A record is never empty.
  it('over random non-empty byte ranges, continuing from random previous crcs', () => {
    const rng = new Rng(12);
    for (let round = 0; round < 500; round++) {
      const buf = Buffer.alloc(rng.int(1, 300));
      for (let i = 0; i < buf.length; i++) buf[i] = rng.int(0, 255);
      const from = rng.int(0, buf.length - 1);
      const to = rng.int(from + 1, buf.length);
      const prev = rng.int(0, 0xffff_ffff);
      expect(crc32Range(buf, from, to, prev)).toBe(crc32(buf.subarray(from, to), prev) >>> 0);
    }
  });

  it('known values: the empty range is the previous crc; "123456789" is 0xCBF43926', () => {
    expect(crc32Range(Buffer.alloc(0), 0, 0, 0xdeadbeef)).toBe(0xdeadbeef);
    expect(crc32Range(Buffer.from('123456789'), 0, 9)).toBe(0xcbf43926);
  });
});
