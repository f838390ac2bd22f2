/**
 * crc32 (the one zlib computes, IEEE 802.3, reflected) in JavaScript, for loops that already walk
 * a record byte by byte: opening a log checks a million short records, and there a call into
 * zlib per record (plus the Buffer view it needs) cost several times the checksum itself. Every
 * other crc in the project is zlib's; test/unit/crc32.test.ts holds the two equal.
 */

/** The byte-at-a-time table of the reflected polynomial 0xEDB88320. */
const CRC32_TABLE: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * The running state for a crc that continues from `prev` (zlib's `crc32(data, prev)`): feed bytes
 * with `crc32Step`, finish with `crc32Final`.
 */
export const crc32Start = (prev: number): number => ~prev;

export const crc32Step = (state: number, byte: number): number =>
  CRC32_TABLE[(state ^ byte) & 0xff]! ^ (state >>> 8);

export const crc32Final = (state: number): number => ~state >>> 0;

/** crc32 of bytes [from, to) of `buf`, continuing from `prev` (zlib's, for a non-empty range). */
export function crc32Range(buf: Uint8Array, from: number, to: number, prev = 0): number {
  let s = crc32Start(prev);
  for (let i = from; i < to; i++) s = crc32Step(s, buf[i]!);
  return crc32Final(s);
}
