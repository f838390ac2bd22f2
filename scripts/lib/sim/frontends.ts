/**
 * The frontends of a run: one or two real order routers (frontend/order-router.ts) electing and
 * routing at once, each on its own simulated node, restartable (a new router with no memory).
 *
 * The router picks a random UUID key per order without a client key; the frontend's HttpClient
 * maps each UUID it sends onto a seeded key `f<n>` the first time it sees it, so nothing
 * downstream depends on the random value and the trace stays the same. The same client reports
 * every order a leader acknowledged to the frontend to the checker (it must be durable on a
 * quorum right then).
 */
import { createOrderRouter } from '../../../frontend/order-router.ts';
import { describeRouterEvent } from '../../../frontend/router-events.ts';
import { NetworkError, type HttpClient, type HttpResponse } from '../../../shared/http.ts';
import { replicaUrl, type SimCluster, type SimContext } from './cluster.ts';
import { nodeClock, type SimNode } from './node.ts';
import { FRONTENDS, REPLICAS } from './options.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Frontend {
  node: SimNode;
  router: ReturnType<typeof createOrderRouter>;
  /** Tags this frontend process's client operations (a restart abandons them). */
  tag: string;
}

export class SimFrontends {
  readonly list: Frontend[];
  private readonly routerKeys = new Map<string, string>();
  private readonly watches = new Map<string, AttemptWatch>();
  private restarts = 0;

  constructor(private readonly ctx: SimContext, private readonly cluster: SimCluster) {
    this.list = FRONTENDS.slice(0, ctx.config.frontends).map((id) => this.start(id));
  }

  primary(): Frontend {
    return this.list[0]!;
  }

  /** Replaces frontend `i` with a fresh process; returns the tag of the one that died. */
  restart(i: number): string {
    const fe = this.list[i]!;
    this.restarts++;
    fe.router.stop();
    fe.node.crash();
    fe.node.restart();
    this.list[i] = this.start(fe.node.id);
    return fe.tag;
  }

  stopAll(): void {
    for (const fe of this.list) fe.router.stop();
  }

  private start(nodeId: number): Frontend {
    const node = this.cluster.node(nodeId);
    const router = createOrderRouter({
      http: this.http(nodeId),
      replicas: REPLICAS.map((id) => ({ id, url: replicaUrl(id), port: 80 })),
      clock: nodeClock(this.ctx.clock, node),
      heartbeatIntervalMs: this.ctx.config.heartbeatIntervalMs,
      onEvent: (e) => this.ctx.trace(`${node.name}: ${describeRouterEvent(e).msg}`),
    });
    router.start();
    return { node, router, tag: `${node.name}#${this.restarts}` };
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

  /** The HttpClient of one frontend: seeded keys, acknowledgements to the checker, watched attempts. */
  private http(nodeId: number): HttpClient {
    const { cluster, ctx } = this;
    const inner = cluster.net.httpClient(nodeId);
    const broken = ctx.opts.broken ?? {};
    let elected = false;
    return async (req) => {
      if (broken.frontendElectsOnce && req.url.endsWith('/internal/lead')) {
        if (elected) throw new NetworkError('timeout', req.url);
        const res = await inner(req);
        elected ||= res.status === 200;
        return res;
      }
      if (broken.lyingReads && req.method === 'GET' && /\/orders\/\d*[13579]\?/.test(req.url)) {
        return { status: 404, headers: {}, body: { error: { code: 404, message: 'order not found', reason: 'order_not_found' } } };
      }
      if (!(req.method === 'POST' && req.url.endsWith('/orders'))) return inner(req);
      let body = req.body as { key: string; name: string; quantity: number };
      if (UUID.test(body.key)) {
        let key = this.routerKeys.get(body.key);
        if (!key) this.routerKeys.set(body.key, (key = `f${this.routerKeys.size + 1}`));
        req = { ...req, body: (body = { ...body, key }) };
      }
      const w = this.watches.get(`${nodeId} ${body.key}`);
      if (w) {
        w.attempts++;
        if (w.inFlight > 0) w.unknown ??= `attempt ${w.attempts} started while attempt ${w.attempts - 1} was still in flight`;
        w.inFlight++;
      }
      try {
        const res = await inner(req);
        if (w && isUnknown(res)) w.unknown ??= `attempt ${w.attempts} answered ${res.status} ${reasonOf(res)}`;
        if (broken.unknownAsFailure && res.status === 504) {
          return { status: 503, headers: {}, body: { error: { code: 503, message: 'order not taken (broken on purpose)', reason: 'no_quorum' } } };
        }
        if (res.status === 200) {
          const n = (res.body as { data: { order_number: number } }).data.order_number;
          ctx.checker.onAck({ orderNumber: n, name: body.name, quantity: body.quantity, key: body.key, by: 'frontend' }, cluster.snapshots());
        }
        return res;
      } catch (err) {
        if (w && !(err instanceof NetworkError && err.undelivered)) w.unknown ??= `attempt ${w.attempts} failed: ${(err as Error).message}`;
        throw err;
      } finally {
        if (w) w.inFlight--;
      }
    };
  }
}

/** What a frontend's attempts for one key during one client request looked like. */
export interface AttemptWatch {
  attempts: number;
  inFlight: number;
  /** Why one attempt's outcome was unknown (null: every attempt had a definite answer). */
  unknown: string | null;
}

function reasonOf(res: HttpResponse): string {
  return (res.body as { error?: { reason?: string } } | undefined)?.error?.reason ?? '';
}

/** A replica's answer that leaves the order's fate open: 504, a 500, or the same key still running. */
function isUnknown(res: HttpResponse): boolean {
  return res.status === 504 || res.status >= 500 && res.status !== 503 || reasonOf(res) === 'request_in_progress';
}
