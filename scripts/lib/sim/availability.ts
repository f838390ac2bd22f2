/**
 * Availability, as a client of one frontend sees it: while a majority of intact replicas that
 * reach each other, the catalog and this frontend has been there, with no fault starting or
 * healing anywhere, for more than a few election timeouts (`graceMs`), an order through this
 * frontend must succeed. (Any fault may take the leader away; what the store owes is a failover
 * within that time, not zero errors.) Today a leader cut from both
 * followers but reachable by the frontend gives 30 s of 503 while a healthy majority idles
 * (issue 9 item 7); this is the rule that sees it.
 *
 * "Intact" means up, not paused, and with a disk no fault has damaged since it was last whole
 * (cluster.ts knows). "Reach" means every message gets through in time: no cut on the link either
 * way, no storm, and a seed whose links lose no messages and are never slower than an RPC timeout
 * (reordered and duplicated messages are fine). Under message loss the rule does not apply: the
 * leader re-sends a purchase whose reply was lost (a third of its 3 s timeout each), but a few
 * lost in a row still end in 503, a weakness of its own, not the one this rule is about. After a
 * storm the rule applies again once it heals (seed 379: a reply lost in a storm used to hold an
 * order 2.76 s past the heal). The state is recomputed on every fault, heal, crash and restart
 * and at every step, so "healthy since" is exact to the event.
 */
import type { SimCluster, SimContext } from './cluster.ts';
import type { Frontend, SimFrontends } from './frontends.ts';
import { CATALOG, QUORUM, REPLICAS } from './options.ts';

export class AvailabilityMonitor {
  /** Frontend node id -> since when it has had a healthy majority (null: not now). */
  private readonly since = new Map<number, number | null>();
  readonly graceMs: number;

  constructor(
    private readonly ctx: SimContext,
    private readonly cluster: SimCluster,
    private readonly frontends: SimFrontends,
  ) {
    this.graceMs = Math.max(2_500, 25 * ctx.config.heartbeatIntervalMs);
  }

  /** Recomputes at a step: a frontend that just became healthy starts its wait. */
  update(): void {
    this.recompute(null);
  }

  /**
   * A fault started or healed, or a process crashed or restarted: the waits start over, of every
   * frontend, or only of `frontend` when the fault concerned that frontend alone.
   */
  onChange(frontend?: number): void {
    this.recompute(frontend ?? 'all');
  }

  private recompute(restart: number | 'all' | null): void {
    const now = this.ctx.clock.now();
    for (const fe of this.frontends.list) {
      const healthy = this.healthyMajority(fe) !== null;
      const was = this.since.get(fe.node.id) ?? null;
      if (!healthy) this.since.set(fe.node.id, null);
      else if (was === null || restart === 'all' || restart === fe.node.id)
        this.since.set(fe.node.id, now);
    }
  }

  /** A healthy majority `fe` reaches right now, or null. */
  healthyMajority(fe: Frontend): number[] | null {
    const { net, catalog } = this.cluster;
    if (!fe.node.up || fe.node.paused || !this.reliable() || net.extraLoss > 0 || !catalog.up)
      return null;
    const linked = (a: number, b: number) => !net.isCut(a, b) && !net.isCut(b, a);
    const usable = REPLICAS.filter(
      (id) => this.cluster.intact(id) && linked(fe.node.id, id) && linked(id, CATALOG),
    );
    for (const group of subsets(usable, QUORUM)) {
      if (group.every((a) => group.every((b) => a === b || linked(a, b)))) return group;
    }
    return null;
  }

  /**
   * The seed's links lose nothing and are never slower than the services' shortest RPC timeout
   * (500 ms). Judged on the seed's configuration, not the healed network: a message lost before
   * the heal still times out seconds after it.
   */
  reliable(): boolean {
    const cfg = this.ctx.config.net;
    return cfg.lossRate === 0 && (cfg.slowRate === 0 || cfg.slowMaxMs < 500);
  }

  /**
   * An order through `fe` that started at `startedAtMs` has just failed with `what`: a violation
   * if a healthy majority was there, all along, from `graceMs` before it started until now.
   */
  onOrderFailed(fe: Frontend, startedAtMs: number, what: string): void {
    this.update();
    const since = this.since.get(fe.node.id) ?? null;
    if (since === null || since > startedAtMs - this.graceMs) return;
    const group = this.healthyMajority(fe)!;
    const now = this.ctx.clock.now();
    this.ctx.checker.fail(
      'unavailable',
      `an order through ${fe.node.name} failed with ${what} after ${(now - startedAtMs).toFixed(0)} ms, though replicas ${group.join(' and ')} (intact, connected, reachable) had been there for ${(now - since).toFixed(0)} ms`,
    );
  }
}

function subsets(items: readonly number[], size: number): number[][] {
  if (size === 0) return [[]];
  const out: number[][] = [];
  items.forEach((x, i) => {
    for (const rest of subsets(items.slice(i + 1), size - 1)) out.push([x, ...rest]);
  });
  return out;
}
