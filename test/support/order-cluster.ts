/**
 * Three order replicas and the frontend's order router wired together in one process, over the
 * in-process network (no sockets), with in-memory logs that outlive a "crash" the way files do.
 *
 * `crash(id)` stops a replica and makes its address refuse connections; `restart(id)` builds a
 * new replica from the same log and meta (what a restarted process would read from disk);
 * `pause(id)` blackholes it (a SIGSTOPped process or a partition); `wrapCatalog` lets a test
 * intercept stock changes. Every helper that waits polls a condition with a deadline.
 */
import { systemClock } from '../../shared/clock.ts';
import type { PurchaseRequest, PurchaseResult } from '../../shared/contracts.ts';
import { insufficientStock } from '../../shared/errors.ts';
import { createInProcessNetwork, type LinkState } from '../../shared/http.ts';
import { createOrderApp } from '../../order/app.ts';
import { MemoryLogStore } from '../../order/log.ts';
import { MemoryMetaStore } from '../../order/meta.ts';
import { createHttpPeerTransport, type CatalogAccounts, type CatalogPurchaser } from '../../order/peers.ts';
import { Replica } from '../../order/replica.ts';
import { createOrderRouter } from '../../frontend/order-router.ts';

export const replicaUrl = (id: number) => `http://order-${id}.test`;

/** A catalog twin: stock per toy, one decrement per key, every call recorded. */
export class FakeCatalog implements CatalogPurchaser {
  stock = new Map<string, number>([['Tux', 1_000_000], ['Lego', 1_000_000]]);
  seen = new Map<string, PurchaseResult>();
  calls: PurchaseRequest[] = [];
  /** Set to intercept a purchase (e.g. to crash the leader in the middle of an order). */
  before: ((req: PurchaseRequest) => Promise<void>) | null = null;

  async purchase(req: PurchaseRequest): Promise<PurchaseResult> {
    this.calls.push(req);
    if (this.before) await this.before(req);
    const done = this.seen.get(req.key);
    if (done) return done;
    const left = this.stock.get(req.name) ?? 0;
    if (left < req.quantity) throw insufficientStock(req.name, left);
    this.stock.set(req.name, left - req.quantity);
    const result = { name: req.name, quantity: left - req.quantity };
    this.seen.set(req.key, result);
    return result;
  }
}

export interface ClusterOptions {
  ids?: number[];
  heartbeatIntervalMs?: number;
  commitQuorum?: number;
  startRouter?: boolean;
  /** Share a network with other in-process services (the full-stack tier). */
  net?: ReturnType<typeof createInProcessNetwork>;
  /** A real catalog client instead of the FakeCatalog twin. */
  catalog?: CatalogPurchaser;
  /** Fencing and purchase accounting at a real catalog. */
  catalogAccounts?: CatalogAccounts;
  reconcileIntervalMs?: number;
}

export function createOrderCluster(opts: ClusterOptions = {}) {
  const ids = opts.ids ?? [1, 2, 3];
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 20;
  const net = opts.net ?? createInProcessNetwork();
  const fakeCatalog = new FakeCatalog();
  const catalog: CatalogPurchaser = opts.catalog ?? fakeCatalog;
  const logs = new Map(ids.map((id) => [id, new MemoryLogStore()]));
  const metas = new Map(ids.map((id) => [id, new MemoryMetaStore()]));
  const replicas = new Map<number, Replica>();
  const addresses = ids.map((id) => ({ id, url: replicaUrl(id), port: 80 }));
  const messages: string[] = [];

  function boot(id: number): Replica {
    const peers = addresses.filter((a) => a.id !== id);
    const replica = new Replica({
      id,
      peerIds: peers.map((p) => p.id),
      log: logs.get(id)!,
      meta: metas.get(id)!,
      peers: createHttpPeerTransport(net.http, peers),
      catalog,
      clock: systemClock,
      heartbeatIntervalMs,
      commitQuorum: opts.commitQuorum ?? 2,
      commitTimeoutMs: 1_000,
      catalogAccounts: opts.catalogAccounts,
      reconcileIntervalMs: opts.reconcileIntervalMs,
      log_: (m) => messages.push(`order-${id}: ${m}`),
    });
    replicas.set(id, replica);
    net.register(replicaUrl(id), createOrderApp({ replica }).fetch);
    net.setState(replicaUrl(id), 'up');
    return replica;
  }
  for (const id of ids) boot(id);

  const router = createOrderRouter({
    http: net.http,
    replicas: addresses,
    clock: systemClock,
    heartbeatIntervalMs,
    requestDeadlineMs: 5_000,
    log: (m) => messages.push(`frontend: ${m}`),
  });
  if (opts.startRouter !== false) router.start();

  const cluster = {
    net,
    catalog: fakeCatalog,
    router,
    logs,
    metas,
    messages,
    replica: (id: number) => replicas.get(id)!,
    log: (id: number) => logs.get(id)!.entries,
    setLink(id: number, state: LinkState) {
      net.setState(replicaUrl(id), state);
    },
    async crash(id: number) {
      net.setState(replicaUrl(id), 'down');
      await replicas.get(id)!.stop();
    },
    async restart(id: number) {
      const r = boot(id);
      await r.start();
      return r;
    },
    leaderId: () => router.view().leaderId,
    /** Polls until `cond` holds, failing with `what` after the deadline. */
    async until(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 5_000) {
      const end = Date.now() + deadlineMs;
      while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting until ${what}\n${messages.slice(-15).join('\n')}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    /** Waits until every live replica's log equals the leader's. */
    async converged(live: number[] = ids) {
      await cluster.until('all logs are identical', () => {
        const ref = JSON.stringify(logs.get(live[0]!)!.entries);
        return live.every((id) => JSON.stringify(logs.get(id)!.entries) === ref);
      });
    },
    async stop() {
      router.stop();
      for (const r of replicas.values()) await r.stop();
    },
  };
  return cluster;
}
export type OrderCluster = ReturnType<typeof createOrderCluster>;
