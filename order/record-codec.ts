/**
 * What an order record is as bytes: the order log's CSV columns, every field's bounds (from
 * shared/fields.ts, the same the wire schemas use), and the one encoding of a record. The file
 * log (file-log.ts) writes it, and a leader sends it as it is to a follower catching up (an
 * append's `records`, shared/contracts.ts), which checks a page of it exactly as an open checks
 * the file (`recordsOfPage`) and then writes the very bytes it received: no record is decoded by
 * the leader or encoded again by the follower, which were most of a catch-up's CPU.
 */
import type { OrderEntry } from '../shared/contracts.ts';
import {
  CRC32,
  EPOCH,
  IDEMPOTENCY_KEY,
  ORDER_NUMBER,
  ORDER_QUANTITY,
  TOY_NAME,
} from '../shared/fields.ts';
import {
  type CheckedPage,
  encodeRecord,
  encodeRecords,
  scanPage,
  type RecordCodec,
} from '../shared/wal.ts';

export const LOG_HEADER = 'number,epoch,name,quantity,key,crc\n';

/** A record's fields other than its checksum, in the order the log file's columns hold them. */
export function orderFields(e: Omit<OrderEntry, 'crc'>): Array<string | number> {
  return [e.index, e.epoch, e.name, e.quantity, e.key];
}

/** Why an order record cannot be written (or was not written by us), or null. */
function checkOrder(e: OrderEntry): string | null {
  if (!ORDER_NUMBER.valid(e.index))
    return `order number ${e.index} is not an integer from 0 to ${ORDER_NUMBER.max}`;
  if (!EPOCH.valid(e.epoch)) return `epoch ${e.epoch} is not an integer from 0 to ${EPOCH.max}`;
  if (!ORDER_QUANTITY.valid(e.quantity))
    return `quantity ${e.quantity} is not an integer from 1 to ${ORDER_QUANTITY.max}`;
  if (!CRC32.valid(e.crc)) return `crc ${e.crc} is not a crc32`;
  return TOY_NAME.problem(String(e.name)) ?? IDEMPOTENCY_KEY.problem(String(e.key));
}

export const orderCodec: RecordCodec<OrderEntry> = {
  header: LOG_HEADER.trimEnd(),
  // The crc covers exactly these fields (order/log.ts recordContent).
  fields: orderFields,
  crcOf: (e) => e.crc,
  inSequence: (e, i) => e.index === i,
  keyOf: (e) => e.key,
  // number,epoch,name,quantity,key,crc: the order number is the record's position.
  layout: { fields: 6, sequenceField: 0, keyField: 4 },
  check: checkOrder,
  decode: (f) => {
    const r = decodeOrder(f);
    return typeof r === 'string' ? null : r;
  },
  explain: (f) => {
    const r = decodeOrder(f);
    return typeof r === 'string' ? r : 'well-formed';
  },
};

/** An order record from its CSV fields, or what is wrong with them. */
function decodeOrder(f: string[]): OrderEntry | string {
  if (f.length !== 6) return `expected 6 fields, found ${f.length}`;
  const index = ORDER_NUMBER.decode(f[0]);
  const epoch = EPOCH.decode(f[1]);
  const quantity = ORDER_QUANTITY.decode(f[3]);
  const crc = CRC32.decode(f[5]);
  if (index === null)
    return `order number ${JSON.stringify(f[0])} is not a number from 0 to ${ORDER_NUMBER.max}`;
  if (epoch === null) return `epoch ${JSON.stringify(f[1])} is not a number from 0 to ${EPOCH.max}`;
  if (quantity === null)
    return `quantity ${JSON.stringify(f[3])} is not a number from 1 to ${ORDER_QUANTITY.max}`;
  if (crc === null) return `crc ${JSON.stringify(f[5])} is not a crc32`;
  const e = { index, epoch, name: f[2]!, quantity, key: f[4]!, crc };
  return checkOrder(e) ?? e;
}

export function formatRecord(e: OrderEntry): string {
  return encodeRecord(orderCodec, e);
}

/** The records' lines, concatenated: what a log file holds for them (the twins' `text`). */
export function recordsText(entries: readonly OrderEntry[]): string {
  let out = '';
  for (const e of entries) out += formatRecord(e);
  return out;
}

/**
 * The records of a page sent as the log's text (`records` of an append), numbered from
 * `prevIndex + 1` and chained from `prevCrc`, or what is wrong with it.
 */
export function recordsOfPage(
  text: string,
  prevIndex: number,
  prevCrc: number,
): CheckedPage<OrderEntry> | string {
  return scanPage(Buffer.from(text, 'utf8'), orderCodec, prevIndex + 1, prevCrc);
}

/**
 * Throws unless the page's bytes are byte for byte what encoding its records gives (the twins
 * check what the file log takes on trust from scanPage, so the simulator would catch a page whose
 * bytes and records disagree).
 */
export function assertEncodes(page: CheckedPage<OrderEntry>): void {
  const { bytes, starts } = encodeRecords(orderCodec, page.records);
  if (!bytes.equals(page.bytes) || starts.some((s, i) => page.starts[i] !== s))
    throw new Error("a page's bytes are not the encoding of its records");
}
