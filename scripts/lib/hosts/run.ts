/**
 * The multi-host run itself, as the controller carries it out from inside the `ctl` namespace:
 * start the store on its hosts, measure orders/s through the load balancer and through one
 * frontend alone, run the clients through the load balancer while the seeded fault plan runs,
 * heal, wait until the replicas agree, stop everything gracefully and judge the data and the
 * history with the consistency checker. Returns the report; tearing down the namespaces is the
 * supervisor's job (supervisor.ts), which holds the run to its deadline.
 *
 * Shaped as named phases, each a function a reader can hold: `runHosts` holds only the order of
 * the phases and the teardown that must happen whatever fails (services stopped, pids kept for the
 * leak check); `measureThroughput`, `faultPhase`, `settle` and `judge` are the phases, each adding
 * its part to the one report. `RunTimeline` is the run's clock and its notes: t = 0 moves to the
 * start of the fault phase, so fault times and the timeline read from there.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkDataDir, summaryLine } from '../check/index.ts';
import {
  openHistoryFile,
  runClients,
  summarize,
  type HistoryFile,
  type RunResult,
  type RunSummary,
} from '../client/index.ts';
import type { HistoryEvent } from '../../../shared/contracts.ts';
import { describeNetwork } from './netns.ts';
import { createNemesis, type Nemesis } from './nemesis.ts';
import { createFirewall } from './nft.ts';
import { createRouteClient } from '../../../shared/protocol/client.ts';
import { orderRoutes } from '../../../shared/protocol/order.ts';
import { recordingTransport, startSampler, type Sampler } from './observe.ts';
import {
  duelSummary,
  frontendAgreement,
  measureFaults,
  startupElection,
  type AttemptError,
  type DuelSummary,
  type FaultMeasure,
} from './measure.ts';
import {
  DEFAULT_TIMING,
  makeSchedule,
  QUICK_TIMING,
  REPLICA_FAULTS,
  type FaultKind,
  type FaultStep,
} from './schedule.ts';
import { startStore, waitAllReady, type Store } from './store.ts';
import {
  FRONTEND_HOSTS,
  HOSTS,
  REPLICA_HOSTS,
  replicaId,
  SERVICE_HOSTS,
  type ServiceHost,
} from './topology.ts';
import type { Firewall } from './nft.ts';
import type { Network } from './netns.ts';
import { catalogPaths, replicaPaths } from '../../../shared/data-dir.ts';

export interface RunOptions {
  ownerPid: number;
  seed: number;
  quick: boolean;
  /** Length of the fault phase. */
  durationMs: number;
  clients: number;
  kinds: FaultKind[];
  /** Length of each orders/s measurement (0 skips them). */
  throughputMs: number;
  distDir: string;
  runDir: string;
  logLevel: string;
}

export interface Throughput {
  clients: number;
  ms: number;
  lbOrdersPerSec: number;
  directOrdersPerSec: number;
  ratio: number;
  /**
   * The machine's 1-minute load average when the measurement began: the figures are only as quiet
   * as the machine.
   */
  loadAverage: number;
}
export interface ErrorsWhen {
  faults: number;
  attemptErrors: number;
  opFailures: number;
}

export interface HostsReport {
  seed: number;
  quick: boolean;
  kinds: FaultKind[];
  clients: number;
  durationMs: number;
  addresses: Record<string, string>;
  schedule: FaultStep[];
  throughput: Throughput | null;
  faults: FaultMeasure[];
  errorsWhen: { frontendKilled: ErrorsWhen; leaderKilled: ErrorsWhen };
  duel: DuelSummary;
  client: RunSummary | null;
  convergedAfterMs: number | null;
  logsIdentical: boolean;
  check: string | null;
  violations: string[];
  unexpectedExits: string[];
  pids: number[];
  timeline: string[];
  /** Stopped early by a signal or the deadline: the figures cover only what ran. */
  interrupted: boolean;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Orders acknowledged per second by `clients` closed-loop clients ordering whenever in stock. */
async function ordersPerSec(
  baseUrl: string,
  clients: number,
  ms: number,
  seed: number,
  historyPath: string,
): Promise<number> {
  let acked = 0;
  const t0 = performance.now();
  const history = await openHistoryFile(historyPath);
  try {
    await runClients({
      baseUrl,
      clients,
      durationMs: ms,
      p: 1,
      seed,
      timeoutMs: 5_000,
      timeOrigin: t0,
      history: (e) => {
        history.write(e);
        if (e.type === 'ok' && e.f === 'order' && e.timeMs <= ms) acked++;
      },
    });
  } finally {
    await history.close();
  }
  return Math.round((acked / ms) * 1000 * 10) / 10;
}

/**
 * Every client history of the run (the checker needs all: an order in the log no history sent is a
 * phantom).
 */
const HISTORIES = [
  'warmup.jsonl',
  'throughput-lb.jsonl',
  'throughput-direct.jsonl',
  'history.jsonl',
];

async function converge(store: Store, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const replicas = createRouteClient(store.http, orderRoutes);
    const st = await Promise.all(
      REPLICA_HOSTS.map((r) =>
        replicas.call(store.url(r), 'status', {}, { timeoutMs: 500 }).catch(() => null),
      ),
    );
    const heads = st.map(
      (s) => s && `${s.head.lastIndex}/${s.head.lastCrc}/${s.commitIndex === s.head.lastIndex}`,
    );
    if (heads.every((h) => h && h === heads[0] && h.endsWith('/true'))) return true;
    await sleep(100);
  }
  return false;
}

/** One data dir the offline checker reads: each host's own dir linked in under its service name. */
async function checkerView(o: RunOptions): Promise<string> {
  const view = path.join(o.runDir, 'check-view');
  await fs.mkdir(view, { recursive: true });
  await fs.symlink(
    catalogPaths(path.join(o.runDir, 'disk', 'catalog')).dir,
    catalogPaths(view).dir,
  );
  for (const r of REPLICA_HOSTS)
    await fs.symlink(path.join(o.runDir, 'disk', r, r), path.join(view, r));
  return view;
}

function errorsWhen(measures: readonly FaultMeasure[], kind: FaultKind): ErrorsWhen {
  const ms = measures.filter((m) => m.kind === kind);
  return {
    faults: ms.length,
    attemptErrors: ms.reduce((s, m) => s + m.attemptErrors, 0),
    opFailures: ms.reduce((s, m) => s + m.opFailures, 0),
  };
}

/**
 * The run's clock (ms since t0, which the fault phase moves to its start) and its timeline of
 * notes.
 */
class RunTimeline {
  readonly lines: string[] = [];
  private t0 = performance.now();

  constructor(private readonly say: (line: string) => void) {}

  /** Bound: handed to the sampler, the nemesis and the clients' transport. */
  readonly now = (): number => Math.round(performance.now() - this.t0);

  /** Bound: handed to every phase. */
  readonly note = (text: string): void => {
    const line = `+${(this.now() / 1000).toFixed(2)}s ${text}`;
    this.lines.push(line);
    this.say(line);
  };

  restartAt(t0: number): void {
    this.t0 = t0;
  }
}

/** The report before anything ran: what was asked for, and nothing measured yet. */
function initialReport(
  o: RunOptions,
  net: Network,
  schedule: FaultStep[],
  timeline: string[],
): HostsReport {
  const none: ErrorsWhen = { faults: 0, attemptErrors: 0, opFailures: 0 };
  return {
    seed: o.seed,
    quick: o.quick,
    kinds: o.kinds,
    clients: o.clients,
    durationMs: o.durationMs,
    addresses: Object.fromEntries([...HOSTS, 'ctl' as const].map((h) => [h, net.addr(h)])),
    schedule,
    throughput: null,
    faults: [],
    errorsWhen: { frontendKilled: { ...none }, leaderKilled: { ...none } },
    duel: duelSummary([], REPLICA_FAULTS, frontendAgreement([], FRONTEND_HOSTS)),
    client: null,
    convergedAfterMs: null,
    logsIdentical: false,
    check: null,
    violations: [],
    unexpectedExits: [],
    pids: [],
    timeline,
    interrupted: false,
    ok: false,
  };
}

/**
 * nftables in each service's namespace; a delay rule finds its fault proxy in the store once it
 * runs.
 */
function hostFirewall(net: Network, store: () => Store | null): Firewall {
  return createFirewall(
    {
      addr: (h) => net.addr(h as ServiceHost),
      ctl: net.addr('ctl'),
      proxyPort: (from, to) => store()?.proxies.get(`${from}->${to}`)?.port ?? null,
    },
    (h) => net.ns(h as ServiceHost),
    SERVICE_HOSTS,
  );
}

export async function runHosts(
  o: RunOptions,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<HostsReport> {
  const net: Network = describeNetwork(o.ownerPid);
  const servicesLog = createWriteStream(path.join(o.runDir, 'services.log'));
  const clock = new RunTimeline(say);
  const { note } = clock;
  const schedule = makeSchedule(
    o.seed,
    o.durationMs,
    o.kinds,
    o.quick ? QUICK_TIMING : DEFAULT_TIMING,
    o.quick ? o.kinds.length : Infinity,
  );
  const report = initialReport(o, net, schedule, clock.lines);
  let store: Store | null = null;
  let sampler: Sampler | null = null;
  const firewall = hostFirewall(net, () => store);
  try {
    note(
      `starting the store from ${o.distDir} on ${SERVICE_HOSTS.length} hosts + lb (${Object.entries(
        report.addresses,
      )
        .map(([h, a]) => `${h} ${a}`)
        .join(', ')})`,
    );
    store = await startStore({
      net,
      distDir: o.distDir,
      runDir: o.runDir,
      tuning: { LOG_LEVEL: o.logLevel, RESTOCK_INTERVAL_MS: '200' },
      output: (name, line) => servicesLog.write(`[${name}] ${line}\n`),
      onExit: (e) => {
        if (e.expected) return;
        const text = `${e.name} (pid ${e.pid}) exited unexpectedly (${e.signal ?? `code ${e.code}`})`;
        report.unexpectedExits.push(text);
        note(text);
      },
    });
    await waitAllReady(store, 30_000);
    note(`every service ready; clients reach the store at ${store.lbUrl} (haproxy)`);
    sampler = startSampler(store.http, (h) => store!.url(h), clock.now);

    if (o.throughputMs > 0 && !signal.aborted)
      report.throughput = await measureThroughput(store, o, note);
    if (!signal.aborted)
      await faultPhase(store, sampler, firewall, o, schedule, report, signal, clock);
    if (!signal.aborted) await settle(store, report, note);
    await sampler.stop();
    sampler = null;
    note('stopping every service (SIGTERM: they flush and fsync)');
    await store.close();
    report.pids = store.procs.allPids();
    store = null;
    if (!signal.aborted) await judge(o, report, note);
  } finally {
    await sampler?.stop();
    if (store) {
      await store.close();
      report.pids = store.procs.allPids();
    }
    await new Promise<void>((r) => servicesLog.end(() => r()));
  }
  report.violations.push(...report.unexpectedExits);
  report.interrupted = signal.aborted;
  report.ok = !signal.aborted && report.violations.length === 0;
  return report;
}

/**
 * After healing: the replicas must agree on one log, every one of them committed to its end, within
 * 30 s.
 */
async function settle(store: Store, report: HostsReport, note: (t: string) => void): Promise<void> {
  const healedAt = performance.now();
  const converged = await converge(store, 30_000);
  report.convergedAfterMs = converged ? Math.round(performance.now() - healedAt) : null;
  if (!converged)
    report.violations.push('the replicas did not agree on one log within 30 s of healing');
  note(
    converged
      ? `replicas agree (${report.convergedAfterMs} ms after healing)`
      : 'replicas did not converge',
  );
}

async function measureThroughput(
  store: Store,
  o: RunOptions,
  note: (t: string) => void,
): Promise<Throughput> {
  note(
    `orders/s through the load balancer and through ${FRONTEND_HOSTS[0]} alone: ${o.clients} clients, ${o.throughputMs / 1000} s each`,
  );
  const loadAverage = Math.round(os.loadavg()[0]! * 100) / 100;
  // Warm up first (JIT, connection pools, caches), so the first measurement is not the cold one.
  await ordersPerSec(
    store.lbUrl,
    o.clients,
    Math.min(2_000, o.throughputMs),
    o.seed + 2,
    path.join(o.runDir, HISTORIES[0]!),
  );
  const lb = await ordersPerSec(
    store.lbUrl,
    o.clients,
    o.throughputMs,
    o.seed,
    path.join(o.runDir, HISTORIES[1]!),
  );
  const direct = await ordersPerSec(
    store.url(FRONTEND_HOSTS[0]!),
    o.clients,
    o.throughputMs,
    o.seed + 1,
    path.join(o.runDir, HISTORIES[2]!),
  );
  note(`orders/s: ${lb} through the load balancer, ${direct} through one frontend alone`);
  return {
    clients: o.clients,
    ms: o.throughputMs,
    lbOrdersPerSec: lb,
    directOrdersPerSec: direct,
    ratio: direct > 0 ? Math.round((lb / direct) * 100) / 100 : 0,
    loadAverage,
  };
}

/**
 * Clients through the load balancer while the nemesis runs the plan, one heal at the end (or
 * before the clients' read-back, whichever comes first), then what each fault cost.
 */
async function faultPhase(
  store: Store,
  sampler: Sampler,
  firewall: Firewall,
  o: RunOptions,
  schedule: FaultStep[],
  report: HostsReport,
  signal: AbortSignal,
  clock: RunTimeline,
): Promise<void> {
  const { now, note } = clock;
  const history = await openHistoryFile(path.join(o.runDir, HISTORIES[3]!));
  const seen: ClientsSeen = { events: [], errors: [] };
  const stopClients = new AbortController();
  const abort = () => stopClients.abort();
  signal.addEventListener('abort', abort, { once: true });
  const nemesis = createNemesis({ store, firewall, sampler, now, note });
  const t0 = performance.now();
  clock.restartAt(t0);
  const firstSample = sampler.samples().length;
  note(
    `fault phase: ${o.clients} clients through the load balancer for ${o.durationMs / 1000} s; ${schedule.length} faults planned (seed ${o.seed})`,
  );
  const heal = runNemesis(nemesis, schedule, store, signal, note);
  const endTimer = setTimeout(() => void heal(), o.durationMs);
  try {
    const result = await runFaultClients(store, o, t0, now, seen, history, heal, {
      stop: stopClients.signal,
      run: signal,
    });
    report.client = summarize(result);
    for (const m of result.mismatches) report.violations.push(`client: ${m.message}`);
  } finally {
    clearTimeout(endTimer);
    await heal();
    await history.close();
    signal.removeEventListener('abort', abort);
  }
  measureFaultPhase(report, nemesis, sampler, firstSample, seen, now());
}

/** What the fault phase's clients saw: every history event and every failed attempt. */
interface ClientsSeen {
  events: HistoryEvent[];
  errors: AttemptError[];
}

/**
 * Starts the nemesis on the plan; returns the heal that stops it, heals everything and waits
 * (once).
 */
function runNemesis(
  nemesis: Nemesis,
  schedule: FaultStep[],
  store: Store,
  signal: AbortSignal,
  note: (t: string) => void,
): () => Promise<void> {
  const nemesisStop = new AbortController();
  signal.addEventListener('abort', () => nemesisStop.abort(), { once: true });
  const nemesisRun = nemesis.run(schedule, nemesisStop.signal);
  let healed: Promise<void> | null = null;
  return () =>
    (healed ??= (async () => {
      nemesisStop.abort();
      await nemesisRun;
      if (signal.aborted) return; // stopping: nothing to heal, everything is about to be stopped
      note('healing: links pass, rules flushed, every service up');
      await nemesis.healAll();
      await waitAllReady(store, 30_000).catch(() =>
        note('not every service was ready 30 s after healing'),
      );
    })());
}

/**
 * The fault phase's clients: retrying, timed from t0, read-back after the heal (skipped when
 * stopping).
 */
function runFaultClients(
  store: Store,
  o: RunOptions,
  t0: number,
  now: () => number,
  seen: ClientsSeen,
  history: HistoryFile,
  heal: () => Promise<void>,
  signals: { stop: AbortSignal; run: AbortSignal },
): Promise<RunResult> {
  return runClients({
    baseUrl: store.lbUrl,
    clients: o.clients,
    durationMs: o.durationMs,
    signal: signals.stop,
    p: 0.5,
    seed: o.seed,
    thinkMs: 10,
    timeoutMs: 3_000,
    retry: { retries: 10, minTimeout: 100, factor: 2, maxTimeout: 1_000 },
    timeOrigin: t0,
    http: recordingTransport(seen.errors, now),
    history: (e) => {
      seen.events.push(e);
      history.write(e);
    },
    beforeReadBack: heal,
    skipReadBack: () => signals.run.aborted,
  });
}

/** Each fault's cost from the nemesis's records, the phase's samples and what the clients saw. */
function measureFaultPhase(
  report: HostsReport,
  nemesis: Nemesis,
  sampler: Sampler,
  firstSample: number,
  seen: ClientsSeen,
  nowMs: number,
): void {
  const samples = sampler.samples().slice(firstSample);
  report.faults = measureFaults(nemesis.records(), samples, seen.errors, seen.events, nowMs);
  report.errorsWhen = {
    frontendKilled: errorsWhen(report.faults, 'kill-frontend'),
    leaderKilled: errorsWhen(report.faults, 'kill-leader'),
  };
  report.duel = duelSummary(
    report.faults,
    REPLICA_FAULTS,
    frontendAgreement(samples, FRONTEND_HOSTS),
    startupElection(sampler.samples()),
  );
}

async function judge(o: RunOptions, report: HostsReport, note: (t: string) => void): Promise<void> {
  const files = await Promise.all(
    REPLICA_HOSTS.map((r) =>
      fs.readFile(replicaPaths(path.join(o.runDir, 'disk', r), replicaId(r)).log).catch(() => null),
    ),
  );
  report.logsIdentical = files.every((f) => f?.equals(files[0]!));
  if (!report.logsIdentical)
    report.violations.push(
      `order logs differ on disk (${files.map((f, i) => `${REPLICA_HOSTS[i]} ${f?.length ?? 'missing'} bytes`).join(', ')})`,
    );
  const histories = [];
  for (const h of HISTORIES)
    if (
      await fs.stat(path.join(o.runDir, h)).then(
        () => true,
        () => false,
      )
    )
      histories.push(path.join(o.runDir, h));
  const check = await checkDataDir(await checkerView(o), histories);
  report.check = [summaryLine(check), ...check.skipped, ...check.notes].join('; ');
  for (const v of check.violations) report.violations.push(`check: ${v.kind}: ${v.message}`);
  note(`${summaryLine(check)}; order logs ${report.logsIdentical ? 'byte-identical' : 'DIFFER'}`);
}
