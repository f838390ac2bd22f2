/**
 * The frontends of a run: one or two real frontends (frontend/build.ts's `buildFrontend`, the
 * composition frontend/main.ts serves) electing and routing at once, each on its own simulated
 * node, restartable (a new process with no memory). The clients call each one's order router
 * (frontend/order-router.ts) in process, not its public HTTP app: the router is where election,
 * routing, batching and the unknown-outcome rules live; the public routes in front of it are
 * covered by the in-process and end-to-end tiers.
 *
 * The router picks a random UUID key per order without a client key, and sends orders to the
 * leader in batches (`POST /orders/batch`); the frontend's HttpClient maps each UUID it sends onto
 * a seeded key `f<n>` the first time it sees it, so nothing downstream depends on the random value
 * and the trace stays the same. The same client reports every order a leader acknowledged to the
 * frontend to the checker (it must be durable on a quorum right then).
 */
import { buildFrontend, type BuiltFrontend } from '../../../frontend/build.ts';
import { describeRouterEvent } from '../../../frontend/router-events.ts';
import {
  NetworkError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../../../shared/http.ts';
import { replicaUrl, type SimCluster, type SimContext } from './cluster.ts';
import { nodeClock, type SimNode } from './node.ts';
import { CATALOG_URL } from './catalog.ts';
import { FRONTENDS, QUORUM, REPLICAS } from './options.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Frontend {
  node: SimNode;
  router: BuiltFrontend['router'];
  built: BuiltFrontend;
  /** Tags this frontend process's client operations (a restart abandons them). */
  tag: string;
}

export class SimFrontends {
  readonly list: Frontend[];
  private readonly routerKeys = new Map<string, string>();
  private readonly watches = new Map<string, AttemptWatch>();
  private restarts = 0;

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
  ) {
    this.list = FRONTENDS.slice(0, ctx.config.frontends).map((id) => this.start(id));
  }

  primary(): Frontend {
    return this.list[0]!;
  }

  /** Replaces frontend `i` with a fresh process; returns the tag of the one that died. */
  restart(i: number): string {
    const fe = this.list[i]!;
    this.restarts++;
    fe.built.stop();
    fe.node.crash();
    fe.node.restart();
    this.list[i] = this.start(fe.node.id);
    return fe.tag;
  }

  stopAll(): void {
    for (const fe of this.list) fe.built.stop();
  }

  private start(nodeId: number): Frontend {
    const node = this.cluster.node(nodeId);
    const clock = nodeClock(this.ctx.clock, node);
    const built = buildFrontend(
      {
        replicas: REPLICAS.map((id) => ({ id, url: replicaUrl(id), port: 80 })),
        catalogUrl: CATALOG_URL,
        heartbeatIntervalMs: this.ctx.config.heartbeatIntervalMs,
        commitQuorum: QUORUM,
        // No product reads in the workload: the cache is off (the chaos tool checks cached reads).
        cacheSize: 1,
        cacheEnabled: false,
      },
      {
        clock,
        http: this.http(nodeId),
        // The status page's timestamps on simulated time, so nothing of a run reads the wall clock.
        now: () => clock.now(),
        onRouterEvent: (e) => this.ctx.trace(`${node.name}: ${describeRouterEvent(e).msg}`),
      },
    );
    built.start();
    return { node, router: built.router, built, tag: `${node.name}#${this.restarts}` };
  }

  /**
   * Starts watching the attempts this frontend makes for `key` during one client request, so
   * the client can tell whether any of them had an unknown outcome (issue 9 item 2: after that,
   * the request may end only in success, the outcome the log holds, or 504).
   */
  watch(fe: Frontend, key: string): AttemptWatch {
    const w: AttemptWatch = { attempts: 0, inFlight: 0, unknown: null };
    this.watches.set(`${fe.node.id} ${key}`, w);
    return w;
  }

  unwatch(fe: Frontend, key: string, w: AttemptWatch): void {
    const id = `${fe.node.id} ${key}`;
    if (this.watches.get(id) === w) this.watches.delete(id);
  }

  /**
   * The HttpClient of one frontend: seeded keys, acknowledgements to the checker, watched attempts.
   */
  private http(nodeId: number): HttpClient {
    const inner = this.cluster.net.httpClient(nodeId);
    const broken = this.ctx.opts.broken ?? {};
    let elected = false;
    return async (req) => {
      if (broken.frontendElectsOnce && req.url.endsWith('/internal/lead')) {
        if (elected) throw new NetworkError('timeout', req.url);
        const res = await inner(req);
        elected ||= res.status === 200;
        return res;
      }
      if (broken.lyingReads && req.method === 'POST' && req.url.endsWith('/orders/reads'))
        return lieAboutOddOrders(req, await inner(req));
      const batch = req.method === 'POST' && req.url.endsWith('/orders/batch');
      if (!batch && !(req.method === 'POST' && req.url.endsWith('/orders'))) return inner(req);
      const orders = (
        batch ? (req.body as { orders: SentOrder[] }).orders : [req.body as SentOrder]
      ).map((o) => this.seeded(o));
      req = { ...req, body: batch ? { orders } : orders[0] };
      return this.watched(nodeId, orders, () => inner(req), batch);
    };
  }

  /** The order with its router-made UUID key replaced by a seeded one. */
  private seeded(o: SentOrder): SentOrder {
    if (!UUID.test(o.key)) return o;
    let key = this.routerKeys.get(o.key);
    if (!key) this.routerKeys.set(o.key, (key = `f${this.routerKeys.size + 1}`));
    return { ...o, key };
  }

  /**
   * Sends `orders` (one request), keeping each watched key's attempts and reporting
   * acknowledgements.
   */
  private async watched(
    nodeId: number,
    orders: SentOrder[],
    send: () => Promise<HttpResponse>,
    batch: boolean,
  ): Promise<HttpResponse> {
    const watches = orders.map((o) => this.watches.get(`${nodeId} ${o.key}`));
    for (const w of watches) {
      if (!w) continue;
      w.attempts++;
      if (w.inFlight > 0)
        w.unknown ??= `attempt ${w.attempts} started while attempt ${w.attempts - 1} was still in flight`;
      w.inFlight++;
    }
    try {
      const res = await send();
      const outcomes = batch
        ? itemOutcomes(res, orders.length)
        : [
            res.status === 200
              ? { ok: true as const, data: (res.body as { data: { order_number: number } }).data }
              : {
                  ok: false as const,
                  status: res.status,
                  error: (res.body as { error?: { reason?: string } })?.error ?? {},
                },
          ];
      outcomes.forEach((out, i) => {
        const w = watches[i];
        if (!out.ok) {
          if (w && isUnknown(out.status, out.error.reason))
            w.unknown ??= `attempt ${w.attempts} answered ${out.status} ${out.error.reason ?? ''}`;
          return;
        }
        const o = orders[i]!;
        this.ctx.checker.onAck(
          {
            orderNumber: out.data.order_number,
            name: o.name,
            quantity: o.quantity,
            key: o.key,
            by: 'frontend',
          },
          this.cluster.snapshots(),
        );
      });
      return res;
    } catch (err) {
      for (const w of watches)
        if (w && !(err instanceof NetworkError && err.undelivered))
          w.unknown ??= `attempt ${w.attempts} failed: ${(err as Error).message}`;
      throw err;
    } finally {
      for (const w of watches) if (w) w.inFlight--;
    }
  }
}

/** What a frontend's attempts for one key during one client request looked like. */
export interface AttemptWatch {
  attempts: number;
  inFlight: number;
  /** Why one attempt's outcome was unknown (null: every attempt had a definite answer). */
  unknown: string | null;
}

/** An order as the router sends it to a leader. */
interface SentOrder {
  name: string;
  quantity: number;
  key: string;
  epoch: number;
}

type ItemOutcome =
  | { ok: true; data: { order_number: number } }
  | { ok: false; status: number; error: { reason?: string } };

/** Each order's answer in a batch response (the whole response's, when the batch failed as one). */
function itemOutcomes(res: HttpResponse, n: number): ItemOutcome[] {
  const results = (res.body as { data?: { results?: ItemOutcome[] } } | undefined)?.data?.results;
  if (res.status === 200 && Array.isArray(results) && results.length === n) return results;
  const error = (res.body as { error?: { reason?: string } } | undefined)?.error ?? {};
  return Array.from({ length: n }, () => ({
    ok: false as const,
    status: res.status === 200 ? 502 : res.status,
    error,
  }));
}

/**
 * A replica's answer that leaves the order's fate open: 504, a 500, or the same key still running.
 */
function isUnknown(status: number, reason: string | undefined): boolean {
  return status === 504 || (status >= 500 && status !== 503) || reason === 'request_in_progress';
}

/**
 * broken.lyingReads: the leader's answer to a batch of order reads, with every odd-numbered order
 * it found replaced by "order not found" (a read the checker must catch as lost).
 */
function lieAboutOddOrders(req: HttpRequest, res: HttpResponse): HttpResponse {
  const reads = (req.body as { reads: Array<{ number: number }> }).reads;
  const answer = res.body as { data?: { results?: unknown[] } } | undefined;
  const results = answer?.data?.results;
  if (res.status !== 200 || !Array.isArray(results)) return res;
  const lie = { code: 404, message: 'order not found', reason: 'order_not_found' };
  return {
    ...res,
    body: {
      data: {
        results: results.map((r, i) =>
          reads[i]!.number % 2 === 1 ? { ok: false, status: 404, error: lie } : r,
        ),
      },
    },
  };
}
