/**
 * Every field that crosses a wire or hits disk, defined once: its bounds, its characters, its zod
 * schema and its text form in the CSV files.
 *
 * Why one module: a value the wire accepts but the disk codec cannot read back is a time bomb (an
 * epoch of 2^53 once passed the schema, was written, and made every later record of the log
 * unreadable). So the schemas in shared/contracts.ts, the codecs in order/record-codec.ts and
 * catalog/ledger.ts and the URL/header parsers all derive from the definitions here, and anything
 * one of them accepts, the others accept too.
 *
 * Integers are safe integers (never above 2^53 - 1) written as plain decimal (`String(n)`), read
 * back only in that canonical form. Strings are bounded in length (UTF-16 code units, what
 * JavaScript's `length` counts) and in characters: none that a CSV line or a log line could
 * split on, none that would not survive UTF-8 (a lone surrogate).
 */
import { z } from 'zod';

export interface IntField {
  /** What the field is called in messages ("epoch", "quantity"). */
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** True if `n` is a value of this field. */
  valid(n: unknown): n is number;
  /** The zod schema: an integer within [min, max], with messages naming the field. */
  schema(): z.ZodNumber;
  /**
   * Reads the canonical decimal text the codecs write (`String(n)`); null if not one or out of
   * range.
   */
  decode(text: string | undefined): number | null;
  /** Reads a decimal from a URL or a flag: like `decode`, but leading zeros are allowed. */
  parse(text: string): number | null;
}

const LENIENT_NAT = /^0*(\d{1,16})$/;

/**
 * The canonical decimal text of a safe integer (`String(n)`: an optional minus, no leading zero,
 * at most 16 digits, no "-0"), read without a regex: a replica opening a million records reads
 * four of these per record.
 */
function canonicalInt(text: string): number | null {
  const len = text.length;
  const neg = len > 0 && text.charCodeAt(0) === 45;
  const first = neg ? 1 : 0;
  const digits = len - first;
  if (digits < 1 || digits > 16) return null;
  if (text.charCodeAt(first) === 48 && (digits > 1 || neg)) return null; // leading zero, or -0
  let n = 0;
  for (let i = first; i < len; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

export function intField(label: string, min: number, max: number): IntField {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max)
    throw new Error(`${label}: bad bounds [${min}, ${max}]`);
  const valid = (n: unknown): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= min && n <= max;
  return {
    label,
    min,
    max,
    valid,
    schema: () =>
      z
        .number({
          required_error: `${label} is required`,
          invalid_type_error: `${label} must be a number`,
        })
        .int(`${label} must be an integer`)
        .min(min, min === 1 ? `${label} must be positive` : `${label} must be at least ${min}`)
        .max(max, `${label} must be at most ${max}`),
    decode(text) {
      const n = text === undefined ? null : canonicalInt(text);
      return n !== null && valid(n) ? n : null;
    },
    parse(text) {
      const m = LENIENT_NAT.exec(text);
      if (!m) return null;
      const n = Number(m[1]);
      return valid(n) ? n : null;
    },
  };
}

export interface TextField {
  readonly label: string;
  readonly minLength: number;
  readonly maxLength: number;
  /** The allowed characters, for messages ("visible ASCII characters"). */
  readonly charset: string;
  valid(s: unknown): s is string;
  /** Why `s` is not a value of this field, or null if it is. */
  problem(s: string): string | null;
  /** The zod schema: a string of the allowed length and characters. */
  schema(): z.ZodString;
}

export function textField(
  label: string,
  minLength: number,
  maxLength: number,
  charset: string,
  allowed: RegExp,
): TextField {
  const tooShort =
    minLength === 1
      ? `${label} must not be empty`
      : `${label} is shorter than ${minLength} characters`;
  const tooLong = `${label} is longer than ${maxLength} characters`;
  const badChars = `${label} must consist of ${charset}`;
  const problem = (s: string): string | null =>
    s.length < minLength
      ? tooShort
      : s.length > maxLength
        ? tooLong
        : !allowed.test(s)
          ? badChars
          : null;
  return {
    label,
    minLength,
    maxLength,
    charset,
    problem,
    valid: (s: unknown): s is string => typeof s === 'string' && problem(s) === null,
    schema: () =>
      z
        .string({
          required_error: `${label} is required`,
          invalid_type_error: `${label} must be a string`,
        })
        .min(minLength, tooShort)
        .max(maxLength, tooLong)
        .regex(allowed, badChars),
  };
}

// ---------------------------------------------------------------- the fields

const MAX = Number.MAX_SAFE_INTEGER;

/** Larger than any stock could ever be; a quantity above it is a client bug, not a big order. */
export const MAX_ORDER_QUANTITY = 10_000;
export const MAX_NAME_LENGTH = 100;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * A leader's epoch. Bounded by the safe integers, so it is exact in JSON and on disk; an election
 * cannot open an epoch past `EPOCH.max` (see `nextEpoch`).
 */
export const EPOCH = intField('epoch', 0, MAX);
/** An order's number, which is its index in the replicated log. */
export const ORDER_NUMBER = intField('order number', 0, MAX - 1);
/**
 * A position in the order log that may be "before the first record" (-1): lastIndex, commitIndex.
 */
export const LOG_POSITION = intField('index', -1, ORDER_NUMBER.max);
/** A count of records, or the index where the next one goes. */
export const LOG_LENGTH = intField('length', 0, ORDER_NUMBER.max + 1);
/** A record's position in the catalog's ledger. */
export const LEDGER_SEQ = intField('seq', 0, MAX - 1);
export const LEDGER_POSITION = intField('seq', -1, LEDGER_SEQ.max);
/** How many of a toy one order takes. */
export const ORDER_QUANTITY = intField('quantity', 1, MAX_ORDER_QUANTITY);
/** A toy's stock. */
export const STOCK = intField('quantity', 0, MAX);
/** A signed stock change in the ledger (purchase < 0; release, restock > 0; refusal 0). */
export const STOCK_DELTA = intField('delta', -MAX, MAX);
/**
 * How many of a toy a refusal refused (0 on every other kind, whose quantity is the delta; 0 also
 * on a refusal written before the ledger had this column, whose asked quantity is unknown).
 */
export const REFUSED_QUANTITY = intField('refused', 0, MAX_ORDER_QUANTITY);
/** A crc32 (unsigned). */
export const CRC32 = intField('crc', 0, 0xffff_ffff);
/** An order replica's id, which is also its priority. */
export const REPLICA_ID = intField('replica id', 1, 2 ** 31 - 1);

/**
 * A toy's name: 1-100 characters, none of them a control character (no newline, CR, tab, NUL,
 * DEL, C1), a line or paragraph separator, or a lone surrogate (which UTF-8 cannot carry, so it
 * would read back as U+FFFD and fail its checksum). Commas and quotes are allowed: the CSV writer
 * quotes them and the reader reads them back.
 */
export const TOY_NAME = textField(
  'name',
  1,
  MAX_NAME_LENGTH,
  'printable characters (no control characters or line breaks)',
  /^[^\p{Cc}\p{Cs}\p{Zl}\p{Zp}]*$/u,
);

/**
 * An idempotency key (README: "any 1-255 visible ASCII characters"): 0x21-0x7e only. No space, so
 * two `Idempotency-Key` headers that Node joined into "a, b" can never pass as one key.
 */
export const IDEMPOTENCY_KEY = textField(
  'key',
  1,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  'visible ASCII characters (0x21-0x7e, no spaces)',
  /^[\x21-\x7e]*$/,
);

/** The ledger's key column: an idempotency key, or empty (a restock belongs to no order). */
export const LEDGER_KEY = textField(
  'key',
  0,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  IDEMPOTENCY_KEY.charset,
  /^[\x21-\x7e]*$/,
);

/** A toy's price (products.csv and the product answers): a finite, non-negative number. */
export const PRICE = {
  label: 'price',
  max: 1_000_000_000,
  valid: (n: unknown): n is number =>
    typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= PRICE.max,
  schema: () => z.number().finite().nonnegative().max(PRICE.max),
};

/**
 * The epoch after `epoch`, or an error when the field's bound is reached (never an unwritable
 * epoch).
 */
export function nextEpoch(epoch: number): number {
  if (!EPOCH.valid(epoch) || epoch >= EPOCH.max)
    throw new RangeError(`no epoch after ${epoch}: epochs end at ${EPOCH.max}`);
  return epoch + 1;
}
