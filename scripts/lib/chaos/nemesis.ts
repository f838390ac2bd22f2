/**
 * The nemesis: runs the schedule's steps against the live cluster and the link mesh, each
 * step applied (target resolved against the leader now), held, then undone; and at the end
 * heals everything that is still faulty. It counts the faults that took effect. Its time is a
 * Clock (real time in a run), so its stories run on logical time.
 *
 * One step at a time by default; with `overlap`, every step runs on its own timer, so several
 * are in force at once. A process under a fault (down, paused, being power-cut) is `busy`: a
 * later step that resolves to it picks another process of the same role if there is one (a
 * follower), else is skipped and says so. Partitions on the same link stack (LinkMesh.hold).
 */
import { setMaxListeners } from 'node:events';
import {
  REPLICA_IDS,
  SERVICE_NAMES,
  type Cluster,
  type ReplicaId,
  type ServiceName,
} from '../cluster/index.ts';
import type { LeaderWatch } from './leader.ts';
import { linksOf, type LinkMesh } from './links.ts';
import { describeCut, landPowerCut, type PowerCut } from './power.ts';
import type { ChaosViolation, TimelineKind } from './report.ts';
import {
  describeMode,
  OVERLAP_TIMING,
  type FaultKind,
  type FaultStep,
  type ProcessTarget,
  type ReplicaTarget,
} from './schedule.ts';
import type { Clock } from '../../../shared/clock.ts';
import { sleepOn, wallClock } from './sleep.ts';

/** Heals one step: what `apply` did, undone. */
type Undo = () => Promise<void>;

const replicaName = (id: ReplicaId): ServiceName => `order-${id}`;
const firstLine = (err: unknown) => (err as Error).message.split('\n')[0];

export class Nemesis {
  readonly injected: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, power: 0 };
  /** Processes SIGSTOPped by a step that has not been undone yet. */
  readonly paused = new Set<ServiceName>();
  /** Processes some step holds under a fault (killed, paused, being cut) until it is undone. */
  private readonly busy = new Set<ServiceName>();
  readonly powerCuts: PowerCut[] = [];
  /** Most steps in force at once. */
  maxActive = 0;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly stopper = new AbortController();
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: Cluster,
    private readonly mesh: LinkMesh,
    private readonly leader: LeaderWatch,
    private readonly note: (kind: TimelineKind, text: string) => void,
    private readonly signal?: AbortSignal,
    /**
     * Step times, holds and retry pauses run on it: real time in a run, a ManualClock in a test.
     */
    private readonly clock: Clock = wallClock,
  ) {
    signal?.addEventListener('abort', () => this.stopper.abort(), { once: true });
  }

  /**
   * Runs `schedule` with step times relative to `t0` (the clock's now()): one step at a time, or
   * with `overlap` each step at its own time whatever the others do.
   */
  start(
    schedule: readonly FaultStep[],
    t0: number,
    overlap = false,
    maxActive = OVERLAP_TIMING.maxActive,
  ): void {
    const at = async (step: FaultStep) => {
      await sleepOn(this.clock, t0 + step.atMs - this.clock.now(), this.stopper.signal);
      // A step is in force from its fault until its undo is done (a restart takes a second or
      // two), longer than its hold: wait for a slot so the plan's bound holds in the run too.
      while (overlap && this.active >= maxActive && !this.stopper.signal.aborted)
        await new Promise<void>((r) => this.waiting.push(r));
      if (!this.stopper.signal.aborted) await this.runStep(step);
    };
    // Overlapping, every step waits for its time at once, each listening on the stop signal (and
    // removing its listener when it wakes): as many listeners as steps, bounded by the schedule,
    // so Node's leak warning at 11 would be noise.
    if (overlap) setMaxListeners(schedule.length + 16, this.stopper.signal);
    this.running = overlap
      ? Promise.all(schedule.map(at)).then(() => {})
      : (async () => {
          for (const step of schedule) await at(step);
        })();
  }

  /** Settles when every step of the schedule has been applied, held and undone. */
  done(): Promise<void> {
    return this.running;
  }

  /** Stops starting steps (a step being held is undone at once) and waits for the loop. */
  async stop(): Promise<void> {
    this.stopper.abort();
    for (const wake of this.waiting.splice(0)) wake();
    await this.running;
  }

  /** Everything back to normal: links pass, paused continue, what is down restarts. */
  async healAll(violations: ChaosViolation[]): Promise<void> {
    this.mesh.healAll();
    this.busy.clear();
    for (const s of [...this.paused]) {
      this.paused.delete(s);
      if (this.cluster.isRunning(s)) await this.cluster.resume(s);
    }
    for (const s of SERVICE_NAMES) {
      if (this.cluster.isRunning(s) || this.signal?.aborted) continue;
      if (await this.restart(s))
        this.note('heal', `restarted ${s} (pid ${this.cluster.pids()[s]})`);
      else
        violations.push({
          source: 'restart',
          kind: 'down',
          message: `${s} could not be restarted (see services.log)`,
        });
    }
  }

  private async runStep(step: FaultStep): Promise<void> {
    let undo: Undo | null = null;
    this.maxActive = Math.max(this.maxActive, ++this.active);
    try {
      undo = await this.apply(step);
    } catch (err) {
      this.note('note', `${step.kind} failed: ${firstLine(err)}`);
    }
    await sleepOn(this.clock, step.holdMs, this.stopper.signal);
    try {
      await undo?.();
    } catch (err) {
      this.note('note', `healing ${step.kind} failed: ${firstLine(err)}`);
    }
    this.active--;
    this.waiting.shift()?.();
  }

  private async resolveReplica(t: ReplicaTarget): Promise<{ id: ReplicaId; why: string } | null> {
    const leader = await this.leader.find();
    if (t.role === 'leader') {
      const id = leader ?? 3;
      return this.busy.has(replicaName(id))
        ? null
        : { id, why: leader ? 'leader' : 'no leader known; highest priority' };
    }
    const others = REPLICA_IDS.filter((id) => id !== leader && !this.busy.has(replicaName(id)));
    if (others.length === 0) return null;
    return {
      id: others[Math.min(others.length - 1, Math.floor(t.pick * others.length))]!,
      why: leader ? `follower of ${leader}` : 'no leader known',
    };
  }

  /** The process a step hits now, or null if every candidate is already under a fault. */
  private async resolveProcess(
    t: ProcessTarget,
  ): Promise<{ service: ServiceName; why: string } | null> {
    if (t.role === 'catalog' || t.role === 'frontend')
      return this.busy.has(t.role) ? null : { service: t.role, why: t.role };
    const r = await this.resolveReplica(t);
    return r && { service: replicaName(r.id), why: r.why };
  }

  private async restart(service: ServiceName): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await this.cluster.restart(service);
        return true;
      } catch (err) {
        this.note('note', `restart of ${service} failed (attempt ${attempt}): ${firstLine(err)}`);
        if (this.signal?.aborted) return false;
        await sleepOn(this.clock, 500, this.signal);
      }
    }
    return false;
  }

  private async apply(step: FaultStep): Promise<Undo | null> {
    if (step.kind === 'partition') return this.partition(step);
    const resolved = await this.resolveProcess(step.target);
    if (!resolved) {
      const who =
        step.target.role === 'follower' ? 'every follower is' : `the ${step.target.role} is`;
      this.note('note', `${step.kind} skipped: ${who} already under a fault`);
      return null;
    }
    const { service, why } = resolved;
    if (!this.cluster.isRunning(service)) {
      this.note('note', `${step.kind} ${service} skipped: not running`);
      return null;
    }
    this.busy.add(service);
    try {
      if (step.kind === 'pause') return await this.pause(service, why);
      if (step.kind === 'power') await this.powerCut(service, why);
      else {
        await this.cluster.kill(service, 'SIGKILL');
        this.note('fault', `SIGKILL ${service} (${why})`);
      }
    } catch (err) {
      this.busy.delete(service);
      throw err;
    }
    this.injected[step.kind]++;
    return async () => {
      if (await this.restart(service))
        this.note('heal', `restarted ${service} (pid ${this.cluster.pids()[service]})`);
      this.busy.delete(service);
    };
  }

  private async powerCut(service: ServiceName, why: string): Promise<void> {
    const cut = await landPowerCut(this.cluster, service);
    this.paused.delete(service);
    this.powerCuts.push(cut);
    this.note('fault', `power loss ${service} (${why}): SIGKILL, cut ${describeCut(cut)}`);
  }

  private async partition(step: Extract<FaultStep, { kind: 'partition' }>): Promise<Undo> {
    const leader = (await this.leader.find()) ?? 3;
    const links = linksOf(step.links, leader);
    const release = this.mesh.hold(links, step.mode);
    this.injected.partition++;
    const names = links.map(([a, b]) => `${a}->${b}`).join(', ');
    this.note('fault', `partition ${names} ${describeMode(step.mode)} (leader ${leader})`);
    return async () => {
      release();
      this.note('heal', `links released: ${names}`);
    };
  }

  private async pause(service: ServiceName, why: string): Promise<Undo> {
    await this.cluster.pause(service);
    this.paused.add(service);
    this.injected.pause++;
    this.note('fault', `SIGSTOP ${service} (${why})`);
    return async () => {
      this.paused.delete(service);
      if (this.cluster.isRunning(service)) {
        await this.cluster.resume(service);
        this.note('heal', `SIGCONT ${service}`);
      }
      this.busy.delete(service);
    };
  }
}
