/**
 * The load-generating client of the toy store, as a library the CLI (`scripts/client.ts`), the
 * chaos tool (`scripts/chaos-lib.ts`) and the tests drive in-process.
 *
 * `runClients` starts N concurrent clients against the frontend's public API. It lists the toys
 * once (GET /products), then each client, per iteration, queries a random toy and, if it is in
 * stock, orders 1–5 of it with probability p. A run is bounded by `iterations` per client, by
 * `durationMs` (no new iteration starts after it), by an AbortSignal, or by any of them. Every
 * order the store acknowledges is recorded and, once all clients are done, read back
 * (GET /orders/:n) and compared: a 404 or different content for an acknowledged order, or two
 * acknowledged orders sharing a number, is a mismatch.
 *
 * Exactly-once from the client's side (default, `idempotency: true`): every intended order gets a
 * fresh key (randomUUID unless `makeKey` is given) sent as the `Idempotency-Key` header, and every
 * retry of that order reuses it. The store promises that the same key with the same body has one
 * outcome (a replay answers with `idempotent-replayed: true`), so an order whose outcome is
 * unknown (reset, timeout, 504 or another 5xx) is retried too, with backoff, and is reported
 * unknown only if the retries run out. A 503 or a refused connection means "this attempt was not
 * taken", so it is retried as well; but once any attempt's outcome was unknown, a later 503 does
 * not make the order a definite failure (the earlier attempt may have committed), so running out
 * of retries then reports it unknown. A definite answer (2xx, 4xx) about the key is final.
 *
 * `idempotency: false` (CLI `--no-idempotency`) restores the old rule: no key, and a POST is
 * retried only on a 503 or a refused connection; a reset, timeout, 504 or other 5xx is recorded
 * unknown and never retried, since a retry could buy twice. GETs are always retried on any
 * network error or 503. 409 (sold out) is a normal outcome, counted as `rejected`. Retry-After is
 * not honoured: the backoff is already short and bounded.
 *
 * History (`history` sink; CLI `--history FILE`): one `HistoryEvent` (shared/contracts.ts) per
 * operation event, Jepsen style: `invoke`, then exactly one of `ok` (definitely happened: an order
 * answered 200, a query or read-back answered 200 or 404), `fail` (definitely did not: 400, 404,
 * 409, 422, or 503 on every attempt for an order; any other definite answer for a GET) or `info`
 * (unknown: a network error, or a 504/5xx after the retries ran out). Retries are not separate
 * operations: one intended order is one invoke and one completion carrying the final response.
 * `f` is `query` (GET /products/:name), `order` (POST /orders) or `read` (the read-back). Times
 * are `performance.now()` ms since `timeOrigin` (default: the start of the run). The initial
 * product listing is setup, not an operation, and is not recorded.
 *
 * Latency is measured per logical request with `performance.now()`, retries and backoff
 * included (what a user waits), and only for requests that got a definite answer, so a 5 s
 * timeout does not masquerade as a latency. `attempts` counts HTTP attempts. Choices come from a
 * seeded PRNG (mulberry32, one stream per client); each iteration draws the same three numbers
 * whatever the store answers, so a seed fixes every client's choices. Without a seed one is
 * drawn at random and reported, so a run can be replayed.
 *
 * The transport is injectable: `http` makes one `HttpClient` per client. The default is
 * `createPooledHttp({ connectionsPerOrigin: 1 })`, so each client keeps one keep-alive
 * connection. `runClients` closes every transport it made that has a `close` method.
 */
import pRetry, { AbortError } from 'p-retry';
import { randomInt, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  IDEMPOTENCY_KEY_HEADER,
  OrderPlacedSchema,
  OrderSchema,
  ProductSchema,
  REPLAYED_HEADER,
  type HistoryEvent,
  type Product,
} from '../shared/contracts.ts';
import { createPooledHttp, NetworkError, type HttpClient, type HttpRequest, type HttpResponse } from '../shared/http.ts';

// ---------------------------------------------------------------- options and results

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
export const DEFAULT_RETRY: RetryPolicy = { retries: 6, minTimeout: 50, factor: 2, maxTimeout: 2_000 };

/** A client's transport; `close` (if present) is called when the run ends. */
export type ClientHttp = HttpClient & { close?: () => Promise<void> };

/** Receives every history event as it happens. */
export type HistorySink = (event: HistoryEvent) => void;

export interface RunClientsOptions {
  /** Frontend origin, e.g. http://127.0.0.1:8000 (a trailing slash is ignored). */
  baseUrl: string;
  clients: number;
  /** Iterations per client; unbounded when absent (then `durationMs` or `signal` must bound the run). */
  iterations?: number;
  /** No client starts a new iteration after this many ms since the run started. */
  durationMs?: number;
  /** No client starts a new iteration once this is aborted; the read-back still runs. */
  signal?: AbortSignal;
  /** Probability of ordering a toy that is in stock, in [0, 1]. */
  p: number;
  /** uint32 seed for the choices; random (and reported) when absent. */
  seed?: number;
  /** Makes the transport of client `clientId` (0-based). Default: one pooled keep-alive connection each. */
  http?: (clientId: number) => ClientHttp;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout passed to the transport; the transport's default when absent. */
  timeoutMs?: number;
  /** Send an Idempotency-Key per intended order and retry unknown outcomes with it (default true). */
  idempotency?: boolean;
  /** Makes the key of one intended order (default randomUUID). Must be unique per intended order. */
  makeKey?: (client: number, iteration: number) => string;
  /** Gets every history event (invoke / ok / fail / info). */
  history?: HistorySink;
  /** `performance.now()` value history times are relative to (default: when the run starts). */
  timeOrigin?: number;
  /** Pause between one client's iterations, ms (default 0: closed loop). */
  thinkMs?: number;
  /** Awaited after every client is done and before the read-back (e.g. heal a cluster first). */
  beforeReadBack?: () => Promise<void>;
  /** Checked before each read-back; once true, the remaining ones are skipped (counted unverified). */
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
  /** Answers that replayed an earlier attempt's outcome (`idempotent-replayed: true`; orders only). */
  replayed: number;
  /** Latency percentiles in ms over definitely answered requests; null when there are none. */
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
  /** Acknowledged orders whose read-back itself failed (network / 503 / 5xx): neither verified nor a mismatch. */
  unverified: number;
  mismatches: Mismatch[];
  /** Why requests failed or ended unknown, as `"<type> <reason>" → count`. */
  failureReasons: Record<string, number>;
}

export interface RunResult extends RunSummary {
  acknowledgedOrders: AcknowledgedOrder[];
  unknownOrders: UnknownOrder[];
}

// ---------------------------------------------------------------- PRNG

/** mulberry32: a tiny, fast, seedable uint32 PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One independent stream per client, derived from the run's seed. */
function clientRng(seed: number, clientId: number): () => number {
  const mixed = mulberry32((seed ^ Math.imul(clientId + 1, 0x9e3779b1)) >>> 0);
  return mulberry32(Math.floor(mixed() * 4294967296));
}

// ---------------------------------------------------------------- stats

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? null;
}

class StatsCollector {
  count = 0;
  attempts = 0;
  failures = 0;
  rejected = 0;
  unknown = 0;
  replayed = 0;
  readonly latencies: number[] = [];

  snapshot(): RequestStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      count: this.count,
      attempts: this.attempts,
      failures: this.failures,
      rejected: this.rejected,
      unknown: this.unknown,
      replayed: this.replayed,
      p50: round(percentile(sorted, 0.5)),
      p95: round(percentile(sorted, 0.95)),
      p99: round(percentile(sorted, 0.99)),
    };
  }
}

// ---------------------------------------------------------------- requests with retries

function errorMessage(res: HttpResponse): string | undefined {
  const msg = (res.body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof msg === 'string' ? msg : undefined;
}

/**
 * How one logical request ended, after its retries.
 *  - `response`: a definite answer (anything but a retryable status), final.
 *  - `failed`: every attempt was retryable and certainly not acted on (503, refused), or a GET
 *    ran out of retries; `response` is the last answer if the last attempt got one.
 *  - `unknown`: a POST that may have been taken; `response` is the last answer, if any.
 */
type Outcome =
  | { kind: 'response'; response: HttpResponse }
  | { kind: 'failed'; reason: string; response: HttpResponse | null }
  | { kind: 'unknown'; reason: string; response: HttpResponse | null };

/** What a single attempt tells about the request. */
type AttemptVerdict =
  /** Final: return this response. */
  | 'final'
  /** Certainly not acted on: retry. */
  | 'not-taken'
  /** May have been acted on; retry (idempotent) or give up as unknown. */
  | 'uncertain';

function describeError(err: unknown): string {
  if (err instanceof NetworkError) return `network ${err.kind}`;
  return err instanceof Error ? `error ${err.name}` : 'error';
}

function statusReason(res: HttpResponse): string {
  const msg = errorMessage(res);
  return `HTTP ${res.status}${msg ? ` (${msg})` : ''}`;
}

const sleep = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

/** Thrown inside an attempt to have p-retry try again; carries what the attempt saw. */
class AttemptFailed extends Error {}

/**
 * Sends one logical request with retries (p-retry's exponential backoff). `mode`:
 *  - `read`: a GET; retry any network error or 503.
 *  - `order-once`: a POST without a key; retry only 503 / refused, give up at once on anything
 *    that may have been acted on (network error, 5xx) as unknown.
 *  - `order-keyed`: a POST with an idempotency key; retry 503 / refused and also anything
 *    uncertain; unknown only when the retries run out after an uncertain attempt.
 */
async function send(
  http: HttpClient,
  req: HttpRequest,
  mode: 'read' | 'order-once' | 'order-keyed',
  policy: RetryPolicy,
  stats: StatsCollector,
): Promise<Outcome> {
  let uncertain = false;
  let attempts = 0;
  let lastResponse: HttpResponse | null = null;
  let lastReason = '';
  try {
    return await pRetry(
      async (): Promise<Outcome> => {
        attempts++;
        stats.attempts++;
        let verdict: AttemptVerdict;
        try {
          const res = await http(req);
          lastResponse = res;
          // A 503's message varies (no quorum, no leader...); the reason keeps the map small.
          lastReason = res.status === 503 ? 'HTTP 503' : statusReason(res);
          if (res.status === 503) verdict = 'not-taken';
          else if (mode !== 'read' && res.status >= 500) verdict = 'uncertain';
          else return { kind: 'response', response: res };
        } catch (err) {
          lastResponse = null;
          lastReason = describeError(err);
          // Reads change nothing, so they are always safe to repeat.
          verdict = mode === 'read' || (err instanceof NetworkError && err.undelivered) ? 'not-taken' : 'uncertain';
        }
        if (verdict === 'uncertain') {
          uncertain = true;
          if (mode === 'order-once') throw new AbortError(lastReason);
        }
        throw new AttemptFailed(lastReason);
      },
      { retries: policy.retries, minTimeout: policy.minTimeout, maxTimeout: policy.maxTimeout, factor: policy.factor, randomize: false },
    );
  } catch {
    const reason = attempts > 1 ? `${lastReason} after ${attempts} attempts` : lastReason;
    return uncertain ? { kind: 'unknown', reason, response: lastResponse } : { kind: 'failed', reason, response: lastResponse };
  }
}

const dataOf = <T>(res: HttpResponse, schema: z.ZodType<T>): T | undefined => {
  const parsed = schema.safeParse((res.body as { data?: unknown } | undefined)?.data);
  return parsed.success ? parsed.data : undefined;
};

// ---------------------------------------------------------------- the run

interface Ctx {
  base: string;
  iterations: number;
  deadline: number;
  signal: AbortSignal | undefined;
  p: number;
  policy: RetryPolicy;
  timeoutMs: number | undefined;
  idempotency: boolean;
  makeKey: (client: number, iteration: number) => string;
  thinkMs: number;
  products: string[];
  stats: Record<RequestType, StatsCollector>;
  orders: OrderCounts;
  acknowledged: AcknowledgedOrder[];
  unknownOrders: UnknownOrder[];
  failureReasons: Map<string, number>;
  skipReadBack: () => boolean;
  record: (e: Omit<HistoryEvent, 'timeMs' | 'op'>, op: number) => void;
  nextOp: () => number;
}

function noteReason(ctx: Ctx, type: RequestType, reason: string): void {
  // Reasons are keyed without URLs or attempt counts so the map stays small.
  const key = `${type} ${reason.replace(/ after \d+ attempts$/, ' (retries exhausted)')}`;
  ctx.failureReasons.set(key, (ctx.failureReasons.get(key) ?? 0) + 1);
}

function fail(ctx: Ctx, type: RequestType, reason: string): void {
  ctx.stats[type].failures++;
  noteReason(ctx, type, reason);
}

const wire = (res: HttpResponse | null) => (res ? { status: res.status, body: res.body ?? null } : null);

/** One recorded operation: `invoke` now, `complete` exactly once later. */
function begin(ctx: Ctx, client: number, f: HistoryEvent['f'], key: string | null, request: Record<string, unknown>) {
  const op = ctx.nextOp();
  ctx.record({ type: 'invoke', client, f, key, request, response: null }, op);
  let done = false;
  return (type: 'ok' | 'fail' | 'info', response: HttpResponse | null) => {
    if (done) return;
    done = true;
    ctx.record({ type, client, f, key, request, response: wire(response) }, op);
  };
}

/** How a GET's outcome maps to a completion: an answer is ok (200/404) or fail, no answer is info. */
function readCompletion(out: Outcome): ['ok' | 'fail' | 'info', HttpResponse | null] {
  if (out.kind === 'response') return [out.response.status === 200 || out.response.status === 404 ? 'ok' : 'fail', out.response];
  return [out.response ? 'fail' : 'info', out.response];
}

async function queryProduct(ctx: Ctx, http: HttpClient, client: number, name: string): Promise<Product | undefined> {
  const stats = ctx.stats.query;
  stats.count++;
  const complete = begin(ctx, client, 'query', null, { name });
  const started = performance.now();
  const out = await send(http, { method: 'GET', url: `${ctx.base}/products/${encodeURIComponent(name)}`, timeoutMs: ctx.timeoutMs }, 'read', ctx.policy, stats);
  complete(...readCompletion(out));
  if (out.kind !== 'response') return void fail(ctx, 'query', out.reason);
  stats.latencies.push(performance.now() - started);
  if (out.response.status !== 200) return void fail(ctx, 'query', statusReason(out.response));
  const product = dataOf(out.response, ProductSchema);
  if (!product) return void fail(ctx, 'query', 'malformed product');
  return product;
}

async function placeOrder(ctx: Ctx, http: HttpClient, client: number, iteration: number, name: string, quantity: number): Promise<void> {
  const stats = ctx.stats.order;
  stats.count++;
  const key = ctx.idempotency ? ctx.makeKey(client, iteration) : null;
  const complete = begin(ctx, client, 'order', key, { name, quantity });
  const started = performance.now();
  const req: HttpRequest = { method: 'POST', url: `${ctx.base}/orders`, body: { name, quantity }, timeoutMs: ctx.timeoutMs };
  if (key !== null) req.headers = { [IDEMPOTENCY_KEY_HEADER]: key };
  const out = await send(http, req, key !== null ? 'order-keyed' : 'order-once', ctx.policy, stats);
  const unknown = (reason: string, response: HttpResponse | null) => {
    complete('info', response);
    stats.unknown++;
    ctx.orders.unknown++;
    noteReason(ctx, 'order', `unknown: ${reason}`);
    ctx.unknownOrders.push({ client, iteration, name, quantity, key, reason });
  };
  if (out.kind === 'failed') {
    complete('fail', out.response);
    ctx.orders.failed++;
    return fail(ctx, 'order', out.reason);
  }
  if (out.kind === 'unknown') return unknown(out.reason, out.response);
  const res = out.response;
  if (res.headers[REPLAYED_HEADER] === 'true') stats.replayed++;
  if (res.status === 409) {
    complete('fail', res);
    stats.latencies.push(performance.now() - started);
    stats.rejected++;
    ctx.orders.rejected++;
    return;
  }
  if (res.status >= 200 && res.status < 300) {
    const placed = dataOf(res, OrderPlacedSchema);
    // The store said yes but we cannot tell the number: taken, but not checkable.
    if (!placed) return unknown('malformed order acknowledgement', res);
    complete('ok', res);
    stats.latencies.push(performance.now() - started);
    ctx.orders.acknowledged++;
    ctx.acknowledged.push({ client, iteration, order_number: placed.order_number, name, quantity, key });
    return;
  }
  if (res.status >= 400 && res.status < 500) {
    // The store refused the request outright (bad input, unknown toy, key reused with another
    // body): definitely not taken.
    complete('fail', res);
    stats.latencies.push(performance.now() - started);
    ctx.orders.failed++;
    return fail(ctx, 'order', statusReason(res));
  }
  // Without idempotency a 5xx is returned as it is: the order may have been taken.
  unknown(statusReason(res), res);
}

function running(ctx: Ctx, i: number): boolean {
  return i < ctx.iterations && performance.now() < ctx.deadline && !ctx.signal?.aborted;
}

async function runOneClient(ctx: Ctx, http: HttpClient, client: number, rng: () => number): Promise<void> {
  for (let i = 0; running(ctx, i); i++) {
    if (i > 0 && ctx.thinkMs > 0) {
      await sleep(ctx.thinkMs);
      if (!running(ctx, i)) break;
    }
    // Always three draws, whatever the store answers, so a seed fixes every choice.
    const name = ctx.products[Math.floor(rng() * ctx.products.length)]!;
    const coin = rng();
    const quantity = 1 + Math.floor(rng() * 5);
    const product = await queryProduct(ctx, http, client, name);
    if (product && product.quantity > 0 && coin < ctx.p) await placeOrder(ctx, http, client, i, name, quantity);
  }
}

/** Reads back one client's acknowledged orders; returns mismatches and how many could not be read. */
async function verifyOrders(ctx: Ctx, http: HttpClient, mine: AcknowledgedOrder[]): Promise<{ mismatches: Mismatch[]; verified: number; unverified: number }> {
  const stats = ctx.stats.order_query;
  const mismatches: Mismatch[] = [];
  let verified = 0;
  let unverified = 0;
  for (const ack of mine) {
    if (ctx.skipReadBack()) {
      unverified++;
      continue;
    }
    stats.count++;
    const complete = begin(ctx, ack.client, 'read', ack.key, { order_number: ack.order_number });
    const started = performance.now();
    const expected = [{ client: ack.client, iteration: ack.iteration, name: ack.name, quantity: ack.quantity }];
    const what = `${ack.quantity} x ${ack.name}`;
    const out = await send(http, { method: 'GET', url: `${ctx.base}/orders/${ack.order_number}`, timeoutMs: ctx.timeoutMs }, 'read', ctx.policy, stats);
    complete(...readCompletion(out));
    if (out.kind !== 'response') {
      fail(ctx, 'order_query', out.reason);
      unverified++;
      continue;
    }
    const res = out.response;
    if (res.status === 404) {
      stats.latencies.push(performance.now() - started);
      mismatches.push({ kind: 'missing', order_number: ack.order_number, expected, message: `order ${ack.order_number} (${what}) was acknowledged but reads back as 404` });
      continue;
    }
    if (res.status !== 200) {
      fail(ctx, 'order_query', statusReason(res));
      unverified++;
      continue;
    }
    stats.latencies.push(performance.now() - started);
    const got = dataOf(res, OrderSchema);
    if (got && got.number === ack.order_number && got.name === ack.name && got.quantity === ack.quantity) {
      verified++;
      continue;
    }
    const actual = (res.body as { data?: unknown } | undefined)?.data;
    const shown = got ? `number ${got.number}, ${got.quantity} x ${got.name}` : `malformed ${JSON.stringify(actual)}`;
    mismatches.push({ kind: 'different', order_number: ack.order_number, expected, actual, message: `order ${ack.order_number} was acknowledged as ${what} but reads back as ${shown}` });
  }
  return { mismatches, verified, unverified };
}

function findDuplicates(acks: readonly AcknowledgedOrder[]): Mismatch[] {
  const byNumber = new Map<number, AcknowledgedOrder[]>();
  for (const a of acks) byNumber.set(a.order_number, [...(byNumber.get(a.order_number) ?? []), a]);
  const out: Mismatch[] = [];
  for (const [n, group] of [...byNumber].sort((a, b) => a[0] - b[0])) {
    if (group.length < 2) continue;
    const expected = group.map(({ client, iteration, name, quantity }) => ({ client, iteration, name, quantity }));
    const list = group.map((g) => `${g.quantity} x ${g.name} (client ${g.client})`).join(', ');
    out.push({ kind: 'duplicate', order_number: n, expected, message: `order number ${n} was acknowledged ${group.length} times: ${list}` });
  }
  return out;
}

function validateOptions(opts: RunClientsOptions): void {
  if (!Number.isInteger(opts.clients) || opts.clients < 1) throw new RangeError(`clients must be a positive integer, got ${opts.clients}`);
  if (opts.iterations !== undefined && (!Number.isInteger(opts.iterations) || opts.iterations < 0)) {
    throw new RangeError(`iterations must be a non-negative integer, got ${opts.iterations}`);
  }
  if (opts.durationMs !== undefined && !(Number.isFinite(opts.durationMs) && opts.durationMs >= 0)) {
    throw new RangeError(`durationMs must be a non-negative number, got ${opts.durationMs}`);
  }
  if (opts.iterations === undefined && opts.durationMs === undefined && opts.signal === undefined) {
    throw new RangeError('give iterations, durationMs or signal: the run needs a bound');
  }
  if (!(opts.p >= 0 && opts.p <= 1)) throw new RangeError(`p must be between 0 and 1, got ${opts.p}`);
  if (opts.seed !== undefined && (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff)) {
    throw new RangeError(`seed must be an integer in [0, 4294967295], got ${opts.seed}`);
  }
  new URL(opts.baseUrl); // throws TypeError on a bad URL
}

/**
 * Runs the clients to completion and verifies every acknowledged order. Throws only when the
 * run cannot start (bad options, or the product list cannot be read); store failures during the
 * run are counted, not thrown.
 */
export async function runClients(opts: RunClientsOptions): Promise<RunResult> {
  validateOptions(opts);
  const base = opts.baseUrl.replace(/\/+$/, '');
  const seed = opts.seed ?? randomInt(0x100000000);
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const makeHttp = opts.http ?? (() => createPooledHttp({ connectionsPerOrigin: 1 }));
  const transports: ClientHttp[] = [];
  const started = performance.now();
  const origin = opts.timeOrigin ?? started;
  let op = 0;
  const sink = opts.history;
  try {
    for (let c = 0; c < opts.clients; c++) transports.push(makeHttp(c));
    const first = transports[0]!;

    const listing = await send(first, { method: 'GET', url: `${base}/products`, timeoutMs: opts.timeoutMs }, 'read', policy, new StatsCollector());
    if (listing.kind !== 'response') throw new Error(`cannot list products at ${base}: ${listing.reason}`);
    if (listing.response.status !== 200) throw new Error(`cannot list products at ${base}: ${statusReason(listing.response)}`);
    const all = dataOf(listing.response, z.array(ProductSchema));
    if (!all) throw new Error(`cannot list products at ${base}: malformed response`);
    const products = [...new Set(all.map((p) => p.name))].sort();
    if (products.length === 0) throw new Error(`the store at ${base} has no products`);

    const ctx: Ctx = {
      base,
      iterations: opts.iterations ?? Infinity,
      deadline: opts.durationMs === undefined ? Infinity : started + opts.durationMs,
      signal: opts.signal,
      p: opts.p,
      policy,
      timeoutMs: opts.timeoutMs,
      idempotency: opts.idempotency ?? true,
      makeKey: opts.makeKey ?? (() => randomUUID()),
      thinkMs: opts.thinkMs ?? 0,
      products,
      stats: { query: new StatsCollector(), order: new StatsCollector(), order_query: new StatsCollector() },
      orders: { acknowledged: 0, rejected: 0, unknown: 0, failed: 0 },
      acknowledged: [],
      unknownOrders: [],
      failureReasons: new Map(),
      skipReadBack: opts.skipReadBack ?? (() => false),
      nextOp: () => op++,
      record: (e, id) =>
        sink?.({ type: e.type, op: id, client: e.client, f: e.f, key: e.key, request: e.request, response: e.response, timeMs: Math.round((performance.now() - origin) * 1000) / 1000 }),
    };

    await Promise.all(transports.map((http, c) => runOneClient(ctx, http, c, clientRng(seed, c))));
    await opts.beforeReadBack?.();

    // Read back only after every client is done, each client over its own connection.
    const checks = await Promise.all(
      transports.map((http, c) => verifyOrders(ctx, http, ctx.acknowledged.filter((a) => a.client === c))),
    );
    const order = (a: AcknowledgedOrder, b: AcknowledgedOrder) => a.client - b.client || a.iteration - b.iteration;
    const mismatches = [...checks.flatMap((r) => r.mismatches), ...findDuplicates(ctx.acknowledged)];

    return {
      baseUrl: base,
      clients: opts.clients,
      iterations: opts.iterations ?? null,
      timeLimitMs: opts.durationMs ?? null,
      p: opts.p,
      seed,
      idempotency: ctx.idempotency,
      durationMs: Math.round(performance.now() - started),
      products,
      stats: { query: ctx.stats.query.snapshot(), order: ctx.stats.order.snapshot(), order_query: ctx.stats.order_query.snapshot() },
      orders: ctx.orders,
      verified: checks.reduce((s, r) => s + r.verified, 0),
      unverified: checks.reduce((s, r) => s + r.unverified, 0),
      mismatches,
      failureReasons: Object.fromEntries([...ctx.failureReasons].sort((a, b) => b[1] - a[1])),
      acknowledgedOrders: [...ctx.acknowledged].sort(order),
      unknownOrders: [...ctx.unknownOrders].sort((a, b) => a.client - b.client || a.iteration - b.iteration),
    };
  } finally {
    await Promise.allSettled(transports.map((t) => t.close?.()));
  }
}

/** The part of a result the CLI prints (no per-order lists). */
export function summarize(r: RunResult): RunSummary {
  const { acknowledgedOrders: _a, unknownOrders: _u, ...summary } = r;
  return summary;
}

// ---------------------------------------------------------------- history files

export interface HistoryFile {
  readonly path: string;
  /** Appends one event as a JSON line. */
  write: HistorySink;
  /** Flushes and closes the file; rejects if any write failed. */
  close(): Promise<void>;
}

/** Opens (truncates) a JSON-lines history file. */
export async function openHistoryFile(file: string): Promise<HistoryFile> {
  const stream = createWriteStream(file, { flags: 'w' });
  let failure: Error | null = null;
  stream.on('error', (err) => (failure ??= err));
  await Promise.race([once(stream, 'open'), once(stream, 'error').then(([err]) => Promise.reject(err as Error))]);
  return {
    path: file,
    write: (event) => {
      if (!failure) stream.write(`${JSON.stringify(event)}\n`);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        stream.end(() => (failure ? reject(failure) : resolve()));
      }),
  };
}

// ---------------------------------------------------------------- report

const fmtMs = (v: number | null) => (v === null ? '-' : v.toFixed(2));

/** The human-readable report: one row per request type, then order outcomes and mismatches. */
export function formatReport(s: RunSummary): string {
  const header = ['request', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'failures', 'attempts'];
  const rows = REQUEST_TYPES.map((t) => {
    const st = s.stats[t];
    return [t, String(st.count), fmtMs(st.p50), fmtMs(st.p95), fmtMs(st.p99), String(st.failures), String(st.attempts)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const bound = [s.iterations !== null ? `${s.iterations} iterations` : null, s.timeLimitMs !== null ? `${s.timeLimitMs / 1000} s` : null].filter(Boolean).join(' or ');
  const out = [
    `toystore client: ${s.clients} clients x ${bound}, p=${s.p}, seed=${s.seed}, idempotency ${s.idempotency ? 'on' : 'off'}, ${s.baseUrl}, ${s.durationMs} ms`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `orders: ${s.orders.acknowledged} acknowledged, ${s.orders.rejected} rejected (409), ${s.orders.unknown} unknown outcome, ${s.orders.failed} failed` +
      (s.stats.order.replayed ? `; ${s.stats.order.replayed} answers were replays` : ''),
    `read-back: ${s.verified} verified, ${s.unverified} unverified, ${s.mismatches.length} mismatches`,
  ];
  const reasons = Object.entries(s.failureReasons);
  if (reasons.length) out.push('', 'failures / unknown outcomes:', ...reasons.map(([k, n]) => `  ${n} x ${k}`));
  if (s.mismatches.length) out.push('', 'MISMATCHES:', ...s.mismatches.map((m) => `  [${m.kind}] ${m.message}`));
  return out.join('\n');
}

// ---------------------------------------------------------------- command line

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: npm run client -- [--clients N] [--iterations N] [--duration S] [--p P] [--url URL] [--seed N]
                         [--history FILE] [--no-idempotency] [--json]
  --clients N        concurrent clients, 1-1000 (default 5)
  --iterations N     iterations per client, 1-1000000 (default 100, or unbounded with --duration)
  --duration S       stop starting iterations after S seconds (0.1-86400)
  --p P              probability of ordering a toy in stock, 0-1 (default 0.5)
  --url URL          frontend URL (default http://127.0.0.1:8000)
  --seed N           PRNG seed, integer 0-4294967295 (default: random, printed)
  --history FILE     write every operation (invoke / ok / fail / info) as JSON lines to FILE
  --no-idempotency   send no Idempotency-Key and never retry an order whose outcome is unknown
  --json             print the report as one JSON object
  -h, --help         show this help`;

export interface ClientArgs {
  url: string;
  clients: number;
  /** null: unbounded (only with a duration). */
  iterations: number | null;
  /** Seconds, or null. */
  duration: number | null;
  p: number;
  seed: number | undefined;
  history: string | null;
  idempotency: boolean;
  json: boolean;
  help: boolean;
}

export const DEFAULT_URL = 'http://127.0.0.1:8000';

function intFlag(flag: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got '${raw}'`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got ${raw}`);
  return n;
}

/** Parses and validates the CLI flags (argv without node and script); throws UsageError with a clear message. */
export function parseClientArgs(argv: readonly string[]): ClientArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        clients: { type: 'string' },
        iterations: { type: 'string' },
        duration: { type: 'string' },
        p: { type: 'string' },
        url: { type: 'string' },
        seed: { type: 'string' },
        history: { type: 'string' },
        'no-idempotency': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const str = (k: string) => values[k] as string | undefined;

  const clients = intFlag('clients', str('clients'), 5, 1, 1000);
  const rawDuration = str('duration');
  let duration: number | null = null;
  if (rawDuration !== undefined) {
    duration = rawDuration.trim() === '' ? NaN : Number(rawDuration);
    if (!Number.isFinite(duration) || duration < 0.1 || duration > 86_400) throw new UsageError(`--duration must be a number of seconds between 0.1 and 86400, got '${rawDuration}'`);
  }
  const iterations = str('iterations') === undefined && duration !== null ? null : intFlag('iterations', str('iterations'), 100, 1, 1_000_000);
  const rawP = str('p');
  let p = 0.5;
  if (rawP !== undefined) {
    p = rawP.trim() === '' ? NaN : Number(rawP);
    if (!Number.isFinite(p) || p < 0 || p > 1) throw new UsageError(`--p must be a number between 0 and 1, got '${rawP}'`);
  }
  const seedRaw = str('seed');
  const seed = seedRaw === undefined ? undefined : intFlag('seed', seedRaw, 0, 0, 0xffffffff);

  const url = str('url') ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url must be an http(s) URL, got '${url}'`);
  const history = str('history');
  if (history !== undefined && history.trim() === '') throw new UsageError('--history needs a file name');

  return {
    url: url.replace(/\/+$/, ''),
    clients,
    iterations,
    duration,
    p,
    seed,
    history: history ?? null,
    idempotency: values['no-idempotency'] !== true,
    json: values.json === true,
    help: values.help === true,
  };
}
