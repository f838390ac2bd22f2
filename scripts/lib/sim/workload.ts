/**
 * The clients of a run, and what each outcome they get obliges the store to.
 *
 * - Keyed orders through a frontend (`router.placeOrder` with an Idempotency-Key `k<n>`), retried
 *   with the same key through any frontend after every unknown outcome (504, a dead frontend),
 *   as the README tells clients to. A definite failure (409 for stock, 503 "certainly did not
 *   happen") ends the request: the key must never commit. A 503 or unexpected 4xx after one of
 *   the frontend's own attempts had an unknown outcome is itself a violation (issue 9 item 2).
 * - Orders without a key through a frontend, once each.
 * - Orders straight to the leader a frontend names, with a seeded key `c<n>`, retried with that
 *   key after every unknown outcome until they get an answer (it exercises "retried with the
 *   same key after unknown outcomes" across leaders).
 * - Reads through a frontend of orders already acknowledged (through any frontend): they must
 *   see them (a 404 is a stale read).
 *
 * A failed order through a frontend is also reported to the availability monitor.
 */
import { OrderPlacedSchema, type Order } from '../../../shared/contracts.ts';
import { contradictsUnknown } from '../invariants/index.ts';
import { AppError } from '../../../shared/errors.ts';
import { expectData, NetworkError, type HttpClient } from '../../../shared/http.ts';
import type { Clock } from '../../../shared/clock.ts';
import type { AvailabilityMonitor } from './availability.ts';
import type { Ack } from './checker.ts';
import { replicaUrl, type SimCluster, type SimContext } from './cluster.ts';
import type { AttemptWatch, Frontend, SimFrontends } from './frontends.ts';
import { nodeClock } from './node.ts';
import { CLIENT, RETRYABLE, TOYS } from './options.ts';
import type { Rng } from '../rng/rng.ts';

/** How many times a keyed client tries one order before it gives up (outcome unknown). */
const KEYED_ATTEMPTS = 6;

type Outcome =
  | { kind: 'ok'; orderNumber: number }
  | { kind: 'error'; err: unknown }
  | { kind: 'abandoned' };

export class Workload {
  /**
   * Client operations not yet settled: id -> tag of the frontend process serving it ('client': the
   * client's own).
   */
  readonly pending = new Map<number, string>();
  acked = 0;
  refused = 0;
  failed = 0;
  unknown = 0;
  reads = 0;
  accepting = true;
  readonly clientClock: Clock;
  private readonly clientHttp: HttpClient;
  private opSeq = 0;
  /** Frontend process tag -> what to tell its clients when it dies. */
  private readonly onDeath = new Map<string, Set<() => void>>();

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
    private readonly frontends: SimFrontends,
    private readonly availability: AvailabilityMonitor,
    private readonly rng: Rng,
  ) {
    this.clientClock = nodeClock(ctx.clock, cluster.node(CLIENT));
    this.clientHttp = cluster.net.httpClient(CLIENT);
  }

  /** One step's worth of new client work. */
  step(): void {
    const { rng, ctx } = this;
    if (!this.accepting) return;
    if (rng.chance(ctx.config.orderRate)) {
      if (rng.chance(ctx.config.directShare)) void this.directOrder();
      else if (rng.chance(ctx.config.keyedShare)) void this.keyedOrder();
      else this.routerOrder();
    }
    if (rng.chance(ctx.config.readRate)) this.read();
  }

  /** A frontend process died: its requests end with an unknown outcome for their clients. */
  abandon(tag: string): void {
    for (const [op, t] of this.pending)
      if (t === tag) {
        this.pending.delete(op);
        this.unknown++;
      }
    for (const tell of this.onDeath.get(tag) ?? []) tell();
    this.onDeath.delete(tag);
  }

  nextOp(): number {
    return ++this.opSeq;
  }

  ack(a: Ack): void {
    this.acked++;
    this.ctx.checker.onAck(a, this.cluster.snapshots());
  }

  private pickOrder(): { name: string; quantity: number } {
    return { name: this.rng.pick(TOYS), quantity: this.rng.int(1, 5) };
  }

  /** `placeOrder` through `fe`, or 'abandoned' if that frontend process dies first. */
  placeVia(
    fe: Frontend,
    order: { name: string; quantity: number },
    idempotencyKey?: string,
  ): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let waiters = this.onDeath.get(fe.tag);
      if (!waiters) this.onDeath.set(fe.tag, (waiters = new Set()));
      const died = () => resolve({ kind: 'abandoned' });
      waiters.add(died);
      fe.router
        .placeOrder(order, { idempotencyKey })
        .then(
          (res) => resolve({ kind: 'ok', orderNumber: res.order_number }),
          (err: unknown) => resolve({ kind: 'error', err }),
        )
        .finally(() => waiters.delete(died));
    });
  }

  private async keyedOrder(): Promise<void> {
    const op = this.nextOp();
    const key = `k${op}`;
    const order = this.pickOrder();
    this.pending.set(op, 'client');
    this.ctx.trace(
      `client op ${op}: order ${order.quantity} ${order.name} key ${key} via a frontend`,
    );
    try {
      for (let attempt = 1; attempt <= KEYED_ATTEMPTS; attempt++) {
        if (await this.keyedAttempt(op, key, order, attempt)) return;
        await this.clientClock.sleep(this.rng.int(50, 300));
      }
      this.unknown++;
      this.ctx.trace(`client op ${op}: gave up after ${KEYED_ATTEMPTS} unknown outcomes`);
    } finally {
      this.pending.delete(op);
    }
  }

  /** One request of a keyed order through a random frontend; true once it has a definite answer. */
  private async keyedAttempt(
    op: number,
    key: string,
    order: { name: string; quantity: number },
    attempt: number,
  ): Promise<boolean> {
    const { ctx } = this;
    const fe = this.rng.pick(this.frontends.list);
    const startedAt = ctx.clock.now();
    const watch = this.frontends.watch(fe, key);
    let out = await this.placeVia(fe, order, key);
    this.frontends.unwatch(fe, key, watch);
    if (ctx.opts.broken?.unknownAsFailure) out = unknownAsFailure(out, watch);
    if (out.kind === 'ok') {
      ctx.trace(
        `client op ${op}: order number ${out.orderNumber} (request ${attempt} via ${fe.node.name})`,
      );
      this.ack({ orderNumber: out.orderNumber, ...order, key, by: 'client' });
      return true;
    }
    if (out.kind === 'abandoned') {
      ctx.trace(
        `client op ${op}: ${fe.node.name} died during request ${attempt}; will retry with the same key`,
      );
      return false;
    }
    const err = out.err;
    const what = describeError(err);
    ctx.trace(`client op ${op}: request ${attempt} via ${fe.node.name}: ${what}`);
    if (err instanceof AppError && err.reason === 'insufficient_stock') {
      this.refused++;
      ctx.checker.onDefiniteFailure(
        key,
        `409 insufficient stock (request ${attempt} via ${fe.node.name})`,
      );
      return true;
    }
    if (
      err instanceof AppError &&
      (err.status === 504 || err.reason === 'request_in_progress' || err.status === 500)
    ) {
      this.availability.onOrderFailed(fe, startedAt, what);
      return false;
    }
    // What contradicts an unknown attempt is the shared rule's to say (scripts/lib/invariants).
    if (
      watch.unknown !== null &&
      err instanceof AppError &&
      contradictsUnknown({ status: err.status, reason: err.reason, uncertain: false })
    ) {
      ctx.checker.fail(
        'definite-after-unknown',
        `order ${order.quantity} ${order.name} key ${key} via ${fe.node.name} answered ${what}, though ${watch.unknown}`,
      );
    }
    if (!(err instanceof AppError && err.status === 503)) {
      ctx.checker.fail(
        'client-error',
        `order ${order.quantity} ${order.name} key ${key} via ${fe.node.name} failed with ${what}`,
      );
      return true;
    }
    this.failed++;
    ctx.checker.onDefiniteFailure(key, `${what} (request ${attempt} via ${fe.node.name})`);
    this.availability.onOrderFailed(fe, startedAt, what);
    return true;
  }

  private routerOrder(): void {
    const { ctx } = this;
    const op = this.nextOp();
    const order = this.pickOrder();
    const fe = this.rng.pick(this.frontends.list);
    const startedAt = ctx.clock.now();
    this.pending.set(op, fe.tag);
    ctx.trace(`client op ${op}: order ${order.quantity} ${order.name} via ${fe.node.name}`);
    fe.router
      .placeOrder(order)
      .then(
        (res) => {
          ctx.trace(`client op ${op}: order number ${res.order_number}`);
          this.ack({ orderNumber: res.order_number, ...order, by: 'client' });
        },
        (err: unknown) => {
          const what = describeError(err);
          ctx.trace(`client op ${op}: failed: ${what}`);
          if (err instanceof AppError && err.reason === 'insufficient_stock') this.refused++;
          else if (!(err instanceof AppError) || !RETRYABLE.has(err.reason)) {
            ctx.checker.fail(
              'client-error',
              `order ${order.quantity} ${order.name} through the router failed with ${what}`,
            );
          } else {
            this.unknown++;
            this.availability.onOrderFailed(fe, startedAt, what);
          }
        },
      )
      .finally(() => this.pending.delete(op));
  }

  private async directOrder(): Promise<void> {
    const op = this.nextOp();
    const key = `c${op}`;
    const { name, quantity } = this.pickOrder();
    const timeoutMs = this.rng.pick([1_000, 3_000, 6_000]);
    this.pending.set(op, 'client');
    this.ctx.trace(`client op ${op}: order ${quantity} ${name} key ${key} at the leader`);
    try {
      for (let attempt = 1; ; attempt++) {
        const view = this.rng.pick(this.frontends.list).router.view();
        if (view.leaderId === null || view.epoch === null) {
          await this.clientClock.sleep(this.rng.int(20, 200));
          continue;
        }
        const done = await this.directAttempt({
          op,
          key,
          name,
          quantity,
          timeoutMs,
          attempt,
          leaderId: view.leaderId,
          epoch: view.epoch,
        });
        if (done) return;
        await this.clientClock.sleep(this.rng.int(20, 200));
      }
    } finally {
      this.pending.delete(op);
    }
  }

  /** One attempt of a direct order; true once the order has a definite answer. */
  private async directAttempt(a: {
    op: number;
    key: string;
    name: string;
    quantity: number;
    timeoutMs: number;
    attempt: number;
    leaderId: number;
    epoch: number;
  }): Promise<boolean> {
    const { ctx } = this;
    const { op, key, name, quantity } = a;
    try {
      const res = await this.clientHttp({
        method: 'POST',
        url: `${replicaUrl(a.leaderId)}/orders`,
        body: { name, quantity, key, epoch: a.epoch },
        timeoutMs: a.timeoutMs,
      });
      const { order_number } = expectData(res, OrderPlacedSchema);
      ctx.trace(`client op ${op}: order number ${order_number} (attempt ${a.attempt})`);
      this.ack({ orderNumber: order_number, name, quantity, key, by: 'client' });
      return true;
    } catch (err) {
      const reason =
        err instanceof AppError
          ? err.reason
          : err instanceof NetworkError
            ? `network ${err.kind}`
            : String(err);
      if (reason === 'insufficient_stock') {
        ctx.trace(`client op ${op}: refused (stock)`);
        this.refused++;
        ctx.checker.onDefiniteFailure(key, '409 insufficient stock (straight from the leader)');
        return true;
      }
      if (
        !(err instanceof NetworkError) &&
        !(err instanceof AppError && RETRYABLE.has(err.reason))
      ) {
        ctx.checker.fail(
          'client-error',
          `order ${quantity} ${name} key ${key} failed with ${describeError(err)}`,
        );
        return true;
      }
      ctx.trace(
        `client op ${op}: attempt ${a.attempt} at order-${a.leaderId}: ${reason}; will retry with the same key`,
      );
      return false;
    }
  }

  private read(): void {
    const { ctx } = this;
    if (!ctx.checker.acks.length) return;
    const a = this.rng.pick(ctx.checker.acks);
    const op = this.nextOp();
    this.reads++;
    const fe = this.rng.pick(this.frontends.list);
    this.pending.set(op, fe.tag);
    fe.router
      .getOrder(a.orderNumber)
      .then(
        (got: Order) => {
          ctx.trace(
            `client op ${op}: read order ${a.orderNumber} via ${fe.node.name}: ${got.quantity} ${got.name}`,
          );
          ctx.checker.onRead(a, got, fe.node.name);
        },
        (err: unknown) => {
          const reason = err instanceof AppError ? err.reason : String(err);
          ctx.trace(
            `client op ${op}: read order ${a.orderNumber} via ${fe.node.name} failed: ${reason}`,
          );
          if (reason === 'order_not_found') ctx.checker.onRead(a, null, fe.node.name);
        },
      )
      .finally(() => this.pending.delete(op));
  }
}

/**
 * Broken on purpose (negative test): a frontend that turns "outcome unknown" into "certainly did
 * not happen": a 504, or any answer after one of its attempts had an unknown outcome, becomes 503.
 */
function unknownAsFailure(out: Outcome, watch: AttemptWatch): Outcome {
  if (out.kind === 'abandoned') return out;
  if (
    watch.unknown === null &&
    !(out.kind === 'error' && out.err instanceof AppError && out.err.status === 504)
  )
    return out;
  return {
    kind: 'error',
    err: new AppError(503, 'no_quorum', 'order not taken (broken on purpose)', 1),
  };
}

export function describeError(err: unknown): string {
  if (err instanceof AppError) return `${err.status} ${err.reason}: ${err.message}`;
  if (err instanceof NetworkError) return `network ${err.kind}`;
  return String(err);
}
