/**
 * The load-generating client of the toy store, as a library the CLI (`scripts/client.ts`) and the
 * tests drive in-process.
 *
 * `runClients` starts N concurrent clients against the frontend's public API. It lists the toys
 * once (GET /products), then each client, per iteration, queries a random toy and, if it is in
 * stock, orders 1–5 of it with probability p. Every order the store acknowledges is recorded and,
 * once all clients are done, read back (GET /orders/:n) and compared: a 404 or different content
 * for an acknowledged order, or two acknowledged orders sharing a number, is a mismatch.
 *
 * Retries (p-retry, exponential backoff) follow one rule: retry only what certainly did not take
 * effect, or cannot take effect twice. GETs are retried on any network error or 503. A POST
 * /orders is retried only on a 503 (the store says it did not take the order) or a connection
 * refused (`NetworkError.undelivered`); a reset, timeout, 504 or other 5xx leaves the outcome
 * unknown, which is recorded and never retried, since a retry could buy twice. 409 (sold out) is
 * a normal outcome, counted as `rejected`. Retry-After is not honoured: the backoff is already
 * short and bounded (about 3 s over 6 retries with the defaults).
 *
 * Latency is measured per logical request with `performance.now()`, retries and backoff
 * included (what a user waits), and only for requests that got an answer (success or 409), so a
 * 5 s timeout does not masquerade as a latency. `attempts` counts HTTP attempts, retries
 * included. Choices come from a seeded PRNG (mulberry32, one stream per client); each iteration
 * draws the same three numbers whatever the store answers, so a seed fixes every client's
 * choices. Without a seed one is drawn at random and reported, so a run can be replayed.
 *
 * The transport is injectable: `http` makes one `HttpClient` per client. The default is
 * `createPooledHttp({ connectionsPerOrigin: 1 })`, so each client keeps one keep-alive
 * connection. `runClients` closes every transport it made that has a `close` method.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import pRetry from 'p-retry';
import { z } from 'zod';
import { OrderPlacedSchema, OrderSchema, ProductSchema, type Product } from '../shared/contracts.ts';
import { createPooledHttp, NetworkError, type HttpClient, type HttpResponse } from '../shared/http.ts';

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

export interface RunClientsOptions {
  /** Frontend origin, e.g. http://127.0.0.1:8000 (a trailing slash is ignored). */
  baseUrl: string;
  clients: number;
  iterations: number;
  /** Probability of ordering a toy that is in stock, in [0, 1]. */
  p: number;
  /** uint32 seed for the choices; random (and reported) when absent. */
  seed?: number;
  /** Makes the transport of client `clientId` (0-based). Default: one pooled keep-alive connection each. */
  http?: (clientId: number) => ClientHttp;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout passed to the transport; the transport's default when absent. */
  timeoutMs?: number;
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
  /** Orders whose outcome is unknown (reset, timeout, 504): never retried. */
  unknown: number;
  /** Latency percentiles in ms over answered requests (success or 409); null when there are none. */
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
}

export interface UnknownOrder {
  client: number;
  iteration: number;
  name: string;
  quantity: number;
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
  /** Orders that certainly were not taken (400/404, or 503/refused on every attempt). */
  failed: number;
}

export interface RunSummary {
  baseUrl: string;
  clients: number;
  iterations: number;
  p: number;
  seed: number;
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
      p50: round(percentile(sorted, 0.5)),
      p95: round(percentile(sorted, 0.95)),
      p99: round(percentile(sorted, 0.99)),
    };
  }
}

// ---------------------------------------------------------------- requests with retries

/** A 503: the store did not act on the request; safe to retry. */
class UnavailableError extends Error {
  constructor(readonly response: HttpResponse) {
    super(`HTTP 503${errorMessage(response) ? `: ${errorMessage(response)}` : ''}`);
    this.name = 'UnavailableError';
  }
}

function errorMessage(res: HttpResponse): string | undefined {
  const msg = (res.body as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof msg === 'string' ? msg : undefined;
}

type Outcome =
  | { kind: 'response'; response: HttpResponse }
  /** Gave up: every attempt failed in a retryable way, or a GET failed in a non-retryable way. */
  | { kind: 'failed'; reason: string }
  /** A POST that may have been taken. */
  | { kind: 'unknown'; reason: string };

function describe(err: unknown): string {
  if (err instanceof NetworkError) return `network ${err.kind}`;
  if (err instanceof UnavailableError) return 'HTTP 503';
  return err instanceof Error ? `error ${err.name}` : 'error';
}

/**
 * Sends one logical request with retries. `idempotent` requests retry any network error or 503;
 * others retry only a 503 or an undelivered (refused) request, and report any other network
 * error as an unknown outcome without retrying. Non-503 responses are returned as they are.
 */
async function send(
  http: HttpClient,
  req: Parameters<HttpClient>[0],
  idempotent: boolean,
  policy: RetryPolicy,
  stats: StatsCollector,
): Promise<Outcome> {
  const retryable = (err: unknown) =>
    err instanceof UnavailableError || (err instanceof NetworkError && (idempotent || err.undelivered));
  try {
    const response = await pRetry(
      async () => {
        stats.attempts++;
        const res = await http(req);
        if (res.status === 503) throw new UnavailableError(res);
        return res;
      },
      { ...policy, shouldRetry: ({ error }) => retryable(error) },
    );
    return { kind: 'response', response };
  } catch (err) {
    if (retryable(err)) return { kind: 'failed', reason: `${describe(err)} after ${policy.retries + 1} attempts` };
    // Not retryable: for a GET any failure is just a failure; for a POST anything but a
    // definite "not taken" may have been taken.
    return idempotent ? { kind: 'failed', reason: describe(err) } : { kind: 'unknown', reason: describe(err) };
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
  p: number;
  policy: RetryPolicy;
  timeoutMs: number | undefined;
  products: string[];
  stats: Record<RequestType, StatsCollector>;
  orders: OrderCounts;
  acknowledged: AcknowledgedOrder[];
  unknownOrders: UnknownOrder[];
  failureReasons: Map<string, number>;
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

function statusReason(res: HttpResponse): string {
  const msg = errorMessage(res);
  return `HTTP ${res.status}${msg ? ` (${msg})` : ''}`;
}

async function queryProduct(ctx: Ctx, http: HttpClient, name: string): Promise<Product | undefined> {
  const stats = ctx.stats.query;
  stats.count++;
  const started = performance.now();
  const out = await send(http, { method: 'GET', url: `${ctx.base}/products/${encodeURIComponent(name)}`, timeoutMs: ctx.timeoutMs }, true, ctx.policy, stats);
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
  const started = performance.now();
  const out = await send(http, { method: 'POST', url: `${ctx.base}/orders`, body: { name, quantity }, timeoutMs: ctx.timeoutMs }, false, ctx.policy, stats);
  const unknown = (reason: string) => {
    stats.unknown++;
    ctx.orders.unknown++;
    noteReason(ctx, 'order', `unknown: ${reason}`);
    ctx.unknownOrders.push({ client, iteration, name, quantity, reason });
  };
  if (out.kind === 'failed') {
    ctx.orders.failed++;
    return fail(ctx, 'order', out.reason);
  }
  if (out.kind === 'unknown') return unknown(out.reason);
  const res = out.response;
  if (res.status === 409) {
    stats.latencies.push(performance.now() - started);
    stats.rejected++;
    ctx.orders.rejected++;
    return;
  }
  if (res.status >= 200 && res.status < 300) {
    const placed = dataOf(res, OrderPlacedSchema);
    // The store said yes but we cannot tell the number: taken, but not checkable.
    if (!placed) return unknown('malformed order acknowledgement');
    stats.latencies.push(performance.now() - started);
    ctx.orders.acknowledged++;
    ctx.acknowledged.push({ client, iteration, order_number: placed.order_number, name, quantity });
    return;
  }
  if (res.status >= 400 && res.status < 500) {
    // The store refused the request outright (bad input, unknown toy): definitely not taken.
    stats.latencies.push(performance.now() - started);
    ctx.orders.failed++;
    return fail(ctx, 'order', statusReason(res));
  }
  // 504 outcome_unknown, 500, 502...: the order may have been taken.
  unknown(statusReason(res));
}

async function runOneClient(ctx: Ctx, http: HttpClient, client: number, rng: () => number): Promise<void> {
  for (let i = 0; i < ctx.iterations; i++) {
    // Always three draws, whatever the store answers, so a seed fixes every choice.
    const name = ctx.products[Math.floor(rng() * ctx.products.length)]!;
    const coin = rng();
    const quantity = 1 + Math.floor(rng() * 5);
    const product = await queryProduct(ctx, http, name);
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
    stats.count++;
    const started = performance.now();
    const expected = [{ client: ack.client, iteration: ack.iteration, name: ack.name, quantity: ack.quantity }];
    const what = `${ack.quantity} x ${ack.name}`;
    const out = await send(http, { method: 'GET', url: `${ctx.base}/orders/${ack.order_number}`, timeoutMs: ctx.timeoutMs }, true, ctx.policy, stats);
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
  if (!Number.isInteger(opts.iterations) || opts.iterations < 0) throw new RangeError(`iterations must be a non-negative integer, got ${opts.iterations}`);
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
  try {
    for (let c = 0; c < opts.clients; c++) transports.push(makeHttp(c));
    const first = transports[0]!;

    const listing = await send(first, { method: 'GET', url: `${base}/products`, timeoutMs: opts.timeoutMs }, true, policy, new StatsCollector());
    if (listing.kind !== 'response') throw new Error(`cannot list products at ${base}: ${listing.reason}`);
    if (listing.response.status !== 200) throw new Error(`cannot list products at ${base}: ${statusReason(listing.response)}`);
    const all = dataOf(listing.response, z.array(ProductSchema));
    if (!all) throw new Error(`cannot list products at ${base}: malformed response`);
    const products = [...new Set(all.map((p) => p.name))].sort();
    if (products.length === 0) throw new Error(`the store at ${base} has no products`);

    const ctx: Ctx = {
      base,
      iterations: opts.iterations,
      p: opts.p,
      policy,
      timeoutMs: opts.timeoutMs,
      products,
      stats: { query: new StatsCollector(), order: new StatsCollector(), order_query: new StatsCollector() },
      orders: { acknowledged: 0, rejected: 0, unknown: 0, failed: 0 },
      acknowledged: [],
      unknownOrders: [],
      failureReasons: new Map(),
    };

    await Promise.all(transports.map((http, c) => runOneClient(ctx, http, c, clientRng(seed, c))));

    // Read back only after every client is done, each client over its own connection.
    const checks = await Promise.all(
      transports.map((http, c) => verifyOrders(ctx, http, ctx.acknowledged.filter((a) => a.client === c))),
    );
    const order = (a: AcknowledgedOrder, b: AcknowledgedOrder) => a.client - b.client || a.iteration - b.iteration;
    const mismatches = [...checks.flatMap((r) => r.mismatches), ...findDuplicates(ctx.acknowledged)];

    return {
      baseUrl: base,
      clients: opts.clients,
      iterations: opts.iterations,
      p: opts.p,
      seed,
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
  const out = [
    `toystore client: ${s.clients} clients x ${s.iterations} iterations, p=${s.p}, seed=${s.seed}, ${s.baseUrl}, ${s.durationMs} ms`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `orders: ${s.orders.acknowledged} acknowledged, ${s.orders.rejected} rejected (409), ${s.orders.unknown} unknown outcome, ${s.orders.failed} failed`,
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

export const USAGE = `usage: npm run client -- [--clients N] [--iterations N] [--p P] [--url URL] [--seed N] [--json]
  --clients N      concurrent clients, 1-1000 (default 5)
  --iterations N   iterations per client, 1-1000000 (default 100)
  --p P            probability of ordering a toy in stock, 0-1 (default 0.5)
  --url URL        frontend URL (default http://127.0.0.1:8000)
  --seed N         PRNG seed, integer 0-4294967295 (default: random, printed)
  --json           print the report as one JSON object
  -h, --help       show this help`;

export interface ClientArgs {
  url: string;
  clients: number;
  iterations: number;
  p: number;
  seed: number | undefined;
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
        p: { type: 'string' },
        url: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const str = (k: string) => values[k] as string | undefined;

  const clients = intFlag('clients', str('clients'), 5, 1, 1000);
  const iterations = intFlag('iterations', str('iterations'), 100, 1, 1_000_000);
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

  return { url: url.replace(/\/+$/, ''), clients, iterations, p, seed, json: values.json === true, help: values.help === true };
}
