/**
 * The wire shapes of every service, public and internal, as zod schemas with their inferred types.
 *
 * One module so that the side that sends a message and the side that receives it share the same
 * type, and every boundary validates with the same rules. `parseBody` turns a validation failure
 * into a 400 naming the offending field, so bad input never reaches service logic.
 */
import { z } from 'zod';
import { badRequest } from './errors.ts';

/** Larger than any stock could ever be; a quantity above it is a client bug, not a big order. */
export const MAX_ORDER_QUANTITY = 10_000;
export const MAX_NAME_LENGTH = 100;
/** Public request bodies are tiny; anything above this is rejected before parsing. */
export const MAX_PUBLIC_BODY_BYTES = 4 * 1024;

// ---------------------------------------------------------------- public API (the lab's shapes)

export const ProductSchema = z.object({
  name: z.string(),
  price: z.number(),
  quantity: z.number().int().nonnegative(),
});
export type Product = z.infer<typeof ProductSchema>;

export const OrderRequestSchema = z.object({
  name: z.string({ required_error: 'name is required', invalid_type_error: 'name must be a string' })
    .min(1, 'name must not be empty').max(MAX_NAME_LENGTH, `name is longer than ${MAX_NAME_LENGTH} characters`),
  quantity: z.number({ required_error: 'quantity is required', invalid_type_error: 'quantity must be a number' })
    .int('quantity must be an integer').positive('quantity must be positive')
    .max(MAX_ORDER_QUANTITY, `quantity must be at most ${MAX_ORDER_QUANTITY}`),
});
export type OrderRequest = z.infer<typeof OrderRequestSchema>;

export const OrderSchema = z.object({ number: z.number().int().nonnegative(), name: z.string(), quantity: z.number().int().positive() });
export type Order = z.infer<typeof OrderSchema>;

export const OrderPlacedSchema = z.object({ order_number: z.number().int().nonnegative() });
export type OrderPlaced = z.infer<typeof OrderPlacedSchema>;

/** A path parameter that must be a non-negative integer order number (no signs, no decimals). */
export function parseOrderNumber(raw: string): number {
  if (!/^\d{1,15}$/.test(raw)) throw badRequest('order number must be a non-negative integer');
  return Number(raw);
}

// ---------------------------------------------------------------- order log and replication

/**
 * One order as it sits in a replica's log. `index` is the order number. `epoch` is the epoch of
 * the leader that created the record (never rewritten when a later leader carries it over).
 * `key` identifies the client request (the catalog dedups stock changes by it, the leader dedups
 * retries by it). `crc` chains this record's content to the previous record's crc, so two
 * replicas with equal crc at index i hold equal prefixes up to i.
 */
export const OrderEntrySchema = z.object({
  index: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative(),
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  quantity: z.number().int().positive().max(MAX_ORDER_QUANTITY),
  key: z.string().min(1).max(255),
  crc: z.number().int().nonnegative(),
});
export type OrderEntry = z.infer<typeof OrderEntrySchema>;

/** Where a replica's log stands: what a candidate compares to pick the most up-to-date log. */
export const LogHeadSchema = z.object({
  /** Epoch of the last leader whose whole start-of-epoch log this replica holds (VR's last normal view). */
  logEpoch: z.number().int().nonnegative(),
  lastIndex: z.number().int().min(-1),
  lastCrc: z.number().int().nonnegative(),
});
export type LogHead = z.infer<typeof LogHeadSchema>;

export const RoleSchema = z.enum(['follower', 'candidate', 'leader']);
export type Role = z.infer<typeof RoleSchema>;

/** Whether a replica's durable state can be trusted (order/recovery.ts); only 'intact' counts toward quorums. */
export const STORAGE_STATES = ['unverified', 'intact', 'recovering', 'amnesiac'] as const;
export const StorageStateSchema = z.enum(STORAGE_STATES);
export type StorageState = z.infer<typeof StorageStateSchema>;

export const ReplicaStatusSchema = z.object({
  id: z.number().int().positive(),
  role: RoleSchema,
  promisedEpoch: z.number().int().nonnegative(),
  /** Epoch this replica leads in, or null. */
  leaderEpoch: z.number().int().nonnegative().nullable(),
  leaderId: z.number().int().positive().nullable(),
  head: LogHeadSchema,
  commitIndex: z.number().int().min(-1),
  storage: StorageStateSchema,
  /** Leading, and its start-of-epoch log is durable on a quorum (it may decide "never committed"). */
  established: z.boolean(),
  /** The leader's view of each follower (empty unless leading). */
  followers: z.array(z.object({ id: z.number().int().positive(), reachable: z.boolean(), matchIndex: z.number().int().min(-1), nextIndex: z.number().int().nonnegative() })),
});
export type ReplicaStatus = z.infer<typeof ReplicaStatusSchema>;

export const PromiseRequestSchema = z.object({ epoch: z.number().int().positive(), candidateId: z.number().int().positive() });
export type PromiseRequest = z.infer<typeof PromiseRequestSchema>;
export const PromiseResponseSchema = z.object({ granted: z.boolean(), promisedEpoch: z.number().int().nonnegative(), head: LogHeadSchema });
export type PromiseResponse = z.infer<typeof PromiseResponseSchema>;

export const AppendRequestSchema = z.object({
  epoch: z.number().int().positive(),
  leaderId: z.number().int().positive(),
  /** Index of the record just before `entries` (-1 for the start of the log) and its crc. */
  prevIndex: z.number().int().min(-1),
  prevCrc: z.number().int().nonnegative(),
  entries: z.array(OrderEntrySchema),
  /** Highest index the leader knows is on a majority. */
  commitIndex: z.number().int().min(-1),
  /** The leader's last index when its epoch began: a follower holding all of it may claim logEpoch = epoch. */
  viewStartIndex: z.number().int().min(-1),
  /** The leader's last index when it sent this: a follower's records past it are not in the leader's log. */
  leaderLastIndex: z.number().int().min(-1),
  /** The leader's start-of-epoch log is durable on a quorum of intact replicas (a recovering follower may rejoin). */
  established: z.boolean(),
});
export type AppendRequest = z.infer<typeof AppendRequestSchema>;
export const AppendResponseSchema = z.discriminatedUnion('ok', [
  /**
   * logEpoch tells the leader whether this acknowledgement counts toward commit (it must equal the
   * leader's epoch); `storage` whether the follower counts at all (only an intact one does).
   */
  z.object({ ok: z.literal(true), matchIndex: z.number().int().min(-1), logEpoch: z.number().int().nonnegative(), storage: StorageStateSchema }),
  z.object({ ok: z.literal(false), reason: z.literal('mismatch'), lastIndex: z.number().int().min(-1), storage: StorageStateSchema }),
]);
export type AppendResponse = z.infer<typeof AppendResponseSchema>;

export const FetchLogResponseSchema = z.object({
  /** crc of the record at from-1 on the serving replica (0 when from is 0), null if it has no such record. */
  prevCrc: z.number().int().nonnegative().nullable(),
  entries: z.array(OrderEntrySchema),
  lastIndex: z.number().int().min(-1),
});
export type FetchLogResponse = z.infer<typeof FetchLogResponseSchema>;

export const LeadRequestSchema = z.object({ epoch: z.number().int().positive() });
export type LeadRequest = z.infer<typeof LeadRequestSchema>;
export const LeadResponseSchema = z.object({ epoch: z.number().int().positive(), lastIndex: z.number().int().min(-1) });
export type LeadResponse = z.infer<typeof LeadResponseSchema>;

export const LeaderNoticeSchema = z.object({ epoch: z.number().int().positive(), leaderId: z.number().int().positive() });
export type LeaderNotice = z.infer<typeof LeaderNoticeSchema>;

export const CatchupRequestSchema = z.object({ replicaId: z.number().int().positive(), lastIndex: z.number().int().min(-1) });
export type CatchupRequest = z.infer<typeof CatchupRequestSchema>;

/** Frontend → leader: the order plus the epoch the frontend believes the leader leads, for fencing. */
export const LeaderOrderRequestSchema = OrderRequestSchema.extend({
  key: z.string().min(1).max(255),
  epoch: z.number().int().positive(),
});
export type LeaderOrderRequest = z.infer<typeof LeaderOrderRequestSchema>;

// ---------------------------------------------------------------- catalog (internal)

export const PurchaseRequestSchema = OrderRequestSchema.extend({
  /** Identity of the order attempt; the same key never decrements twice. */
  key: z.string().min(1).max(255),
  /** Epoch of the leader asking (fencing token; recorded, enforced once leaders tell the catalog). */
  epoch: z.number().int().nonnegative(),
});
export type PurchaseRequest = z.infer<typeof PurchaseRequestSchema>;
export const PurchaseResultSchema = z.object({ name: z.string(), quantity: z.number().int().nonnegative() });
export type PurchaseResult = z.infer<typeof PurchaseResultSchema>;

export const InvalidationSchema = z.object({ name: z.string().min(1).max(MAX_NAME_LENGTH) });
export type Invalidation = z.infer<typeof InvalidationSchema>;

// ---------------------------------------------------------------- helpers

/** Validates a parsed value, or throws a 400 that names the first bad field. */
export function parseWith<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, what = 'body'): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue && issue.path.length ? issue.path.join('.') : what;
  const message = issue?.code === 'invalid_type' && issue.received === 'undefined' ? `${path} is required` : `${path}: ${issue?.message ?? 'invalid'}`;
  throw badRequest(message);
}

/** Reads a JSON request body and validates it; a body that is not JSON is a 400, not a 500. */
export async function parseJsonBody<T>(req: { text(): Promise<string> }, schema: z.ZodType<T, z.ZodTypeDef, unknown>): Promise<T> {
  const text = await req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('body must be valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('body must be a JSON object');
  return parseWith(schema, value);
}

// ---------------------------------------------------------------- exactly-once and auditing

/** Client-chosen identity of one intended order (IETF draft "The Idempotency-Key HTTP Header Field"). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Set to "true" on a response that replays the outcome of an earlier request with the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * One change of stock in the catalog's durable ledger (DATA_DIR/catalog/ledger.csv), in order.
 * `delta` is signed (purchase < 0, release and restock > 0); `quantityAfter` is the toy's stock
 * right after it. A purchase carries the order key and the leader's epoch; a release undoes the
 * purchase with the same key (its order never committed); a restock has an empty key. A refusal
 * (delta 0) records that a key was refused for lack of stock, so a retry of that key gets the
 * same answer even after a restock.
 */
export const LedgerEntrySchema = z.object({
  seq: z.number().int().nonnegative(),
  kind: z.enum(['purchase', 'release', 'restock', 'refusal']),
  key: z.string().max(MAX_IDEMPOTENCY_KEY_LENGTH),
  epoch: z.number().int().nonnegative(),
  name: z.string().min(1).max(MAX_NAME_LENGTH),
  delta: z.number().int(),
  quantityAfter: z.number().int().nonnegative(),
});
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

/**
 * One line of a client history file (`npm run client -- --history FILE`), Jepsen style: every
 * operation is an `invoke` followed by exactly one of `ok` (definitely happened), `fail`
 * (definitely did not) or `info` (unknown). Times are monotonic ms since the run started.
 */
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
});
export type HistoryEvent = z.infer<typeof HistoryEventSchema>;

export const FenceRequestSchema = z.object({ epoch: z.number().int().positive() });
export type FenceRequest = z.infer<typeof FenceRequestSchema>;

/** A purchase whose order the leaders have not yet accounted for (committed or released). */
export const PendingPurchaseSchema = z.object({
  seq: z.number().int().nonnegative(),
  key: z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH),
  epoch: z.number().int().nonnegative(),
  name: z.string(),
  quantity: z.number().int().positive(),
});
export type PendingPurchase = z.infer<typeof PendingPurchaseSchema>;
export const PendingResponseSchema = z.object({ entries: z.array(PendingPurchaseSchema), fenceEpoch: z.number().int().nonnegative() });
export type PendingResponse = z.infer<typeof PendingResponseSchema>;

/** Leader → catalog: these pending purchases have committed orders; these never will (undo them). */
export const ReconcileRequestSchema = z.object({
  epoch: z.number().int().positive(),
  committed: z.array(z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH)),
  release: z.array(z.string().min(1).max(MAX_IDEMPOTENCY_KEY_LENGTH)),
});
export type ReconcileRequest = z.infer<typeof ReconcileRequestSchema>;
export const ReconcileResultSchema = z.object({ released: z.number().int().nonnegative(), pending: z.number().int().nonnegative() });
export type ReconcileResult = z.infer<typeof ReconcileResultSchema>;
