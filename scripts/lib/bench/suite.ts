/**
 * The run: which clusters start, in what order the scenarios measure on them, and where the
 * results go. Each phase is a method or a function given the suite as its `SuiteContext`
 * (suite-plan.ts); each measurement is `attempt`ed, so one that fails is recorded with its error
 * and the rest still run (a benchmark reports, it does not assert).
 *
 * Phases, in order:
 *   1. the disk's fdatasync rate;
 *   2. the anchors: the bare ceilings (reads) and the etcd cluster (durable writes) (anchors.ts);
 *   3. the default cluster (cache on, the services' default log level): lab sweep, cached GET,
 *      orders next to the bare chain, order reads (pairs.ts), orders against etcd (32 clients,
 *      then 1), 1000 clients, then failover (it kills replicas, so it goes last);
 *   4. a cluster at LOG_LEVEL=warn for the cached GET without request lines (an extra line);
 *   5. the cache-off cluster: lab sweep, uncached GET;
 *   6. catch-up, start-up and group commit, each on clusters of their own (own-clusters.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCluster, type Cluster, type StartClusterOptions } from '../cluster/index.ts';
import { Anchors } from './anchors.ts';
import { fdatasyncRate } from './disk.ts';
import { formatCpu } from './markdown.ts';
import type { BenchOptions, Scenario } from './options.ts';
import {
  buildForRun,
  catchUps,
  groupCommit,
  startups,
  type ProductionBuild,
} from './own-clusters.ts';
import { cachedGet, storeNextToCeilings, uncachedGet } from './pairs.ts';
import { readRss, sampleRss, type Rss } from './procfs.ts';
import { Profiler } from './profiler.ts';
import { commitInfo, machineInfo } from './provenance.ts';
import { RESULTS_FORMAT, type BenchResults, type MeasuredResults } from './results.ts';
import { cannon, mixedRequests } from './scenarios/cannon.ts';
import {
  chainSide,
  comparePairs,
  etcdSide,
  sayComparison,
  storeSide,
} from './scenarios/durable.ts';
import { failover } from './scenarios/failover.ts';
import { LAB_PS, labSweep } from './scenarios/lab.ts';
import { waitForLeader } from './store-probe.ts';
import { MANY, PLANS, type ClusterOptions, type Plan, type SuiteContext } from './suite-plan.ts';
import { evaluateTargets } from './targets.ts';
import { round, tempDir, type Say } from './util.ts';

export class Suite implements SuiteContext {
  readonly results: MeasuredResults;
  readonly plan: Plan;
  readonly profiler: Profiler;
  private readonly clusterEnv: Record<string, string>;
  private readonly dirs: string[] = [];
  /** Clusters running now, so an interrupted run can stop them before removing their dirs. */
  private readonly clusters = new Set<Cluster>();
  private readonly anchors = new Anchors(this);
  private readonly idle: Record<string, Rss> = {};
  private readonly underLoad: Record<string, Rss> = {};
  private readonly started = performance.now();
  private built: Promise<ProductionBuild> | null = null;

  constructor(
    readonly o: BenchOptions,
    readonly say: Say,
  ) {
    this.plan = PLANS[o.quick ? 'quick' : 'full'];
    this.profiler = new Profiler(o.profileDir);
    this.clusterEnv = { LOG_LEVEL: o.logLevel, RESTOCK_INTERVAL_MS: '100' };
    this.results = {
      format: RESULTS_FORMAT,
      generatedAt: new Date().toISOString(),
      mode: o.quick ? 'quick' : 'full',
      argv: o.argv,
      commit: commitInfo(),
      machine: machineInfo(),
      clusterEnv: this.clusterEnv,
      durationS: 0,
      failures: [],
    };
  }

  has(...names: Scenario[]): boolean {
    return names.some((n) => this.o.scenarios.has(n));
  }

  async run(): Promise<BenchResults> {
    const r = this.results;
    this.say(
      `toystore bench (${r.mode}) at ${r.commit.label} on ${r.machine.cpu} x${r.machine.cores}, load ${r.machine.loadAverage1m}`,
    );
    try {
      await this.attempt('disk', () => this.probeDisk());
      await this.anchors.start();
      if (this.has('lab', 'throughput', 'etcd', 'clients', 'failover'))
        await this.attempt('cluster default', () =>
          this.withCluster('default', { CACHE_ENABLED: 'true' }, (c) => this.onDefaultCluster(c)),
        );
      await this.anchors.stopEtcd();
      if (this.has('throughput') && this.o.logLevel !== 'warn')
        await this.attempt('cluster warn', () =>
          this.withCluster('warn', { CACHE_ENABLED: 'true', LOG_LEVEL: 'warn' }, (c) =>
            this.onWarnCluster(c),
          ),
        );
      if (this.has('lab', 'throughput'))
        await this.attempt('cluster cache-off', () =>
          this.withCluster('cache-off', { CACHE_ENABLED: 'false' }, (c) =>
            this.onCacheOffCluster(c),
          ),
        );
      await this.anchors.stop();
      if (Object.keys(this.idle).length) r.memory = { idle: this.idle, underLoad: this.underLoad };
      if (this.has('catchup')) await catchUps(this);
      if (this.has('startup')) await startups(this);
      if (this.has('groupcommit')) await this.attempt('group commit', () => groupCommit(this));
      const profiles = await this.profiler.summarize(this.say);
      if (profiles) r.profiles = profiles;
    } finally {
      await this.anchors.stop();
      await Promise.all(this.dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
    }
    r.durationS = round((performance.now() - this.started) / 1000, 1);
    return { ...r, targets: evaluateTargets(r) };
  }

  /**
   * Ctrl-C: stop what runs (the services flush their files on SIGTERM, so their dirs can only be
   * removed after), remove the temporary dirs (a synthesized 1M-order log is 65 MB).
   */
  async abort(): Promise<void> {
    await Promise.all([...this.clusters].map((c) => c.stop()));
    await this.anchors.stop();
    await Promise.all(
      this.dirs.map((d) => fs.rm(d, { recursive: true, force: true, maxRetries: 3 })),
    );
  }

  // ---------------------------------------------------------------- plumbing (SuiteContext)

  readonly start = async (opts: StartClusterOptions): Promise<Cluster> => {
    const cluster = await startCluster(opts);
    this.clusters.add(cluster);
    const stop = cluster.stop.bind(cluster);
    return Object.assign(cluster, {
      stop: () => stop().finally(() => this.clusters.delete(cluster)),
    });
  };

  async attempt(scenario: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const error = (err as Error).stack ?? String(err);
      this.results.failures.push({ scenario, error });
      this.say(`!! ${scenario} failed: ${error.split('\n').slice(0, 3).join(' | ')}`);
    }
  }

  async newDir(label: string): Promise<string> {
    const d = await tempDir(label);
    this.dirs.push(d);
    return d;
  }

  clusterOptions(env: Record<string, string> = {}, fromStart = false): ClusterOptions {
    return {
      env: { ...this.clusterEnv, ...env, ...this.profiler.env(fromStart) },
      output: () => {},
      readyTimeoutMs: 60_000,
    };
  }

  productionBuild(): Promise<ProductionBuild> {
    this.built ??= buildForRun(this);
    return this.built;
  }

  private async withCluster(
    label: string,
    env: Record<string, string>,
    fn: (c: Cluster) => Promise<void>,
  ): Promise<void> {
    const dataDir = await this.newDir(label);
    const t0 = performance.now();
    const cluster = await this.start({ ...this.clusterOptions(env), dataDir });
    this.profiler.name(label, cluster.pids());
    try {
      await waitForLeader(cluster.urls.frontend, 30_000);
      this.say(
        `cluster ${label} up in ${Math.round(performance.now() - t0)} ms (${cluster.urls.frontend}, data in ${dataDir})`,
      );
      await fn(cluster);
    } finally {
      await cluster.stop();
    }
  }

  private mergePeak(peak: Record<string, Rss>, suffix = ''): void {
    for (const [k0, v] of Object.entries(peak)) {
      const k = k0 + suffix;
      const prev = this.underLoad[k];
      this.underLoad[k] = {
        rssMiB: Math.max(prev?.rssMiB ?? 0, v.rssMiB),
        hwmMiB: Math.max(prev?.hwmMiB ?? 0, v.hwmMiB),
      };
    }
  }

  // ---------------------------------------------------------------- phases

  private async probeDisk(): Promise<void> {
    const dir = await this.newDir('fsync');
    const r = await fdatasyncRate(dir, this.plan.fsyncMs);
    this.results.disk = {
      dir: path.dirname(dir),
      syncsPerSecond: r.syncsPerSecond,
      meanMs: r.meanMs,
    };
    this.say(
      `disk: ${r.syncsPerSecond} fdatasyncs/s (${r.meanMs} ms each) in ${path.dirname(dir)}`,
    );
  }

  private async lab(url: string, cache: 'on' | 'off'): Promise<void> {
    await this.attempt(
      `lab cache ${cache}`,
      async () =>
        void (this.results.lab = [
          ...(this.results.lab ?? []),
          ...(await labSweep(url, cache, LAB_PS, this.plan.labMs, this.say)),
        ]),
    );
  }

  private async onDefaultCluster(cluster: Cluster): Promise<void> {
    for (const [k, pid] of Object.entries(cluster.pids())) {
      const r = pid === null ? null : await readRss(pid);
      if (r) this.idle[k] = r;
    }
    if (this.has('lab')) await this.lab(cluster.urls.frontend, 'on');
    const sampler = sampleRss(() => cluster.pids());
    const { ceilings } = this.anchors;
    if (this.has('throughput') && ceilings) await storeNextToCeilings(this, cluster, ceilings);
    if (this.has('etcd')) await this.attempt('orders against etcd', () => this.durable(cluster));
    if (this.has('clients')) await this.attempt('1000 clients', () => this.manyClients(cluster));
    this.mergePeak(await sampler.stop());
    if (this.has('failover'))
      await this.attempt(
        'failover',
        async () =>
          void (this.results.failover = await failover(cluster, this.plan.kills, this.say)),
      );
  }

  private async durable(cluster: Cluster): Promise<void> {
    const p = this.plan.durable;
    const store = storeSide(cluster.urls.frontend, () => cluster.pids());
    const etcd = this.anchors.etcd ? etcdSide(this.anchors.etcd) : null;
    const d = (this.results.durable ??= {
      etcd: { available: false, reason: 'etcd did not start' },
    });
    this.say(
      `  orders against etcd${etcd ? '' : ' (etcd not measured: the store side only)'}, same client code, ${p.pairs} pair(s)`,
    );
    const wrap = <T>(fn: () => Promise<T>) =>
      this.profiler.window('durable orders 32 clients - toystore', cluster.pids(), fn);
    // The shape's floor beside them: the bare chain, when its servers start.
    let chain: ReturnType<typeof chainSide> | null = null;
    await this.attempt('the bare chain beside etcd', async () => {
      const c = await this.anchors.ensureCeilings();
      chain = chainSide(c.frontend, () => c.pids);
    });
    d.concurrent = await comparePairs(
      p.concurrentClients,
      p.concurrentS,
      p,
      store,
      etcd,
      wrap,
      chain,
    );
    sayComparison(d.concurrent, this.say);
    this.say(
      `    CPU ms per durable order: toystore ${formatCpu(d.concurrent.store.cpuMsPerOk)}; etcd per put ${formatCpu(d.concurrent.etcd?.cpuMsPerOk)}`,
    );
    d.single = await comparePairs(1, p.singleS, p, store, etcd, undefined, chain);
    sayComparison(d.single, this.say);
  }

  private async manyClients(cluster: Cluster): Promise<void> {
    // Each side of every connection is one fd: this process and the frontend need MANY each.
    const fdLimit = Number(this.results.machine.fdLimit);
    if (Number.isFinite(fdLimit) && fdLimit < MANY + 500)
      this.say(
        `  warning: ulimit -n is ${fdLimit}; ${MANY} clients need about ${MANY + 500} per process (raise it: ulimit -n 4096)`,
      );
    const pids = cluster.pids();
    const result = await this.profiler.window(`${MANY} clients - toystore`, pids, () =>
      cannon({
        url: cluster.urls.frontend,
        connections: MANY,
        durationS: this.plan.manyS,
        requests: mixedRequests(),
        okStatuses: [409],
        cpuPids: pids,
      }),
    );
    this.results.manyClients = { connections: MANY, result };
    this.say(
      `  ${MANY} clients: ${result.answersPerSecond} answers/s, ${result.errors} errors, ${result.timeouts} timeouts, p50 ${result.latencyP50Ms} ms, p99 ${result.latencyP99Ms} ms`,
    );
  }

  private async onWarnCluster(cluster: Cluster): Promise<void> {
    const c = await this.anchors.ensureCeilings();
    await this.attempt('throughput cached GET at warn', () =>
      cachedGet(this, 'cached-warn', 'warn', cluster, c),
    );
  }

  private async onCacheOffCluster(cluster: Cluster): Promise<void> {
    if (this.has('lab')) await this.lab(cluster.urls.frontend, 'off');
    if (!this.has('throughput')) return;
    const c = await this.anchors.ensureCeilings();
    const sampler = sampleRss(() => cluster.pids());
    await this.attempt('throughput uncached GET', () => uncachedGet(this, cluster, c));
    // With the cache off the frontend and the catalog work harder per request: shown apart.
    const peak = await sampler.stop();
    this.mergePeak(
      Object.fromEntries(Object.entries(peak).filter(([k]) => k === 'frontend' || k === 'catalog')),
      ' (cache off)',
    );
  }
}
