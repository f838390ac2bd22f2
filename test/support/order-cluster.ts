/**
 * Three order replicas and the frontend's order router wired together in one process, over the
 * in-process network (no sockets), with in-memory logs that outlive a "crash" the way files do.
 *
 * `crash(id)` stops a replica and makes its address refuse connections; `restart(id)` builds a
 * new replica from the same log and meta (what a restarted process would read from disk), or
 * from a lost or wiped one (`restart(id, { lose: 'log' })`); `setLink` changes what every caller
 * sees of one replica; `cut(from, to)` refuses requests on one directed link only (optionally
 * only some paths: "its appends are dropped, its promises are not"). With `clock: new
 * ManualClock()` every timer runs on logical time and `until` advances it: the story is then
 * deterministic and takes no real time. Every helper that waits polls a condition with a deadline.
 */
import { ManualClock, systemClock, type Clock } from '../../shared/clock.ts';
import type { PurchaseRequest, PurchaseResult } from '../../shared/contracts.ts';
import { insufficientStock } from '../../shared/errors.ts';
import { createInProcessNetwork, NetworkError, type HttpClient, type LinkState } from '../../shared/http.ts';
import { createOrderApp } from '../../order/app.ts';
import { MemoryLogStore } from '../../order/log.ts';
import { MemoryMetaStore } from '../../order/meta.ts';
import { createHttpPeerTransport, type CatalogAccounts, type CatalogPurchaser } from '../../order/peers.ts';
import { Replica } from '../../order/replica.ts';
import { describeReplicaEvent, type ReplicaEvent } from '../../order/events.ts';
import { recordStorageCondition } from '../../order/storage.ts';
import { createOrderRouter } from '../../frontend/order-router.ts';
import { describeRouterEvent } from '../../frontend/router-events.ts';

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
  /** A ManualClock runs the whole story on logical time. */
  clock?: Clock;
  /** Names a non-replica destination for `cut` (e.g. the catalog's URL -> 'catalog'). */
  nodeOf?: (origin: string) => string | undefined;
}

export type CutMode = 'refuse' | 'lose-reply' | 'silent';

/** What a "disk" loses across a restart. */
export type Loss = 'log' | 'meta' | 'both';

export function createOrderCluster(opts: ClusterOptions = {}) {
  const ids = opts.ids ?? [1, 2, 3];
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 20;
  const clock = opts.clock ?? systemClock;
  const net = opts.net ?? createInProcessNetwork();
  const fakeCatalog = new FakeCatalog();
  const catalog: CatalogPurchaser = opts.catalog ?? fakeCatalog;
  const logs = new Map(ids.map((id) => [id, new MemoryLogStore()]));
  const metas = new Map(ids.map((id) => [id, new MemoryMetaStore()]));
  const replicas = new Map<number, Replica>();
  const addresses = ids.map((id) => ({ id, url: replicaUrl(id), port: 80 }));
  const messages: string[] = [];
  /** Every replica event, in order, tagged with the replica that emitted it. */
  const events: Array<ReplicaEvent & { replica: number }> = [];
  /**
   * Directed links that fail requests: `${from}->${to}`, with the paths they fail (all: null) and
   * how: 'refuse' (never delivered, like a dropped connection), 'silent' (never answered: the
   * caller times out) or 'lose-reply' (delivered and run, but the caller sees a reset: the
   * outcome is unknown to it).
   */
  const cuts = new Map<string, { paths: RegExp | null; mode: CutMode }>();

  const nodeOf = (url: string): string => {
    const origin = new URL(url).origin;
    const replica = addresses.find((a) => a.url === origin);
    return replica ? `order-${replica.id}` : (opts.nodeOf?.(origin) ?? origin);
  };
  /** The network as seen from node `from`: a cut link refuses at once, like a dropped connection. */
  const httpFrom = (from: string): HttpClient => async (req) => {
    const cut = cuts.get(`${from}->${nodeOf(req.url)}`);
    if (cut === undefined || (cut.paths !== null && !cut.paths.test(new URL(req.url).pathname))) return net.http(req);
    if (cut.mode === 'refuse') throw new NetworkError('refused', req.url);
    if (cut.mode === 'silent') {
      await clock.sleep(req.timeoutMs ?? 5_000);
      throw new NetworkError('timeout', req.url);
    }
    void net.http(req).catch(() => {});
    throw new NetworkError('reset', req.url);
  };

  function boot(id: number): Replica {
    const peers = addresses.filter((a) => a.id !== id);
    const replica = new Replica({
      id,
      peerIds: peers.map((p) => p.id),
      log: logs.get(id)!,
      meta: metas.get(id)!,
      peers: createHttpPeerTransport(httpFrom(`order-${id}`), peers),
      catalog,
      clock,
      heartbeatIntervalMs,
      commitQuorum: opts.commitQuorum ?? 2,
      commitTimeoutMs: 1_000,
      catalogAccounts: opts.catalogAccounts,
      reconcileIntervalMs: opts.reconcileIntervalMs,
      onEvent: (e) => {
        events.push({ replica: id, ...e });
        messages.push(`order-${id}: ${describeReplicaEvent(e).msg}`);
      },
      onFatal: (err) => {
        fatals.push({ replica: id, err });
        throw err;
      },
    });
    replicas.set(id, replica);
    net.register(replicaUrl(id), createOrderApp({ replica }).fetch);
    net.setState(replicaUrl(id), 'up');
    return replica;
  }
  const fatals: Array<{ replica: number; err: Error }> = [];
  for (const id of ids) void boot(id).start();

  const router = createOrderRouter({
    http: httpFrom('frontend'),
    replicas: addresses,
    clock,
    heartbeatIntervalMs,
    requestDeadlineMs: 5_000,
    onEvent: (e) => messages.push(`frontend: ${describeRouterEvent(e).msg}`),
  });
  if (opts.startRouter !== false) router.start();

  /** Lets `ms` of time pass: logical time on a ManualClock, real time otherwise. */
  const pass = (ms: number) => (clock instanceof ManualClock ? clock.advance(ms) : new Promise<void>((r) => setTimeout(r, ms)));

  const cluster = {
    net,
    clock,
    catalog: fakeCatalog,
    router,
    logs,
    metas,
    messages,
    events,
    fatals,
    replica: (id: number) => replicas.get(id)!,
    log: (id: number) => logs.get(id)!.entries,
    /** A router of its own over the same replicas: a second frontend. */
    addFrontend(name: string) {
      const other = createOrderRouter({
        http: httpFrom(name),
        replicas: addresses,
        clock,
        heartbeatIntervalMs,
        requestDeadlineMs: 5_000,
        onEvent: (e) => messages.push(`${name}: ${describeRouterEvent(e).msg}`),
      });
      other.start();
      extraRouters.push(other);
      return other;
    },
    setLink(id: number, state: LinkState) {
      net.setState(replicaUrl(id), state);
    },
    /** Requests from `from` to `to` (node names: 'order-N', 'frontend', ...) are refused; only those whose path matches, if given. */
    cut(from: string, to: string, paths: RegExp | null = null, mode: CutMode = 'refuse') {
      cuts.set(`${from}->${to}`, { paths, mode });
    },
    heal(from?: string, to?: string) {
      if (from === undefined) cuts.clear();
      else cuts.delete(`${from}->${to}`);
    },
    async crash(id: number) {
      net.setState(replicaUrl(id), 'down');
      await replicas.get(id)!.stop();
    },
    /** Restarts a replica from what its "disk" holds; `lose` wipes part of it first. */
    async restart(id: number, o: { lose?: Loss } = {}) {
      if (o.lose === 'log' || o.lose === 'both') logs.set(id, new MemoryLogStore());
      if (o.lose === 'meta' || o.lose === 'both') metas.set(id, new MemoryMetaStore());
      const meta = metas.get(id)!;
      const metaFound = meta.load().storage !== 'unverified';
      const lostLog = o.lose === 'log' || o.lose === 'both';
      await recordStorageCondition(meta, { metaFound, metaUnreadable: false, logDamage: lostLog && metaFound ? 'the log is missing' : null, logRecords: logs.get(id)!.lastIndex() + 1 }, () => {});
      const r = boot(id);
      await r.start();
      return r;
    },
    leaderId: () => router.view().leaderId,
    /** Lets time pass until `cond` holds, failing with `what` after the deadline. */
    async until(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 5_000) {
      const end = clock.now() + deadlineMs;
      const realEnd = Date.now() + Math.max(deadlineMs, 20_000);
      while (!(await cond())) {
        if (clock.now() > end || Date.now() > realEnd) throw new Error(`timed out waiting until ${what}\n${messages.slice(-15).join('\n')}`);
        await pass(5);
      }
    },
    /** Lets `ms` of (logical or real) time pass with nothing else to wait for. */
    pass,
    /** Waits for `p`, letting (logical) time pass meanwhile: what a story awaits may need timers to fire. */
    async settle<T>(p: Promise<T>, deadlineMs = 30_000): Promise<T> {
      let done = false;
      const watched = p.finally(() => (done = true));
      watched.catch(() => {});
      const end = clock.now() + deadlineMs;
      while (!done) {
        if (clock.now() > end) throw new Error(`timed out after ${deadlineMs} ms\n${messages.slice(-15).join('\n')}`);
        await pass(5);
      }
      return watched;
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
      for (const r of extraRouters) r.stop();
      for (const r of replicas.values()) await r.stop();
    },
  };
  const extraRouters: Array<{ stop(): void }> = [];
  return cluster;
}
export type OrderCluster = ReturnType<typeof createOrderCluster>;
