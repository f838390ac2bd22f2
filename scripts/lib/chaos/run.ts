/**
 * The chaos run itself (`scripts/chaos.ts` is its CLI): starts its own store on loopback
 * (temporary data dir, ephemeral ports, every inter-service link routed through an in-process
 * fault proxy), runs retrying clients that record a history, and a nemesis that injects faults on
 * a seeded schedule. Then it heals everything, waits until the three order logs are
 * byte-identical, checks that product reads through the frontend match the catalog, stops the
 * store and runs the consistency checker over the data dir and the history. A run passes only if
 * nothing is violated.
 *
 * Faults (`--faults`, each a kind of step on the schedule; schedule.ts, nemesis.ts):
 *  - `kill`: SIGKILL a process and restart it after the hold: the leader (40% of kills), a
 *    follower (30%), the catalog (15%) or the frontend (15%).
 *  - `pause`: SIGSTOP, then SIGCONT after the hold (the process keeps its sockets and answers
 *    nothing, like a hung machine): leader, follower, catalog or frontend.
 *  - `partition`: sets the fault proxies of some directed links to drop (reset connections),
 *    blackhole (accept, never answer) or delay: leader ↔ one follower (both ways or one way),
 *    frontend → leader, leader isolated from everyone, leader cut from both followers while the
 *    frontend still reaches it, leader → catalog, catalog → frontend (cache invalidations).
 *  - `power`: simulated power loss of a replica (leader half of the time) or the catalog, landed
 *    while it holds unsynced bytes and cut back to what its last fsync covered (power.ts).
 * One fault at a time (held, healed, a quiet gap), or with `overlap` up to three in force at once.
 * The schedule is a pure function of (seed, duration, kinds, overlap). Who "the leader" is, is
 * resolved when the step runs (`GET {frontend}/health` → `data.leaderId`, else the replicas' own
 * status).
 *
 * Everything is loopback, bounded in time (clients stop starting operations at the duration; the
 * catch-up and the cache check have deadlines) and traffic (a closed loop of N clients with a
 * short think time), and every process the tool started is stopped by PID, also on abort (the CLI
 * aborts on SIGINT). Memory is bounded too: the history goes to its file as it is made and is
 * analysed streaming (history-stats.ts).
 *
 * Judging: `checkDataDir` from scripts/lib/check over the stopped store's data dir and the
 * client history (lost / phantom / failed-committed / definite-after-unknown / stale-read /
 * stale-product-read / divergence / stock conservation), plus what only the run can see: logs
 * that do not converge by the deadline, services that cannot be restarted, stale product reads
 * after healing (freshness.ts) and the clients' own read-back mismatches.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  clusterCredential,
  newClusterSecret,
  withClusterCredential,
} from '../../../shared/auth.ts';
import { createPooledHttp } from '../../../shared/http.ts';
import {
  openHistoryFile,
  runClients,
  summarize,
  type HistoryFile,
  type RunResult,
  type RunSummary,
} from '../client/index.ts';
import {
  describeExit,
  REPLICA_IDS,
  SERVICE_NAMES,
  startCluster,
  type Cluster,
} from '../cluster/index.ts';
import type { ChaosOptions } from './args.ts';
import { HistoryAnalyzer } from './history-stats.ts';
import { judge } from './judge.ts';
import { LeaderWatch } from './leader.ts';
import { startLinkMesh, type Link, type LinkMesh } from './links.ts';
import { Nemesis } from './nemesis.ts';
import type { ChaosReport, ChaosViolation, TimelineEvent, TimelineKind } from './report.ts';
import { checkCacheAfterHeal } from './freshness.ts';
import { makeOverlapSchedule, makeSchedule, type FaultStep } from './schedule.ts';
import { sleep } from './sleep.ts';
import { replicaPaths } from '../../../shared/data-dir.ts';

/**
 * Runs one chaos experiment and returns its report. Throws only when the store cannot start or
 * the run directory cannot be made; everything the store does wrong is in the report.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const runDir = await fs.mkdtemp(path.join(opts.tmpRoot ?? os.tmpdir(), 'toystore-chaos-'));
  return new ChaosRun(opts, runDir).run();
}

/** One run's state; `run` goes through the phases in order, each a method. */
class ChaosRun {
  private readonly signal: AbortSignal | undefined;
  private readonly dataDir: string;
  private readonly historyPath: string;
  private readonly servicesLog: WriteStream;
  private readonly schedule: FaultStep[];
  /** The store's secret for this run: the tool's own calls to internal routes carry it. */
  private readonly clusterSecret = newClusterSecret();
  private readonly http = withClusterCredential(
    createPooledHttp({ connectionsPerOrigin: 4 }),
    clusterCredential(this.clusterSecret),
  );
  private t0 = performance.now();
  private started = false;
  private readonly timeline: TimelineEvent[] = [];
  private readonly unexpectedExits: string[] = [];
  private readonly violations: ChaosViolation[] = [];
  private readonly analyzer = new HistoryAnalyzer();
  private readonly recent: string[] = [];
  private client: RunSummary | null = null;
  private convergedAfterMs: number | null = null;
  private cacheFreshAfterMs: number | null = null;
  private checkerSummary: string | null = null;
  private mesh: LinkMesh | null = null;
  private linkConnections: Record<Link, number> | null = null;
  private cluster: Cluster | null = null;
  private leader: LeaderWatch | null = null;
  private nemesis: Nemesis | null = null;
  private history: HistoryFile | null = null;
  private healed: Promise<void> | null = null;

  constructor(
    private readonly opts: ChaosOptions,
    private readonly runDir: string,
  ) {
    this.signal = opts.signal;
    this.dataDir = path.join(runDir, 'data');
    this.historyPath = path.join(runDir, 'history.jsonl');
    this.servicesLog = createWriteStream(path.join(runDir, 'services.log'));
    this.schedule = opts.overlap
      ? makeOverlapSchedule(opts.seed, opts.durationMs, opts.faults, opts.overlapTiming)
      : makeSchedule(opts.seed, opts.durationMs, opts.faults, opts.timing);
  }

  private readonly note = (kind: TimelineKind, text: string): void => {
    const e: TimelineEvent = {
      timeMs: Math.round(performance.now() - this.t0),
      kind,
      text,
      ...(!this.started && { setup: true }),
    };
    this.timeline.push(e);
    try {
      this.opts.onEvent?.(e);
    } catch {
      // a throwing printer must not stop the run
    }
  };

  private get aborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  async run(): Promise<ChaosReport> {
    try {
      const c = await this.startStore();
      this.leader = new LeaderWatch(this.http, c, this.note, this.signal);
      this.leader.start();
      if ((await this.leader.waitFor(30_000)) === null)
        throw new Error(`no leader was elected within 30 s\n${this.recent.join('\n')}`);
      this.nemesis = new Nemesis(c, this.mesh!, this.leader, this.note, this.signal);
      await this.traffic(c);
      if (!this.aborted) await this.converge(c);
      if (!this.aborted) await this.checkCache(c);
      await this.leader.stop();
      this.note('phase', 'stopping the store');
      await c.stop();
      if (!this.aborted) await this.judge();
    } finally {
      await this.cleanUp();
    }
    return this.report();
  }

  private async startStore(): Promise<Cluster> {
    this.mesh = await startLinkMesh();
    const m = this.mesh;
    const power = this.opts.faults.includes('power');
    this.note(
      'phase',
      `starting the store in ${this.dataDir}${this.opts.builtDir ? ` from the build in ${this.opts.builtDir}` : ''}${power ? ' (TRACK_FSYNC_OFFSETS=true)' : ''}`,
    );
    this.cluster = await startCluster({
      dataDir: this.dataDir,
      builtDir: this.opts.builtDir,
      clusterSecret: this.clusterSecret,
      env: { ...this.opts.env, ...(power && { TRACK_FSYNC_OFFSETS: 'true' }) },
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      restockIntervalMs: this.opts.restockIntervalMs ?? 2_000,
      links: (from, to, realUrl) => m.resolve(from, to, realUrl),
      output: (service, line) => {
        this.servicesLog.write(`[${service}] ${line}\n`);
        this.recent.push(`[${service}] ${line}`);
        if (this.recent.length > 50) this.recent.shift();
      },
      onExit: (info) => {
        if (info.expected) return;
        const text = `${info.service} (pid ${info.pid}) exited unexpectedly (${describeExit(info)})`;
        this.unexpectedExits.push(text);
        this.note('exit', text);
      },
    });
    const c = this.cluster;
    this.note(
      'phase',
      `store up: frontend ${c.urls.frontend}, pids ${SERVICE_NAMES.map((s) => `${s} ${c.pids()[s]}`).join(', ')}`,
    );
    return c;
  }

  /** The clients' clock starts here; setup events are re-timed to it (negative). */
  private startClock(): void {
    const setupStart = this.t0;
    this.t0 = performance.now();
    this.started = true;
    this.leader!.started = true;
    for (const e of this.timeline) if (e.setup) e.timeMs -= Math.round(this.t0 - setupStart);
  }

  /** Stops the nemesis, heals everything and waits for a leader; once, whoever asks first. */
  private heal(): Promise<void> {
    this.healed ??= (async () => {
      this.note('phase', 'healing everything');
      await this.nemesis!.stop();
      await this.nemesis!.healAll(this.violations);
      if (!this.aborted && (await this.leader!.waitFor(30_000)) === null)
        this.note('note', 'no leader 30 s after healing');
    })();
    return this.healed;
  }

  /** Clients and nemesis together for the duration, then heal, then the clients' read-back. */
  private async traffic(c: Cluster): Promise<void> {
    this.history = await openHistoryFile(this.historyPath);
    const h = this.history;
    const clientsStop = new AbortController();
    this.signal?.addEventListener('abort', () => clientsStop.abort(), { once: true });
    this.startClock();
    this.note(
      'phase',
      `clients start: ${this.opts.clients} clients for ${this.opts.durationMs / 1000} s; ${this.schedule.length} faults scheduled`,
    );
    this.nemesis!.start(this.schedule, this.t0, this.opts.overlap ?? false);
    const durationTimer = setTimeout(() => void this.heal(), this.opts.durationMs);
    let result: RunResult;
    try {
      result = await runClients({
        baseUrl: c.urls.frontend,
        clients: this.opts.clients,
        durationMs: this.opts.durationMs,
        signal: clientsStop.signal,
        p: this.opts.p ?? 0.5,
        seed: this.opts.seed,
        thinkMs: this.opts.thinkMs ?? 10,
        timeoutMs: 3_000,
        retry: { retries: 10, minTimeout: 100, factor: 2, maxTimeout: 1_000 },
        timeOrigin: this.t0,
        history: (e) => {
          this.analyzer.add(e);
          h.write(e);
        },
        skipReadBack: () => this.aborted,
        beforeReadBack: async () => {
          this.note('phase', 'clients done; read-back after healing');
          await this.heal();
        },
      });
    } finally {
      clearTimeout(durationTimer);
      await this.heal();
    }
    this.client = summarize(result);
    for (const mm of result.mismatches)
      this.violations.push({ source: 'client', kind: mm.kind, message: mm.message });
    // The client's own store violations (definite-after-unknown) are in the history with their
    // attempts: the checker reports each once, with its evidence.
    if (result.storeViolationCount > 0)
      this.note(
        'note',
        `the clients saw ${result.storeViolationCount} definite answers after an unknown outcome (judged by the checker)`,
      );
    await this.history.close();
    this.history = null;
  }

  /** Waits until the three order logs are byte-identical, or the deadline. */
  private async converge(c: Cluster): Promise<void> {
    const healedAt = performance.now();
    const timeoutMs = this.opts.convergeTimeoutMs ?? 30_000;
    const logFiles = REPLICA_IDS.map((id) => replicaPaths(c.dataDir, id).log);
    for (;;) {
      const files = await Promise.all(logFiles.map((f) => fs.readFile(f).catch(() => null)));
      if (files.every((f) => f?.equals(files[0]!))) {
        this.convergedAfterMs = Math.round(performance.now() - healedAt);
        this.note(
          'phase',
          `order logs identical (${files[0]!.length} bytes) after ${this.convergedAfterMs} ms`,
        );
        return;
      }
      if (performance.now() > healedAt + timeoutMs || this.aborted) {
        const sizes = files.map((f, i) => `order-${i + 1} ${f?.length ?? 'missing'}`).join(', ');
        this.violations.push({
          source: 'converge',
          kind: 'divergence',
          message: `order logs not identical ${timeoutMs} ms after healing (${sizes} bytes)`,
        });
        this.note('phase', `order logs did not converge (${sizes} bytes)`);
        return;
      }
      await sleep(100, this.signal);
    }
  }

  /** Product reads through the frontend match the catalog once healed (freshness.ts). */
  private async checkCache(c: Cluster): Promise<void> {
    const fresh = await checkCacheAfterHeal(this.http, c.urls, this.signal);
    this.cacheFreshAfterMs = fresh.freshAfterMs;
    this.violations.push(...fresh.violations);
    if (fresh.freshAfterMs !== null)
      this.note(
        'phase',
        `every product read through the frontend matches the catalog (${fresh.toys} toys, after ${fresh.freshAfterMs} ms)`,
      );
    else
      this.note(
        'phase',
        `stale product reads through the frontend after healing: ${fresh.violations.length} toys`,
      );
  }

  private async judge(): Promise<void> {
    const judged = await judge(this.dataDir, this.historyPath);
    this.checkerSummary = judged.summary;
    this.violations.push(...judged.violations);
  }

  private async cleanUp(): Promise<void> {
    await this.leader?.stop();
    if (this.cluster) {
      for (const s of this.nemesis?.paused ?? [])
        if (this.cluster.isRunning(s)) await this.cluster.resume(s).catch(() => {});
      await this.cluster.stop();
    }
    this.linkConnections = this.mesh?.connections() ?? null;
    await this.mesh?.close();
    await this.history?.close().catch(() => {});
    await this.http.close();
    await new Promise<void>((r) => this.servicesLog.end(() => r()));
    if (!this.opts.keep) await fs.rm(this.runDir, { recursive: true, force: true });
  }

  private report(): ChaosReport {
    const stats = this.analyzer.stats();
    return {
      seed: this.opts.seed,
      durationMs: this.opts.durationMs,
      clients: this.opts.clients,
      faults: [...this.opts.faults],
      dir: this.opts.keep ? this.runDir : null,
      schedule: this.schedule,
      ops: stats.ops,
      opsByF: stats.byF,
      overlap: this.opts.overlap ?? false,
      maxConcurrentFaults: this.nemesis?.maxActive ?? 0,
      faultsInjected: this.nemesis?.injected ?? { kill: 0, pause: 0, partition: 0, power: 0 },
      powerCuts: (this.nemesis?.powerCuts ?? []).map(
        ({ service, tries, unsyncedAtKill, wrote, removedBytes }) => ({
          service,
          tries,
          unsyncedAtKill,
          wrote,
          removedBytes,
        }),
      ),
      cacheFreshAfterMs: this.cacheFreshAfterMs,
      leaderChanges: this.leader?.changes ?? 0,
      p99OrderMs: stats.p99OrderMs,
      longestStallMs: stats.longestStallMs,
      longestStallAtMs: stats.longestStallAtMs,
      linkConnections: this.linkConnections,
      unexpectedExits: this.unexpectedExits,
      convergedAfterMs: this.convergedAfterMs,
      checkerSummary: this.checkerSummary,
      violations: this.violations,
      timeline: this.timeline,
      client: this.client,
      interrupted: this.aborted,
    };
  }
}
