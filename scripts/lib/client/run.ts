/**
 * The load-generating client of the toy store, as a library the CLI (`scripts/client.ts`), the
 * chaos tool (`scripts/lib/chaos`) and the tests drive in-process.
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
 * fresh key (`<run uuid>-<client>-<iteration>` unless `makeKey` is given) sent as the
 * `Idempotency-Key` header, and every retry of that order reuses it. The store promises that the
 * same key with the same body has one outcome (a replay answers with `idempotent-replayed: true`),
 * so an order whose outcome is unknown (reset, timeout, 504 or another 5xx) is retried too, with
 * backoff, and is reported unknown only if the retries run out. A 503 or a refused connection means
 * "this attempt was not taken", so it is retried as well; but once any attempt's outcome was
 * unknown, a later 503 does not make the order a definite failure (the earlier attempt may have
 * committed), so running out of retries then reports it unknown. A definite answer (2xx, 4xx) about
 * the key is final.
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
import { randomInt, randomUUID } from 'node:crypto';
import { createPooledHttp } from '../../../shared/http.ts';
import { frontendPublicRoutes, requestOf } from '../../../shared/protocol/index.ts';
import { findDuplicates, runOneClient, verifyOrders, type Ctx } from './operations.ts';
import { clientRng } from './rng.ts';
import { dataOf, send, statusReason } from './send.ts';
import { LatencyHistogram } from './latency.ts';
import { StatsCollector } from './stats.ts';
import { StoreViolations } from './violations.ts';
import {
  DEFAULT_RETRY,
  type ClientHttp,
  type Progress,
  type RetryPolicy,
  type RunClientsOptions,
  type RunResult,
  type RunSummary,
} from './types.ts';

function validateOptions(opts: RunClientsOptions): void {
  if (!Number.isInteger(opts.clients) || opts.clients < 1)
    throw new RangeError(`clients must be a positive integer, got ${opts.clients}`);
  if (
    opts.iterations !== undefined &&
    (!Number.isInteger(opts.iterations) || opts.iterations < 0)
  ) {
    throw new RangeError(`iterations must be a non-negative integer, got ${opts.iterations}`);
  }
  if (
    opts.durationMs !== undefined &&
    !(Number.isFinite(opts.durationMs) && opts.durationMs >= 0)
  ) {
    throw new RangeError(`durationMs must be a non-negative number, got ${opts.durationMs}`);
  }
  if (opts.iterations === undefined && opts.durationMs === undefined && opts.signal === undefined) {
    throw new RangeError('give iterations, durationMs or signal: the run needs a bound');
  }
  if (!(opts.p >= 0 && opts.p <= 1))
    throw new RangeError(`p must be between 0 and 1, got ${opts.p}`);
  if (
    opts.seed !== undefined &&
    (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff)
  ) {
    throw new RangeError(`seed must be an integer in [0, 4294967295], got ${opts.seed}`);
  }
  new URL(opts.baseUrl); // throws TypeError on a bad URL
}

const PROGRESS_INTERVAL_MS = 1_000;

/** Reports progress every second until stopped (one timer; the histograms are merged per tick). */
function startProgress(
  ctx: Ctx,
  started: number,
  onProgress: (p: Progress) => void,
  intervalMs: number,
): { stop(): void } {
  let lastAt = started;
  let lastCount = 0;
  const tick = () => {
    const now = performance.now();
    const all = Object.values(ctx.stats);
    const requests = all.reduce((n, st) => n + st.count, 0);
    const merged = new LatencyHistogram();
    for (const st of all) merged.add(st.latency);
    const errors = all.reduce((n, st) => n + st.failures, 0) + ctx.orders.unknown;
    const perSecond = Math.round(((requests - lastCount) * 1000) / Math.max(1, now - lastAt));
    [lastAt, lastCount] = [now, requests];
    try {
      onProgress({
        elapsedMs: Math.round(now - started),
        requests,
        perSecond,
        errors,
        p99Ms: merged.quantileMs(0.99),
        storeViolations: ctx.storeViolations.count,
      });
    } catch {
      // a throwing printer must not stop the run
    }
  };
  const timer = setInterval(tick, intervalMs);
  return { stop: () => clearInterval(timer) };
}

/** The toys to choose from (GET /products once, as setup: not an operation of the history). */
async function listProducts(
  http: ClientHttp,
  base: string,
  opts: RunClientsOptions,
  policy: RetryPolicy,
): Promise<string[]> {
  const listing = await send(
    http,
    requestOf(base, frontendPublicRoutes.listProducts, {}, { timeoutMs: opts.timeoutMs }),
    'read',
    policy,
    new StatsCollector(),
  );
  if (listing.kind !== 'response')
    throw new Error(`cannot list products at ${base}: ${listing.reason}`);
  if (listing.response.status !== 200)
    throw new Error(`cannot list products at ${base}: ${statusReason(listing.response)}`);
  const all = dataOf(listing.response, frontendPublicRoutes.listProducts.response);
  if (!all) throw new Error(`cannot list products at ${base}: malformed response`);
  const products = [...new Set(all.map((p) => p.name))].sort();
  if (products.length === 0) throw new Error(`the store at ${base} has no products`);
  return products;
}

/**
 * Keys `<run uuid>-<client>-<iteration>`: unique per intended order, and one shape per run that
 * differs from the bare UUIDs the frontend gives keyless orders, so the checker can tell this
 * run's orders from another writer's (scripts/lib/invariants keyShape).
 */
function runKeys(): (client: number, iteration: number) => string {
  const run = randomUUID();
  return (client, iteration) => `${run}-${client}-${iteration}`;
}

function makeCtx(
  opts: RunClientsOptions,
  base: string,
  policy: RetryPolicy,
  products: string[],
  started: number,
): Ctx {
  const origin = opts.timeOrigin ?? started;
  const sink = opts.history;
  let op = 0;
  return {
    base,
    iterations: opts.iterations ?? Infinity,
    deadline: opts.durationMs === undefined ? Infinity : started + opts.durationMs,
    signal: opts.signal,
    p: opts.p,
    policy,
    timeoutMs: opts.timeoutMs,
    idempotency: opts.idempotency ?? true,
    makeKey: opts.makeKey ?? runKeys(),
    thinkMs: opts.thinkMs ?? 0,
    products,
    stats: {
      query: new StatsCollector(),
      order: new StatsCollector(),
      order_query: new StatsCollector(),
    },
    orders: { acknowledged: 0, rejected: 0, unknown: 0, failed: 0 },
    acknowledged: [],
    unknownOrders: [],
    failureReasons: new Map(),
    storeViolations: new StoreViolations(),
    skipReadBack: opts.skipReadBack ?? (() => false),
    nextOp: () => op++,
    record: (e, id) =>
      sink?.({
        type: e.type,
        op: id,
        client: e.client,
        f: e.f,
        key: e.key,
        request: e.request,
        response: e.response,
        timeMs: Math.round((performance.now() - origin) * 1000) / 1000,
        ...(e.attempts && { attempts: e.attempts }),
      }),
  };
}

type ReadBack = Awaited<ReturnType<typeof verifyOrders>>;

function buildResult(
  opts: RunClientsOptions,
  ctx: Ctx,
  seed: number,
  started: number,
  checks: ReadBack[],
): RunResult {
  const order = (
    a: { client: number; iteration: number },
    b: { client: number; iteration: number },
  ) => a.client - b.client || a.iteration - b.iteration;
  return {
    baseUrl: ctx.base,
    clients: opts.clients,
    iterations: opts.iterations ?? null,
    timeLimitMs: opts.durationMs ?? null,
    p: opts.p,
    seed,
    idempotency: ctx.idempotency,
    durationMs: Math.round(performance.now() - started),
    products: ctx.products,
    stats: {
      query: ctx.stats.query.snapshot(),
      order: ctx.stats.order.snapshot(),
      order_query: ctx.stats.order_query.snapshot(),
    },
    orders: ctx.orders,
    verified: checks.reduce((s, r) => s + r.verified, 0),
    unverified: checks.reduce((s, r) => s + r.unverified, 0),
    mismatches: [...checks.flatMap((r) => r.mismatches), ...findDuplicates(ctx.acknowledged)],
    failureReasons: Object.fromEntries([...ctx.failureReasons].sort((a, b) => b[1] - a[1])),
    storeViolations: ctx.storeViolations.kept,
    storeViolationCount: ctx.storeViolations.count,
    acknowledgedOrders: [...ctx.acknowledged].sort(order),
    unknownOrders: [...ctx.unknownOrders].sort(order),
  };
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
    const products = await listProducts(transports[0]!, base, opts, policy);
    const ctx = makeCtx(opts, base, policy, products, started);
    const progress = opts.onProgress
      ? startProgress(
          ctx,
          started,
          opts.onProgress,
          opts.progressIntervalMs ?? PROGRESS_INTERVAL_MS,
        )
      : null;
    try {
      await Promise.all(
        transports.map((http, c) => runOneClient(ctx, http, c, clientRng(seed, c))),
      );
    } finally {
      progress?.stop();
    }
    await opts.beforeReadBack?.();
    // Read back only after every client is done, each client over its own connection.
    const checks = await Promise.all(
      transports.map((http, c) =>
        verifyOrders(
          ctx,
          http,
          ctx.acknowledged.filter((a) => a.client === c),
        ),
      ),
    );
    return buildResult(opts, ctx, seed, started, checks);
  } finally {
    await Promise.allSettled(transports.map((t) => t.close?.()));
  }
}

/** The part of a result the CLI prints (no per-order lists). */
export function summarize(r: RunResult): RunSummary {
  const { acknowledgedOrders: _a, unknownOrders: _u, ...summary } = r;
  return summary;
}
