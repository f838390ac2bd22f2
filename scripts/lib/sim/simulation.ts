/**
 * One seeded, deterministic simulation run of the order replication core (VOPR / FoundationDB
 * style): three real `Replica`s (order/replica.ts, behind order/app.ts) and the real frontend
 * router (frontend/order-router.ts, which elects through frontend/election.ts), with the real
 * catalog (catalog.ts: store, app, restocker) doing the leaders' purchases, fences and
 * reconciliations, in one process, over a simulated network that dispatches through the apps
 * (network.ts), simulated disks (disk.ts) and one `ManualClock`, with faults on a schedule drawn
 * from the seed (faults.ts), clients (workload.ts), and the invariant checkers run after every
 * step: replication (checker.ts), stock (stock.ts), availability (availability.ts).
 *
 * A run, in phases: pick a configuration from the seed (heartbeat, batch size, network and disk
 * behaviour, fault and workload rates); then `steps` steps, each = maybe start client operations,
 * maybe inject a fault, advance the clock by 1..25 ms (ManualClock.advance fires due timers in
 * order and drains promise callbacks between them), check. Then heal everything (restart, resume,
 * reconnect, no more loss or duplication), stop new client work, place one last order through the
 * router (it must succeed, within a few election timeouts if the network is reliable), and run
 * until the cluster has a leader, every client operation has settled and all logs are identical;
 * wait until the leader has accounted for every pending catalog purchase; run the end checks.
 *
 * Frontends. One router, or (a quarter of the seeds) two routers electing and routing at once, as
 * the README allows ("a restarted frontend, or a second one").
 *
 * Determinism: every random draw comes from `Rng(seed)` (forked per subsystem), every timer runs
 * on the ManualClock, nothing touches real time or I/O, so a seed replays the same trace
 * (`traceHash`).
 */
import { ManualClock } from '../../../shared/clock.ts';
import { AppError } from '../../../shared/errors.ts';
import { AvailabilityMonitor } from './availability.ts';
import { Checker } from './checker.ts';
import { SimCluster, type SimContext } from './cluster.ts';
import { FaultInjector } from './faults.ts';
import { SimFrontends } from './frontends.ts';
import {
  pickConfig,
  QUORUM,
  REPLICAS,
  RETRYABLE,
  type SimOptions,
  type SimResult,
} from './options.ts';
import { Rng } from '../rng/rng.ts';
import { StockChecker } from './stock.ts';
import { Trace } from './trace.ts';
import { Workload } from './workload.ts';

export { describeFailure } from './report.ts';
export type { SimConfig, SimMode, SimOptions, SimResult } from './options.ts';

/** Everything one run holds; the phases below drive it. */
class Run {
  readonly ctx: SimContext;
  readonly trace: Trace;
  readonly cluster: SimCluster;
  readonly frontends: SimFrontends;
  readonly workload: Workload;
  readonly faults: FaultInjector;
  readonly stock: StockChecker;
  readonly availability: AvailabilityMonitor;
  private readonly faultRng: Rng;
  private readonly stepRng: Rng;
  stepNo = 0;
  healSteps = 0;

  constructor(
    readonly opts: SimOptions,
    readonly seed: number,
    readonly steps: number,
    readonly maxHealSteps: number,
  ) {
    const root = new Rng(seed);
    const config = pickConfig(root.fork());
    const netRng = root.fork();
    const diskRng = root.fork();
    this.faultRng = root.fork();
    const workRng = root.fork();
    this.stepRng = root.fork();
    const clock = new ManualClock();
    this.trace = new Trace(() => clock.now(), { keepAll: opts.keepTrace });
    const checker = new Checker(QUORUM, () => clock.now(), {
      checkDurableQuorum: opts.checkDurableQuorum,
      tolerate: opts.tolerate,
    });
    this.ctx = { clock, trace: (line) => this.trace.add(line), checker, config, opts };
    this.cluster = new SimCluster(this.ctx, netRng, diskRng);
    this.cluster.net.onDuplicate = (req) => {
      const body = req.body as { key?: unknown; orders?: Array<{ key?: unknown }> } | undefined;
      const keys = req.url.endsWith('/orders')
        ? [body?.key]
        : req.url.endsWith('/orders/batch')
          ? (body?.orders ?? []).map((o) => o.key)
          : [];
      for (const key of keys) if (typeof key === 'string') checker.duplicatedKeys.add(key);
    };
    this.cluster.bootAll();
    this.stock = new StockChecker(checker, this.cluster.catalog);
    this.frontends = new SimFrontends(this.ctx, this.cluster);
    this.availability = new AvailabilityMonitor(this.ctx, this.cluster, this.frontends);
    this.workload = new Workload(
      this.ctx,
      this.cluster,
      this.frontends,
      this.availability,
      workRng,
    );
    this.faults = new FaultInjector(
      this.ctx,
      this.cluster,
      this.frontends,
      this.workload,
      this.faultRng,
      opts.mode ?? 'majority',
      (fe) => this.availability.onChange(fe),
    );
    this.availability.update();
  }

  serverErrors = 0;

  onConsoleError(args: unknown[]): void {
    this.serverErrors++;
    const text = args
      .map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a)))
      .join(' ');
    this.ctx.trace(`console.error: ${text}`);
  }

  get checker(): Checker {
    return this.ctx.checker;
  }

  check(): void {
    const { checker } = this;
    checker.step = this.stepNo;
    const snaps = this.cluster.snapshots();
    checker.checkStep(snaps);
    this.stock.step();
    this.cluster.checkFailStop();
    this.cluster.checkRepairs();
    this.availability.update();
    if (this.stepNo % 25 === 0) checker.checkWellFormed(snaps);
  }

  /** Phase 1: the faulty steps. */
  async runSteps(): Promise<void> {
    for (; this.stepNo < this.steps && this.checker.ok; this.stepNo++) {
      this.checker.step = this.stepNo;
      this.workload.step();
      if (this.faultRng.chance(this.ctx.config.faultRate)) this.faults.inject();
      await this.ctx.clock.advance(this.stepRng.int(1, 25));
      this.check();
    }
  }

  /**
   * Every frontend routes to a replica that leads its epoch, no client work is pending, logs are
   * identical.
   */
  converged(): boolean {
    if (this.workload.pending.size) return false;
    for (const fe of this.frontends.list) {
      const view = fe.router.view();
      if (view.leaderId === null) return false;
      const leader = this.cluster.replicas.get(view.leaderId);
      if (!leader || leader.status().leaderEpoch !== view.epoch) return false;
    }
    return this.cluster.logsIdentical();
  }

  /** Runs healed steps until `done`, or records a liveness failure after maxHealSteps. */
  async settle(what: string, done: () => boolean): Promise<void> {
    while (this.checker.ok && !done()) {
      if (this.healSteps >= this.maxHealSteps) {
        const leaders = this.frontends.list
          .map((f) => `${f.node.name} routes to ${f.router.view().leaderId}`)
          .join(', ');
        this.checker.fail(
          'liveness',
          `${what} did not happen within ${this.maxHealSteps} steps after healing (${this.workload.pending.size} client operations pending; ${leaders}; ${this.cluster.describeReplicas().join('; ')})`,
        );
        return;
      }
      this.healSteps++;
      this.stepNo++;
      await this.ctx.clock.advance(this.stepRng.int(5, 25));
      this.check();
    }
  }

  /**
   * Right after healing: the cluster must take an order (a client retries 503/504 answers, as told
   * to).
   */
  async finalOrder(): Promise<void> {
    let final: 'pending' | 'ok' | 'failed' = 'pending';
    const { workload, checker } = this;
    const op = workload.nextOp();
    workload.pending.set(op, this.frontends.primary().tag);
    const place = async (): Promise<void> => {
      for (;;) {
        const startedAt = this.ctx.clock.now();
        try {
          const res = await this.frontends
            .primary()
            .router.placeOrder({ name: 'Tux', quantity: 1 });
          final = 'ok';
          workload.ack({ orderNumber: res.order_number, name: 'Tux', quantity: 1, by: 'client' });
          return;
        } catch (err) {
          if (!(err instanceof AppError && RETRYABLE.has(err.reason))) {
            final = 'failed';
            checker.fail(
              'liveness',
              `the healed cluster refused an order: ${(err as Error).message}`,
            );
            return;
          }
          this.ctx.trace(`final order: ${err.reason}; retrying`);
          this.availability.onOrderFailed(
            this.frontends.primary(),
            startedAt,
            `${err.status} ${err.reason}`,
          );
          await workload.clientClock.sleep(100);
        }
      }
    };
    void place().finally(() => workload.pending.delete(op));
    await this.settle('the final order', () => final !== 'pending');
  }

  /**
   * Phases 2-4: heal, one more order, converge, let the leader account for every pending purchase,
   * end checks.
   */
  async healAndFinish(): Promise<void> {
    this.faults.healAll();
    this.workload.accepting = false;
    // The healed store must take an order within a failover or two (the availability rule
    // applies from the heal on), while it also converges.
    await this.finalOrder();
    if (this.checker.ok) await this.settle('convergence', () => this.converged());
    if (this.checker.ok)
      await this.settle(
        'accounting for every catalog purchase',
        () => this.stock.pendingCount() === 0 && this.converged(),
      );
    if (this.checker.ok) {
      this.checker.step = this.stepNo;
      const snaps = this.cluster.snapshots();
      this.checker.checkWellFormed(snaps);
      this.checker.checkEnd(snaps);
      this.stock.end(this.cluster.visibleLog(REPLICAS[0]!) ?? []);
    }
  }

  result(): SimResult {
    const { checker, cluster, workload } = this;
    const finalLog = cluster.visibleLog(REPLICAS[0]!) ?? [];
    return {
      seed: this.seed,
      mode: this.opts.mode ?? 'majority',
      steps: this.steps,
      ok: checker.ok,
      violations: checker.violations,
      failedStep: checker.violations[0]?.step ?? null,
      traceHash: this.trace.digest(),
      traceTail: this.trace.tail(80),
      trace: this.trace.all,
      simMs: this.ctx.clock.now(),
      config: this.ctx.config,
      stats: {
        faults: this.faults.stats,
        net: cluster.net.stats,
        epochs: checker.leaders.size,
        ordersAcked: workload.acked,
        ordersRefused: workload.refused,
        ordersFailed: workload.failed,
        ordersUnknown: workload.unknown,
        reads: workload.reads,
        finalLogLength: finalLog.length,
        healSteps: this.healSteps,
        serverErrors: this.serverErrors,
        detections: { ...cluster.detections },
        tolerated: { ...checker.tolerated },
      },
    };
  }
}

export async function runSimulation(opts: SimOptions): Promise<SimResult> {
  const run = new Run(opts, opts.seed >>> 0, opts.steps ?? 300, opts.maxHealSteps ?? 3_000);
  const onUnhandled = (reason: unknown) =>
    run.checker.fail('unhandled-rejection', String((reason as Error)?.stack ?? reason));
  process.on('unhandledRejection', onUnhandled);
  // A service's console.error (an unhandled error answered with a 500) goes to the trace, not to
  // the terminal of whoever runs the simulator.
  const consoleError = console.error;
  console.error = (...args: unknown[]) => run.onConsoleError(args);
  try {
    await run.runSteps();
    if (run.checker.ok) await run.healAndFinish();
  } catch (err) {
    run.checker.fail('harness-error', String((err as Error)?.stack ?? err));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    console.error = consoleError;
    run.frontends.stopAll();
  }
  return run.result();
}
