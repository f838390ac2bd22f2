/**
 * The fault schedule of a run: each fault is drawn from the seed, starts at once and heals after
 * a seeded time (a timer on the run's clock), and is counted in `stats`.
 *
 * Kinds: crash + restart of a replica (the leader half of the time), pause + resume, partitions
 * around one replica (all links, peer links only, one direction only, a single link, or only its
 * links to the frontends and clients), network storms (extra loss for a while), frontend restarts
 * and pauses.
 *
 * Modes. 'majority' (default): at most one replica is crashed, paused or partitioned at a time, so
 * a connected majority always exists. 'chaos': any number at once; only safety can be expected
 * while it lasts, but after healing the end checks still apply (disks are never wiped).
 */
import type { SimCluster, SimContext } from './cluster.ts';
import type { SimFrontends } from './frontends.ts';
import { CLIENT, REPLICAS, type FaultStats, type SimMode } from './options.ts';
import type { Rng } from './rng.ts';
import type { Workload } from './workload.ts';

const PARTITION_SHAPES = ['isolate', 'isolate-all', 'one-way-out', 'one-way-in', 'single-link', 'frontend-only'] as const;
type PartitionShape = (typeof PARTITION_SHAPES)[number];

export class FaultInjector {
  readonly stats: FaultStats = {
    crashes: 0, leaderCrashes: 0, pauses: 0, leaderPauses: 0, partitions: {}, leaderPartitions: 0,
    frontendRestarts: 0, frontendPauses: 0, storms: 0, maxImpairedAtOnce: 0,
  };
  private readonly impaired = new Set<number>();
  private readonly active = new Map<number, { what: string; end: () => void; cancel: () => void }>();
  private seq = 0;
  private readonly maxImpaired: number;

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
    private readonly frontends: SimFrontends,
    private readonly workload: Workload,
    private readonly rng: Rng,
    mode: SimMode,
    /** Called after every fault starts or heals (the availability monitor recomputes). */
    private readonly onChange: () => void,
  ) {
    this.maxImpaired = mode === 'majority' ? 1 : REPLICAS.length;
  }

  inject(): void {
    const kind = this.rng.weighted({ crash: 3, pause: 2, partition: 3, frontendRestart: 0.4, frontendPause: 0.4, storm: 0.4 });
    if (kind === 'frontendRestart') this.frontendRestart();
    else if (kind === 'frontendPause') this.frontendPause();
    else if (kind === 'storm') this.storm();
    if (kind === 'frontendRestart' || kind === 'frontendPause' || kind === 'storm') return this.onChange();
    if (this.impaired.size >= this.maxImpaired) return;
    const v = this.pickVictim();
    if (!v) return;
    this.impaired.add(v.id);
    this.stats.maxImpairedAtOnce = Math.max(this.stats.maxImpairedAtOnce, this.impaired.size);
    if (kind === 'crash') this.crash(v);
    else if (kind === 'pause') this.pause(v);
    else this.partition(v);
    this.onChange();
  }

  /** Ends every fault now, restarts every replica that is down, and stops message loss. */
  healAll(): void {
    for (const f of [...this.active.values()]) {
      f.cancel();
      f.end();
    }
    this.active.clear();
    const { net } = this.cluster;
    net.healAll();
    net.cfg.lossRate = 0;
    net.cfg.dupRate = 0;
    for (const id of REPLICAS) if (!this.cluster.replicas.has(id)) this.cluster.restart(id);
    this.impaired.clear();
    this.ctx.trace('HEALED: all faults cleared, no more loss or duplication');
    this.onChange();
  }

  private schedule(what: string, ms: number, end: () => void): void {
    const id = ++this.seq;
    const run = () => {
      this.active.delete(id);
      this.ctx.trace(`HEAL ${what}`);
      end();
      this.onChange();
    };
    const cancel = this.ctx.clock.setTimeout(run, ms);
    this.active.set(id, { what, end: run, cancel });
  }

  private pickVictim(): { id: number; isLeader: boolean } | null {
    const free = REPLICAS.filter((id) => !this.impaired.has(id));
    if (!free.length) return null;
    const leader = this.cluster.currentLeader();
    if (leader !== null && free.includes(leader) && this.rng.chance(0.5)) return { id: leader, isLeader: true };
    const id = this.rng.pick(free);
    return { id, isLeader: id === leader };
  }

  private frontendRestart(): void {
    const i = this.rng.int(0, this.frontends.list.length - 1);
    const fe = this.frontends.list[i]!;
    this.stats.frontendRestarts++;
    this.ctx.trace(`FAULT ${fe.node.name} restart`);
    // Its in-flight client requests die with it (the clients see a reset: outcome unknown).
    this.workload.abandon(this.frontends.restart(i));
  }

  private frontendPause(): void {
    const fe = this.rng.pick(this.frontends.list).node;
    if (fe.paused) return;
    this.stats.frontendPauses++;
    const ms = this.rng.int(20, 1_000);
    this.ctx.trace(`FAULT pause ${fe.name} for ${ms} ms`);
    fe.pause();
    this.schedule(`${fe.name} pause`, ms, () => fe.resume());
  }

  private storm(): void {
    const { net } = this.cluster;
    if (net.extraLoss > 0) return;
    this.stats.storms++;
    const loss = this.rng.pick([0.2, 0.5]);
    const ms = this.rng.int(50, 600);
    this.ctx.trace(`FAULT network storm: ${loss * 100}% loss for ${ms} ms`);
    net.extraLoss = loss;
    this.schedule('storm', ms, () => (net.extraLoss = 0));
  }

  private who(v: { id: number; isLeader: boolean }): string {
    return `order-${v.id}${v.isLeader ? ' (leader)' : ''}`;
  }

  private crash(v: { id: number; isLeader: boolean }): void {
    this.stats.crashes++;
    if (v.isLeader) this.stats.leaderCrashes++;
    const ms = this.rng.int(10, 1_500);
    this.ctx.trace(`FAULT crash ${this.who(v)} for ${ms} ms`);
    this.cluster.crash(v.id);
    this.schedule(`crash of order-${v.id}`, ms, () => {
      this.cluster.restart(v.id);
      this.impaired.delete(v.id);
    });
  }

  private pause(v: { id: number; isLeader: boolean }): void {
    this.stats.pauses++;
    if (v.isLeader) this.stats.leaderPauses++;
    const ms = this.rng.int(10, 1_500);
    this.ctx.trace(`FAULT pause ${this.who(v)} for ${ms} ms`);
    const node = this.cluster.node(v.id);
    node.pause();
    this.schedule(`pause of order-${v.id}`, ms, () => {
      node.resume();
      this.impaired.delete(v.id);
    });
  }

  private partition(v: { id: number; isLeader: boolean }): void {
    const shape = this.rng.pick(PARTITION_SHAPES);
    const links = this.partitionLinks(v.id, shape);
    this.stats.partitions[shape] = (this.stats.partitions[shape] ?? 0) + 1;
    if (v.isLeader) this.stats.leaderPartitions++;
    const ms = this.rng.int(20, 2_000);
    const name = (id: number) => this.cluster.node(id).name;
    this.ctx.trace(`FAULT partition ${shape} around ${this.who(v)} for ${ms} ms: ${links.map(([a, b]) => `${name(a)}>${name(b)}`).join(' ')}`);
    const { net } = this.cluster;
    for (const [a, b] of links) net.cut(a, b);
    this.schedule(`partition ${shape} around order-${v.id}`, ms, () => {
      for (const [a, b] of links) net.heal(a, b);
      this.impaired.delete(v.id);
    });
  }

  /** The directed links a partition of `shape` around replica `id` cuts. */
  private partitionLinks(id: number, shape: PartitionShape): [number, number][] {
    const others = REPLICAS.filter((o) => o !== id);
    const outside = [...this.frontends.list.map((f) => f.node.id), CLIENT];
    const links: [number, number][] = [];
    const both = (a: number, b: number) => links.push([a, b], [b, a]);
    if (shape === 'isolate') others.forEach((o) => both(id, o));
    else if (shape === 'isolate-all') [...others, ...outside].forEach((o) => both(id, o));
    else if (shape === 'one-way-out') others.forEach((o) => links.push([id, o]));
    else if (shape === 'one-way-in') others.forEach((o) => links.push([o, id]));
    else if (shape === 'single-link') {
      const o = this.rng.pick(others);
      const dir = this.rng.pick(['out', 'in', 'both'] as const);
      if (dir !== 'in') links.push([id, o]);
      if (dir !== 'out') links.push([o, id]);
    } else outside.forEach((o) => both(id, o));
    return links;
  }
}
