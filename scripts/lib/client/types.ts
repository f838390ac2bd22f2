/** The client's options and results: what a caller passes to `runClients` and gets back. */
import type { HistoryEvent } from '../../../shared/contracts.ts';
import type { HttpClient } from '../../../shared/http.ts';
import type { StoreViolation } from './violations.ts';

export type RequestType = 'query' | 'order' | 'order_query';
export const REQUEST_TYPES: readonly RequestType[] = ['query', 'order', 'order_query'];

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Delay before the first retry, ms; 0 retries at once (tests). */
  minTimeout: number;
  factor: number;
  maxTimeout: number;
}
export const DEFAULT_RETRY: RetryPolicy = {
  retries: 6,
  minTimeout: 50,
  factor: 2,
  maxTimeout: 2_000,
};

/** A client's transport; `close` (if present) is called when the run ends. */
export type ClientHttp = HttpClient & { close?: () => Promise<void> };

/** Receives every history event as it happens. */
export type HistorySink = (event: HistoryEvent) => void;

export interface RunClientsOptions {
  /** Frontend origin, e.g. http://127.0.0.1:8000 (a trailing slash is ignored). */
  baseUrl: string;
  clients: number;
  /**
   * Iterations per client; unbounded when absent (then `durationMs` or `signal` must bound the
   * run).
   */
  iterations?: number;
  /** No client starts a new iteration after this many ms since the run started. */
  durationMs?: number;
  /** No client starts a new iteration once this is aborted; the read-back still runs. */
  signal?: AbortSignal;
  /** Probability of ordering a toy that is in stock, in [0, 1]. */
  p: number;
  /** uint32 seed for the choices; random (and reported) when absent. */
  seed?: number;
  /**
   * Makes the transport of client `clientId` (0-based). Default: one pooled keep-alive connection
   * each.
   */
  http?: (clientId: number) => ClientHttp;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout passed to the transport; the transport's default when absent. */
  timeoutMs?: number;
  /**
   * Send an Idempotency-Key per intended order and retry unknown outcomes with it (default true).
   */
  idempotency?: boolean;
  /**
   * Makes the key of one intended order (default `<run uuid>-<client>-<iteration>`). Must be unique
   * per intended order.
   */
  makeKey?: (client: number, iteration: number) => string;
  /** Gets every history event (invoke / ok / fail / info). */
  history?: HistorySink;
  /** `performance.now()` value history times are relative to (default: when the run starts). */
  timeOrigin?: number;
  /** Pause between one client's iterations, ms (default 0: closed loop). */
  thinkMs?: number;
  /** Awaited after every client is done and before the read-back (e.g. heal a cluster first). */
  beforeReadBack?: () => Promise<void>;
  /** Called about once a second while the clients run (the CLI's progress line). */
  onProgress?: (p: Progress) => void;
  /** How often `onProgress` is called, ms (default 1000). */
  progressIntervalMs?: number;
  /**
   * Checked before each read-back; once true, the remaining ones are skipped (counted unverified).
   */
  skipReadBack?: () => boolean;
}

export interface RequestStats {
  /** Logical requests (one per query / order / read-back, however many attempts it took). */
  count: number;
  /** HTTP attempts, retries included. */
  attempts: number;
  /** Requests that ended in error after retries (409 and unknown outcomes are not failures). */
  failures: number;
  /** 409 answers (orders only). */
  rejected: number;
  /** Orders whose outcome is unknown (retries ran out, or not retried without idempotency). */
  unknown: number;
  /**
   * Answers that replayed an earlier attempt's outcome (`idempotent-replayed: true`; orders only).
   */
  replayed: number;
  /**
   * Latency percentiles in ms over definitely answered requests (HdrHistogram, exact to 0.1 %);
   * null when there are none.
   */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface AcknowledgedOrder {
  client: number;
  iteration: number;
  order_number: number;
  name: string;
  quantity: number;
  /** The idempotency key it was sent with (null without idempotency). */
  key: string | null;
}

export interface UnknownOrder {
  client: number;
  iteration: number;
  name: string;
  quantity: number;
  key: string | null;
  reason: string;
}

export type MismatchKind = 'missing' | 'different' | 'duplicate';
export interface Mismatch {
  kind: MismatchKind;
  order_number: number;
  /** What the store acknowledged (for 'duplicate', every order acknowledged with that number). */
  expected: Array<{ client: number; iteration: number; name: string; quantity: number }>;
  /** What the read-back returned ('different' only). */
  actual?: unknown;
  message: string;
}

export interface OrderCounts {
  /** Orders the store acknowledged with an order number. */
  acknowledged: number;
  /** Orders refused with 409 (not enough stock). */
  rejected: number;
  /** Orders that may or may not have been taken. */
  unknown: number;
  /** Orders that certainly were not taken (400/404/422, or 503/refused on every attempt). */
  failed: number;
}

export interface RunSummary {
  baseUrl: string;
  clients: number;
  /** Iterations per client, or null when the run was bounded by time only. */
  iterations: number | null;
  /** The `durationMs` bound, or null. */
  timeLimitMs: number | null;
  p: number;
  seed: number;
  idempotency: boolean;
  /** How long the run took, read-back included. */
  durationMs: number;
  products: string[];
  stats: Record<RequestType, RequestStats>;
  orders: OrderCounts;
  /** Acknowledged orders whose read-back returned what was acknowledged. */
  verified: number;
  /**
   * Acknowledged orders whose read-back itself failed (network / 503 / 5xx): neither verified nor a
   * mismatch.
   */
  unverified: number;
  mismatches: Mismatch[];
  /** Why requests failed or ended unknown, as `"<type> <reason>" → count`. */
  failureReasons: Record<string, number>;
  /**
   * Promises the store broke that the client saw itself (kept up to a bound; `storeViolationCount`
   * counts all).
   */
  storeViolations: StoreViolation[];
  storeViolationCount: number;
}

export interface RunResult extends RunSummary {
  acknowledgedOrders: AcknowledgedOrder[];
  unknownOrders: UnknownOrder[];
}

/** How the run is going so far, for a progress line. */
export interface Progress {
  elapsedMs: number;
  /** Logical requests completed so far (every type). */
  requests: number;
  /** Requests per second over the last interval. */
  perSecond: number;
  /** Failures and unknown outcomes so far. */
  errors: number;
  /** p99 latency so far over every request type, ms; null before the first answer. */
  p99Ms: number | null;
  storeViolations: number;
}
