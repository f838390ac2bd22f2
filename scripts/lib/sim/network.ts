/**
 * The simulated network: request/response calls between simulated processes over the run's
 * `ManualClock`, with seeded delay (so reordering), loss of requests and of replies, duplicated
 * requests (the handler runs twice; the caller sees the first reply), directed link cuts
 * (partitions, one-way ones too), refused connections to a crashed process, resets of calls in
 * flight when their target crashes, and caller-side timeouts (`NetworkError('timeout')` after the
 * caller's timeoutMs, the way shared/http.ts reports it).
 *
 * Messages are JSON round-tripped like on a wire; a handler's AppError reaches the caller as the
 * AppError the HTTP transport would rebuild (`fromErrorBody`), anything else as a 500. A request
 * that reaches a restarted process is handled by the new incarnation (stale messages do arrive
 * at restarted replicas); the reply of a handler whose incarnation died is dropped.
 *
 * On top of `call`: `peerTransport` (the `PeerTransport` a replica gets), `httpClient` (the
 * `HttpClient` the frontend's router gets, routing `http://order-N/...` onto replica methods the
 * way order/app.ts does) and `SimCatalog` (the catalog twin: one decrement per key).
 */
import type { ManualClock } from '../../../shared/clock.ts';
import {
  LeaderOrderRequestSchema, LeadRequestSchema, LeaderNoticeSchema, REPLAYED_HEADER, type PurchaseRequest, type PurchaseResult,
} from '../../../shared/contracts.ts';
import { AppError, fromErrorBody, insufficientStock, orderNotFound } from '../../../shared/errors.ts';
import { NetworkError, type HttpClient, type HttpResponse } from '../../../shared/http.ts';
import type { CatalogPurchaser, PeerTransport } from '../../../order/peers.ts';
import type { Replica } from '../../../order/replica.ts';
import type { Rng } from './rng.ts';
import type { SimNode } from './node.ts';

export interface NetworkConfig {
  lossRate: number;
  dupRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Chance that one message is slow (maxDelayMs..slowMaxMs): the main source of reordering. */
  slowRate: number;
  slowMaxMs: number;
}

export interface NetStats {
  calls: number;
  lost: number;
  duplicated: number;
  timeouts: number;
  refused: number;
  resets: number;
  partitionDrops: number;
  /** lead(E) requests that reached a replica while its lead(E) was still running. */
  concurrentLeads: number;
  /** Appends a follower answered with 400 (e.g. "epoch E was promised to replica X"), not a mismatch. */
  appendsRefused: number;
}

interface InFlight {
  reset: () => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

function wireClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** What the caller sees of an error thrown by a handler (as over HTTP). */
function wireError(err: unknown): Error {
  if (err instanceof AppError) return fromErrorBody(err.status, wireClone(err.toBody()));
  return new AppError(500, 'internal', 'internal error');
}

export class SimNetwork {
  readonly stats: NetStats = { calls: 0, lost: 0, duplicated: 0, timeouts: 0, refused: 0, resets: 0, partitionDrops: 0, concurrentLeads: 0, appendsRefused: 0 };
  /** Directed link cuts, reference counted (overlapping partitions). */
  private cuts = new Map<string, number>();
  private inflight = new Map<number, Set<InFlight>>();
  private seq = 0;
  /** Extra loss on top of cfg.lossRate (network storms). */
  extraLoss = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly rng: Rng,
    readonly cfg: NetworkConfig,
    private readonly nodes: ReadonlyMap<number, SimNode>,
    private readonly trace: (line: string) => void,
  ) {}

  private node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`unknown sim node ${id}`);
    return n;
  }

  cut(from: number, to: number): void {
    const k = `${from}>${to}`;
    this.cuts.set(k, (this.cuts.get(k) ?? 0) + 1);
  }

  heal(from: number, to: number): void {
    const k = `${from}>${to}`;
    const n = (this.cuts.get(k) ?? 0) - 1;
    if (n <= 0) this.cuts.delete(k);
    else this.cuts.set(k, n);
  }

  healAll(): void {
    this.cuts.clear();
    this.extraLoss = 0;
  }

  isCut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  private delay(): number {
    const { rng, cfg } = this;
    return rng.chance(cfg.slowRate) ? rng.int(cfg.maxDelayMs, cfg.slowMaxMs) : rng.int(cfg.minDelayMs, cfg.maxDelayMs);
  }

  private lose(): boolean {
    return this.rng.chance(this.cfg.lossRate + this.extraLoss);
  }

  /** The target crashed: calls in flight to it are reset (about half of them; the rest time out). */
  onCrash(id: number): void {
    const calls = this.inflight.get(id);
    if (!calls) return;
    for (const c of [...calls]) if (this.rng.chance(0.5)) this.clock.setTimeout(c.reset, this.delay());
  }

  /**
   * Calls `handler` inside process `to` on behalf of process `from`. The handler is looked up and
   * run at delivery time, in whatever incarnation of `to` is up then.
   */
  call<T>(from: number, to: number, what: string, timeoutMs: number, handler: () => T | Promise<T>): Promise<T> {
    const id = ++this.seq;
    const src = this.node(from);
    const dst = this.node(to);
    const srcIncarnation = src.incarnation;
    const url = `sim://${dst.name}/${what}`;
    this.stats.calls++;
    const tag = `#${id} ${src.name}>${dst.name} ${what}`;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const entry: InFlight = { reset: () => settle('reset', () => reject(new NetworkError('reset', url))) };
      const settle = (how: string, fn: () => void) =>
        src.gate(srcIncarnation, () => {
          if (settled) return;
          settled = true;
          cancelTimeout();
          this.inflight.get(to)?.delete(entry);
          if (how === 'timeout') this.stats.timeouts++;
          else if (how === 'refused') this.stats.refused++;
          else if (how === 'reset') this.stats.resets++;
          this.trace(`${tag}: ${how}`);
          fn();
        });
      const cancelTimeout = this.clock.setTimeout(() => settle('timeout', () => reject(new NetworkError('timeout', url))), timeoutMs);
      if (!dst.up) {
        this.clock.setTimeout(() => settle('refused', () => reject(new NetworkError('refused', url))), this.delay());
        return;
      }
      let set = this.inflight.get(to);
      if (!set) this.inflight.set(to, (set = new Set()));
      set.add(entry);

      const respond = (dstIncarnation: number, out: Outcome, dup: string) =>
        dst.gate(dstIncarnation, () => {
          if (this.isCut(to, from)) {
            this.stats.partitionDrops++;
            return this.trace(`${tag}: reply${dup} cut by partition`);
          }
          if (this.lose()) {
            this.stats.lost++;
            return this.trace(`${tag}: reply${dup} lost`);
          }
          this.clock.setTimeout(() => {
            if (this.isCut(to, from)) {
              this.stats.partitionDrops++;
              return this.trace(`${tag}: reply${dup} cut by partition in flight`);
            }
            settle(out.ok ? `ok${dup}` : `error${dup} ${(out.error as AppError).reason ?? out.error.message}`, () =>
              out.ok ? resolve(out.value as T) : reject(out.error),
            );
          }, this.delay());
        });

      const arrive = (dup: string) => {
        if (this.isCut(from, to)) {
          this.stats.partitionDrops++;
          return this.trace(`${tag}: request${dup} cut by partition in flight`);
        }
        if (!dst.up) return settle('refused', () => reject(new NetworkError('refused', url)));
        const dstIncarnation = dst.incarnation;
        dst.gate(dstIncarnation, () => {
          let result: Promise<T>;
          try {
            result = Promise.resolve(handler());
          } catch (err) {
            result = Promise.reject(err);
          }
          result.then(
            (value) => respond(dstIncarnation, { ok: true, value: wireClone(value) }, dup),
            (err: unknown) => {
              if (err instanceof AppError && err.reason === 'bad_request' && what.startsWith('append')) this.stats.appendsRefused++;
              if (!(err instanceof AppError)) this.trace(`${tag}: handler threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
              respond(dstIncarnation, { ok: false, error: wireError(err) }, dup);
            },
          );
        });
      };

      const transmit = (dup: string) => {
        if (this.isCut(from, to)) {
          this.stats.partitionDrops++;
          return this.trace(`${tag}: request${dup} cut by partition`);
        }
        if (this.lose()) {
          this.stats.lost++;
          return this.trace(`${tag}: request${dup} lost`);
        }
        this.clock.setTimeout(() => arrive(dup), this.delay());
      };
      transmit('');
      if (this.rng.chance(this.cfg.dupRate)) {
        this.stats.duplicated++;
        this.trace(`${tag}: request duplicated`);
        transmit(' (dup)');
      }
    });
  }

  /** The `PeerTransport` replica `self` uses: each method runs the peer's handler at delivery. */
  peerTransport(self: number, replicaOf: (id: number) => Replica): PeerTransport {
    return {
      promise: (peer, req, t) => this.call(self, peer, `promise e${req.epoch}`, t, () => replicaOf(peer).handlePromise(wireClone(req))),
      append: (peer, req, t) =>
        this.call(self, peer, `append e${req.epoch} ${req.prevIndex + 1}+${req.entries.length} c${req.commitIndex}`, t, () =>
          replicaOf(peer).handleAppend(wireClone(req)),
        ),
      fetchLog: (peer, req, t) => this.call(self, peer, `fetchLog e${req.epoch} from ${req.from}`, t, () => replicaOf(peer).handleFetchLog(wireClone(req))),
      status: (peer, t) => this.call(self, peer, 'status', t, () => replicaOf(peer).status()),
      catchup: async (peer, req, t) => {
        await this.call(self, peer, `catchup after ${req.lastIndex}`, t, () => replicaOf(peer).handleCatchup(wireClone(req)));
      },
    };
  }

  /**
   * The `HttpClient` of process `self` (the frontend, or a client that talks to the leader
   * directly): `http://order-N/<route>` runs the route of order/app.ts on replica N at delivery.
   * `rewrite` may change a request body before it is sent (the run maps the router's random
   * order keys onto seeded ones there).
   */
  httpClient(self: number, replicaOf: (id: number) => Replica, opts: { leadSingleFlight?: boolean } = {}): HttpClient {
    return async (req) => {
      const url = new URL(req.url);
      const id = Number(/^order-(\d+)$/.exec(url.hostname)?.[1]);
      if (!this.nodes.has(id)) throw new NetworkError('refused', req.url);
      const what = `${req.method} ${url.pathname}`;
      return this.call<HttpResponse>(self, id, what, req.timeoutMs ?? 5_000, async () => {
        try {
          const headers: Record<string, string> = {};
          const data = await this.route(replicaOf(id), req.method, url, wireClone(req.body), headers, opts.leadSingleFlight ?? false);
          return { status: 200, headers, body: { data } };
        } catch (err) {
          if (err instanceof AppError) return { status: err.status, headers: {}, body: err.toBody() };
          this.trace(`${what} on order-${id} failed: ${(err as Error)?.name}: ${(err as Error)?.message}`);
          return { status: 500, headers: {}, body: { error: { code: 500, message: 'internal error', reason: 'internal' } } };
        }
      });
    };
  }

  /** lead() calls running per replica object and epoch (to spot, or with the shim merge, concurrent ones). */
  private leading = new WeakMap<Replica, Map<number, Promise<unknown>>>();

  /**
   * Runs `replica.lead(epoch)`. Two lead calls for one epoch running at once on one replica (two
   * frontends choosing the same epoch and candidate, or a repeated request) are traced; with
   * `singleFlight` the second joins the first, which is what a replica-side fix would do.
   */
  private lead(replica: Replica, epoch: number, singleFlight: boolean): Promise<unknown> {
    let running = this.leading.get(replica);
    if (!running) this.leading.set(replica, (running = new Map()));
    const current = running.get(epoch);
    if (current) {
      this.stats.concurrentLeads++;
      this.trace(`order-${replica.id}: a second lead(${epoch}) arrives while one is running${singleFlight ? ' (joined: single-flight shim)' : ''}`);
      if (singleFlight) return current;
    }
    const p = replica.lead(epoch);
    const mine = p.finally(() => {
      if (running.get(epoch) === mine) running.delete(epoch);
    });
    mine.catch(() => {});
    if (!current) running.set(epoch, mine);
    return p;
  }

  /** order/app.ts's routes, minus Hono. */
  private async route(replica: Replica, method: string, url: URL, body: unknown, headers: Record<string, string>, singleFlight: boolean): Promise<unknown> {
    const p = url.pathname;
    if (method === 'GET' && p === '/internal/status') return replica.status();
    if (method === 'POST' && p === '/internal/lead') return this.lead(replica, parsed(LeadRequestSchema, body).epoch, singleFlight);
    if (method === 'POST' && p === '/internal/leader') {
      replica.handleLeaderNotice(parsed(LeaderNoticeSchema, body));
      return replica.status();
    }
    if (method === 'POST' && p === '/orders') {
      const { orderNumber, replayed } = await replica.order(parsed(LeaderOrderRequestSchema, body));
      if (replayed) headers[REPLAYED_HEADER] = 'true';
      return { order_number: orderNumber };
    }
    const m = /^\/orders\/(\d+)$/.exec(p);
    if (method === 'GET' && m) {
      const epoch = url.searchParams.get('epoch');
      return replica.getOrder(Number(m[1]), epoch === null ? undefined : Number(epoch));
    }
    throw orderNotFound();
  }
}

function parsed<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, v: unknown): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new AppError(400, 'bad_request', 'invalid body');
  return r.data;
}

/** The catalog twin: stock per toy, one decrement per key; refusals are not remembered (as in the catalog). */
export class SimCatalog {
  readonly stock = new Map<string, number>();
  /** Every key that bought, with what it bought. */
  readonly bought = new Map<string, { name: string; quantity: number; result: PurchaseResult }>();

  constructor(stock: Record<string, number>) {
    for (const [k, v] of Object.entries(stock)) this.stock.set(k, v);
  }

  purchase(req: PurchaseRequest): PurchaseResult {
    const done = this.bought.get(req.key);
    if (done) return done.result;
    const left = this.stock.get(req.name) ?? 0;
    if (left < req.quantity) throw insufficientStock(req.name, left);
    this.stock.set(req.name, left - req.quantity);
    const result = { name: req.name, quantity: left - req.quantity };
    this.bought.set(req.key, { name: req.name, quantity: req.quantity, result });
    return result;
  }

  /** The `CatalogPurchaser` replica `self` gets: a call over the simulated network (3 s timeout, as in peers.ts). */
  purchaser(net: SimNetwork, self: number, catalogNode: number): CatalogPurchaser {
    return { purchase: (req) => net.call(self, catalogNode, `purchase ${req.quantity} ${req.name}`, 3_000, () => this.purchase(wireClone(req))) };
  }
}
