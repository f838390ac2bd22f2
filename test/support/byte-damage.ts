/**
 * Random damage to a file's or a page's bytes, the kinds a disk or a forger leaves: a bit
 * flipped, a byte dropped or doubled, or a comma, quote, newline, digit or letter planted. One
 * generator, so the byte path and the decoding path of a scan (wal-scan-paths) and the page
 * check (record-pages) are attacked alike.
 */
import type { Rng } from '../../scripts/lib/rng/rng.ts';

const PLANTED = [0x2c, 0x22, 0x0a, 0x30, 0x39, 0x41];

/** A copy of `bytes` damaged once, at a byte at or after `from` (past a header, say). */
export function damageBytes(bytes: Buffer, rng: Rng, from = 0): Buffer {
  const at = rng.int(from, bytes.length - 1);
  switch (rng.int(0, 3)) {
    case 0: {
      const out = Buffer.from(bytes);
      out[at] = out[at]! ^ (1 << rng.int(0, 7));
      return out;
    }
    case 1:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    case 2:
      return Buffer.concat([bytes.subarray(0, at), Buffer.of(bytes[at]!), bytes.subarray(at)]);
    default: {
      const out = Buffer.from(bytes);
      out[at] = PLANTED[rng.int(0, PLANTED.length - 1)]!;
      return out;
    }
  }
}
