/**
 * `npm run bench` (about 10 minutes) and `npm run bench -- --quick` (about a minute): the
 * benchmark suite of issue 5. Every scenario starts its own processes (temporary data dirs,
 * ephemeral ports, 127.0.0.1 only) and stops them; every load is bounded in time.
 *
 *   1. lab evaluation: 5 clients, p = 0 .. 0.8, cache on and off (latency p50/p95/p99 per type);
 *   2. throughput of cached GET, uncached GET and POST /orders with many connections (autocannon),
 *      each next to a bare Hono ceiling measured in the same run, plus the disk's fdatasync rate;
 *   3. failover (SIGKILL the leader N times), catch-up of 1k/10k/100k missed orders, start-up
 *      with a 1M-order log, memory (RSS) of each service under load;
 *   4. 1000 concurrent keep-alive clients on a mixed workload.
 *
 * Writes docs/bench/results.json, results.md and SVG plots (see report.ts), and prints each
 * target with PASS/MISS. It never fails on a missed target (a benchmark is not a test); it exits
 * non-zero only if it could not write its results.
 *
 *   --quick            short runs (CI smoke: checks it completes and writes its files)
 *   --only a,b         run only some scenarios: lab, throughput, clients, failover, catchup, startup,
 *                      groupcommit (group commit vs one fdatasync per append; full run only by default)
 *   --out DIR          where to write (default docs/bench)
 *   --profile DIR      CPU-profile the services during each throughput/clients run (and the
 *                      ceilings during theirs, the replicas through each catch-up, the start-up
 *                      replica whole); profiles go to DIR, each process's hottest functions into
 *                      the results. Profiling slows the services: use it to find out why a target
 *                      was missed, not for the numbers.
 *   --log-level L      LOG_LEVEL of the services (default warn: no per-request log lines)
 *   --connections N    autocannon connections for the throughput runs (default 100)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startCluster, type Cluster, type StartClusterOptions } from './cluster.ts';
import { formatSummary, profilesIn, summarizeProfile } from './lib/bench/cpuprofile-top.ts';
import {
  commitInfo, fdatasyncRate, machineInfo, readRss, REPO_ROOT, round, sampleRss, sleep, spawnTs, tempDir, waitForLeader, type Rss, type Spawned,
} from './lib/bench/lib.ts';
import { evaluateTargets, formatCpu, formatTargets, writeReport, type BenchResults, type ThroughputPair } from './lib/bench/report.ts';
import { measureGroupCommit } from './lib/bench/group-commit.ts';
import { cannon, catchUp, failover, labSweep, mixedRequests, orderRequests, startup, type CannonResult } from './lib/bench/scenarios.ts';

const SCENARIOS = ['lab', 'throughput', 'clients', 'failover', 'catchup', 'startup', 'groupcommit'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'docs', 'bench') },
    profile: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    connections: { type: 'string', default: '100' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log((await fs.readFile(new URL(import.meta.url), 'utf8')).split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
  process.exit(0);
}
// groupcommit (two more clusters) only in the full run unless asked for.
const only = new Set<Scenario>((values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? SCENARIOS.filter((s) => !(values.quick && s === 'groupcommit'))) as Scenario[]);
for (const s of only) {
  if (!SCENARIOS.includes(s)) {
    console.error(`--only: unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`);
    process.exit(2);
  }
}
const connections = Number(values.connections);
if (!Number.isInteger(connections) || connections < 1 || connections > 5000) {
  console.error('--connections must be an integer between 1 and 5000');
  process.exit(2);
}
const quick = values.quick;
const plan = quick
  ? { labMs: 700, cannonS: 2, warmupS: 0.5, rounds: 1, manyS: 10, kills: 2, fsyncMs: 1_000 }
  : { labMs: 10_000, cannonS: 10, warmupS: 2, rounds: 3, manyS: 30, kills: 10, fsyncMs: 2_000 };
const MANY = 1000;
const PS = [0, 0.2, 0.4, 0.6, 0.8] as const;

const say = (msg: string) => console.log(msg);
const started = performance.now();
const clusterEnv: Record<string, string> = { LOG_LEVEL: values['log-level']!, RESTOCK_INTERVAL_MS: '100' };
const results: Omit<BenchResults, 'targets'> = {
  generatedAt: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  commit: commitInfo(),
  machine: machineInfo(),
  clusterEnv,
  durationS: 0,
  failures: [],
};
say(`toystore bench (${results.mode}) at ${results.commit.label} on ${results.machine.cpu} x${results.machine.cores}, load ${results.machine.loadAverage1m}`);

const dirs: string[] = [];
const newDir = async (label: string) => {
  const d = await tempDir(label);
  dirs.push(d);
  return d;
};

// ---------------------------------------------------------------- profiling (--profile)

const profileDir = values.profile ? path.resolve(values.profile) : null;
const rawProfiles = profileDir ? path.join(profileDir, 'raw') : '';
/** pid -> what it is, to name its profiles. */
const profiledPids = new Map<number, string>();
/** Profile dir name -> the window's name as the results show it. */
const windowNames = new Map<string, string>([['raw', 'whole life']]);
/** Windows each pid has written so far (the hook numbers them 1, 2, ...). */
const windowsWritten = new Map<number, number>();

function profileEnv(fromStart = false): Record<string, string> {
  if (!profileDir) return {};
  // --cpu-prof is not allowed in NODE_OPTIONS; the hook runs the same profiler from inside.
  return {
    NODE_OPTIONS: `--import ${pathToFileURL(path.join(REPO_ROOT, 'scripts/lib/bench/cpu-profile-hook.mjs')).href}`,
    BENCH_CPU_PROF_DIR: rawProfiles,
    ...(fromStart && { BENCH_CPU_PROF_FROM_START: '1' }),
  };
}

function nameProcesses(label: string, pids: Record<string, number | null>): void {
  for (const [service, pid] of Object.entries(pids)) if (pid !== null) profiledPids.set(pid, `${label} / ${service}`);
}

/** Profiles the given processes while `fn` runs; their profiles end up in <profileDir>/<window>/. */
async function profiled<T>(window: string, pids: Record<string, number | null>, fn: () => Promise<T>): Promise<T> {
  if (!profileDir) return fn();
  const targets = Object.values(pids).filter((p): p is number => p !== null);
  const signal = () => {
    for (const pid of targets) {
      try {
        process.kill(pid, 'SIGUSR2');
      } catch {
        // gone
      }
    }
  };
  signal();
  await sleep(20);
  try {
    return await fn();
  } finally {
    signal();
    const dirName = window.replace(/[^\w.-]+/g, '_');
    windowNames.set(dirName, window);
    const dest = path.join(profileDir, dirName);
    await fs.mkdir(dest, { recursive: true });
    for (const pid of targets) {
      const n = (windowsWritten.get(pid) ?? 0) + 1;
      windowsWritten.set(pid, n);
      const name = `CPU.window.${pid}.0.${n}.cpuprofile`;
      for (let i = 0; i < 200; i++) {
        if (await fs.rename(path.join(rawProfiles, name), path.join(dest, name)).then(() => true, () => false)) break;
        await sleep(25);
      }
    }
  }
}

async function summarizeProfiles(): Promise<void> {
  if (!profileDir) return;
  results.profiles = [];
  for (const window of (await fs.readdir(profileDir).catch(() => [] as string[])).sort()) {
    for (const file of await profilesIn(path.join(profileDir, window))) {
      const summary = await summarizeProfile(file, 20);
      // tsx's loader thread only matters for start-up (it compiles the TypeScript).
      if (summary.thread !== 0 && !window.startsWith('startup')) continue;
      const named = summary.pid !== null ? profiledPids.get(summary.pid) : undefined;
      const service = (named ?? (window.startsWith('startup') ? 'order-1' : `pid ${summary.pid}`)) + (summary.thread ? ' (tsx loader thread)' : '');
      const label = windowNames.get(window) ?? window;
      results.profiles.push({ label, service, summary });
      say(formatSummary(summary, `${label} / ${service}`));
    }
  }
  say(`profiles in ${profileDir} (open them in Chrome DevTools > Performance, or: npx tsx scripts/lib/bench/cpuprofile-top.ts <file>)`);
}

// ---------------------------------------------------------------- clusters and ceilings

function clusterOptions(env: Record<string, string> = {}, fromStart = false): Omit<StartClusterOptions, 'dataDir'> {
  return { env: { ...clusterEnv, ...env, ...profileEnv(fromStart) }, output: () => {}, readyTimeoutMs: 60_000 };
}

async function withCluster<T>(label: string, env: Record<string, string>, fn: (c: Cluster) => Promise<T>): Promise<T> {
  const dataDir = await newDir(label);
  const t0 = performance.now();
  const cluster = await startCluster({ ...clusterOptions(env), dataDir });
  nameProcesses(label, cluster.pids());
  try {
    await waitForLeader(cluster.urls.frontend, 30_000);
    say(`cluster ${label} up in ${Math.round(performance.now() - t0)} ms (${cluster.urls.frontend}, data in ${dataDir})`);
    return await fn(cluster);
  } finally {
    await cluster.stop();
  }
}

async function attempt(scenario: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const error = (err as Error).stack ?? String(err);
    results.failures.push({ scenario, error });
    say(`!! ${scenario} failed: ${error.split('\n').slice(0, 3).join(' | ')}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

interface Ceilings {
  origin: string;
  frontend: string;
  procs: Spawned[];
  pids: { origin: number; order: number; frontend: number };
}

/** The bare servers (scripts/lib/bench/ceiling-server.ts): origin, order hop, frontend hop. */
async function startCeilings(): Promise<Ceilings> {
  const file = 'scripts/lib/bench/ceiling-server.ts';
  const env = (e: Record<string, string>) => ({ PORT: '0', HOST: '127.0.0.1', ...e, ...profileEnv() });
  const origin = spawnTs(file, { env: env({ ROLE: 'origin' }) });
  const originUrl = (await origin.ready).url;
  const order = spawnTs(file, { env: env({ ROLE: 'order', UPSTREAM_URL: originUrl }) });
  const orderUrl = (await order.ready).url;
  const frontend = spawnTs(file, { env: env({ ROLE: 'frontend', UPSTREAM_URL: originUrl, ORDER_URL: orderUrl }) });
  const frontendUrl = (await frontend.ready).url;
  const pids = { origin: origin.pid, order: order.pid, frontend: frontend.pid };
  nameProcesses('ceiling', pids);
  return { origin: originUrl, frontend: frontendUrl, procs: [origin, order, frontend], pids };
}

/** Alternates ceiling and store runs (ceiling first) and keeps the median of each. */
async function pairRuns(
  name: ThroughputPair['name'],
  ceilingName: string,
  ceiling: { pids: Record<string, number | null>; run: () => Promise<CannonResult> },
  store: { pids: Record<string, number | null>; run: () => Promise<CannonResult> },
): Promise<void> {
  const rounds: ThroughputPair['rounds'] = [];
  for (let i = 0; i < plan.rounds; i++) {
    const first = i === 0;
    const c = first ? await profiled(`${name} - ${ceilingName}`, ceiling.pids, ceiling.run) : await ceiling.run();
    const s = first ? await profiled(`${name} - toystore`, store.pids, store.run) : await store.run();
    rounds.push({ ceiling: c, store: s });
  }
  const s = median(rounds.map((r) => r.store.okPerSecond));
  const c = median(rounds.map((r) => r.ceiling.okPerSecond));
  const pair: ThroughputPair = { name, ceilingName, store: s, ceiling: c, ratio: c > 0 ? round(s / c, 3) : 0, rounds };
  say(`  ${name}: ${s} req/s vs ${ceilingName} ${c} req/s = ${(pair.ratio * 100).toFixed(1)} %`);
  const last = rounds[rounds.length - 1]!;
  say(`    CPU ms per request: toystore ${formatCpu(last.store.cpuMsPerRequest)}; ceiling ${formatCpu(last.ceiling.cpuMsPerRequest)}`);
  (results.throughput ??= []).push(pair);
}

// ---------------------------------------------------------------- the run

const measureThroughput = only.has('throughput');
let ceilings: Ceilings | null = null;
const idle: Record<string, Rss> = {};
const underLoad: Record<string, Rss> = {};
const mergePeak = (peak: Record<string, Rss>, suffix = '') => {
  for (const [k0, v] of Object.entries(peak)) {
    const k = k0 + suffix;
    const prev = underLoad[k];
    underLoad[k] = { rssMiB: Math.max(prev?.rssMiB ?? 0, v.rssMiB), hwmMiB: Math.max(prev?.hwmMiB ?? 0, v.hwmMiB) };
  }
};

try {
  await attempt('disk', async () => {
    const dir = await newDir('fsync');
    const r = await fdatasyncRate(dir, plan.fsyncMs);
    results.disk = { dir: path.dirname(dir), syncsPerSecond: r.syncsPerSecond, meanMs: r.meanMs };
    say(`disk: ${r.syncsPerSecond} fdatasyncs/s (${r.meanMs} ms each) in ${path.dirname(dir)}`);
  });

  if (measureThroughput) {
    await attempt('ceilings', async () => {
      ceilings = await startCeilings();
      say(`ceilings up: origin ${ceilings.origin}, frontend ${ceilings.frontend}`);
    });
  }
  const ce = () => ceilings as Ceilings | null;
  const load = { connections, durationS: plan.cannonS, warmupS: plan.warmupS };

  // Cache on: lab sweep, cached GET, orders, 1000 clients, then failover (it kills replicas).
  if (only.has('lab') || measureThroughput || only.has('clients') || only.has('failover')) {
    await attempt('cluster cache-on', () =>
      withCluster('cache-on', { CACHE_ENABLED: 'true' }, async (cluster) => {
        for (const [k, pid] of Object.entries(cluster.pids())) {
          const r = pid === null ? null : await readRss(pid);
          if (r) idle[k] = r;
        }
        const url = cluster.urls.frontend;
        if (only.has('lab')) await attempt('lab cache on', async () => void (results.lab = [...(results.lab ?? []), ...(await labSweep(url, 'on', PS, plan.labMs, say))]));
        const sampler = sampleRss(() => cluster.pids());
        const c = ce();
        if (measureThroughput && c) {
          await attempt('throughput cached GET', () =>
            pairRuns(
              'cached GET /products/:name',
              'bare Hono',
              { pids: { origin: c.pids.origin }, run: () => cannon({ ...load, url: c.origin, path: '/products/Tux', cpuPids: { origin: c.pids.origin } }) },
              { pids: cluster.pids(), run: () => cannon({ ...load, url, path: '/products/Tux', cpuPids: cluster.pids() }) },
            ),
          );
          await attempt('throughput orders', () =>
            pairRuns(
              'POST /orders',
              'bare three-hop chain',
              { pids: c.pids, run: () => cannon({ ...load, url: c.frontend, requests: orderRequests(), cpuPids: c.pids }) },
              { pids: cluster.pids(), run: () => cannon({ ...load, url, requests: orderRequests(), okStatuses: [409], cpuPids: cluster.pids() }) },
            ),
          );
        }
        if (only.has('clients')) {
          await attempt('1000 clients', async () => {
            // Each side of every connection is one fd: this process and the frontend need MANY each.
            const fdLimit = Number(results.machine.fdLimit);
            if (Number.isFinite(fdLimit) && fdLimit < MANY + 500) say(`  warning: ulimit -n is ${fdLimit}; ${MANY} clients need about ${MANY + 500} per process (raise it: ulimit -n 4096)`);
            const result = await profiled(`${MANY} clients - toystore`, cluster.pids(), () =>
              cannon({ url, connections: MANY, durationS: plan.manyS, requests: mixedRequests(), okStatuses: [409], cpuPids: cluster.pids() }),
            );
            results.manyClients = { connections: MANY, result };
            say(`  ${MANY} clients: ${result.answersPerSecond} answers/s, ${result.errors} errors, ${result.timeouts} timeouts, p99 ${result.latencyP99Ms} ms`);
          });
        }
        mergePeak(await sampler.stop());
        if (only.has('failover')) await attempt('failover', async () => void (results.failover = await failover(cluster, plan.kills, say)));
      }),
    );
  }

  // Cache off: lab sweep, uncached GET.
  if (only.has('lab') || measureThroughput) {
    await attempt('cluster cache-off', () =>
      withCluster('cache-off', { CACHE_ENABLED: 'false' }, async (cluster) => {
        const url = cluster.urls.frontend;
        if (only.has('lab')) await attempt('lab cache off', async () => void (results.lab = [...(results.lab ?? []), ...(await labSweep(url, 'off', PS, plan.labMs, say))]));
        const c = ce();
        if (measureThroughput && c) {
          const sampler = sampleRss(() => cluster.pids());
          await attempt('throughput uncached GET', () =>
            pairRuns(
              'uncached GET /products/:name',
              'bare two-hop',
              { pids: { frontend: c.pids.frontend, origin: c.pids.origin }, run: () => cannon({ ...load, url: c.frontend, path: '/products/Tux', cpuPids: { frontend: c.pids.frontend, origin: c.pids.origin } }) },
              { pids: { frontend: cluster.pids().frontend, catalog: cluster.pids().catalog }, run: () => cannon({ ...load, url, path: '/products/Tux', cpuPids: { frontend: cluster.pids().frontend, catalog: cluster.pids().catalog } }) },
            ),
          );
          // With the cache off the frontend and the catalog work harder per request: shown apart.
          const peak = await sampler.stop();
          mergePeak(Object.fromEntries(Object.entries(peak).filter(([k]) => k === 'frontend' || k === 'catalog')), ' (cache off)');
        }
      }),
    );
  }
  if (ceilings) await Promise.all((ceilings as Ceilings).procs.map((p) => p.stop()));
  if (Object.keys(idle).length) results.memory = { idle, underLoad };

  if (only.has('catchup')) {
    results.catchUp = [];
    const cases: Array<[string, number, number[]]> = [
      ['catchup-101k', 101_000, [100_000, 91_000, 1_000]],
      ['catchup-1k', 1_000, [0]],
    ];
    for (const [label, logOrders, prefixes] of cases) {
      await attempt(`catch-up on a ${logOrders}-order log`, async () => {
        const dir = await newDir(label);
        const rows = await catchUp(dir, logOrders, prefixes, clusterOptions({}, true), say, (what, pids) => nameProcesses(`${label} ${what}`, pids));
        results.catchUp!.push(...rows);
      });
    }
  }

  if (only.has('startup')) {
    results.startup = [];
    for (const n of [0, 1_000_000]) {
      await attempt(`start-up with ${n} orders`, async () => {
        const dir = await newDir(`startup-${n}`);
        const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, `startup-${n}`)}`] : [];
        const r = await startup(dir, n, nodeArgs, say);
        results.startup!.push(r);
        await fs.rm(dir, { recursive: true, force: true });
      });
    }
  }
  if (only.has('groupcommit')) {
    await attempt('group commit', async () => {
      const r = await measureGroupCommit(32, quick ? 2 : 5);
      results.groupCommit = { ...r, ratio: round(r.ratio, 2) };
      say(`  group commit: ${r.batched.ordersPerSecond} orders/s batched vs ${r.single.ordersPerSecond} with one fdatasync per append (${r.ratio.toFixed(2)}x), ${r.clients} clients`);
    });
  }
  await summarizeProfiles();
} finally {
  if (ceilings) await Promise.all((ceilings as Ceilings).procs.map((p) => p.stop()));
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
}

results.durationS = round((performance.now() - started) / 1000, 1);
const final: BenchResults = { ...results, targets: evaluateTargets(results) };
const written = await writeReport(final, path.resolve(values.out!));
say('');
say(formatTargets(final.targets));
if (final.failures.length) say(`\n${final.failures.length} scenario(s) failed to run: ${final.failures.map((f) => f.scenario).join(', ')}`);
say(`\n${results.durationS} s; wrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
// autocannon and undici may leave keep-alive timers behind: do not wait for them.
process.exit(0);
