/**
 * One seeded, deterministic simulation run of the order replication core (VOPR / FoundationDB
 * style): three real `Replica`s (order/replica.ts) and the real frontend router
 * (frontend/order-router.ts, which elects through frontend/election.ts) in one process, over a
 * simulated network (test/sim/network.ts), simulated disks (test/sim/disk.ts) and one
 * `ManualClock`, with crashes, restarts, pauses, partitions, message loss, duplication and
 * reordering on a schedule drawn from the seed, and the invariant checker (test/sim/checker.ts)
 * run after every step.
 *
 * A run: pick a configuration from the seed (heartbeat, batch size, network and disk behaviour,
 * fault and workload rates); then `steps` steps, each = maybe start client operations, maybe
 * inject a fault, advance the clock by 1..25 ms (ManualClock.advance fires due timers in order and
 * drains promise callbacks between them), check. Then heal everything (restart, resume, reconnect,
 * no more loss or duplication), stop new client work, and run until the cluster has a leader, every
 * client operation has settled and all logs are identical; place one last order through the
 * router (it must succeed); converge again; run the end checks.
 *
 * Workload. Clients order through the router (`router.placeOrder`, which picks a random UUID key
 * per order: the frontend's HttpClient maps each UUID it sends onto a seeded key `f<n>` the first
 * time it sees it, so nothing downstream depends on the random value and the trace stays the same)
 * and directly at the leader the router names, with their own seeded key `c<n>`, retrying with
 * that same key after every unknown outcome until they get an answer (the router-equivalent path;
 * it exercises "retried with the same key after unknown outcomes" across leaders). Reads go
 * through the router for orders already acknowledged.
 *
 * Frontends. One router, or (a quarter of the seeds) two routers electing and routing at once, as
 * the README allows ("a restarted frontend, or a second one"). A frontend can be restarted (a new
 * router with no memory; its in-flight client requests are abandoned as outcome unknown) or paused.
 *
 * Faults (seeded times and durations): crash + restart of a replica (the leader half of the time),
 * pause + resume, partitions around one replica (all links, peer links only, one direction only, a
 * single link, or only its links to the frontends and clients), network storms (extra loss for a
 * while), plus per-seed message loss, duplication and delay spread (reordering), fsync latency and
 * torn un-fsynced writes at crash. The catalog never fails but is reached over lossy links.
 *
 * Modes. 'majority' (default): at most one replica is crashed, paused or partitioned at a time, so
 * a connected majority always exists. 'chaos': any number at once; only safety can be expected
 * while it lasts, but after healing the end checks still apply (disks are never wiped).
 *
 * Determinism: every random draw comes from `Rng(seed)` (forked per subsystem), every timer runs
 * on the ManualClock, nothing touches real time or I/O, so a seed replays the same trace
 * (`traceHash`).
 */
import { ManualClock } from '../../shared/clock.ts';
import { OrderPlacedSchema, type Order } from '../../shared/contracts.ts';
import { AppError } from '../../shared/errors.ts';
import { expectData, NetworkError, type HttpClient } from '../../shared/http.ts';
import { Replica } from '../../order/replica.ts';
import { describeReplicaEvent } from '../../order/events.ts';
import { createOrderRouter } from '../../frontend/order-router.ts';
import { describeRouterEvent } from '../../frontend/router-events.ts';
import { Checker, type Ack, type ReplicaSnapshot, type SimViolation } from './checker.ts';
import { SimDisk, SimLogStore, SimMetaStore, type DiskConfig, type DiskEnv } from './disk.ts';
import { SimCatalog, SimNetwork, type NetStats, type NetworkConfig } from './network.ts';
import { nodeClock, SimNode } from './node.ts';
import { Rng } from './rng.ts';
import { Trace } from './trace.ts';

export type SimMode = 'majority' | 'chaos';

export interface SimOptions {
  seed: number;
  steps?: number;
  mode?: SimMode;
  /** Keep the whole trace (else only the last few hundred lines). */
  keepTrace?: boolean;
  /** Give up converging after this many steps once healed. */
  maxHealSteps?: number;
  /** Deliberately broken pieces, for the tests that prove the checker can fail. */
  broken?: {
    /** Log writes resolve before they are durable and durableIndex claims everything. */
    lyingLogDisk?: boolean;
    /** Meta saves resolve before they are durable. */
    lyingMetaDisk?: boolean;
    /** Every promise request is answered "granted" with an empty log head, whatever the replica did. */
    lyingPromises?: boolean;
  };
  /** Checker switch (the negative tests turn the durability check off to see the end-to-end checks fire). */
  checkDurableQuorum?: boolean;
  /**
   * Harness-side stand-ins for suggested fixes, to confirm a diagnosis and to look past a known
   * bug: `leadSingleFlight` makes a second lead(E) that reaches a replica while its lead(E) is
   * still running join the first (bug: concurrent view changes for one epoch).
   */
  shims?: { leadSingleFlight?: boolean };
}

export interface SimConfig {
  heartbeatIntervalMs: number;
  maxBatch: number;
  net: NetworkConfig;
  disk: DiskConfig;
  faultRate: number;
  orderRate: number;
  directShare: number;
  readRate: number;
  whaleStock: number;
  /** Frontends electing and routing at once (two: they may choose the same epoch and candidate). */
  frontends: number;
}

export interface FaultStats {
  crashes: number;
  leaderCrashes: number;
  pauses: number;
  leaderPauses: number;
  partitions: Record<string, number>;
  leaderPartitions: number;
  frontendRestarts: number;
  frontendPauses: number;
  storms: number;
  maxImpairedAtOnce: number;
}

export interface SimResult {
  seed: number;
  mode: SimMode;
  steps: number;
  ok: boolean;
  violations: SimViolation[];
  /** Step of the first violation (steps + n for the n-th healing step), or null. */
  failedStep: number | null;
  traceHash: string;
  traceTail: string[];
  trace: string[] | null;
  simMs: number;
  config: SimConfig;
  stats: {
    faults: FaultStats;
    net: NetStats;
    epochs: number;
    ordersAcked: number;
    ordersRefused: number;
    ordersUnknown: number;
    reads: number;
    finalLogLength: number;
    healSteps: number;
  };
}

const REPLICAS: readonly number[] = [1, 2, 3];
const FRONTENDS: readonly number[] = [10, 13];
const CLIENT = 11;
const CATALOG = 12;
const QUORUM = 2;
const TOYS = ['Tux', 'Lego', 'Whale'] as const;

function pickConfig(rng: Rng): SimConfig {
  const maxDelayMs = rng.pick([2, 5, 15]);
  return {
    heartbeatIntervalMs: rng.pick([20, 50, 100]),
    maxBatch: rng.pick([1, 3, 20, 2_000]),
    net: {
      lossRate: rng.pick([0, 0.01, 0.03, 0.08]),
      dupRate: rng.pick([0, 0.02, 0.05]),
      minDelayMs: 1,
      maxDelayMs,
      slowRate: rng.pick([0, 0.02, 0.08]),
      slowMaxMs: rng.pick([50, 300, 1_200]),
    },
    disk: {
      fsyncMinMs: rng.pick([0, 1]),
      fsyncMaxMs: rng.pick([1, 4, 12]),
      slowRate: rng.pick([0, 0.03]),
      slowMaxMs: 150,
      tornRate: 0.5,
    },
    faultRate: rng.pick([0.02, 0.05, 0.1]),
    orderRate: rng.pick([0.1, 0.3, 0.6]),
    directShare: rng.pick([0.3, 0.6]),
    readRate: rng.pick([0.05, 0.2]),
    whaleStock: rng.int(3, 40),
    frontends: rng.pick([1, 1, 1, 2]),
  };
}

/**
 * Answers after which an order's outcome is unknown (or it certainly did not happen): a client
 * retries them with the same key. request_in_progress (409) means the same key is still running
 * at the leader.
 */
const RETRYABLE = new Set(['not_leader', 'stale_epoch', 'outcome_unknown', 'no_quorum', 'no_leader', 'upstream_unavailable', 'internal', 'request_in_progress']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function runSimulation(opts: SimOptions): Promise<SimResult> {
  const seed = opts.seed >>> 0;
  const steps = opts.steps ?? 300;
  const mode = opts.mode ?? 'majority';
  const maxHealSteps = opts.maxHealSteps ?? 3_000;
  const root = new Rng(seed);
  const config = pickConfig(root.fork());
  const netRng = root.fork();
  const diskRng = root.fork();
  const faultRng = root.fork();
  const workRng = root.fork();
  const stepRng = root.fork();

  const clock = new ManualClock();
  const trace = new Trace(() => clock.now(), { keepAll: opts.keepTrace });
  const t = (line: string) => trace.add(line);
  const checker = new Checker(QUORUM, () => clock.now(), { checkDurableQuorum: opts.checkDurableQuorum });

  const nodes = new Map<number, SimNode>();
  for (const id of REPLICAS) nodes.set(id, new SimNode(id, `order-${id}`, clock));
  FRONTENDS.forEach((id, i) => nodes.set(id, new SimNode(id, i === 0 ? 'frontend' : `frontend${i + 1}`, clock)));
  nodes.set(CLIENT, new SimNode(CLIENT, 'client', clock));
  nodes.set(CATALOG, new SimNode(CATALOG, 'catalog', clock));
  const net = new SimNetwork(clock, netRng, { ...config.net }, nodes, t);
  const catalog = new SimCatalog({ Tux: 1_000_000, Lego: 1_000_000, Whale: config.whaleStock });

  // ------------------------------------------------------------------ replicas
  const disks = new Map(REPLICAS.map((id) => [id, new SimDisk(id)]));
  const stores = new Map<number, { log: SimLogStore; meta: SimMetaStore }>();
  const replicas = new Map<number, Replica>();
  const replicaOf = (id: number): Replica => {
    const r = replicas.get(id);
    if (!r) throw new Error(`replica ${id} is down (harness bug: delivered to a crashed node)`);
    return r;
  };

  function boot(id: number): Replica {
    const node = nodes.get(id)!;
    const env: DiskEnv = { clock, rng: diskRng, cfg: config.disk, node, trace: t };
    const log = new SimLogStore(disks.get(id)!, { ...env, lie: opts.broken?.lyingLogDisk });
    const meta = new SimMetaStore(disks.get(id)!, { ...env, lie: opts.broken?.lyingMetaDisk });
    stores.set(id, { log, meta });
    let peers = net.peerTransport(id, replicaOf);
    if (opts.broken?.lyingPromises) {
      const honest = peers;
      peers = {
        ...honest,
        promise: async (peer, req, timeout) => {
          await honest.promise(peer, req, timeout).catch(() => undefined);
          return { granted: true, promisedEpoch: req.epoch, head: { logEpoch: 0, lastIndex: -1, lastCrc: 0 } };
        },
      };
    }
    const replica = new Replica({
      id,
      peerIds: REPLICAS.filter((p) => p !== id),
      log,
      meta,
      peers,
      catalog: catalog.purchaser(net, id, CATALOG),
      clock: nodeClock(clock, node),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      commitQuorum: QUORUM,
      maxBatch: config.maxBatch,
      onEvent: (e) => {
        t(`order-${id}: ${describeReplicaEvent(e).msg}`);
        if (e.type === 'became_leader') checker.onLeading(id, e.epoch);
      },
      onFatal: (err) => checker.fail('fatal', `replica ${id}: ${err.message}`),
    });
    replicas.set(id, replica);
    return replica;
  }

  function crash(id: number): void {
    const node = nodes.get(id)!;
    const r = replicas.get(id)!;
    const s = stores.get(id)!;
    node.crash();
    s.log.crash();
    s.meta.crash();
    net.onCrash(id);
    replicas.delete(id);
    void r.stop().catch(() => {});
    t(`CRASH order-${id}`);
  }

  function restart(id: number): void {
    nodes.get(id)!.restart();
    const r = boot(id);
    t(`RESTART order-${id} with ${disks.get(id)!.log.length} durable records, meta ${JSON.stringify(disks.get(id)!.meta)}`);
    void r.start().catch((err: Error) => t(`order-${id} start failed: ${err.message}`));
  }

  for (const id of REPLICAS) void boot(id).start().catch((err: Error) => t(`order-${id} start failed: ${err.message}`));

  // ------------------------------------------------------------------ frontend
  const snapshots = (): ReplicaSnapshot[] =>
    REPLICAS.map((id) => {
      const r = replicas.get(id);
      return { id, status: r ? r.status() : null, visible: r ? stores.get(id)!.log.visible() : null, durable: disks.get(id)!.log };
    });

  const routerKeys = new Map<string, string>();
  /** The HttpClient of one frontend: maps the router's random keys to seeded ones and reports what leaders acknowledged. */
  function frontendHttp(nodeId: number): HttpClient {
    const inner = net.httpClient(nodeId, replicaOf, { leadSingleFlight: opts.shims?.leadSingleFlight });
    return async (req) => {
      let key: string | undefined;
      if (req.method === 'POST' && req.url.endsWith('/orders')) {
        const body = req.body as { key?: string; name: string; quantity: number };
        if (body.key && UUID.test(body.key)) {
          key = routerKeys.get(body.key);
          if (!key) routerKeys.set(body.key, (key = `f${routerKeys.size + 1}`));
          req = { ...req, body: { ...body, key } };
        }
      }
      const res = await inner(req);
      if (key && res.status === 200) {
        const body = req.body as { name: string; quantity: number };
        const n = (res.body as { data: { order_number: number } }).data.order_number;
        checker.onAck({ orderNumber: n, name: body.name, quantity: body.quantity, key, by: 'frontend' }, snapshots());
      }
      return res;
    };
  }

  interface Frontend {
    node: SimNode;
    router: ReturnType<typeof createOrderRouter>;
    /** Tags this frontend process's client operations (a restart abandons them). */
    tag: string;
  }
  let frontendRestarts = 0;
  function startFrontend(nodeId: number): Frontend {
    const node = nodes.get(nodeId)!;
    const router = createOrderRouter({
      http: frontendHttp(nodeId),
      replicas: REPLICAS.map((id) => ({ id, url: `http://order-${id}`, port: 80 })),
      clock: nodeClock(clock, node),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      onEvent: (e) => t(`${node.name}: ${describeRouterEvent(e).msg}`),
    });
    router.start();
    return { node, router, tag: `${node.name}#${frontendRestarts}` };
  }
  const frontends = FRONTENDS.slice(0, config.frontends).map(startFrontend);
  const primary = () => frontends[0]!;

  // ------------------------------------------------------------------ workload
  const clientClock = nodeClock(clock, nodes.get(CLIENT)!);
  const clientHttp = net.httpClient(CLIENT, replicaOf);
  let opSeq = 0;
  /** Client operations not yet settled: id -> tag of the frontend process serving it ('client': direct). */
  const pending = new Map<number, string>();
  let acked = 0;
  let refused = 0;
  let unknown = 0;
  let reads = 0;
  let accepting = true;

  function pickOrder(): { name: string; quantity: number } {
    return { name: workRng.pick(TOYS), quantity: workRng.int(1, 5) };
  }

  function ack(a: Ack): void {
    acked++;
    checker.onAck(a, snapshots());
  }

  function routerOrder(): void {
    const op = ++opSeq;
    const { name, quantity } = pickOrder();
    const fe = workRng.pick(frontends);
    pending.set(op, fe.tag);
    t(`client op ${op}: order ${quantity} ${name} via ${fe.node.name}`);
    fe.router.placeOrder({ name, quantity }).then(
      (res) => {
        t(`client op ${op}: order number ${res.order_number}`);
        ack({ orderNumber: res.order_number, name, quantity, by: 'client' });
      },
      (err: unknown) => {
        const reason = err instanceof AppError ? err.reason : (err as Error).message;
        t(`client op ${op}: failed: ${reason}`);
        if (reason === 'insufficient_stock') refused++;
        else if (!(err instanceof AppError) || !RETRYABLE.has(err.reason)) {
          checker.fail('client-error', `order ${quantity} ${name} through the router failed with ${err instanceof AppError ? `${err.status} ${err.reason}: ${err.message}` : String(err)}`);
        } else unknown++;
      },
    ).finally(() => pending.delete(op));
  }

  async function directOrder(): Promise<void> {
    const op = ++opSeq;
    const key = `c${op}`;
    const { name, quantity } = pickOrder();
    const timeoutMs = workRng.pick([1_000, 3_000, 6_000]);
    pending.set(op, 'client');
    t(`client op ${op}: order ${quantity} ${name} key ${key} at the leader`);
    try {
      for (let attempt = 1; ; attempt++) {
        const view = workRng.pick(frontends).router.view();
        if (view.leaderId === null || view.epoch === null) {
          await clientClock.sleep(workRng.int(20, 200));
          continue;
        }
        try {
          const res = await clientHttp({
            method: 'POST',
            url: `http://order-${view.leaderId}/orders`,
            body: { name, quantity, key, epoch: view.epoch },
            timeoutMs,
          });
          const { order_number } = expectData(res, OrderPlacedSchema);
          t(`client op ${op}: order number ${order_number} (attempt ${attempt})`);
          ack({ orderNumber: order_number, name, quantity, key, by: 'client' });
          return;
        } catch (err) {
          const reason = err instanceof AppError ? err.reason : err instanceof NetworkError ? `network ${err.kind}` : String(err);
          if (reason === 'insufficient_stock') {
            t(`client op ${op}: refused (stock)`);
            refused++;
            checker.onRefused(key);
            return;
          }
          if (!(err instanceof NetworkError) && !(err instanceof AppError && RETRYABLE.has(err.reason))) {
            checker.fail('client-error', `order ${quantity} ${name} key ${key} failed with ${err instanceof AppError ? `${err.status} ${err.reason}: ${err.message}` : String(err)}`);
            return;
          }
          t(`client op ${op}: attempt ${attempt} at order-${view.leaderId}: ${reason}; will retry with the same key`);
          await clientClock.sleep(workRng.int(20, 200));
        }
      }
    } finally {
      pending.delete(op);
    }
  }

  function read(): void {
    if (!checker.acks.length) return;
    const a = workRng.pick(checker.acks);
    const op = ++opSeq;
    reads++;
    const fe = workRng.pick(frontends);
    pending.set(op, fe.tag);
    fe.router.getOrder(a.orderNumber).then(
      (got: Order) => {
        t(`client op ${op}: read order ${a.orderNumber}: ${got.quantity} ${got.name}`);
        checker.onRead(a, got);
      },
      (err: unknown) => {
        const reason = err instanceof AppError ? err.reason : String(err);
        t(`client op ${op}: read order ${a.orderNumber} failed: ${reason}`);
        if (reason === 'order_not_found') checker.onRead(a, null);
      },
    ).finally(() => pending.delete(op));
  }

  function workload(): void {
    if (!accepting) return;
    if (workRng.chance(config.orderRate)) {
      if (workRng.chance(config.directShare)) void directOrder();
      else routerOrder();
    }
    if (workRng.chance(config.readRate)) read();
  }

  // ------------------------------------------------------------------ faults
  const faults: FaultStats = {
    crashes: 0, leaderCrashes: 0, pauses: 0, leaderPauses: 0, partitions: {}, leaderPartitions: 0,
    frontendRestarts: 0, frontendPauses: 0, storms: 0, maxImpairedAtOnce: 0,
  };
  const impaired = new Set<number>();
  const active = new Map<number, { what: string; end: () => void; cancel: () => void }>();
  let faultSeq = 0;
  const maxImpaired = mode === 'majority' ? 1 : REPLICAS.length;

  function schedule(what: string, ms: number, end: () => void): void {
    const id = ++faultSeq;
    const run = () => {
      active.delete(id);
      t(`HEAL ${what}`);
      end();
    };
    const cancel = clock.setTimeout(run, ms);
    active.set(id, { what, end: run, cancel });
  }

  function currentLeader(): number | null {
    let best: { id: number; epoch: number } | null = null;
    for (const [id, r] of replicas) {
      const e = r.status().leaderEpoch;
      if (e !== null && (!best || e > best.epoch)) best = { id, epoch: e };
    }
    return best?.id ?? null;
  }

  function pickVictim(): { id: number; isLeader: boolean } | null {
    const free = REPLICAS.filter((id) => !impaired.has(id));
    if (!free.length) return null;
    const leader = currentLeader();
    if (leader !== null && free.includes(leader) && faultRng.chance(0.5)) return { id: leader, isLeader: true };
    const id = faultRng.pick(free);
    return { id, isLeader: id === leader };
  }

  function injectFault(): void {
    const kind = faultRng.weighted({ crash: 3, pause: 2, partition: 3, frontendRestart: 0.4, frontendPause: 0.4, storm: 0.4 });
    if (kind === 'frontendRestart') {
      const i = faultRng.int(0, frontends.length - 1);
      const fe = frontends[i]!;
      faults.frontendRestarts++;
      frontendRestarts++;
      t(`FAULT ${fe.node.name} restart`);
      fe.router.stop();
      fe.node.crash();
      fe.node.restart();
      // Its in-flight client requests die with it (the clients see a reset: outcome unknown).
      for (const [op, tag] of pending) if (tag === fe.tag) {
        pending.delete(op);
        unknown++;
      }
      frontends[i] = startFrontend(fe.node.id);
      return;
    }
    if (kind === 'frontendPause') {
      const fe = faultRng.pick(frontends).node;
      if (fe.paused) return;
      faults.frontendPauses++;
      const ms = faultRng.int(20, 1_000);
      t(`FAULT pause ${fe.name} for ${ms} ms`);
      fe.pause();
      schedule(`${fe.name} pause`, ms, () => fe.resume());
      return;
    }
    if (kind === 'storm') {
      if (net.extraLoss > 0) return;
      faults.storms++;
      const loss = faultRng.pick([0.2, 0.5]);
      const ms = faultRng.int(50, 600);
      t(`FAULT network storm: ${loss * 100}% loss for ${ms} ms`);
      net.extraLoss = loss;
      schedule('storm', ms, () => (net.extraLoss = 0));
      return;
    }
    if (impaired.size >= maxImpaired) return;
    const v = pickVictim();
    if (!v) return;
    impaired.add(v.id);
    faults.maxImpairedAtOnce = Math.max(faults.maxImpairedAtOnce, impaired.size);
    const who = `order-${v.id}${v.isLeader ? ' (leader)' : ''}`;
    if (kind === 'crash') {
      faults.crashes++;
      if (v.isLeader) faults.leaderCrashes++;
      const ms = faultRng.int(10, 1_500);
      t(`FAULT crash ${who} for ${ms} ms`);
      crash(v.id);
      schedule(`crash of order-${v.id}`, ms, () => {
        restart(v.id);
        impaired.delete(v.id);
      });
    } else if (kind === 'pause') {
      faults.pauses++;
      if (v.isLeader) faults.leaderPauses++;
      const ms = faultRng.int(10, 1_500);
      t(`FAULT pause ${who} for ${ms} ms`);
      const node = nodes.get(v.id)!;
      node.pause();
      schedule(`pause of order-${v.id}`, ms, () => {
        node.resume();
        impaired.delete(v.id);
      });
    } else {
      const others = REPLICAS.filter((id) => id !== v.id);
      const outside = [...frontends.map((f) => f.node.id), CLIENT];
      const shape = faultRng.pick(['isolate', 'isolate-all', 'one-way-out', 'one-way-in', 'single-link', 'frontend-only'] as const);
      const links: [number, number][] = [];
      const both = (a: number, b: number) => links.push([a, b], [b, a]);
      if (shape === 'isolate') others.forEach((o) => both(v.id, o));
      else if (shape === 'isolate-all') [...others, ...outside].forEach((o) => both(v.id, o));
      else if (shape === 'one-way-out') others.forEach((o) => links.push([v.id, o]));
      else if (shape === 'one-way-in') others.forEach((o) => links.push([o, v.id]));
      else if (shape === 'single-link') {
        const o = faultRng.pick(others);
        const dir = faultRng.pick(['out', 'in', 'both'] as const);
        if (dir !== 'in') links.push([v.id, o]);
        if (dir !== 'out') links.push([o, v.id]);
      } else outside.forEach((o) => both(v.id, o));
      faults.partitions[shape] = (faults.partitions[shape] ?? 0) + 1;
      if (v.isLeader) faults.leaderPartitions++;
      const ms = faultRng.int(20, 2_000);
      t(`FAULT partition ${shape} around ${who} for ${ms} ms: ${links.map(([a, b]) => `${nodes.get(a)!.name}>${nodes.get(b)!.name}`).join(' ')}`);
      for (const [a, b] of links) net.cut(a, b);
      schedule(`partition ${shape} around order-${v.id}`, ms, () => {
        for (const [a, b] of links) net.heal(a, b);
        impaired.delete(v.id);
      });
    }
  }

  function healAll(): void {
    for (const f of [...active.values()]) {
      f.cancel();
      f.end();
    }
    active.clear();
    net.healAll();
    net.cfg.lossRate = 0;
    net.cfg.dupRate = 0;
    for (const id of REPLICAS) if (!replicas.has(id)) restart(id);
    impaired.clear();
    t('HEALED: all faults cleared, no more loss or duplication');
  }

  // ------------------------------------------------------------------ run
  let stepNo = 0;
  const onUnhandled = (reason: unknown) => checker.fail('unhandled-rejection', String((reason as Error)?.stack ?? reason));
  process.on('unhandledRejection', onUnhandled);
  let healSteps = 0;
  try {
    const check = () => {
      checker.step = stepNo;
      const snaps = snapshots();
      checker.checkStep(snaps);
      if (stepNo % 25 === 0) checker.checkWellFormed(snaps);
    };
    for (; stepNo < steps && checker.ok; stepNo++) {
      checker.step = stepNo;
      workload();
      if (faultRng.chance(config.faultRate)) injectFault();
      await clock.advance(stepRng.int(1, 25));
      check();
    }

    if (checker.ok) {
      healAll();
      accepting = false;
      const converged = (): boolean => {
        if (pending.size) return false;
        for (const fe of frontends) {
          const view = fe.router.view();
          if (view.leaderId === null) return false;
          const leader = replicas.get(view.leaderId);
          if (!leader || leader.status().leaderEpoch !== view.epoch) return false;
        }
        const logs = REPLICAS.map((id) => stores.get(id)!.log.visible());
        const ref = logs[0]!;
        return logs.every((l) => l.length === ref.length && (l.length === 0 || l[l.length - 1]!.crc === ref[ref.length - 1]!.crc));
      };
      const settle = async (what: string, done: () => boolean) => {
        while (checker.ok && !done()) {
          if (healSteps >= maxHealSteps) {
            const states = REPLICAS.map((id) => {
              const st = replicas.get(id)!.status();
              const lagging = st.followers.filter((f) => !f.reachable).map((f) => f.id);
              return `order-${id} ${st.role} promised e${st.promisedEpoch} log e${st.head.logEpoch} ${st.head.lastIndex + 1} records commit ${st.commitIndex}${lagging.length ? ` (sees follower ${lagging.join(', ')} failing)` : ''}`;
            });
            const leaders = frontends.map((f) => `${f.node.name} routes to ${f.router.view().leaderId}`).join(', ');
            checker.fail('liveness', `${what} did not happen within ${maxHealSteps} steps after healing (${pending.size} client operations pending; ${leaders}; ${states.join('; ')})`);
            return;
          }
          healSteps++;
          stepNo++;
          await clock.advance(stepRng.int(5, 25));
          check();
        }
      };
      await settle('convergence', converged);
      if (checker.ok) {
        // The healed cluster must take an order (a client retries 503/504 answers, as told to).
        let final: 'pending' | 'ok' | 'failed' = 'pending';
        const op = ++opSeq;
        pending.set(op, primary().tag);
        const placeFinal = async (): Promise<void> => {
          for (;;) {
            try {
              const res = await primary().router.placeOrder({ name: 'Tux', quantity: 1 });
              final = 'ok';
              ack({ orderNumber: res.order_number, name: 'Tux', quantity: 1, by: 'client' });
              return;
            } catch (err) {
              if (!(err instanceof AppError && RETRYABLE.has(err.reason))) {
                final = 'failed';
                checker.fail('liveness', `the healed cluster refused an order: ${(err as Error).message}`);
                return;
              }
              t(`final order: ${err.reason}; retrying`);
              await clientClock.sleep(100);
            }
          }
        };
        void placeFinal().finally(() => pending.delete(op));
        await settle('the final order', () => final !== 'pending');
        await settle('convergence after the final order', converged);
      }
      if (checker.ok) {
        checker.step = stepNo;
        const snaps = snapshots();
        checker.checkWellFormed(snaps);
        checker.checkEnd(snaps, catalog.bought);
      }
    }
  } catch (err) {
    checker.fail('harness-error', String((err as Error)?.stack ?? err));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    for (const fe of frontends) fe.router.stop();
  }

  const finalLog = stores.get(REPLICAS[0]!)!.log.visible();
  return {
    seed,
    mode,
    steps,
    ok: checker.ok,
    violations: checker.violations,
    failedStep: checker.violations[0]?.step ?? null,
    traceHash: trace.digest(),
    traceTail: trace.tail(80),
    trace: trace.all,
    simMs: clock.now(),
    config,
    stats: {
      faults,
      net: net.stats,
      epochs: checker.leaders.size,
      ordersAcked: acked,
      ordersRefused: refused,
      ordersUnknown: unknown,
      reads,
      finalLogLength: finalLog.length,
      healSteps,
    },
  };
}

/** A failed run as text: what broke, where, how to replay it, and what led up to it. */
export function describeFailure(r: Omit<SimResult, 'trace'>, replay: string): string {
  const lines = [
    `seed ${r.seed} (${r.mode}) failed at step ${r.failedStep} (t=${r.violations[0]?.atMs.toFixed(0)} ms): replay with ${replay}`,
    ...r.violations.slice(0, 8).map((v) => `  [${v.kind}] step ${v.step}: ${v.message}`),
    `  config: ${JSON.stringify(r.config)}`,
    '  last events:',
    ...r.traceTail.slice(-40).map((l) => `    ${l}`),
  ];
  return lines.join('\n');
}
