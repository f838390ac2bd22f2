/**
 * The wire shapes of every service, public and internal, as zod schemas with their inferred types.
 *
 * One module so that the side that sends a message and the side that receives it share the same
 * type, and every boundary validates with the same rules. `parseBody` turns a validation failure
 * into a 400 naming the offending field, so bad input never reaches service logic.
 */
import { z } from 'zod';
import { badRequest } from './errors.ts';
import {
  CRC32,
  EPOCH,
  IDEMPOTENCY_KEY,
  LEDGER_KEY,
  LEDGER_POSITION,
  LEDGER_SEQ,
  LOG_LENGTH,
  LOG_POSITION,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  ORDER_NUMBER,
  ORDER_QUANTITY,
  PRICE,
  REPLICA_ID,
  STOCK,
  REFUSED_QUANTITY,
  STOCK_DELTA,
  TOY_NAME,
  MAX_NAME_LENGTH,
} from './fields.ts';
import { recordSchema } from './record-schema.ts';

// Every bound and character set below comes from shared/fields.ts, which the disk codecs use too.
export { MAX_IDEMPOTENCY_KEY_LENGTH, MAX_NAME_LENGTH, MAX_ORDER_QUANTITY } from './fields.ts';
/** Public request bodies are tiny; anything above this is rejected before parsing. */
export const MAX_PUBLIC_BODY_BYTES = 4 * 1024;

// ---------------------------------------------------------------- public API (the lab's shapes)

export const ProductSchema = z.object({
  name: TOY_NAME.schema(),
  price: PRICE.schema(),
  quantity: STOCK.schema(),
});
export type Product = z.infer<typeof ProductSchema>;

export const OrderRequestSchema = z.object({
  name: TOY_NAME.schema(),
  quantity: ORDER_QUANTITY.schema(),
});
export type OrderRequest = z.infer<typeof OrderRequestSchema>;

export const OrderSchema = z.object({
  number: ORDER_NUMBER.schema(),
  name: TOY_NAME.schema(),
  quantity: ORDER_QUANTITY.schema(),
});
export type Order = z.infer<typeof OrderSchema>;

export const OrderPlacedSchema = z.object({ order_number: ORDER_NUMBER.schema() });
export type OrderPlaced = z.infer<typeof OrderPlacedSchema>;

/** A path parameter that must be a non-negative integer order number (no signs, no decimals). */
export function parseOrderNumber(raw: string): number {
  const n = ORDER_NUMBER.parse(raw);
  if (n === null) throw badRequest(`order number must be an integer from 0 to ${ORDER_NUMBER.max}`);
  return n;
}

// ---------------------------------------------------------------- order log and replication

/**
 * One order as it sits in a replica's log. `index` is the order number. `epoch` is the epoch of
 * the leader that created the record (never rewritten when a later leader carries it over).
 * `key` identifies the client request (the catalog dedups stock changes by it, the leader dedups
 * retries by it). `crc` chains this record's content to the previous record's crc, so two
 * replicas with equal crc at index i hold equal prefixes up to i.
 */
const ORDER_ENTRY = recordSchema({
  index: ORDER_NUMBER,
  epoch: EPOCH,
  name: TOY_NAME,
  quantity: ORDER_QUANTITY,
  key: IDEMPOTENCY_KEY,
  crc: CRC32,
});
export const OrderEntrySchema = ORDER_ENTRY.one;
export type OrderEntry = z.infer<typeof OrderEntrySchema>;
/** The most records one append or one fetched page of the log may carry. */
export const MAX_LOG_PAGE = 100_000;
/**
 * A page of records: checked field by field without zod, which only names the error of a bad page.
 */
const OrderEntriesSchema = ORDER_ENTRY.list(MAX_LOG_PAGE);

/** Where a replica's log stands: what a candidate compares to pick the most up-to-date log. */
export const LogHeadSchema = z.object({
  /**
   * Epoch of the last leader whose whole start-of-epoch log this replica holds (VR's last normal
   * view).
   */
  logEpoch: EPOCH.schema(),
  lastIndex: LOG_POSITION.schema(),
  lastCrc: CRC32.schema(),
});
export type LogHead = z.infer<typeof LogHeadSchema>;

export const RoleSchema = z.enum(['follower', 'candidate', 'leader']);
export type Role = z.infer<typeof RoleSchema>;

/**
 * Whether a replica's durable state can be trusted (order/recovery.ts); only 'intact' counts toward
 * quorums.
 */
export const STORAGE_STATES = ['unverified', 'intact', 'recovering', 'amnesiac'] as const;
export const StorageStateSchema = z.enum(STORAGE_STATES);
export type StorageState = z.infer<typeof StorageStateSchema>;

export const ReplicaStatusSchema = z.object({
  id: REPLICA_ID.schema(),
  role: RoleSchema,
  promisedEpoch: EPOCH.schema(),
  /** Epoch this replica leads in, or null. */
  leaderEpoch: EPOCH.schema().nullable(),
  leaderId: REPLICA_ID.schema().nullable(),
  head: LogHeadSchema,
  commitIndex: LOG_POSITION.schema(),
  storage: StorageStateSchema,
  /**
   * Leading, and its start-of-epoch log is durable on a quorum (it may decide "never committed").
   */
  established: z.boolean(),
  /**
   * It lost contact with a quorum as leader, or could not gather one as candidate, and has heard
   * from no leader since: a poor candidate while the others can do better.
   */
  isolated: z.boolean(),
  /** The leader's view of each follower (empty unless leading). */
  followers: z.array(
    z.object({
      id: REPLICA_ID.schema(),
      reachable: z.boolean(),
      matchIndex: LOG_POSITION.schema(),
      nextIndex: LOG_LENGTH.schema(),
    }),
  ),
});
export type ReplicaStatus = z.infer<typeof ReplicaStatusSchema>;

export const PromiseRequestSchema = z.object({
  epoch: EPOCH.schema().positive(),
  candidateId: REPLICA_ID.schema(),
});
export type PromiseRequest = z.infer<typeof PromiseRequestSchema>;
export const PromiseResponseSchema = z.object({
  granted: z.boolean(),
  promisedEpoch: EPOCH.schema(),
  head: LogHeadSchema,
});
export type PromiseResponse = z.infer<typeof PromiseResponseSchema>;

export const AppendRequestSchema = z.object({
  epoch: EPOCH.schema().positive(),
  leaderId: REPLICA_ID.schema(),
  /** Index of the record just before `entries` (-1 for the start of the log) and its crc. */
  prevIndex: LOG_POSITION.schema(),
  prevCrc: CRC32.schema(),
  entries: OrderEntriesSchema,
  /**
   * The same records as the order log's own CSV lines (order/record-codec.ts), instead of
   * `entries` (then empty): sent only to a follower that answered `takesRecords`, so a replica of
   * an older version, which drops the field, is sent `entries` still. Its size is bounded by the
   * append route's body limit (shared/protocol/order.ts), its count by MAX_LOG_PAGE.
   */
  records: z.string().optional(),
  /** Highest index the leader knows is on a majority. */
  commitIndex: LOG_POSITION.schema(),
  /**
   * The leader's last index when its epoch began: a follower holding all of it may claim logEpoch =
   * epoch.
   */
  viewStartIndex: LOG_POSITION.schema(),
  /**
   * The leader's last index when it sent this: a follower's records past it are not in the leader's
   * log.
   */
  leaderLastIndex: LOG_POSITION.schema(),
  /**
   * The leader's start-of-epoch log is durable on a quorum of intact replicas (a recovering
   * follower may rejoin).
   */
  established: z.boolean(),
});
export type AppendRequest = z.infer<typeof AppendRequestSchema>;
/** The follower reads an append's `records` (absent from a replica older than that field). */
const TAKES_RECORDS = z.literal(true).optional();
export const AppendResponseSchema = z.discriminatedUnion('ok', [
  /**
   * logEpoch tells the leader whether this acknowledgement counts toward commit (it must equal the
   * leader's epoch); `storage` whether the follower counts at all (only an intact one does).
   */
  z.object({
    ok: z.literal(true),
    matchIndex: LOG_POSITION.schema(),
    logEpoch: EPOCH.schema(),
    storage: StorageStateSchema,
    takesRecords: TAKES_RECORDS,
  }),
  z.object({
    ok: z.literal(false),
    reason: z.literal('mismatch'),
    lastIndex: LOG_POSITION.schema(),
    storage: StorageStateSchema,
    takesRecords: TAKES_RECORDS,
  }),
]);
export type AppendResponse = z.infer<typeof AppendResponseSchema>;

export const FetchLogResponseSchema = z.object({
  /**
   * crc of the record at from-1 on the serving replica (0 when from is 0), null if it has no such
   * record.
   */
  prevCrc: CRC32.schema().nullable(),
  entries: OrderEntriesSchema,
  lastIndex: LOG_POSITION.schema(),
});
export type FetchLogResponse = z.infer<typeof FetchLogResponseSchema>;

export const LeadRequestSchema = z.object({ epoch: EPOCH.schema().positive() });
export type LeadRequest = z.infer<typeof LeadRequestSchema>;
export const LeadResponseSchema = z.object({
  epoch: EPOCH.schema().positive(),
  lastIndex: LOG_POSITION.schema(),
});
export type LeadResponse = z.infer<typeof LeadResponseSchema>;

export const LeaderNoticeSchema = z.object({
  epoch: EPOCH.schema().positive(),
  leaderId: REPLICA_ID.schema(),
});
export type LeaderNotice = z.infer<typeof LeaderNoticeSchema>;

export const CatchupRequestSchema = z.object({
  replicaId: REPLICA_ID.schema(),
  lastIndex: LOG_POSITION.schema(),
});
export type CatchupRequest = z.infer<typeof CatchupRequestSchema>;

/**
 * Frontend → leader: the order plus the epoch the frontend believes the leader leads, for fencing.
 */
export const LeaderOrderRequestSchema = OrderRequestSchema.extend({
  key: IDEMPOTENCY_KEY.schema(),
  epoch: EPOCH.schema().positive(),
});
export type LeaderOrderRequest = z.infer<typeof LeaderOrderRequestSchema>;

// ---------------------------------------------------------------- catalog (internal)

export const PurchaseRequestSchema = OrderRequestSchema.extend({
  /** Identity of the order attempt; the same key never decrements twice. */
  key: IDEMPOTENCY_KEY.schema(),
  /**
   * Epoch of the leader asking (fencing token; recorded, enforced once leaders tell the catalog).
   */
  epoch: EPOCH.schema(),
});
export type PurchaseRequest = z.infer<typeof PurchaseRequestSchema>;

// ---------------------------------------------------------------- batches (shared/batcher.ts)

/** Most calls one batch request carries (the leader's orders, the catalog's purchases). */
export const MAX_BATCH_ITEMS = 512;
/** Bytes one batch body may take: every item at its longest fits with room to spare. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/** One item's answer in a batch: its data, or the error body it would have had on its own. */
export function batchResultSchema<T extends z.ZodTypeAny>(data: T) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), data }),
    z.object({
      ok: z.literal(false),
      status: z.number().int().min(400).max(599),
      error: z.object({
        code: z.number().int(),
        message: z.string(),
        reason: z.string().optional(),
        detail: z.record(z.unknown()).optional(),
      }),
    }),
  ]);
}
export type BatchResult<T> =
  | { ok: true; data: T }
  | {
      ok: false;
      status: number;
      error: { code: number; message: string; reason?: string; detail?: Record<string, unknown> };
    };

export const PurchaseBatchRequestSchema = z.object({
  purchases: z.array(PurchaseRequestSchema).min(1).max(MAX_BATCH_ITEMS),
});
export type PurchaseBatchRequest = z.infer<typeof PurchaseBatchRequestSchema>;
export const LeaderOrderBatchRequestSchema = z.object({
  orders: z.array(LeaderOrderRequestSchema).min(1).max(MAX_BATCH_ITEMS),
});
export type LeaderOrderBatchRequest = z.infer<typeof LeaderOrderBatchRequestSchema>;
/**
 * A frontend's concurrent order reads in one request (shared/batcher.ts): each item is what
 * `GET /orders/:number?epoch=` carries, and answers as that read would.
 */
export const OrderReadBatchRequestSchema = z.object({
  reads: z
    .array(z.object({ number: ORDER_NUMBER.schema(), epoch: EPOCH.schema().positive().optional() }))
    .min(1)
    .max(MAX_BATCH_ITEMS),
});
export type OrderReadBatchRequest = z.infer<typeof OrderReadBatchRequestSchema>;
/**
 * A leader's answer to one order of a batch: its number, and whether it replays an earlier
 * request's.
 */
export const PlacedOrderSchema = z.object({
  order_number: ORDER_NUMBER.schema(),
  replayed: z.boolean(),
});
export type PlacedOrder = z.infer<typeof PlacedOrderSchema>;
export const PurchaseResultSchema = z.object({ name: TOY_NAME.schema(), quantity: STOCK.schema() });
export type PurchaseResult = z.infer<typeof PurchaseResultSchema>;
/** A batch's answer: one result per item sent, in order. */
export const batchAnswerSchema = <T extends z.ZodTypeAny>(data: T) =>
  z.object({ results: z.array(batchResultSchema(data)) });
/**
 * `POST /orders/batch` on a replica and `POST /purchases/batch` on the catalog (shared/protocol/).
 */
export const OrderBatchAnswerSchema = batchAnswerSchema(PlacedOrderSchema);
/** `POST /orders/reads` on a replica. */
export const OrderReadBatchAnswerSchema = batchAnswerSchema(OrderSchema);
/**
 * A frontend's concurrent product reads in one request: each name answers as
 * `GET /products/:name` would (a name the frontend would send at all: shared/fields.ts).
 */
export const ProductReadBatchRequestSchema = z.object({
  names: z.array(z.string().max(MAX_NAME_LENGTH)).min(1).max(MAX_BATCH_ITEMS),
});
export type ProductReadBatchRequest = z.infer<typeof ProductReadBatchRequestSchema>;
/** `POST /products/reads` on the catalog. */
export const ProductReadBatchAnswerSchema = batchAnswerSchema(ProductSchema);
export const PurchaseBatchAnswerSchema = batchAnswerSchema(PurchaseResultSchema);

/**
 * One toy dropped by hand (`POST /internal/invalidate`, an operator's curl); carries no sequence.
 */
export const InvalidationSchema = z.object({ name: TOY_NAME.schema() });
export type Invalidation = z.infer<typeof InvalidationSchema>;

/**
 * Catalog → frontend (`POST /internal/changes`, catalog/invalidator.ts): `seq` is the catalog's
 * change sequence (its ledger's last durable seq, -1 for none) when the notice was built, and
 * `names` holds every toy that changed after `sinceSeq` up to `seq` and was not yet
 * acknowledged by this frontend. Empty `names` is the periodic "still at seq N" beat. A frontend
 * that has heard less than `sinceSeq`, or hears a `seq` below one it already heard, has missed
 * changes and drops its cache (frontend/freshness.ts).
 */
/** Far more toys than a catalog has (each is named at most once per notice). */
export const MAX_NOTICE_NAMES = 1_000;
export const ChangeNoticeSchema = z
  .object({
    seq: LEDGER_POSITION.schema(),
    sinceSeq: LEDGER_POSITION.schema(),
    names: z.array(TOY_NAME.schema()).max(MAX_NOTICE_NAMES),
  })
  .refine((n) => n.sinceSeq <= n.seq, {
    message: 'sinceSeq must not be above seq',
    path: ['sinceSeq'],
  });
export type ChangeNotice = z.infer<typeof ChangeNoticeSchema>;
/** How often the catalog sends each frontend a beat when it has no change to push. */
export const CHANGE_BEAT_INTERVAL_MS = 1_000;
/**
 * A frontend that has heard no notice for this long stops serving from its cache until it does:
 * three beats, so one lost or slow beat is not enough. Also the staleness bound the README states.
 */
export const CHANGE_SILENCE_MS = 3_000;

// ---------------------------------------------------------------- helpers

/** Validates a parsed value, or throws a 400 that names the first bad field. */
export function parseWith<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  value: unknown,
  what = 'body',
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : what;
  const message =
    issue?.code === 'invalid_type' && issue.received === 'undefined'
      ? `${path} is required`
      : `${path}: ${issue?.message ?? 'invalid'}`;
  throw badRequest(message);
}

/** Reads a JSON request body and validates it; a body that is not JSON is a 400, not a 500. */
export async function parseJsonBody<T>(
  req: { text(): Promise<string> },
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
): Promise<T> {
  const text = await req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('body must be valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badRequest('body must be a JSON object');
  return parseWith(schema, value);
}

// ---------------------------------------------------------------- exactly-once and auditing

/**
 * Client-chosen identity of one intended order (IETF draft "The Idempotency-Key HTTP Header
 * Field").
 */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/**
 * The `Idempotency-Key` header's value: undefined when absent, else a valid key (shared/fields.ts)
 * or a 400. `occurrences` is how many times the header was sent, where the raw headers are known:
 * Node joins repeats into "a, b", which the key's charset (no spaces) refuses anyway, but a count
 * names the fault and also catches a repeat whose other copy was empty.
 */
export function parseIdempotencyKeyHeader(
  raw: string | undefined,
  occurrences?: number,
): string | undefined {
  if (occurrences !== undefined && occurrences > 1)
    throw badRequest(`Idempotency-Key was sent ${occurrences} times; send it once`);
  if (raw === undefined) return undefined;
  const problem = IDEMPOTENCY_KEY.problem(raw);
  if (problem)
    throw badRequest(
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} ${IDEMPOTENCY_KEY.charset}: ${problem}`,
    );
  return raw;
}

/**
 * How many times header `name` (lower case) occurs in Node's `rawHeaders` ([name, value, name,
 * value, ...]).
 */
export function countRawHeader(rawHeaders: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

/** Set to "true" on a response that replays the outcome of an earlier request with the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/**
 * One change of stock in the catalog's durable ledger (DATA_DIR/catalog/ledger.csv), in order.
 * `delta` is signed (purchase < 0, release and restock > 0); `quantityAfter` is the toy's stock
 * right after it. A purchase carries the order key and the leader's epoch; a release undoes the
 * purchase with the same key (its order never committed); a restock has an empty key. A refusal
 * (delta 0) records that a key was refused for lack of stock, so a retry of that key gets the
 * same answer even after a restock.
 */
export const LedgerEntrySchema = z.object({
  seq: LEDGER_SEQ.schema(),
  kind: z.enum(['purchase', 'release', 'restock', 'refusal']),
  /** An idempotency key, or empty for a restock. */
  key: LEDGER_KEY.schema(),
  epoch: EPOCH.schema(),
  name: TOY_NAME.schema(),
  delta: STOCK_DELTA.schema(),
  quantityAfter: STOCK.schema(),
  /** A refusal's asked quantity, so a later reuse of its key with another quantity is a 422. */
  refused: REFUSED_QUANTITY.schema(),
});
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

/**
 * One line of a client history file (`npm run client -- --history FILE`), Jepsen style: every
 * operation is an `invoke` followed by exactly one of `ok` (definitely happened), `fail`
 * (definitely did not) or `info` (unknown). Times are monotonic ms since the run started.
 */
/**
 * One HTTP attempt of an operation: its status (null: no answer), the error body's `reason` code
 * or the network error, and whether its outcome was unknown (it may have been acted on).
 */
export const HistoryAttemptSchema = z.object({
  status: z.number().int().nullable(),
  reason: z.string().max(200).nullable(),
  uncertain: z.boolean(),
});
export type HistoryAttempt = z.infer<typeof HistoryAttemptSchema>;

export const HistoryEventSchema = z.object({
  type: z.enum(['invoke', 'ok', 'fail', 'info']),
  /** Operation id, unique within one history; pairs an invoke with its completion. */
  op: z.number().int().nonnegative(),
  client: z.number().int().nonnegative(),
  f: z.enum(['query', 'order', 'read']),
  key: z.string().nullable(),
  request: z.record(z.unknown()),
  response: z.object({ status: z.number().int(), body: z.unknown() }).nullable(),
  timeMs: z.number(),
  /**
   * On a completion: every HTTP attempt, oldest first (the client's retries; optional, bounded).
   */
  attempts: z.array(HistoryAttemptSchema).max(1000).optional(),
});
export type HistoryEvent = z.infer<typeof HistoryEventSchema>;

export const FenceRequestSchema = z.object({ epoch: EPOCH.schema().positive() });
export type FenceRequest = z.infer<typeof FenceRequestSchema>;

/** A purchase whose order the leaders have not yet accounted for (committed or released). */
export const PendingPurchaseSchema = z.object({
  seq: LEDGER_SEQ.schema(),
  key: IDEMPOTENCY_KEY.schema(),
  epoch: EPOCH.schema(),
  name: TOY_NAME.schema(),
  quantity: ORDER_QUANTITY.schema(),
});
export type PendingPurchase = z.infer<typeof PendingPurchaseSchema>;
export const PendingResponseSchema = z.object({
  entries: z.array(PendingPurchaseSchema),
  fenceEpoch: EPOCH.schema(),
});
export type PendingResponse = z.infer<typeof PendingResponseSchema>;

/**
 * One purchase, named by its key and its ledger seq. A key alone is not enough: once a purchase is
 * released, a client's retry may buy under the same key again, and a late duplicate of the
 * reconcile that released the first must not touch the second.
 */
export const PurchaseRefSchema = z.object({
  key: IDEMPOTENCY_KEY.schema(),
  seq: LEDGER_SEQ.schema(),
});
export type PurchaseRef = z.infer<typeof PurchaseRefSchema>;

/** How many purchases one reconcile may name in each list; a leader sends the rest next round. */
export const MAX_RECONCILE_ITEMS = 4096;

/**
 * Leader → catalog: these pending purchases have committed orders; these never will (undo them).
 */
export const ReconcileRequestSchema = z.object({
  epoch: EPOCH.schema().positive(),
  committed: z.array(PurchaseRefSchema).max(MAX_RECONCILE_ITEMS),
  release: z.array(PurchaseRefSchema).max(MAX_RECONCILE_ITEMS),
});
export type ReconcileRequest = z.infer<typeof ReconcileRequestSchema>;
export const ReconcileResultSchema = z.object({
  released: z.number().int().nonnegative(),
  pending: z.number().int().nonnegative(),
});
export type ReconcileResult = z.infer<typeof ReconcileResultSchema>;
