/**
 * The simulated processes of one run and their life cycle: the nodes, the network, the catalog,
 * and three real replicas over simulated disks, booted, crashed and restarted here. Each is
 * order/build.ts's `buildReplica`, the composition order/main.ts serves (its app with every route,
 * the batching catalog purchaser, the accounting), with only the IO swapped for the simulator's
 * twins: the simulated network, a node-gated clock, the simulated disk's stores.
 */
import type { ManualClock } from '../../../shared/clock.ts';
import type { HttpClient } from '../../../shared/http.ts';
import type { OrderEntry } from '../../../shared/contracts.ts';
import { buildReplica, type BuiltReplica } from '../../../order/build.ts';
import type { Replica } from '../../../order/replica.ts';
import { describeReplicaEvent } from '../../../order/events.ts';
import {
  createBatchingCatalogPurchaser,
  createHttpCatalogAccounts,
  type CatalogAccounts,
} from '../../../order/peers.ts';
import { CATALOG_URL, SimCatalogService } from './catalog.ts';
import type { Checker, ReplicaSnapshot } from './checker.ts';
import { SimDisk, SimLogStore, SimMetaStore, SimWriteError, type DiskEnv } from './disk.ts';
import { openStorage, type Detected } from './storage.ts';
import type { ReplicaEvent } from '../../../order/events.ts';
import { SimNetwork, type FetchHandler } from './network.ts';
import { nodeClock, SimNode } from './node.ts';
import {
  CATALOG,
  CLIENT,
  FRONTENDS,
  QUORUM,
  REPLICAS,
  TOYS,
  type SimConfig,
  type SimOptions,
} from './options.ts';
import type { Rng } from '../rng/rng.ts';

/** What every part of a run shares: time, the trace, the checker, the seed's configuration. */
export interface SimContext {
  clock: ManualClock;
  trace: (line: string) => void;
  checker: Checker;
  config: SimConfig;
  opts: SimOptions;
}

export class SimCluster {
  readonly nodes = new Map<number, SimNode>();
  readonly net: SimNetwork;
  readonly catalog: SimCatalogService;
  readonly disks = new Map(REPLICAS.map((id) => [id, new SimDisk(id)]));
  /** The stores of each replica's running incarnation (no log yet while it opens its storage). */
  readonly stores = new Map<number, { log: SimLogStore | null; meta: SimMetaStore }>();
  readonly replicas = new Map<number, Replica>();
  /** The app (order/build.ts: every route) of each replica's running incarnation. */
  private readonly apps = new Map<number, FetchHandler>();
  /** A replica's process exits (after a failed durable write); the fault schedule restarts it. */
  onExit: (id: number, why: string) => void = () => {};
  /** What the stores of brief decisions 2-4 would have detected at each start, by kind. */
  readonly detections: Partial<Record<Detected, number>> = {};
  /** Failed durable writes not yet followed by the replica stopping. */
  private readonly writeFailures = new Map<
    number,
    { atMs: number; incarnation: number; what: string }
  >();

  constructor(
    private readonly ctx: SimContext,
    netRng: Rng,
    private readonly diskRng: Rng,
  ) {
    const { clock } = ctx;
    for (const id of REPLICAS) this.nodes.set(id, new SimNode(id, `order-${id}`, clock));
    FRONTENDS.forEach((id, i) =>
      this.nodes.set(id, new SimNode(id, i === 0 ? 'frontend' : `frontend${i + 1}`, clock)),
    );
    this.nodes.set(CLIENT, new SimNode(CLIENT, 'client', clock));
    this.nodes.set(CATALOG, new SimNode(CATALOG, 'catalog', clock));
    this.net = new SimNetwork(clock, netRng, { ...ctx.config.net }, this.nodes, ctx.trace);
    for (const id of REPLICAS) this.net.serve(replicaHost(id), id, () => this.apps.get(id) ?? null);
    const products = TOYS.map((name) => ({ name, price: 1, quantity: ctx.config.stock[name] }));
    this.catalog = new SimCatalogService(
      clock,
      this.node(CATALOG),
      this.net,
      products,
      ctx.config.restockIntervalMs,
      ctx.trace,
    );
  }

  node(id: number): SimNode {
    return this.nodes.get(id)!;
  }

  readonly replicaOf = (id: number): Replica => {
    const r = this.replicas.get(id);
    if (!r) throw new Error(`replica ${id} is down (harness bug: delivered to a crashed node)`);
    return r;
  };

  bootAll(): void {
    for (const id of REPLICAS) void this.boot(id);
  }

  /**
   * Starts replica `id`'s process: opens its storage (order/storage.ts's rules, which may save
   * the meta first and so take a simulated fsync), then builds the replica and its app and starts
   * it. Until then nothing listens: requests to it are refused.
   */
  private async boot(id: number): Promise<void> {
    const { ctx } = this;
    const node = this.node(id);
    const incarnation = node.incarnation;
    const disk = this.disks.get(id)!;
    const env: DiskEnv = {
      clock: ctx.clock,
      rng: this.diskRng,
      cfg: ctx.config.disk,
      node,
      trace: ctx.trace,
      exit: (why) => node.gate(incarnation, () => this.onExit(id, why)),
      onWriteError: (what) =>
        this.writeFailures.set(id, { atMs: ctx.clock.now(), incarnation, what }),
    };
    const meta = new SimMetaStore(disk, { ...env, lie: ctx.opts.broken?.lyingMetaDisk });
    this.stores.set(id, { log: null, meta });
    const onEvent = (e: ReplicaEvent) => {
      ctx.trace(`order-${id}: ${describeReplicaEvent(e).msg}`);
      if (e.type === 'became_leader') ctx.checker.onLeading(id, e.epoch);
    };
    const opened = await openStorage(disk, meta, onEvent);
    if (!node.alive(incarnation)) return;
    for (const d of opened.detected) this.detections[d] = (this.detections[d] ?? 0) + 1;
    if (opened.detected.length)
      ctx.trace(`order-${id} storage: found ${opened.detected.join(', ')}`);
    const log = new SimLogStore(
      disk,
      {
        ...env,
        lie: ctx.opts.broken?.lyingLogDisk,
        keepGoing: ctx.opts.broken?.logErrorsKeepGoing,
      },
      opened.entries,
    );
    this.stores.set(id, { log, meta });
    const built = this.build(id, { log, meta }, onEvent, () =>
      node.gate(incarnation, () => this.onExit(id, 'fail-stop')),
    );
    this.replicas.set(id, built.replica);
    this.apps.set(id, built.app.fetch);
    await built
      .start()
      .catch((err: Error) => ctx.trace(`order-${id} start failed: ${err.message}`));
  }

  /** order/build.ts's replica, with the simulator's IO. */
  private build(
    id: number,
    storage: { log: SimLogStore; meta: SimMetaStore },
    onEvent: (e: ReplicaEvent) => void,
    exit: () => void,
  ): BuiltReplica {
    const { ctx } = this;
    const http = this.httpOf(id);
    return buildReplica(
      {
        replicas: REPLICAS.map((p) => ({ id: p, url: replicaUrl(p), port: 80 })),
        orderId: id,
        catalogUrl: CATALOG_URL,
        heartbeatIntervalMs: ctx.config.heartbeatIntervalMs,
        commitQuorum: QUORUM,
        idempotencyKeysRetained: 0,
        maxBatch: ctx.config.maxBatch,
      },
      {
        clock: nodeClock(ctx.clock, this.node(id)),
        http,
        storage,
        onEvent,
        catalog: ctx.opts.broken?.releasingAccounts
          ? {
              purchaser: createBatchingCatalogPurchaser(http, CATALOG_URL),
              accounts: releasingAccounts(http),
            }
          : undefined,
        onFatal: (err) => {
          // A failed durable write stops the process (fail-stop); anything else that reaches here
          // is a safety assertion of the replica's.
          if (err instanceof SimWriteError || err.cause instanceof SimWriteError) exit();
          else ctx.checker.fail('fatal', `replica ${id}: ${err.message}`);
        },
      },
    );
  }

  /**
   * Replica `id`'s network; with `lyingPromises`, peers that grant every promise and hide their
   * logs (negative test).
   */
  private httpOf(id: number): HttpClient {
    const honest = this.net.httpClient(id);
    if (!this.ctx.opts.broken?.lyingPromises) return honest;
    return async (req) => {
      if (!(req.method === 'POST' && req.url.endsWith('/internal/promise'))) return honest(req);
      await honest(req).catch(() => undefined);
      const { epoch } = req.body as { epoch: number };
      return {
        status: 200,
        headers: {},
        body: {
          data: {
            granted: true,
            promisedEpoch: epoch,
            head: { logEpoch: 0, lastIndex: -1, lastCrc: 0 },
          },
        },
      };
    };
  }

  crash(id: number): void {
    const r = this.replicas.get(id);
    const s = this.stores.get(id);
    this.node(id).crash();
    s?.log?.crash();
    s?.meta.crash();
    this.net.onCrash(id);
    this.replicas.delete(id);
    this.apps.delete(id);
    // Only the replica's own timers end; a killed process closes nothing (its stores are dead).
    void r?.stop().catch(() => {});
    this.ctx.trace(`CRASH order-${id}`);
  }

  restart(id: number): void {
    this.node(id).restart();
    const disk = this.disks.get(id)!;
    this.ctx.trace(
      `RESTART order-${id} with ${disk.log.length} records on disk, mark ${JSON.stringify(disk.mark)}, meta ${JSON.stringify(disk.meta)}`,
    );
    void this.boot(id);
  }

  /**
   * Fail-stop: a replica whose durable write failed must not go on (shared/wal.ts exits; a meta
   * save that fails must do the same, issue 9 item 8). Checked every step.
   */
  checkFailStop(): void {
    for (const [id, f] of this.writeFailures) {
      const node = this.node(id);
      if (!node.up || node.incarnation !== f.incarnation) {
        this.writeFailures.delete(id);
      } else if (this.ctx.clock.now() - f.atMs >= 50 && !node.paused) {
        this.ctx.checker.fail(
          'no-fail-stop',
          `replica ${id} went on running after a failed ${f.what} at t=${f.atMs.toFixed(0)} ms`,
        );
        this.writeFailures.delete(id);
      }
    }
  }

  /**
   * A damaged disk is whole again once its replica is intact again and holds the whole committed
   * prefix.
   */
  checkRepairs(): void {
    for (const [id, disk] of this.disks) {
      if (
        !disk.damaged ||
        this.replicas.get(id)?.status().storage !== 'intact' ||
        disk.meta === null ||
        disk.corrupt.size
      )
        continue;
      if (!this.ctx.checker.holdsCommitted(disk.log)) continue;
      disk.damaged = false;
      this.ctx.trace(`order-${id}'s disk is whole again (${disk.log.length} records)`);
    }
  }

  /** Up, running, and on a disk no fault has damaged since it was last whole. */
  intact(id: number): boolean {
    return this.replicas.has(id) && !this.node(id).paused && !this.disks.get(id)!.damaged;
  }

  /** The replica leading the newest epoch, as the replicas themselves report it. */
  currentLeader(): number | null {
    let best: { id: number; epoch: number } | null = null;
    for (const [id, r] of this.replicas) {
      const e = r.status().leaderEpoch;
      if (e !== null && (!best || e > best.epoch)) best = { id, epoch: e };
    }
    return best?.id ?? null;
  }

  snapshots(): ReplicaSnapshot[] {
    return REPLICAS.map((id) => {
      const r = this.replicas.get(id);
      const disk = this.disks.get(id)!;
      return {
        id,
        status: r ? r.status() : null,
        visible: r ? this.visibleLog(id) : null,
        durable: disk.log,
        damaged: disk.damaged,
      };
    });
  }

  /** The log replica `id`'s running incarnation presents, or null while it is down or opening. */
  visibleLog(id: number): readonly OrderEntry[] | null {
    return this.stores.get(id)?.log?.visible() ?? null;
  }

  /** All replicas up and their logs identical. */
  logsIdentical(): boolean {
    const logs = REPLICAS.map((id) => this.visibleLog(id));
    if (logs.some((l) => l === null)) return false;
    const ref = logs[0]!;
    return logs.every(
      (l) => l!.length === ref.length && (l!.length === 0 || l!.at(-1)!.crc === ref.at(-1)!.crc),
    );
  }

  /** One line per replica, for a liveness failure's message. */
  describeReplicas(): string[] {
    return REPLICAS.map((id) => {
      const r = this.replicas.get(id);
      if (!r) return `order-${id} down or opening its storage`;
      const st = r.status();
      const lagging = st.followers.filter((f) => !f.reachable).map((f) => f.id);
      return `order-${id} ${st.role} (${st.storage}) promised e${st.promisedEpoch} log e${st.head.logEpoch} ${st.head.lastIndex + 1} records commit ${st.commitIndex}${lagging.length ? ` (sees follower ${lagging.join(', ')} failing)` : ''}`;
    });
  }
}

export function replicaHost(id: number): string {
  return `order-${id}`;
}

export function replicaUrl(id: number): string {
  return `http://${replicaHost(id)}`;
}

/**
 * Broken on purpose (negative test): accounts that release the purchases of committed orders too.
 */
function releasingAccounts(http: HttpClient): CatalogAccounts {
  const honest = createHttpCatalogAccounts(http, CATALOG_URL);
  return {
    ...honest,
    reconcile: (req) =>
      honest.reconcile({ ...req, committed: [], release: [...req.release, ...req.committed] }),
  };
}
