/**
 * What one client does, as history-recording operations: query a toy, place an order, read
 * acknowledged orders back. Each takes the run's shared context (`Ctx`).
 */
import {
  IDEMPOTENCY_KEY_HEADER,
  REPLAYED_HEADER,
  type HistoryEvent,
  type Product,
} from '../../../shared/contracts.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../../../shared/http.ts';
import { frontendPublicRoutes, requestOf } from '../../../shared/protocol/index.ts';
import { dataOf, send, sleep, statusReason, type Attempt, type Outcome } from './send.ts';
import type { StoreViolations } from './violations.ts';
import type { StatsCollector } from './stats.ts';
import type {
  AcknowledgedOrder,
  Mismatch,
  OrderCounts,
  RequestType,
  RetryPolicy,
  UnknownOrder,
} from './types.ts';

/**
 * The frontend's public routes this client calls (shared/protocol/frontend.ts): paths, methods and
 * answer schemas.
 */
const routes = frontendPublicRoutes;

export interface Ctx {
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
  storeViolations: StoreViolations;
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

const wire = (res: HttpResponse | null) =>
  res ? { status: res.status, body: res.body ?? null } : null;

/**
 * One recorded operation: `invoke` now, `complete` exactly once later (orders with their attempts).
 */
function begin(
  ctx: Ctx,
  client: number,
  f: HistoryEvent['f'],
  key: string | null,
  request: Record<string, unknown>,
) {
  const op = ctx.nextOp();
  ctx.record({ type: 'invoke', client, f, key, request, response: null }, op);
  let done = false;
  return (type: 'ok' | 'fail' | 'info', response: HttpResponse | null, attempts?: Attempt[]) => {
    if (done) return;
    done = true;
    ctx.record(
      { type, client, f, key, request, response: wire(response), ...(attempts && { attempts }) },
      op,
    );
  };
}

/**
 * How a GET's outcome maps to a completion: an answer is ok (200/404) or fail, no answer is info.
 */
function readCompletion(out: Outcome): ['ok' | 'fail' | 'info', HttpResponse | null] {
  if (out.kind === 'response')
    return [
      out.response.status === 200 || out.response.status === 404 ? 'ok' : 'fail',
      out.response,
    ];
  return [out.response ? 'fail' : 'info', out.response];
}

async function queryProduct(
  ctx: Ctx,
  http: HttpClient,
  client: number,
  name: string,
): Promise<Product | undefined> {
  const stats = ctx.stats.query;
  stats.count++;
  const complete = begin(ctx, client, 'query', null, { name });
  const started = performance.now();
  const out = await send(
    http,
    requestOf(ctx.base, routes.getProduct, { params: { name } }, { timeoutMs: ctx.timeoutMs }),
    'read',
    ctx.policy,
    stats,
  );
  complete(...readCompletion(out));
  if (out.kind !== 'response') return void fail(ctx, 'query', out.reason);
  stats.latency.record(performance.now() - started);
  if (out.response.status !== 200) return void fail(ctx, 'query', statusReason(out.response));
  const product = dataOf(out.response, routes.getProduct.response);
  if (!product) return void fail(ctx, 'query', 'malformed product');
  return product;
}

/** One intended order: who places it and what, under which key (null: sent without one). */
interface OrderIntent {
  client: number;
  iteration: number;
  name: string;
  quantity: number;
  key: string | null;
}

/** How an order's operation completes in the history. */
type Complete = ReturnType<typeof begin>;

/**
 * One intended order, retried under one key. How it ends (the history's completion):
 *  - `ok`: acknowledged with an order number;
 *  - `fail`: certainly not taken: refused for stock (409 insufficient_stock, the definite outcome
 *    the catalog's ledger holds for the key, so also after an unknown attempt), or, only when no
 *    attempt's outcome was unknown, another 4xx or 503 on every attempt;
 *  - `info`: unknown: an attempt may have been taken and no later answer settled it. Once any
 *    attempt was unknown the order never ends `fail` on a 503 or a 4xx; such an answer is a
 *    store violation (`definite-after-unknown`), recorded whatever the final outcome.
 */
async function placeOrder(
  ctx: Ctx,
  http: HttpClient,
  client: number,
  iteration: number,
  name: string,
  quantity: number,
): Promise<void> {
  const stats = ctx.stats.order;
  stats.count++;
  const key = ctx.idempotency ? ctx.makeKey(client, iteration) : null;
  const intent: OrderIntent = { client, iteration, name, quantity, key };
  const complete = begin(ctx, client, 'order', key, { name, quantity });
  const started = performance.now();
  const req: HttpRequest = requestOf(
    ctx.base,
    routes.placeOrder,
    { body: { name, quantity } },
    {
      timeoutMs: ctx.timeoutMs,
      headers: key === null ? undefined : { [IDEMPOTENCY_KEY_HEADER]: key },
    },
  );
  const out = await send(http, req, key !== null ? 'order-keyed' : 'order-once', ctx.policy, stats);
  if (out.contradiction)
    ctx.storeViolations.add({
      kind: 'definite-after-unknown',
      client,
      iteration,
      key,
      name,
      quantity,
      attempts: out.attempts,
    });
  if (out.kind === 'failed') return orderFailed(ctx, complete, out, out.response, out.reason);
  if (out.kind === 'unknown')
    return orderUnknown(ctx, intent, complete, out, out.response, out.reason);
  settleAnswer(ctx, intent, complete, out, started);
}

/** The order's outcome is unknown: it may have been taken. */
function orderUnknown(
  ctx: Ctx,
  intent: OrderIntent,
  complete: Complete,
  out: Outcome,
  response: HttpResponse | null,
  reason: string,
): void {
  complete('info', response, out.attempts);
  ctx.stats.order.unknown++;
  ctx.orders.unknown++;
  noteReason(ctx, 'order', `unknown: ${reason}`);
  ctx.unknownOrders.push({ ...intent, reason });
}

/** The order was certainly not taken. */
function orderFailed(
  ctx: Ctx,
  complete: Complete,
  out: Outcome,
  response: HttpResponse | null,
  reason: string,
): void {
  complete('fail', response, out.attempts);
  ctx.orders.failed++;
  fail(ctx, 'order', reason);
}

/** What the store's last answer to an order means: taken, refused for stock, unknown or refused. */
function settleAnswer(
  ctx: Ctx,
  intent: OrderIntent,
  complete: Complete,
  out: Extract<Outcome, { kind: 'response' }>,
  started: number,
): void {
  const stats = ctx.stats.order;
  const res = out.response;
  if (res.headers[REPLAYED_HEADER] === 'true') stats.replayed++;
  if (res.status >= 200 && res.status < 300) {
    const placed = dataOf(res, routes.placeOrder.response);
    // The store said yes but we cannot tell the number: taken, but not checkable.
    if (!placed)
      return orderUnknown(ctx, intent, complete, out, res, 'malformed order acknowledgement');
    complete('ok', res, out.attempts);
    stats.latency.record(performance.now() - started);
    ctx.orders.acknowledged++;
    const { client, iteration, name, quantity, key } = intent;
    ctx.acknowledged.push({
      client,
      iteration,
      order_number: placed.order_number,
      name,
      quantity,
      key,
    });
    return;
  }
  // 409: refused for stock (a 409 request_in_progress was retried by send as unknown).
  if (res.status === 409) {
    complete('fail', res, out.attempts);
    stats.latency.record(performance.now() - started);
    stats.rejected++;
    ctx.orders.rejected++;
    return;
  }
  // Without idempotency a 5xx is returned as it is: the order may have been taken. A 4xx after
  // an unknown attempt cannot make it a definite failure either (see `contradiction` above).
  if (res.status >= 500 || out.contradiction)
    return orderUnknown(ctx, intent, complete, out, res, statusReason(res));
  // The store refused the request outright (bad input, unknown toy, key reused with another
  // body): definitely not taken.
  stats.latency.record(performance.now() - started);
  orderFailed(ctx, complete, out, res, statusReason(res));
}

function running(ctx: Ctx, i: number): boolean {
  return i < ctx.iterations && performance.now() < ctx.deadline && !ctx.signal?.aborted;
}

export async function runOneClient(
  ctx: Ctx,
  http: HttpClient,
  client: number,
  rng: () => number,
): Promise<void> {
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
    if (product && product.quantity > 0 && coin < ctx.p)
      await placeOrder(ctx, http, client, i, name, quantity);
  }
}

/**
 * Reads back one client's acknowledged orders; returns mismatches and how many could not be read.
 */
export async function verifyOrders(
  ctx: Ctx,
  http: HttpClient,
  mine: AcknowledgedOrder[],
): Promise<{ mismatches: Mismatch[]; verified: number; unverified: number }> {
  const mismatches: Mismatch[] = [];
  let verified = 0;
  let unverified = 0;
  for (const ack of mine) {
    const found = ctx.skipReadBack() ? 'unverified' : await readBack(ctx, http, ack);
    if (found === 'verified') verified++;
    else if (found === 'unverified') unverified++;
    else mismatches.push(found);
  }
  return { mismatches, verified, unverified };
}

/**
 * One acknowledged order read back: as acknowledged, unreadable (no answer or an error), or a
 * mismatch.
 */
async function readBack(
  ctx: Ctx,
  http: HttpClient,
  ack: AcknowledgedOrder,
): Promise<'verified' | 'unverified' | Mismatch> {
  const stats = ctx.stats.order_query;
  stats.count++;
  const complete = begin(ctx, ack.client, 'read', ack.key, { order_number: ack.order_number });
  const started = performance.now();
  const expected = [
    { client: ack.client, iteration: ack.iteration, name: ack.name, quantity: ack.quantity },
  ];
  const what = `${ack.quantity} x ${ack.name}`;
  const out = await send(
    http,
    requestOf(
      ctx.base,
      routes.getOrder,
      { params: { order_number: ack.order_number } },
      { timeoutMs: ctx.timeoutMs },
    ),
    'read',
    ctx.policy,
    stats,
  );
  complete(...readCompletion(out));
  if (out.kind !== 'response') {
    fail(ctx, 'order_query', out.reason);
    return 'unverified';
  }
  const res = out.response;
  if (res.status === 404) {
    stats.latency.record(performance.now() - started);
    return {
      kind: 'missing',
      order_number: ack.order_number,
      expected,
      message: `order ${ack.order_number} (${what}) was acknowledged but reads back as 404`,
    };
  }
  if (res.status !== 200) {
    fail(ctx, 'order_query', statusReason(res));
    return 'unverified';
  }
  stats.latency.record(performance.now() - started);
  const got = dataOf(res, routes.getOrder.response);
  if (
    got &&
    got.number === ack.order_number &&
    got.name === ack.name &&
    got.quantity === ack.quantity
  )
    return 'verified';
  const actual = (res.body as { data?: unknown } | undefined)?.data;
  const shown = got
    ? `number ${got.number}, ${got.quantity} x ${got.name}`
    : `malformed ${JSON.stringify(actual)}`;
  return {
    kind: 'different',
    order_number: ack.order_number,
    expected,
    actual,
    message: `order ${ack.order_number} was acknowledged as ${what} but reads back as ${shown}`,
  };
}

export function findDuplicates(acks: readonly AcknowledgedOrder[]): Mismatch[] {
  const byNumber = new Map<number, AcknowledgedOrder[]>();
  for (const a of acks) byNumber.set(a.order_number, [...(byNumber.get(a.order_number) ?? []), a]);
  const out: Mismatch[] = [];
  for (const [n, group] of [...byNumber].sort((a, b) => a[0] - b[0])) {
    if (group.length < 2) continue;
    const expected = group.map(({ client, iteration, name, quantity }) => ({
      client,
      iteration,
      name,
      quantity,
    }));
    const list = group.map((g) => `${g.quantity} x ${g.name} (client ${g.client})`).join(', ');
    out.push({
      kind: 'duplicate',
      order_number: n,
      expected,
      message: `order number ${n} was acknowledged ${group.length} times: ${list}`,
    });
  }
  return out;
}
