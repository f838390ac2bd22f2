/**
 * Carries out the fault plan (schedule.ts) on the hosts: kills and restarts through the process
 * table, partitions and loss through nftables in the namespaces, delay through the fault
 * proxies. Roles are resolved when a step runs, from the sampler's latest view (the replica that
 * says it leads the newest epoch). Every fault is recorded with when it was applied and healed,
 * and `healAll` undoes whatever is still in force (links, rules, stopped services).
 *
 * Shaped as one small class, `Nemesis`: `apply` turns one planned step into a fault in force and
 * the undo that heals it, `run` paces the plan and records each fault, `healAll` is the cleanup;
 * the leader lookup and the three ways of doing harm (kill, net rule, proxy delay) are its
 * private helpers.
 */
import { PASS } from '../fault-proxy/proxy.ts';
import type { FaultRecord } from './measure.ts';
import { clusterLeader } from './measure.ts';
import type { Firewall, NetFault } from './nft.ts';
import type { FaultStep } from './schedule.ts';
import type { Sampler } from './observe.ts';
import type { Store } from './store.ts';
import {
  FRONTEND_HOSTS,
  REPLICA_HOSTS,
  SERVICE_HOSTS,
  type ReplicaHost,
  type ServiceHost,
} from './topology.ts';

export interface NemesisDeps {
  store: Store;
  firewall: Firewall;
  sampler: Sampler;
  now: () => number;
  note: (text: string) => void;
}

type Undo = () => Promise<void>;

const pickOf = <T>(xs: readonly T[], pick: number): T =>
  xs[Math.min(xs.length - 1, Math.floor(pick * xs.length))]!;

export function createNemesis(d: NemesisDeps): Nemesis {
  return new Nemesis(d);
}

export class Nemesis {
  private readonly applied: FaultRecord[] = [];

  constructor(private readonly d: NemesisDeps) {}

  /** Every fault applied so far, with when it was applied and healed. */
  records(): FaultRecord[] {
    return this.applied;
  }

  /**
   * Runs the plan against the clock `now` (t = 0 at the start of the fault phase) until done or
   * aborted.
   */
  async run(schedule: readonly FaultStep[], signal: AbortSignal): Promise<void> {
    const d = this.d;
    for (const [i, step] of schedule.entries()) {
      if (!(await sleepUntil(d.now, step.atMs, signal))) return;
      const rec: FaultRecord = {
        kind: step.kind,
        target: '?',
        appliedAtMs: d.now(),
        healedAtMs: null,
        detail: '',
      };
      let undo: Undo | null = null;
      try {
        const a = await this.apply(step, `f${i}`);
        // In force from now (an nft change or a kill takes a moment): the hold and the window start
        // here.
        Object.assign(rec, { target: a.target, detail: a.detail, appliedAtMs: d.now() });
        undo = a.undo;
        this.applied.push(rec);
        d.note(`fault: ${a.detail}`);
      } catch (err) {
        d.note(`fault ${step.kind} failed: ${(err as Error).message.split('\n')[0]}`);
      }
      await sleepUntil(d.now, rec.appliedAtMs + step.holdMs, signal);
      if (undo) {
        await undo().catch((err: Error) =>
          d.note(`healing ${step.kind} failed: ${err.message.split('\n')[0]}`),
        );
        rec.healedAtMs = d.now();
        d.note(`healed: ${step.kind} ${rec.target}`);
      }
      if (signal.aborted) return;
    }
  }

  /**
   * Undoes whatever is still in force: proxies pass, rules flushed, every stopped service started.
   */
  async healAll(): Promise<void> {
    const d = this.d;
    for (const p of d.store.proxies.values()) p.setMode(PASS);
    await d.firewall.clear();
    for (const h of SERVICE_HOSTS) if (!d.store.procs.isRunning(h)) await this.restart(h);
    if (!d.store.procs.isRunning('lb')) await d.store.procs.restart('lb').catch(() => {});
  }

  /** One step made a fault in force, its roles resolved now; the undo heals it. */
  private async apply(
    step: FaultStep,
    id: string,
  ): Promise<{ target: string; detail: string; undo: Undo }> {
    const l = this.leader();
    const followers = REPLICA_HOSTS.filter((r) => r !== l);
    switch (step.kind) {
      case 'kill-leader':
        return { target: l, detail: `SIGKILL leader ${l}`, undo: await this.kill(l) };
      case 'kill-follower': {
        const f = pickOf(followers, step.pick);
        return {
          target: f,
          detail: `SIGKILL follower ${f} (leader ${l})`,
          undo: await this.kill(f),
        };
      }
      case 'kill-frontend': {
        const f = pickOf(FRONTEND_HOSTS, step.pick);
        return { target: f, detail: `SIGKILL ${f} under load`, undo: await this.kill(f) };
      }
      case 'partition-leader': {
        const others = SERVICE_HOSTS.filter((h) => h !== l);
        return {
          target: l,
          detail: `drop every packet between leader ${l} and ${others.join(', ')}`,
          undo: await this.net({ kind: 'partition', id, a: [l], b: others }),
        };
      }
      case 'partition-frontend': {
        const f = pickOf(FRONTEND_HOSTS, step.pick);
        return {
          target: f,
          detail: `drop every packet between ${f} and leader ${l} (it still sees the followers)`,
          undo: await this.net({ kind: 'partition', id, a: [f], b: [l] }),
        };
      }
      case 'loss': {
        const other = pickOf([...followers, ...FRONTEND_HOSTS], step.pick);
        return {
          target: l,
          detail: `${step.amount}% random packet loss between leader ${l} and ${other}`,
          undo: await this.net({ kind: 'loss', id, a: l, b: other, percent: step.amount }),
        };
      }
      case 'delay':
        return { target: l, ...this.delay(l, step.amount) };
    }
  }

  /**
   * The replica that says it leads the newest epoch in the sampler's latest view (order-3 before
   * any).
   */
  private leader(): ReplicaHost {
    const l = this.d.sampler.latest() && clusterLeader(this.d.sampler.latest()!);
    return l ? (`order-${l.id}` as ReplicaHost) : 'order-3';
  }

  private async restart(h: ServiceHost): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await this.d.store.procs.restart(h);
        return;
      } catch (err) {
        this.d.note(
          `restart of ${h} failed (attempt ${attempt}): ${(err as Error).message.split('\n')[0]}`,
        );
      }
    }
  }

  private async kill(h: ServiceHost): Promise<Undo> {
    await this.d.store.procs.kill(h, 'SIGKILL');
    return () => this.restart(h);
  }

  private async net(f: NetFault): Promise<Undo> {
    await this.d.firewall.add(f);
    return () => this.d.firewall.remove(f.id);
  }

  /** Delays every proxied link into `l` by `ms`; the undo lets them pass again. */
  private delay(l: ReplicaHost, ms: number): { detail: string; undo: Undo } {
    const links = [...this.d.store.proxies].filter(([k]) => k.endsWith(`->${l}`));
    for (const [, p] of links) p.setMode({ kind: 'delay', ms });
    return {
      detail: `${ms} ms delay on ${links.map(([k]) => k).join(', ')} (fault proxies)`,
      undo: async () => links.forEach(([, p]) => p.setMode(PASS)),
    };
  }
}

/** Sleeps until `now() >= t`; false if aborted first. */
async function sleepUntil(now: () => number, t: number, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted && now() < t) {
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(100, Math.max(1, t - now())),
      );
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  return !signal.aborted;
}
