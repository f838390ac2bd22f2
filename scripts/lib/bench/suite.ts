/**
 * The run: which clusters start, in what order the scenarios measure on them, and where the
 * results go. Each phase is a method; each measurement is `attempt`ed, so one that fails is
 * recorded with its error and the rest still run (a benchmark reports, it does not assert).
 *
 * Phases, in order:
 *   1. the disk's fdatasync rate;
 *   2. the anchors: the bare ceilings (reads) and the etcd cluster (durable writes);
 *   3. the default cluster (cache on, the services' default log level): lab sweep, cached GET,
 *      orders next to the bare chain, order reads, orders against etcd (32 clients, then 1),
 *      1000 clients, then failover (it kills replicas, so it goes last);
 *   4. a cluster at LOG_LEVEL=warn for the cached GET without request lines (an extra line);
 *   5. the cache-off cluster: lab sweep, uncached GET;
 *   6. catch-up, start-up and group commit, each on clusters of their own.
 */
import { build } from '../build/build.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCluster, type Cluster, type StartClusterOptions } from '../cluster/index.ts';
import { startCeilings, type Ceilings } from './ceilings.ts';
import { fdatasyncRate } from './disk.ts';
import { findEtcd, startEtcdCluster, type EtcdCluster } from './etcd.ts';
import type { BenchOptions, Scenario } from './options.ts';
import { readRss, sampleRss, type Pids, type Rss } from './procfs.ts';
import { Profiler } from './profiler.ts';
import { commitInfo, machineInfo } from './provenance.ts';
import {
  RESULTS_FORMAT,
  type BenchResults,
  type MeasuredResults,
  type PairKey,
  type ThroughputPair,
} from './results.ts';
import {
  cannon,
  TUX_PATH,
  mixedRequests,
  orderReadRequests,
  orderRequests,
  type CannonResult,
} from './scenarios/cannon.ts';
import { catchUp, catchUpCases } from './scenarios/catchup.ts';
import {
  comparePairs,
  etcdSide,
  sayComparison,
  storeSide,
  type DurablePlan,
  type EtcdInfo,
} from './scenarios/durable.ts';
import { failover } from './scenarios/failover.ts';
import { measureGroupCommit } from './scenarios/group-commit.ts';
import { LAB_PS, labSweep } from './scenarios/lab.ts';
import { startup } from './scenarios/startup.ts';
import { placeOrders, waitForLeader } from './store-probe.ts';
import { evaluateTargets } from './targets.ts';
import { formatCpu } from './markdown.ts';
import { median, round, tempDir, type Say } from './util.ts';

interface Plan {
  labMs: number;
  cannonS: number;
  warmupS: number;
  rounds: number;
  manyS: number;
  kills: number;
  fsyncMs: number;
  durable: DurablePlan;
}

const PLANS: Record<'quick' | 'full', Plan> = {
  quick: {
    labMs: 700,
    cannonS: 2,
    warmupS: 0.5,
    rounds: 1,
    manyS: 8,
    kills: 2,
    fsyncMs: 1_000,
    durable: { pairs: 1, concurrentClients: 32, concurrentS: 2, singleS: 1, warmupS: 0.3 },
  },
  full: {
    labMs: 10_000,
    cannonS: 10,
    warmupS: 2,
    rounds: 3,
    manyS: 30,
    kills: 10,
    fsyncMs: 2_000,
    durable: { pairs: 3, concurrentClients: 32, concurrentS: 6, singleS: 3, warmupS: 1 },
  },
};
const MANY = 1000;
/** Orders placed before the order-read runs, so each read finds one. */
const ORDERS_TO_READ = 200;

interface Runner {
  pids: Pids;
  run: () => Promise<CannonResult>;
}

export class Suite {
  readonly results: MeasuredResults;
  private readonly plan: Plan;
  private readonly profiler: Profiler;
  private readonly clusterEnv: Record<string, string>;
  private readonly dirs: string[] = [];
  /** Clusters running now, so an interrupted run can stop them before removing their dirs. */
  private readonly clusters = new Set<Cluster>();
  private ceilings: Ceilings | null = null;
  private etcd: EtcdCluster | null = null;
  private readonly idle: Record<string, Rss> = {};
  private readonly underLoad: Record<string, Rss> = {};
  private readonly started = performance.now();

  constructor(
    private readonly o: BenchOptions,
    private readonly say: Say,
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

  private has(...names: Scenario[]): boolean {
    return names.some((n) => this.o.scenarios.has(n));
  }

  async run(): Promise<BenchResults> {
    const r = this.results;
    this.say(
      `toystore bench (${r.mode}) at ${r.commit.label} on ${r.machine.cpu} x${r.machine.cores}, load ${r.machine.loadAverage1m}`,
    );
    try {
      await this.attempt('disk', () => this.probeDisk());
      await this.startAnchors();
      if (this.has('lab', 'throughput', 'etcd', 'clients', 'failover'))
        await this.attempt('cluster default', () =>
          this.withCluster('default', { CACHE_ENABLED: 'true' }, (c) => this.onDefaultCluster(c)),
        );
      await this.stopEtcd();
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
      await this.stopAnchors();
      if (Object.keys(this.idle).length) r.memory = { idle: this.idle, underLoad: this.underLoad };
      if (this.has('catchup')) await this.catchUps();
      if (this.has('startup')) await this.startups();
      if (this.has('groupcommit')) await this.attempt('group commit', () => this.groupCommit());
      const profiles = await this.profiler.summarize(this.say);
      if (profiles) r.profiles = profiles;
    } finally {
      await this.stopAnchors();
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
    await this.stopAnchors();
    await Promise.all(
      this.dirs.map((d) => fs.rm(d, { recursive: true, force: true, maxRetries: 3 })),
    );
  }

  // ---------------------------------------------------------------- plumbing

  /** startCluster, tracked for `abort`. */
  private readonly start = async (opts: StartClusterOptions): Promise<Cluster> => {
    const cluster = await startCluster(opts);
    this.clusters.add(cluster);
    const stop = cluster.stop.bind(cluster);
    return Object.assign(cluster, {
      stop: () => stop().finally(() => this.clusters.delete(cluster)),
    });
  };

  private async attempt(scenario: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const error = (err as Error).stack ?? String(err);
      this.results.failures.push({ scenario, error });
      this.say(`!! ${scenario} failed: ${error.split('\n').slice(0, 3).join(' | ')}`);
    }
  }

  private async newDir(label: string): Promise<string> {
    const d = await tempDir(label);
    this.dirs.push(d);
    return d;
  }

  private clusterOptions(
    env: Record<string, string> = {},
    fromStart = false,
  ): Omit<StartClusterOptions, 'dataDir'> & { env: Record<string, string> } {
    return {
      env: { ...this.clusterEnv, ...env, ...this.profiler.env(fromStart) },
      output: () => {},
      readyTimeoutMs: 60_000,
    };
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

  private get load() {
    return {
      connections: this.o.connections,
      durationS: this.plan.cannonS,
      warmupS: this.plan.warmupS,
    };
  }

  /** Alternates ceiling and store runs (ceiling first) and keeps the median of each. */
  private async pairRuns(
    key: PairKey,
    name: string,
    ceilingName: string,
    logLevel: string,
    ceiling: Runner,
    store: Runner,
  ): Promise<void> {
    const rounds: ThroughputPair['rounds'] = [];
    for (let i = 0; i < this.plan.rounds; i++) {
      const first = i === 0;
      const c = first
        ? await this.profiler.window(`${name} - ${ceilingName}`, ceiling.pids, ceiling.run)
        : await ceiling.run();
      const s = first
        ? await this.profiler.window(`${name} - toystore`, store.pids, store.run)
        : await store.run();
      rounds.push({ ceiling: c, store: s });
    }
    const s = median(rounds.map((r) => r.store.okPerSecond));
    const c = median(rounds.map((r) => r.ceiling.okPerSecond));
    const pair: ThroughputPair = {
      key,
      name,
      ceilingName,
      logLevel,
      store: s,
      ceiling: c,
      ratio: c > 0 ? round(s / c, 3) : 0,
      rounds,
    };
    this.say(
      `  ${name} at ${logLevel}: ${s} req/s vs ${ceilingName} ${c} req/s = ${(pair.ratio * 100).toFixed(1)} %`,
    );
    const last = rounds[rounds.length - 1]!;
    this.say(
      `    CPU ms per request: toystore ${formatCpu(last.store.cpuMsPerRequest)}; ceiling ${formatCpu(last.ceiling.cpuMsPerRequest)}`,
    );
    (this.results.throughput ??= []).push(pair);
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

  private async startAnchors(): Promise<void> {
    if (this.has('throughput')) {
      await this.attempt('ceilings', async () => {
        this.ceilings = await startCeilings(this.profiler.env());
        this.profiler.name('ceiling', this.ceilings.pids);
        this.say(`ceilings up: origin ${this.ceilings.origin}, frontend ${this.ceilings.frontend}`);
      });
    }
    if (this.has('etcd')) await this.attempt('etcd', () => this.startEtcd());
  }

  private async startEtcd(): Promise<void> {
    const bin = findEtcd();
    if (!bin) {
      const info: EtcdInfo = {
        available: false,
        reason: 'etcd is not installed (no etcd on PATH, no ETCD_BIN)',
      };
      this.results.durable = { etcd: info };
      this.say(
        `etcd: not found, so the etcd targets are not measured (the store side still is). Debian: sudo apt-get install etcd-server`,
      );
      return;
    }
    const t0 = performance.now();
    try {
      this.etcd = await startEtcdCluster(bin, await this.newDir('etcd'));
    } catch (err) {
      this.results.durable = {
        etcd: {
          available: false,
          reason: `etcd ${bin.version} (${bin.path}) did not start: ${(err as Error).message.split('\n')[0]}`,
        },
      };
      throw err;
    }
    const e = this.etcd;
    this.results.durable = {
      etcd: {
        available: true,
        version: e.version,
        binary: bin.path,
        leader: e.leaderName,
        members: e.clientUrls,
      },
    };
    this.say(
      `etcd ${e.version} up in ${Math.round(performance.now() - t0)} ms: 3 members, leader ${e.leaderName} at ${e.leaderUrl}`,
    );
  }

  private async stopEtcd(): Promise<void> {
    const e = this.etcd;
    this.etcd = null;
    await e?.stop();
  }

  private async stopAnchors(): Promise<void> {
    const c = this.ceilings;
    this.ceilings = null;
    await Promise.all([c?.stop(), this.stopEtcd()]);
  }

  private async onDefaultCluster(cluster: Cluster): Promise<void> {
    for (const [k, pid] of Object.entries(cluster.pids())) {
      const r = pid === null ? null : await readRss(pid);
      if (r) this.idle[k] = r;
    }
    const url = cluster.urls.frontend;
    if (this.has('lab'))
      await this.attempt(
        'lab cache on',
        async () =>
          void (this.results.lab = [
            ...(this.results.lab ?? []),
            ...(await labSweep(url, 'on', LAB_PS, this.plan.labMs, this.say)),
          ]),
      );
    const sampler = sampleRss(() => cluster.pids());
    if (this.has('throughput') && this.ceilings)
      await this.storeNextToCeilings(cluster, this.ceilings);
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

  private async storeNextToCeilings(cluster: Cluster, c: Ceilings): Promise<void> {
    const url = cluster.urls.frontend;
    const level = this.o.logLevel;
    const pids = () => cluster.pids();
    await this.attempt('throughput cached GET', () =>
      this.pairRuns(
        'cached',
        'cached GET /products/:name',
        'bare Hono',
        level,
        {
          pids: { origin: c.pids.origin },
          run: () =>
            cannon({
              ...this.load,
              url: c.origin,
              path: TUX_PATH,
              cpuPids: { origin: c.pids.origin },
            }),
        },
        { pids: pids(), run: () => cannon({ ...this.load, url, path: TUX_PATH, cpuPids: pids() }) },
      ),
    );
    await this.attempt('throughput orders', () =>
      this.pairRuns(
        'orders-chain',
        'POST /orders',
        'bare three-hop chain',
        level,
        {
          pids: c.pids,
          run: () =>
            cannon({ ...this.load, url: c.frontend, requests: orderRequests(), cpuPids: c.pids }),
        },
        {
          pids: pids(),
          run: () =>
            cannon({
              ...this.load,
              url,
              requests: orderRequests(),
              okStatuses: [409],
              cpuPids: pids(),
            }),
        },
      ),
    );
    await this.attempt('throughput order reads', async () => {
      const numbers = await placeOrders(url, ORDERS_TO_READ);
      const hops = { frontend: c.pids.frontend, order: c.pids.order };
      const storePids = () => ({
        frontend: cluster.pids().frontend,
        ...Object.fromEntries(
          Object.entries(cluster.pids()).filter(([k]) => k.startsWith('order-')),
        ),
      });
      await this.pairRuns(
        'order-reads',
        'GET /orders/:n',
        'bare two-hop',
        level,
        {
          pids: hops,
          run: () =>
            cannon({
              ...this.load,
              url: c.frontend,
              requests: orderReadRequests(numbers),
              cpuPids: hops,
            }),
        },
        {
          pids: storePids(),
          run: () =>
            cannon({
              ...this.load,
              url,
              requests: orderReadRequests(numbers),
              cpuPids: storePids(),
            }),
        },
      );
    });
  }

  private async durable(cluster: Cluster): Promise<void> {
    const p = this.plan.durable;
    const store = storeSide(cluster.urls.frontend, () => cluster.pids());
    const etcd = this.etcd ? etcdSide(this.etcd) : null;
    const d = (this.results.durable ??= {
      etcd: { available: false, reason: 'etcd did not start' },
    });
    this.say(
      `  orders against etcd${etcd ? '' : ' (etcd not measured: the store side only)'}, same client code, ${p.pairs} pair(s)`,
    );
    const wrap = <T>(fn: () => Promise<T>) =>
      this.profiler.window('durable orders 32 clients - toystore', cluster.pids(), fn);
    d.concurrent = await comparePairs(p.concurrentClients, p.concurrentS, p, store, etcd, wrap);
    sayComparison(d.concurrent, this.say);
    this.say(
      `    CPU ms per durable order: toystore ${formatCpu(d.concurrent.store.cpuMsPerOk)}; etcd per put ${formatCpu(d.concurrent.etcd?.cpuMsPerOk)}`,
    );
    d.single = await comparePairs(1, p.singleS, p, store, etcd);
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
    const c = await this.ensureCeilings();
    const url = cluster.urls.frontend;
    const pids = () => cluster.pids();
    await this.attempt('throughput cached GET at warn', () =>
      this.pairRuns(
        'cached-warn',
        'cached GET /products/:name',
        'bare Hono',
        'warn',
        {
          pids: { origin: c.pids.origin },
          run: () =>
            cannon({
              ...this.load,
              url: c.origin,
              path: TUX_PATH,
              cpuPids: { origin: c.pids.origin },
            }),
        },
        { pids: pids(), run: () => cannon({ ...this.load, url, path: TUX_PATH, cpuPids: pids() }) },
      ),
    );
  }

  private async onCacheOffCluster(cluster: Cluster): Promise<void> {
    const url = cluster.urls.frontend;
    if (this.has('lab'))
      await this.attempt(
        'lab cache off',
        async () =>
          void (this.results.lab = [
            ...(this.results.lab ?? []),
            ...(await labSweep(url, 'off', LAB_PS, this.plan.labMs, this.say)),
          ]),
      );
    if (!this.has('throughput')) return;
    const c = await this.ensureCeilings();
    const sampler = sampleRss(() => cluster.pids());
    const hops = { frontend: c.pids.frontend, origin: c.pids.origin };
    const storePids = () => ({
      frontend: cluster.pids().frontend,
      catalog: cluster.pids().catalog,
    });
    await this.attempt('throughput uncached GET', () =>
      this.pairRuns(
        'uncached',
        'uncached GET /products/:name',
        'bare two-hop',
        this.o.logLevel,
        {
          pids: hops,
          run: () => cannon({ ...this.load, url: c.frontend, path: TUX_PATH, cpuPids: hops }),
        },
        {
          pids: storePids(),
          run: () => cannon({ ...this.load, url, path: TUX_PATH, cpuPids: storePids() }),
        },
      ),
    );
    // With the cache off the frontend and the catalog work harder per request: shown apart.
    const peak = await sampler.stop();
    this.mergePeak(
      Object.fromEntries(Object.entries(peak).filter(([k]) => k === 'frontend' || k === 'catalog')),
      ' (cache off)',
    );
  }

  /** The ceilings, started again if an earlier phase stopped them. */
  private async ensureCeilings(): Promise<Ceilings> {
    if (!this.ceilings) {
      this.ceilings = await startCeilings(this.profiler.env());
      this.profiler.name('ceiling', this.ceilings.pids);
    }
    return this.ceilings;
  }

  private async catchUps(): Promise<void> {
    this.results.catchUp = [];
    for (const c of catchUpCases(this.o.quick)) {
      await this.attempt(`catch-up on a ${c.logOrders}-order log`, async () => {
        const label = `catchup-${c.logOrders}`;
        const dir = await this.newDir(label);
        const rows = await catchUp(
          dir,
          c,
          this.start,
          this.clusterOptions({}, true),
          this.say,
          (what, pids) => this.profiler.name(`${label} ${what}`, pids),
        );
        this.results.catchUp!.push(...rows);
        await fs.rm(dir, { recursive: true, force: true });
      });
    }
  }

  private async startups(): Promise<void> {
    this.results.startup = [];
    // The production build, compiled once into a temporary dir (never the repo's dist/).
    let built: string | null = null;
    await this.attempt('the production build for start-up', async () => {
      const dir = await this.newDir('startup-build');
      await build(dir);
      built = dir;
    });
    for (const runtime of built ? [null, built] : [null]) {
      for (const n of [0, 1_000_000]) {
        await this.attempt(`start-up with ${n} orders`, async () => {
          const dir = await this.newDir(`startup-${n}`);
          this.results.startup!.push(
            await startup(
              dir,
              n,
              this.profiler.nodeArgs(`startup-${n}${runtime ? '-node' : ''}`),
              this.say,
              runtime,
            ),
          );
          await fs.rm(dir, { recursive: true, force: true });
        });
      }
    }
    if (built) await fs.rm(built, { recursive: true, force: true });
  }

  private async groupCommit(): Promise<void> {
    const clusterFor = async (label: string) => ({
      ...this.clusterOptions(),
      dataDir: await this.newDir(label),
    });
    const r = await measureGroupCommit(32, this.o.quick ? 2 : 5, this.start, clusterFor);
    this.results.groupCommit = r;
    this.say(
      `  group commit: ${r.batched.ordersPerSecond} orders/s batched vs ${r.single.ordersPerSecond} with one fdatasync per append (${r.ratio}x), ${r.clients} clients`,
    );
  }
}
