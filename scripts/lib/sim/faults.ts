/**
 * The fault schedule of a run: each fault is drawn from the seed, starts at once and heals after
 * a seeded time (a timer on the run's clock), and is counted in `stats`. Which classes may be
 * drawn is an option (`SimOptions.faults`, default all of FAULT_CLASSES):
 *
 * - crash: kill + restart of a replica (the leader half of the time); pause: SIGSTOP + resume;
 * - partition: around one replica (all links, peer links only, one direction only, a single
 *   link, or only its links to the frontends and clients);
 * - leader-isolation: the leader cut from both followers (both ways, or one way) while the
 *   frontends still reach it, held for seconds; with two frontends also the shape where one
 *   frontend loses the leader and the other keeps it (issue 9 item 7);
 * - disk-loss: a crash during which the replica's log, its mark, its meta, or several of them are
 *   wiped, or the log is cut at a record boundary (storage.ts);
 * - corruption: a crash during which a byte of a complete record flips (middle or last);
 * - write-errors: log appends or meta saves fail for a while; the replica must stop (fail-stop)
 *   and is restarted until the disk works again;
 * - frontend: restarts and pauses of a frontend; storm: extra loss everywhere for a while;
 * - catalog: the catalog crashes and restarts.
 *
 * Modes. 'majority' (default): at most one replica impaired at a time, so a connected majority
 * always exists. 'overlap': up to two at once; a second one only now and then and briefly, so an
 * intact majority exists most of the time, while frontend, storm and catalog faults overlap
 * freely. 'chaos': any number at once; only safety can be expected while it lasts, but after
 * healing the end checks still apply. In every mode a disk is damaged only while every other one
 * is whole (two lost disks of three can lose an acknowledged order, which no store could prevent).
 */
import type { SimCluster, SimContext } from './cluster.ts';
import type { SimFrontends } from './frontends.ts';
import {
  CLIENT,
  FAULT_CLASSES,
  REPLICAS,
  type FaultClass,
  type FaultStats,
  type SimMode,
} from './options.ts';
import type { Rng } from '../rng/rng.ts';
import { applyCorruption, applyLoss } from './storage.ts';
import type { Workload } from './workload.ts';

const PARTITION_SHAPES = [
  'isolate',
  'isolate-all',
  'one-way-out',
  'one-way-in',
  'single-link',
  'frontend-only',
] as const;
type PartitionShape = (typeof PARTITION_SHAPES)[number];
const ISOLATION_SHAPES = ['leader-cut', 'leader-cut-out', 'leader-cut-in'] as const;
type IsolationShape = (typeof ISOLATION_SHAPES)[number] | 'leader-cut-split';

/** Weight of each kind of fault, and the class that enables it. */
const KINDS = {
  crash: { weight: 3, cls: 'crash' },
  pause: { weight: 2, cls: 'pause' },
  partition: { weight: 3, cls: 'partition' },
  leaderIsolation: { weight: 0.8, cls: 'leader-isolation' },
  diskLoss: { weight: 1, cls: 'disk-loss' },
  corruption: { weight: 0.8, cls: 'corruption' },
  writeErrors: { weight: 0.6, cls: 'write-errors' },
  frontendRestart: { weight: 0.4, cls: 'frontend' },
  frontendPause: { weight: 0.4, cls: 'frontend' },
  storm: { weight: 0.4, cls: 'storm' },
  catalogCrash: { weight: 0.3, cls: 'catalog' },
} as const satisfies Record<string, { weight: number; cls: FaultClass }>;
type Kind = keyof typeof KINDS;
type Victim = { id: number; isLeader: boolean };

export function emptyFaultStats(): FaultStats {
  return {
    crashes: 0,
    leaderCrashes: 0,
    pauses: 0,
    leaderPauses: 0,
    partitions: {},
    leaderPartitions: 0,
    leaderIsolations: {},
    diskLosses: {},
    corruptions: {},
    writeErrors: { log: 0, meta: 0 },
    failStops: 0,
    frontendRestarts: 0,
    frontendPauses: 0,
    storms: 0,
    catalogCrashes: 0,
    maxImpairedAtOnce: 0,
  };
}

export class FaultInjector {
  readonly stats: FaultStats = emptyFaultStats();
  private readonly impaired = new Set<number>();
  private readonly active = new Map<
    number,
    { what: string; end: () => void; cancel: () => void }
  >();
  private seq = 0;
  private readonly weights: Partial<Record<Kind, number>> = {};

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
    private readonly frontends: SimFrontends,
    private readonly workload: Workload,
    private readonly rng: Rng,
    private readonly mode: SimMode,
    /** Called after every fault starts or heals; `frontend`: only that frontend is concerned. */
    private readonly onChange: (frontend?: number) => void,
  ) {
    const enabled = new Set<FaultClass>(ctx.opts.faults ?? FAULT_CLASSES);
    for (const [k, v] of Object.entries(KINDS))
      if (enabled.has(v.cls)) this.weights[k as Kind] = v.weight;
    cluster.onExit = (id, why) => this.exited(id, why);
  }

  inject(): void {
    if (!Object.keys(this.weights).length) return;
    const kind = this.rng.weighted(this.weights as Record<Kind, number>);
    if (kind === 'frontendRestart') return this.frontendRestart();
    if (kind === 'frontendPause') return this.frontendPause();
    if (kind === 'storm') return this.storm();
    if (kind === 'catalogCrash') return this.catalogCrash();
    const v = this.admit(kind);
    if (!v) return;
    this.impaired.add(v.id);
    this.stats.maxImpairedAtOnce = Math.max(this.stats.maxImpairedAtOnce, this.impaired.size);
    if (kind === 'crash' || kind === 'diskLoss' || kind === 'corruption') this.crash(v, kind);
    else if (kind === 'pause') this.pause(v);
    else if (kind === 'partition') this.partition(v);
    else if (kind === 'leaderIsolation') this.isolateLeader(v);
    else this.writeErrors(v);
    this.onChange();
  }

  /** The replica a replica fault of `kind` would hit, if the mode allows one now. */
  private admit(kind: Kind): Victim | null {
    const n = this.impaired.size;
    const max = this.mode === 'majority' ? 1 : this.mode === 'overlap' ? 2 : REPLICAS.length;
    if (n >= max || (this.mode === 'overlap' && n >= 1 && !this.rng.chance(0.35))) return null;
    if ((kind === 'diskLoss' || kind === 'corruption') && !this.allDisksWhole()) return null;
    if (kind === 'leaderIsolation') {
      const leader = this.cluster.currentLeader();
      return leader === null || this.impaired.has(leader) ? null : { id: leader, isLeader: true };
    }
    if (kind === 'diskLoss' || kind === 'corruption') return this.pickDiskVictim();
    return this.pickVictim();
  }

  /**
   * The disk whose loss hurts most, more often than not: a follower holding the newest log epoch
   * while another replica lags behind it (the shape of issue 9 item 3: that replica can come back
   * claiming a log it no longer has and win against the laggard). Otherwise any free replica.
   */
  private pickDiskVictim(): Victim | null {
    const leader = this.cluster.currentLeader();
    const epochOf = (id: number) => this.cluster.disks.get(id)!.meta?.logEpoch ?? 0;
    const newest = Math.max(...REPLICAS.map(epochOf));
    const lagging = REPLICAS.some((id) => epochOf(id) < newest);
    const apt = REPLICAS.filter(
      (id) => !this.impaired.has(id) && id !== leader && epochOf(id) === newest,
    );
    if (lagging && apt.length && this.rng.chance(0.6))
      return { id: this.rng.pick(apt), isLeader: false };
    return this.pickVictim();
  }

  /**
   * Every disk whole: no fault's damage outstanding, and every replica's durable state intact. A
   * replica that never finished starting (no meta yet) counts as lost too: from its disk it cannot
   * be told from a wiped one, so a second loss would leave no quorum of intact replicas, and a
   * store that then refuses to elect is right to.
   */
  private allDisksWhole(): boolean {
    return REPLICAS.every((id) => {
      const disk = this.cluster.disks.get(id)!;
      return !disk.damaged && disk.meta?.storage === 'intact';
    });
  }

  /** How long a replica fault lasts: in overlap mode a second one is brief. */
  private duration(lo: number, hi: number): number {
    const ms = this.rng.int(lo, hi);
    return this.mode === 'overlap' && this.impaired.size > 1 ? Math.min(ms, 800) : ms;
  }

  /** Ends every fault now, restarts every process that is down, and stops message loss. */
  healAll(): void {
    for (const f of [...this.active.values()]) {
      f.cancel();
      f.end();
    }
    this.active.clear();
    const { net, catalog } = this.cluster;
    net.healAll();
    net.cfg.lossRate = 0;
    net.cfg.dupRate = 0;
    for (const d of this.cluster.disks.values()) d.failLogUntilMs = d.failMetaUntilMs = -Infinity;
    if (!catalog.up) catalog.restart();
    for (const id of REPLICAS) if (!this.cluster.node(id).up) this.cluster.restart(id);
    this.impaired.clear();
    this.ctx.trace('HEALED: all faults cleared, no more loss or duplication');
    this.onChange();
  }

  private schedule(what: string, ms: number, end: () => void, frontend?: number): void {
    const id = ++this.seq;
    const run = () => {
      this.active.delete(id);
      this.ctx.trace(`HEAL ${what}`);
      end();
      this.onChange(frontend);
    };
    const cancel = this.ctx.clock.setTimeout(run, ms);
    this.active.set(id, { what, end: run, cancel });
  }

  /**
   * The leader half of the time, or, while a damaged disk's replica is back but not yet whole,
   * most of the time: its loss then forces an election in which that replica takes part.
   */
  private pickVictim(): Victim | null {
    const free = REPLICAS.filter((id) => !this.impaired.has(id));
    if (!free.length) return null;
    const leader = this.cluster.currentLeader();
    const recovering = REPLICAS.some(
      (id) => id !== leader && this.cluster.replicas.has(id) && this.cluster.disks.get(id)!.damaged,
    );
    if (leader !== null && free.includes(leader) && this.rng.chance(recovering ? 0.8 : 0.5))
      return { id: leader, isLeader: true };
    const id = this.rng.pick(free);
    return { id, isLeader: id === leader };
  }

  private who(v: Victim): string {
    return `order-${v.id}${v.isLeader ? ' (leader)' : ''}`;
  }

  private frontendRestart(): void {
    const i = this.rng.int(0, this.frontends.list.length - 1);
    const fe = this.frontends.list[i]!;
    this.stats.frontendRestarts++;
    this.ctx.trace(`FAULT ${fe.node.name} restart`);
    // Its in-flight client requests die with it (the clients see a reset: outcome unknown).
    this.workload.abandon(this.frontends.restart(i));
    this.onChange(fe.node.id);
  }

  private frontendPause(): void {
    const fe = this.rng.pick(this.frontends.list).node;
    if (fe.paused) return;
    this.stats.frontendPauses++;
    const ms = this.rng.int(20, 1_000);
    this.ctx.trace(`FAULT pause ${fe.name} for ${ms} ms`);
    fe.pause();
    this.schedule(`${fe.name} pause`, ms, () => fe.resume(), fe.id);
    this.onChange(fe.id);
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
    this.onChange();
  }

  private catalogCrash(): void {
    const { catalog } = this.cluster;
    if (!catalog.up) return;
    this.stats.catalogCrashes++;
    const ms = this.rng.int(50, 1_500);
    this.ctx.trace(`FAULT crash catalog for ${ms} ms`);
    catalog.crash();
    this.schedule('crash of the catalog', ms, () => catalog.restart());
    this.onChange();
  }

  /** A crash; for disk-loss and corruption, the disk is damaged while the replica is down. */
  private crash(v: Victim, kind: 'crash' | 'diskLoss' | 'corruption'): void {
    this.stats.crashes++;
    if (v.isLeader) this.stats.leaderCrashes++;
    const ms = this.duration(10, 1_500);
    this.ctx.trace(`FAULT crash ${this.who(v)} for ${ms} ms`);
    this.cluster.crash(v.id);
    const disk = this.cluster.disks.get(v.id)!;
    if (this.ctx.opts.broken?.silentDiskLoss) {
      disk.cut(0);
      this.ctx.trace(`BROKEN: the log of order-${v.id} silently wiped`);
    }
    const damage =
      kind === 'diskLoss'
        ? applyLoss(disk, this.rng)
        : kind === 'corruption'
          ? applyCorruption(disk, this.rng)
          : null;
    if (damage) {
      const counts = kind === 'diskLoss' ? this.stats.diskLosses : this.stats.corruptions;
      const name = damage.split(':')[0]!;
      counts[name] = (counts[name] ?? 0) + 1;
      this.ctx.trace(`FAULT disk of order-${v.id} while down: ${damage}`);
    }
    this.schedule(`crash of order-${v.id}`, ms, () => {
      this.cluster.restart(v.id);
      this.impaired.delete(v.id);
    });
  }

  private pause(v: Victim): void {
    this.stats.pauses++;
    if (v.isLeader) this.stats.leaderPauses++;
    const ms = this.duration(10, 1_500);
    this.ctx.trace(`FAULT pause ${this.who(v)} for ${ms} ms`);
    const node = this.cluster.node(v.id);
    node.pause();
    this.schedule(`pause of order-${v.id}`, ms, () => {
      node.resume();
      this.impaired.delete(v.id);
    });
  }

  private partition(v: Victim): void {
    const shape = this.rng.pick(PARTITION_SHAPES);
    const links = this.partitionLinks(v.id, shape);
    this.stats.partitions[shape] = (this.stats.partitions[shape] ?? 0) + 1;
    if (v.isLeader) this.stats.leaderPartitions++;
    this.cutFor(v, shape, links, this.duration(20, 2_000));
  }

  /** The leader loses its followers (not the frontends) for seconds: it must be replaced. */
  private isolateLeader(v: Victim): void {
    const shapes: readonly IsolationShape[] =
      this.frontends.list.length > 1 ? [...ISOLATION_SHAPES, 'leader-cut-split'] : ISOLATION_SHAPES;
    const shape = this.rng.pick(shapes);
    const followers = REPLICAS.filter((o) => o !== v.id);
    const links: [number, number][] = [];
    for (const o of followers) {
      if (shape !== 'leader-cut-in') links.push([v.id, o]);
      if (shape !== 'leader-cut-out') links.push([o, v.id]);
    }
    // One frontend loses the leader too and elects another; the other keeps routing to it.
    if (shape === 'leader-cut-split')
      links.push([v.id, this.frontends.list[1]!.node.id], [this.frontends.list[1]!.node.id, v.id]);
    this.stats.leaderIsolations[shape] = (this.stats.leaderIsolations[shape] ?? 0) + 1;
    this.cutFor(v, shape, links, this.duration(2_000, 8_000));
  }

  private cutFor(v: Victim, shape: string, links: [number, number][], ms: number): void {
    const name = (id: number) => this.cluster.node(id).name;
    this.ctx.trace(
      `FAULT partition ${shape} around ${this.who(v)} for ${ms} ms: ${links.map(([a, b]) => `${name(a)}>${name(b)}`).join(' ')}`,
    );
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

  /** Log appends or meta saves of one replica fail for a while. */
  private writeErrors(v: Victim): void {
    const disk = this.cluster.disks.get(v.id)!;
    const which = this.rng.pick(['log', 'meta'] as const);
    const ms = this.duration(100, 1_500);
    const until = this.ctx.clock.now() + ms;
    if (which === 'log') disk.failLogUntilMs = until;
    else disk.failMetaUntilMs = until;
    this.stats.writeErrors[which]++;
    this.ctx.trace(
      `FAULT ${which === 'log' ? 'log appends' : 'meta saves'} of ${this.who(v)} fail for ${ms} ms`,
    );
    this.schedule(`write errors of order-${v.id}`, ms, () => {
      if (this.cluster.node(v.id).up) this.impaired.delete(v.id);
    });
  }

  /** A replica's process exited after a failed durable write: a supervisor restarts it soon. */
  private exited(id: number, why: string): void {
    this.stats.failStops++;
    this.ctx.trace(`EXIT order-${id}: ${why}`);
    this.cluster.crash(id);
    this.impaired.add(id);
    this.schedule(`exit of order-${id}`, this.rng.int(50, 500), () => {
      this.cluster.restart(id);
      const disk = this.cluster.disks.get(id)!;
      if (this.ctx.clock.now() >= Math.max(disk.failLogUntilMs, disk.failMetaUntilMs))
        this.impaired.delete(id);
    });
    this.onChange();
  }
}
