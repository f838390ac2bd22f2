/**
 * The measurements of the benchmark suite, one function per scenario of issue 5; scripts/lib/bench/
 * run.ts decides which cluster each runs on and in what order, and writes the results.
 *
 *  - `labSweep`: the lab evaluation (5 keep-alive clients, `runClients`, p = 0 .. 0.8).
 *  - `cannon`: one autocannon run (many connections), summarized; `orderRequests` and
 *    `mixedRequests` are its request lists (a fresh Idempotency-Key per order).
 *  - `failover`: SIGKILL the leader under a steady order load, time to the next acknowledged
 *    order, count what clients saw; restart the replica and wait for the logs to converge.
 *  - `catchUp`: a cluster over synthesized logs; stop a follower, cut its log to a prefix, start
 *    it again and time until its log is byte-identical to the leader's.
 *  - `startup`: one replica process alone over a synthesized log; spawn to `listening` and to a
 *    200 from /health.
 *
 * Each function bounds its own duration and never throws for a slow or failing store: what went
 * wrong is part of its result (a benchmark reports, it does not assert).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import autocannon from 'autocannon';
import { runClients, type RequestStats, type RequestType } from '../../client-lib.ts';
import { freePorts, startCluster, type Cluster, type ServiceName, type StartClusterOptions } from '../../cluster.ts';
import { createPooledHttp } from '../../../shared/http.ts';
import {
  measureCpu, orderLogPath, readRss, round, sleep, spawnTs, synthesizeLog, TOYS, waitForLeader, waitIdentical, writeReplicaDir, type ReplicaMeta,
  type Rss, type SynthLog,
} from './lib.ts';

export type Say = (msg: string) => void;

// ---------------------------------------------------------------- 1. lab evaluation

export interface LabRow {
  cache: 'on' | 'off';
  p: number;
  durationMs: number;
  stats: Record<RequestType, Pick<RequestStats, 'count' | 'failures' | 'p50' | 'p95' | 'p99'>>;
  orders: { acknowledged: number; rejected: number; unknown: number; failed: number };
  mismatches: number;
}

export async function labSweep(baseUrl: string, cache: 'on' | 'off', ps: readonly number[], durationMs: number, say: Say): Promise<LabRow[]> {
  const rows: LabRow[] = [];
  for (const p of ps) {
    const r = await runClients({ baseUrl, clients: 5, p, durationMs, seed: 5 + Math.round(p * 10), timeoutMs: 10_000 });
    const pick = (s: RequestStats) => ({ count: s.count, failures: s.failures, p50: s.p50, p95: s.p95, p99: s.p99 });
    const row: LabRow = {
      cache,
      p,
      durationMs: r.durationMs,
      stats: { query: pick(r.stats.query), order: pick(r.stats.order), order_query: pick(r.stats.order_query) },
      orders: r.orders,
      mismatches: r.mismatches.length,
    };
    rows.push(row);
    say(`  lab cache ${cache} p=${p}: query p50 ${row.stats.query.p50} ms, order p50 ${row.stats.order.p50} ms, order_query p50 ${row.stats.order_query.p50} ms (${row.stats.query.count}/${row.stats.order.count}/${row.stats.order_query.count})`);
  }
  return rows;
}

// ---------------------------------------------------------------- 2. autocannon

export interface CannonResult {
  /** 2xx answers per second: the throughput reported. */
  okPerSecond: number;
  /** Every answer per second. */
  answersPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  connections: number;
  durationS: number;
  statusCodes: Record<string, number>;
  /** Connection errors (timeouts included) plus answers other than 200/404-free/409 (see `countErrors`). */
  errors: number;
  timeouts: number;
  /** CPU (user + system) each server process spent per answer during the measured run, ms. */
  cpuMsPerRequest?: Record<string, number>;
}

export interface CannonOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Discarded run first (JIT, pools); 0 for none. */
  warmupS?: number;
  requests?: autocannon.Request[];
  path?: string;
  /** Statuses that are a normal answer, not an error (default: 2xx only; orders add 409). */
  okStatuses?: readonly number[];
  /** Server processes whose CPU time to measure over the measured run. */
  cpuPids?: Record<string, number | null>;
}

export async function cannon(o: CannonOptions): Promise<CannonResult> {
  const base: autocannon.Options = {
    url: o.url + (o.path ?? ''),
    connections: o.connections,
    pipelining: 1,
    timeout: 10,
    requests: o.requests,
  };
  if (o.warmupS) await autocannon({ ...base, duration: o.warmupS });
  const { value: r, cpuMs } = await measureCpu(o.cpuPids ?? {}, () => autocannon({ ...base, duration: o.durationS }));
  const statusCodes: Record<string, number> = {};
  const stats = (r as unknown as { statusCodeStats?: Record<string, { count: number | string }> }).statusCodeStats ?? {};
  for (const [code, v] of Object.entries(stats)) statusCodes[code] = Number(v.count);
  const total = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const ok = Object.entries(statusCodes).filter(([c]) => c.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const normal = new Set((o.okStatuses ?? []).map(String));
  const badAnswers = Object.entries(statusCodes).filter(([c]) => !c.startsWith('2') && !normal.has(c)).reduce((a, [, n]) => a + n, 0);
  return {
    okPerSecond: Math.round(ok / r.duration),
    answersPerSecond: Math.round(total / r.duration),
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    connections: o.connections,
    durationS: round(r.duration, 2),
    statusCodes,
    errors: r.errors + badAnswers,
    timeouts: r.timeouts,
    ...(o.cpuPids && { cpuMsPerRequest: Object.fromEntries(Object.entries(cpuMs).map(([k, ms]) => [k, round(ms / Math.max(1, total), 3)])) }),
  };
}

const pickToy = () => TOYS[Math.floor(Math.random() * TOYS.length)]!;
const withKey = (req: autocannon.Request) => ({ ...req, headers: { ...req.headers, 'idempotency-key': randomUUID() } });

/** POST /orders of one random toy, each with a fresh Idempotency-Key. */
export function orderRequests(): autocannon.Request[] {
  return [
    {
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => withKey({ ...req, body: JSON.stringify({ name: pickToy(), quantity: 1 }) }),
    },
  ];
}

/**
 * The mixed workload per connection, in a loop: query a random toy, order one (fresh key), read
 * that order back (or, if the order was refused, query another toy).
 */
export function mixedRequests(): autocannon.Request[] {
  type Ctx = { lastOrder?: number };
  return [
    { method: 'GET', path: '/products/Tux', setupRequest: (req) => ({ ...req, path: `/products/${encodeURIComponent(pickToy())}` }) },
    {
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req) => withKey({ ...req, body: JSON.stringify({ name: pickToy(), quantity: 1 }) }),
      onResponse: (status, body, context) => {
        const ctx = context as Ctx;
        if (status !== 200) return;
        try {
          ctx.lastOrder = (JSON.parse(body) as { data: { order_number: number } }).data.order_number;
        } catch {
          // leave the previous one
        }
      },
    },
    {
      method: 'GET',
      path: '/orders/0',
      setupRequest: (req, context) => {
        const ctx = context as Ctx;
        return ctx.lastOrder === undefined ? { ...req, path: `/products/${encodeURIComponent(pickToy())}` } : { ...req, path: `/orders/${ctx.lastOrder}` };
      },
    },
  ];
}

// ---------------------------------------------------------------- 3a. failover

export interface FailoverKill {
  killed: number;
  newLeader: number | null;
  /** SIGKILL to the first 200 answer to an order sent after it (null: none within the limit). */
  failoverMs: number | null;
  /** Client-visible errors (anything but 200/409, or no answer) from the kill until the replica rejoined. */
  errors: number;
  /** Restart of the killed replica to the three logs byte-identical (orders paused meanwhile). */
  convergeMs: number | null;
}

export interface FailoverResult {
  kills: FailoverKill[];
  clients: number;
  ordersAcknowledged: number;
  ordersRejected: number;
  errors: number;
  errorKinds: Record<string, number>;
  failoverMsMax: number | null;
  failoverMsMedian: number | null;
}

/** `kills` rounds of: SIGKILL the leader under load, time the next ack, restart it, converge. */
export async function failover(cluster: Cluster, kills: number, say: Say): Promise<FailoverResult> {
  const clients = 5;
  const http = createPooledHttp({ connectionsPerOrigin: clients });
  const url = `${cluster.urls.frontend}/orders`;
  const acks: Array<{ start: number; end: number }> = [];
  const errors: Array<{ at: number; what: string }> = [];
  let rejected = 0;
  let paused = false;
  let stopped = false;
  let inflight = 0;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      if (paused) {
        await sleep(5);
        continue;
      }
      inflight++;
      const start = performance.now();
      try {
        const res = await http({ method: 'POST', url, headers: { 'idempotency-key': randomUUID() }, body: { name: TOYS[(c * 3 + i) % TOYS.length], quantity: 1 }, timeoutMs: 15_000 });
        if (res.status === 200) acks.push({ start, end: performance.now() });
        else if (res.status === 409) rejected++;
        else errors.push({ at: performance.now(), what: `HTTP ${res.status}` });
      } catch (err) {
        errors.push({ at: performance.now(), what: (err as Error).message.split(':')[0] ?? 'network' });
      } finally {
        inflight--;
      }
    }
  });
  const ackAfter = async (t: number, limitMs: number) => {
    const deadline = performance.now() + limitMs;
    while (performance.now() < deadline) {
      const a = acks.find((x) => x.start >= t);
      if (a) return a;
      await sleep(1);
    }
    return null;
  };
  const files = [1, 2, 3].map((id) => orderLogPath(cluster.dataDir, id));
  const result: FailoverKill[] = [];
  try {
    for (let k = 0; k < kills; k++) {
      const leader = await waitForLeader(cluster.urls.frontend, 20_000);
      await ackAfter(performance.now(), 10_000); // orders are flowing
      await sleep(100);
      const errorsBefore = errors.length;
      const tKill = performance.now();
      await cluster.kill(`order-${leader}` as ServiceName, 'SIGKILL');
      const ack = await ackAfter(tKill, 20_000);
      const failoverMs = ack ? round(ack.end - tKill, 1) : null;
      const newLeader = await waitForLeader(cluster.urls.frontend, 20_000, leader).catch(() => null);
      await cluster.restart(`order-${leader}` as ServiceName);
      paused = true;
      while (inflight > 0) await sleep(2);
      const t0 = performance.now();
      const same = await waitIdentical(files, 30_000, 5);
      const convergeMs = same === null ? null : round(same - t0, 1);
      const kill: FailoverKill = { killed: leader, newLeader, failoverMs, errors: errors.length - errorsBefore, convergeMs };
      result.push(kill);
      say(`  kill ${k + 1}/${kills}: leader ${leader} -> ${newLeader}, next ack after ${failoverMs ?? 'none'} ms, ${kill.errors} client errors, logs identical ${convergeMs ?? 'never'} ms after restart`);
      paused = false;
    }
  } finally {
    stopped = true;
    await Promise.all(loops);
    await http.close();
  }
  const times = result.map((r) => r.failoverMs).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const errorKinds: Record<string, number> = {};
  for (const e of errors) errorKinds[e.what] = (errorKinds[e.what] ?? 0) + 1;
  return {
    kills: result,
    clients,
    ordersAcknowledged: acks.length,
    ordersRejected: rejected,
    errors: errors.length,
    errorKinds,
    failoverMsMax: times.length === result.length && times.length ? times[times.length - 1]! : null,
    failoverMsMedian: times.length ? times[Math.floor((times.length - 1) / 2)]! : null,
  };
}

// ---------------------------------------------------------------- 3b. catch-up

export interface CatchUpRow {
  /** Orders in the leader's log. */
  logOrders: number;
  /** Orders the restarted replica still had. */
  laggingOrders: number;
  missed: number;
  /** Spawn to `listening`. */
  startMs: number;
  /** `listening` to byte-identical logs. */
  catchUpMs: number | null;
  /** Spawn to byte-identical logs. */
  totalMs: number | null;
}

const SYNTH_META: ReplicaMeta = { promisedEpoch: 1, votedFor: 3, logEpoch: 1 };

/**
 * Starts a cluster whose three replicas hold the same synthesized `logOrders`-order log (epoch 1),
 * then for each prefix: stops a follower (SIGTERM), cuts its log to the first `prefix` orders
 * (and its logEpoch back to 1, which the prefix truthfully holds: epoch 1 started empty), starts
 * it again and times until its log is byte-identical to the leader's.
 */
export async function catchUp(
  dataDir: string,
  logOrders: number,
  prefixes: readonly number[],
  clusterOpts: Omit<StartClusterOptions, 'dataDir'>,
  say: Say,
  /** Told the processes after the start and after each restart (to name their profiles). */
  observe?: (what: string, pids: Record<string, number | null>) => void,
): Promise<CatchUpRow[]> {
  const synth: SynthLog = synthesizeLog(logOrders);
  for (const id of [1, 2, 3]) await writeReplicaDir(dataDir, id, synth.bytes, SYNTH_META);
  const cluster = await startCluster({ ...clusterOpts, dataDir });
  const rows: CatchUpRow[] = [];
  observe?.('start', cluster.pids());
  try {
    const leader = await waitForLeader(cluster.urls.frontend, 30_000);
    const lag = [1, 2, 3].find((id) => id !== leader)!;
    const lagFile = orderLogPath(dataDir, lag);
    const leaderFile = orderLogPath(dataDir, leader);
    if ((await waitIdentical([lagFile, leaderFile], 30_000, 10)) === null) throw new Error('the synthesized logs differ after the cluster started');
    for (const prefix of prefixes) {
      const service = `order-${lag}` as ServiceName;
      await cluster.kill(service, 'SIGTERM');
      const handle = await fs.open(lagFile, 'r+');
      await handle.truncate(synth.offsets[prefix]!);
      await handle.close();
      const metaFile = path.join(dataDir, `order-${lag}`, 'meta.json');
      const meta = JSON.parse(await fs.readFile(metaFile, 'utf8')) as ReplicaMeta;
      await fs.writeFile(metaFile, `${JSON.stringify({ ...meta, logEpoch: 1 })}\n`);
      const t0 = performance.now();
      await cluster.restart(service);
      const t1 = performance.now();
      const t2 = await waitIdentical([lagFile, leaderFile], 60_000, 2);
      observe?.(`${logOrders - prefix} missed`, { [service]: cluster.pids()[service] });
      const row: CatchUpRow = {
        logOrders,
        laggingOrders: prefix,
        missed: logOrders - prefix,
        startMs: round(t1 - t0),
        catchUpMs: t2 === null ? null : round(t2 - t1),
        totalMs: t2 === null ? null : round(t2 - t0),
      };
      rows.push(row);
      say(`  catch-up: ${row.missed} missed on top of ${prefix}: start ${row.startMs} ms + catch-up ${row.catchUpMs ?? 'never'} ms = ${row.totalMs ?? '-'} ms`);
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}

// ---------------------------------------------------------------- 3c. start-up

export interface StartupResult {
  logOrders: number;
  logMiB: number;
  /** Spawn to the `listening on` line. */
  listeningMs: number | null;
  /** Spawn to a 200 from GET /health. */
  healthMs: number | null;
  rss: Rss | null;
  error?: string;
}

/**
 * One replica alone (its peers and the catalog are ports nothing listens on) over a synthesized
 * log of `logOrders` orders: what start-up costs, with nothing else competing.
 */
export async function startup(dataDir: string, logOrders: number, nodeArgs: string[], say: Say): Promise<StartupResult> {
  const synth = synthesizeLog(logOrders);
  await writeReplicaDir(dataDir, 1, synth.bytes, SYNTH_META);
  const [self, p2, p3, catalog] = await freePorts(4);
  const proc = spawnTs('order/main.ts', {
    nodeArgs,
    env: {
      ORDER_ID: '1',
      ORDER_REPLICAS: `1=http://127.0.0.1:${self},2=http://127.0.0.1:${p2},3=http://127.0.0.1:${p3}`,
      CATALOG_URL: `http://127.0.0.1:${catalog}`,
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    timeoutMs: 60_000,
  });
  const result: StartupResult = { logOrders, logMiB: round(synth.bytes.length / 2 ** 20, 1), listeningMs: null, healthMs: null, rss: null };
  try {
    const ready = await proc.ready;
    result.listeningMs = round(ready.at - proc.spawnedAt);
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      const ok = await fetch(`${ready.url}/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
      if (ok) {
        result.healthMs = round(performance.now() - proc.spawnedAt);
        break;
      }
      await sleep(2);
    }
    result.rss = await readRss(proc.pid);
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    await proc.stop('SIGTERM');
  }
  say(`  start-up with ${logOrders} orders (${result.logMiB} MiB): listening after ${result.listeningMs ?? '-'} ms, /health after ${result.healthMs ?? '-'} ms, RSS ${result.rss?.rssMiB ?? '-'} MiB`);
  return result;
}
