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
import type { HttpClient } from '../../../shared/http.ts';
import type { SimCluster, SimContext } from './cluster.ts';
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
      replicas: REPLICAS.map((id) => ({ id, url: `http://order-${id}`, port: 80 })),
      clock: nodeClock(this.ctx.clock, node),
      heartbeatIntervalMs: this.ctx.config.heartbeatIntervalMs,
      onEvent: (e) => this.ctx.trace(`${node.name}: ${describeRouterEvent(e).msg}`),
    });
    router.start();
    return { node, router, tag: `${node.name}#${this.restarts}` };
  }

  /** The HttpClient of one frontend: maps the router's random keys to seeded ones and reports what leaders acknowledged. */
  private http(nodeId: number): HttpClient {
    const { cluster, ctx } = this;
    const inner = cluster.net.httpClient(nodeId, cluster.replicaOf, { leadSingleFlight: ctx.opts.shims?.leadSingleFlight });
    return async (req) => {
      let key: string | undefined;
      if (req.method === 'POST' && req.url.endsWith('/orders')) {
        const body = req.body as { key?: string; name: string; quantity: number };
        if (body.key && UUID.test(body.key)) {
          key = this.routerKeys.get(body.key);
          if (!key) this.routerKeys.set(body.key, (key = `f${this.routerKeys.size + 1}`));
          req = { ...req, body: { ...body, key } };
        }
      }
      const res = await inner(req);
      if (key && res.status === 200) {
        const body = req.body as { name: string; quantity: number };
        const n = (res.body as { data: { order_number: number } }).data.order_number;
        ctx.checker.onAck({ orderNumber: n, name: body.name, quantity: body.quantity, key, by: 'frontend' }, cluster.snapshots());
      }
      return res;
    };
  }
}
