/**
 * The nemesis: runs the schedule's steps against the live cluster and the link mesh, each
 * step applied (target resolved against the leader now), held, then undone; and at the end
 * heals everything that is still faulty. It counts the faults that took effect.
 */
import path from 'node:path';
import { REPLICA_IDS, SERVICE_NAMES, type Cluster, type ReplicaId, type ServiceName } from '../cluster/index.ts';
import { PASS } from '../fault-proxy/proxy.ts';
import type { LeaderWatch } from './leader.ts';
import { linksOf, type LinkMesh } from './links.ts';
import { cutToSynced, durableFilesOf } from './power.ts';
import type { ChaosViolation, TimelineKind } from './report.ts';
import { describeMode, type FaultKind, type FaultStep, type ProcessTarget, type ReplicaTarget } from './schedule.ts';
import { sleep } from './sleep.ts';

/** Heals one step: what `apply` did, undone. */
type Undo = () => Promise<void>;

const replicaName = (id: ReplicaId): ServiceName => `order-${id}`;
const firstLine = (err: unknown) => (err as Error).message.split('\n')[0];

export class Nemesis {
  readonly injected: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, power: 0 };
  /** Processes SIGSTOPped by a step that has not been undone yet. */
  readonly paused = new Set<ServiceName>();
  private readonly stopper = new AbortController();
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: Cluster,
    private readonly mesh: LinkMesh,
    private readonly leader: LeaderWatch,
    private readonly note: (kind: TimelineKind, text: string) => void,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', () => this.stopper.abort(), { once: true });
  }

  /** Runs `schedule` with step times relative to `t0` (performance.now()), one step at a time. */
  start(schedule: readonly FaultStep[], t0: number): void {
    this.running = (async () => {
      for (const step of schedule) {
        await sleep(t0 + step.atMs - performance.now(), this.stopper.signal);
        if (this.stopper.signal.aborted) return;
        await this.runStep(step);
      }
    })();
  }

  /** Stops starting steps (a step being held is undone at once) and waits for the loop. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.running;
  }

  /** Everything back to normal: links pass, paused continue, what is down restarts. */
  async healAll(violations: ChaosViolation[]): Promise<void> {
    this.mesh.healAll();
    for (const s of [...this.paused]) {
      this.paused.delete(s);
      if (this.cluster.isRunning(s)) await this.cluster.resume(s);
    }
    for (const s of SERVICE_NAMES) {
      if (this.cluster.isRunning(s) || this.signal?.aborted) continue;
      if (await this.restart(s)) this.note('heal', `restarted ${s} (pid ${this.cluster.pids()[s]})`);
      else violations.push({ source: 'restart', kind: 'down', message: `${s} could not be restarted (see services.log)` });
    }
  }

  private async runStep(step: FaultStep): Promise<void> {
    let undo: Undo | null = null;
    try {
      undo = await this.apply(step);
    } catch (err) {
      this.note('note', `${step.kind} failed: ${firstLine(err)}`);
    }
    await sleep(step.holdMs, this.stopper.signal);
    try {
      await undo?.();
    } catch (err) {
      this.note('note', `healing ${step.kind} failed: ${firstLine(err)}`);
    }
  }

  private async resolveReplica(t: ReplicaTarget): Promise<{ id: ReplicaId; why: string }> {
    const leader = await this.leader.find();
    if (t.role === 'leader') return leader ? { id: leader, why: 'leader' } : { id: 3, why: 'no leader known; highest priority' };
    const others = REPLICA_IDS.filter((id) => id !== leader);
    return { id: others[Math.min(others.length - 1, Math.floor(t.pick * others.length))]!, why: leader ? `follower of ${leader}` : 'no leader known' };
  }

  private async resolveProcess(t: ProcessTarget): Promise<{ service: ServiceName; why: string }> {
    if (t.role === 'catalog' || t.role === 'frontend') return { service: t.role, why: t.role };
    const r = await this.resolveReplica(t);
    return { service: replicaName(r.id), why: r.why };
  }

  private async restart(service: ServiceName): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await this.cluster.restart(service);
        return true;
      } catch (err) {
        this.note('note', `restart of ${service} failed (attempt ${attempt}): ${firstLine(err)}`);
        if (this.signal?.aborted) return false;
        await sleep(500, this.signal);
      }
    }
    return false;
  }

  private async powerCut(service: ServiceName): Promise<string> {
    const cuts: string[] = [];
    for (const file of durableFilesOf(this.cluster.dataDir, service)) {
      const cut = await cutToSynced(file);
      const name = path.relative(this.cluster.dataDir, file);
      if (cut.kind === 'cut') cuts.push(`${name} -${cut.bytes} bytes`);
      else if (cut.kind === 'absent') cuts.push(`${name}: no file or no .synced sidecar, not cut`);
      else cuts.push(`${name}: .synced sidecar holds ${JSON.stringify(cut.text.slice(0, 20))}, not cut`);
    }
    return cuts.length ? cuts.join(', ') : 'nothing to cut';
  }

  private async apply(step: FaultStep): Promise<Undo | null> {
    if (step.kind === 'partition') return this.partition(step);
    const { service, why } = await this.resolveProcess(step.target);
    if (!this.cluster.isRunning(service)) {
      this.note('note', `${step.kind} ${service} skipped: not running`);
      return null;
    }
    if (step.kind === 'pause') return this.pause(service, why);
    await this.cluster.kill(service, 'SIGKILL');
    this.injected[step.kind]++;
    if (step.kind === 'power') this.note('fault', `power loss ${service} (${why}): SIGKILL, cut ${await this.powerCut(service)}`);
    else this.note('fault', `SIGKILL ${service} (${why})`);
    return async () => {
      if (await this.restart(service)) this.note('heal', `restarted ${service} (pid ${this.cluster.pids()[service]})`);
    };
  }

  private async partition(step: Extract<FaultStep, { kind: 'partition' }>): Promise<Undo> {
    const leader = (await this.leader.find()) ?? 3;
    const links = linksOf(step.links, leader);
    for (const [from, to] of links) this.mesh.set(from, to, step.mode);
    this.injected.partition++;
    const names = links.map(([a, b]) => `${a}->${b}`).join(', ');
    this.note('fault', `partition ${names} ${describeMode(step.mode)} (leader ${leader})`);
    return async () => {
      for (const [from, to] of links) this.mesh.set(from, to, PASS);
      this.note('heal', `links pass again: ${names}`);
    };
  }

  private async pause(service: ServiceName, why: string): Promise<Undo> {
    await this.cluster.pause(service);
    this.paused.add(service);
    this.injected.pause++;
    this.note('fault', `SIGSTOP ${service} (${why})`);
    return async () => {
      this.paused.delete(service);
      if (!this.cluster.isRunning(service)) return;
      await this.cluster.resume(service);
      this.note('heal', `SIGCONT ${service}`);
    };
  }
}
