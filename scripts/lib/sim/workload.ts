/**
 * The clients of a run. Orders go through a frontend's router (`router.placeOrder`) or straight
 * to the leader a router names, with a seeded key `c<n>`, retried with that same key after every
 * unknown outcome until they get an answer (the router-equivalent path; it exercises "retried with
 * the same key after unknown outcomes" across leaders). Reads go through a router for orders
 * already acknowledged. Every outcome is reported to the checker.
 */
import { OrderPlacedSchema, type Order } from '../../../shared/contracts.ts';
import { AppError } from '../../../shared/errors.ts';
import { expectData, NetworkError, type HttpClient } from '../../../shared/http.ts';
import type { Clock } from '../../../shared/clock.ts';
import type { Ack } from './checker.ts';
import type { SimCluster, SimContext } from './cluster.ts';
import type { SimFrontends } from './frontends.ts';
import { nodeClock } from './node.ts';
import { CLIENT, RETRYABLE, TOYS } from './options.ts';
import type { Rng } from './rng.ts';

export class Workload {
  /** Client operations not yet settled: id -> tag of the frontend process serving it ('client': direct). */
  readonly pending = new Map<number, string>();
  acked = 0;
  refused = 0;
  unknown = 0;
  reads = 0;
  accepting = true;
  readonly clientClock: Clock;
  private readonly clientHttp: HttpClient;
  private opSeq = 0;

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
    private readonly frontends: SimFrontends,
    private readonly rng: Rng,
  ) {
    this.clientClock = nodeClock(ctx.clock, cluster.node(CLIENT));
    this.clientHttp = cluster.net.httpClient(CLIENT, cluster.replicaOf);
  }

  /** One step's worth of new client work. */
  step(): void {
    const { rng, ctx } = this;
    if (!this.accepting) return;
    if (rng.chance(ctx.config.orderRate)) {
      if (rng.chance(ctx.config.directShare)) void this.directOrder();
      else this.routerOrder();
    }
    if (rng.chance(ctx.config.readRate)) this.read();
  }

  /** A frontend process died: its clients' requests end with an unknown outcome. */
  abandon(tag: string): void {
    for (const [op, t] of this.pending) if (t === tag) {
      this.pending.delete(op);
      this.unknown++;
    }
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

  private routerOrder(): void {
    const { ctx } = this;
    const op = this.nextOp();
    const { name, quantity } = this.pickOrder();
    const fe = this.rng.pick(this.frontends.list);
    this.pending.set(op, fe.tag);
    ctx.trace(`client op ${op}: order ${quantity} ${name} via ${fe.node.name}`);
    fe.router.placeOrder({ name, quantity }).then(
      (res) => {
        ctx.trace(`client op ${op}: order number ${res.order_number}`);
        this.ack({ orderNumber: res.order_number, name, quantity, by: 'client' });
      },
      (err: unknown) => {
        const reason = err instanceof AppError ? err.reason : (err as Error).message;
        ctx.trace(`client op ${op}: failed: ${reason}`);
        if (reason === 'insufficient_stock') this.refused++;
        else if (!(err instanceof AppError) || !RETRYABLE.has(err.reason)) {
          ctx.checker.fail('client-error', `order ${quantity} ${name} through the router failed with ${err instanceof AppError ? `${err.status} ${err.reason}: ${err.message}` : String(err)}`);
        } else this.unknown++;
      },
    ).finally(() => this.pending.delete(op));
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
        const done = await this.directAttempt({ op, key, name, quantity, timeoutMs, attempt, leaderId: view.leaderId, epoch: view.epoch });
        if (done) return;
        await this.clientClock.sleep(this.rng.int(20, 200));
      }
    } finally {
      this.pending.delete(op);
    }
  }

  /** One attempt of a direct order; true once the order has a definite answer. */
  private async directAttempt(a: { op: number; key: string; name: string; quantity: number; timeoutMs: number; attempt: number; leaderId: number; epoch: number }): Promise<boolean> {
    const { ctx } = this;
    const { op, key, name, quantity } = a;
    try {
      const res = await this.clientHttp({
        method: 'POST',
        url: `http://order-${a.leaderId}/orders`,
        body: { name, quantity, key, epoch: a.epoch },
        timeoutMs: a.timeoutMs,
      });
      const { order_number } = expectData(res, OrderPlacedSchema);
      ctx.trace(`client op ${op}: order number ${order_number} (attempt ${a.attempt})`);
      this.ack({ orderNumber: order_number, name, quantity, key, by: 'client' });
      return true;
    } catch (err) {
      const reason = err instanceof AppError ? err.reason : err instanceof NetworkError ? `network ${err.kind}` : String(err);
      if (reason === 'insufficient_stock') {
        ctx.trace(`client op ${op}: refused (stock)`);
        this.refused++;
        ctx.checker.onRefused(key);
        return true;
      }
      if (!(err instanceof NetworkError) && !(err instanceof AppError && RETRYABLE.has(err.reason))) {
        ctx.checker.fail('client-error', `order ${quantity} ${name} key ${key} failed with ${err instanceof AppError ? `${err.status} ${err.reason}: ${err.message}` : String(err)}`);
        return true;
      }
      ctx.trace(`client op ${op}: attempt ${a.attempt} at order-${a.leaderId}: ${reason}; will retry with the same key`);
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
    fe.router.getOrder(a.orderNumber).then(
      (got: Order) => {
        ctx.trace(`client op ${op}: read order ${a.orderNumber}: ${got.quantity} ${got.name}`);
        ctx.checker.onRead(a, got);
      },
      (err: unknown) => {
        const reason = err instanceof AppError ? err.reason : String(err);
        ctx.trace(`client op ${op}: read order ${a.orderNumber} failed: ${reason}`);
        if (reason === 'order_not_found') ctx.checker.onRead(a, null);
      },
    ).finally(() => this.pending.delete(op));
  }
}
