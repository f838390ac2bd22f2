/**
 * The chaos tool as a library (`scripts/chaos.ts` is its CLI): starts its own store on loopback
 * (temporary data dir, ephemeral ports, every inter-service link routed through an in-process
 * fault proxy), runs retrying clients that record a history, and a nemesis that injects faults on
 * a seeded schedule. Then it heals everything, waits until the three order logs are
 * byte-identical, stops the store and runs the consistency checker over the data dir and the
 * history. A run passes only if nothing is violated.
 *
 * Faults (`--faults`, each a kind of step on the schedule; one fault at a time, each held for a
 * while, then healed, then a quiet gap):
 *  - `kill`: SIGKILL a process and restart it after the hold: the leader (40% of kills), a
 *    follower (30%), the catalog (15%) or the frontend (15%).
 *  - `pause`: SIGSTOP, then SIGCONT after the hold (the process keeps its sockets and answers
 *    nothing, like a hung machine): leader, follower, catalog or frontend.
 *  - `partition`: sets the fault proxies of some directed links to drop (reset connections),
 *    blackhole (accept, never answer) or delay: leader ↔ one follower (both ways or one way),
 *    frontend → leader, leader isolated from the other replicas and the frontend, leader →
 *    catalog, catalog → frontend (cache invalidations).
 *  - `power`: simulated power loss: SIGKILL a replica (leader half of the time) or the catalog,
 *    cut `order-N/orders.csv` (catalog: `catalog/ledger.csv`, if present) back to the length its
 *    `.synced` sidecar records (the store runs with TRACK_FSYNC_OFFSETS=true), i.e. drop whatever
 *    the last fsync did not cover, and restart it after the hold.
 * The schedule is a pure function of (seed, duration, kinds): kinds come round in a seeded order
 * so a short run still sees each one. Who "the leader" is, is resolved when the step runs
 * (`GET {frontend}/health` → `data.leaderId`, else the replicas' own status).
 *
 * Everything is loopback, bounded in time (clients stop starting operations at the duration; the
 * catch-up has a deadline) and traffic (a closed loop of N clients with a short think time), and
 * every process the tool started is stopped by PID, also on abort (the CLI aborts on SIGINT).
 *
 * Judging: `checkDataDir` from scripts/check-lib.ts over the stopped store's data dir and the
 * client history (lost / phantom / failed-committed / stale-read / divergence / stock
 * conservation), plus what only the run can see: logs that do not converge by the deadline,
 * services that cannot be restarted, and the clients' own read-back mismatches. If check-lib
 * cannot be loaded, a minimal fallback runs instead (`checkConvergedCluster` over the parsed
 * logs, against the acknowledged orders) and the report says so.
 *
 * The power-loss cut is exact: the `.synced` sidecar is rewritten in place, synchronously, after
 * each fsync and before anyone is answered (shared/fsutil.ts), so it never lags an acknowledged
 * record and is never empty.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseLog } from '../order/file-log.ts';
import type { HistoryEvent, OrderEntry } from '../shared/contracts.ts';
import { createPooledHttp } from '../shared/http.ts';
import { checkConvergedCluster, type Violation } from './lib/invariants/index.ts';
import { mulberry32, openHistoryFile, percentile, runClients, summarize, type RunSummary } from './lib/client/index.ts';
import { describeExit, REPLICA_IDS, SERVICE_NAMES, startCluster, type Cluster, type ReplicaId, type ServiceName } from './lib/cluster/index.ts';
import { PASS, startFaultProxy, type FaultMode, type FaultProxy } from './lib/fault-proxy/proxy.ts';

// ================================================================ the schedule

export type FaultKind = 'kill' | 'pause' | 'partition' | 'power';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'power'];

/** A replica chosen when the step runs: the leader, or one of the others (`pick` in [0, 1) chooses which). */
export type ReplicaTarget = { role: 'leader' } | { role: 'follower'; pick: number };
export type ProcessTarget = ReplicaTarget | { role: 'catalog' } | { role: 'frontend' };

export type PartitionShape =
  /** Leader and one follower; `direction` 'both', or only the requests one way. */
  | { shape: 'leader-follower'; pick: number; direction: 'both' | 'from-leader' | 'to-leader' }
  /** The frontend cannot reach the leader (orders, reads, heartbeats). */
  | { shape: 'frontend-leader' }
  /** The leader cannot reach the other replicas nor they it, nor the frontend it. */
  | { shape: 'isolate-leader' }
  /** The leader cannot reach the catalog (purchases). */
  | { shape: 'leader-catalog' }
  /** The catalog cannot reach the frontend (cache invalidations). */
  | { shape: 'catalog-frontend' };

export type FaultStep =
  | { kind: 'kill'; atMs: number; holdMs: number; target: ProcessTarget }
  | { kind: 'pause'; atMs: number; holdMs: number; target: ProcessTarget }
  | { kind: 'power'; atMs: number; holdMs: number; target: ReplicaTarget | { role: 'catalog' } }
  | { kind: 'partition'; atMs: number; holdMs: number; links: PartitionShape; mode: FaultMode };

export interface ScheduleTiming {
  /** When the first fault starts, ms: [min, max). */
  firstMs: [number, number];
  holdMs: [number, number];
  gapMs: [number, number];
}
export const DEFAULT_TIMING: ScheduleTiming = { firstMs: [1_500, 3_000], holdMs: [800, 3_000], gapMs: [700, 2_000] };

const between = (rng: () => number, [lo, hi]: [number, number]) => Math.round(lo + rng() * (hi - lo));
const pick3 = (rng: () => number) => Math.floor(rng() * 1e6) / 1e6;

function replicaTarget(rng: () => number, leaderShare: number): ReplicaTarget {
  return rng() < leaderShare ? { role: 'leader' } : { role: 'follower', pick: pick3(rng) };
}

function processTarget(rng: () => number, weights: { leader: number; follower: number; catalog: number }): ProcessTarget {
  const x = rng();
  if (x < weights.leader) return { role: 'leader' };
  if (x < weights.leader + weights.follower) return { role: 'follower', pick: pick3(rng) };
  if (x < weights.leader + weights.follower + weights.catalog) return { role: 'catalog' };
  return { role: 'frontend' };
}

function partitionStep(rng: () => number): { links: PartitionShape; mode: FaultMode } {
  const x = rng();
  const links: PartitionShape =
    x < 0.35 ? { shape: 'leader-follower', pick: pick3(rng), direction: (['both', 'from-leader', 'to-leader'] as const)[Math.floor(rng() * 3)]! }
    : x < 0.55 ? { shape: 'frontend-leader' }
    : x < 0.8 ? { shape: 'isolate-leader' }
    : x < 0.92 ? { shape: 'leader-catalog' }
    : { shape: 'catalog-frontend' };
  const m = rng();
  const mode: FaultMode = m < 0.45 ? { kind: 'blackhole' } : m < 0.8 ? { kind: 'drop' } : { kind: 'delay', ms: between(rng, [50, 400]) };
  return { links, mode };
}

/**
 * The nemesis's plan: a pure function of its arguments. Steps do not overlap; each starts at
 * `atMs` (from the start of the run), is healed `holdMs` later, and every step ends by
 * `durationMs`. Kinds come round in a seeded random order per round, so each enabled kind shows
 * up once every `kinds.length` steps.
 */
export function makeSchedule(seed: number, durationMs: number, kinds: readonly FaultKind[], timing: ScheduleTiming = DEFAULT_TIMING): FaultStep[] {
  const steps: FaultStep[] = [];
  if (kinds.length === 0) return steps;
  const rng = mulberry32((seed ^ 0x6e656d65) >>> 0); // "neme"
  let round: FaultKind[] = [];
  let t = between(rng, timing.firstMs);
  for (;;) {
    const holdMs = between(rng, timing.holdMs);
    if (t + holdMs > durationMs) break;
    if (round.length === 0) {
      round = [...new Set(kinds)];
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
    }
    const kind = round.shift()!;
    const atMs = t;
    if (kind === 'kill') steps.push({ kind, atMs, holdMs, target: processTarget(rng, { leader: 0.4, follower: 0.3, catalog: 0.15 }) });
    else if (kind === 'pause') steps.push({ kind, atMs, holdMs, target: processTarget(rng, { leader: 0.45, follower: 0.35, catalog: 0.1 }) });
    else if (kind === 'power') steps.push({ kind, atMs, holdMs, target: rng() < 0.1 ? { role: 'catalog' } : replicaTarget(rng, 0.55) });
    else steps.push({ kind, atMs, holdMs, ...partitionStep(rng) });
    t = atMs + holdMs + between(rng, timing.gapMs);
  }
  return steps;
}

/** One line per step, e.g. `+3.21s kill leader for 1.20s`. */
export function describeStep(step: FaultStep): string {
  const target = (t: ProcessTarget | ReplicaTarget) => (t.role === 'follower' ? 'a follower' : t.role === 'leader' ? 'the leader' : `the ${t.role}`);
  const what =
    step.kind === 'partition' ? `partition ${describeShape(step.links)} (${describeMode(step.mode)})` : `${step.kind} ${target(step.target)}`;
  return `${fmtSec(step.atMs)} ${what} for ${(step.holdMs / 1000).toFixed(2)}s`;
}

function describeShape(s: PartitionShape): string {
  if (s.shape === 'leader-follower') return s.direction === 'both' ? 'leader <-> a follower' : s.direction === 'from-leader' ? 'leader -> a follower' : 'a follower -> leader';
  return { 'frontend-leader': 'frontend -> leader', 'isolate-leader': 'leader <-> everyone', 'leader-catalog': 'leader -> catalog', 'catalog-frontend': 'catalog -> frontend' }[s.shape];
}

export function describeMode(m: FaultMode): string {
  return m.kind === 'delay' ? `delay ${m.ms}ms` : m.kind;
}

const fmtSec = (ms: number) => `+${(ms / 1000).toFixed(2)}s`;

// ================================================================ links through fault proxies

export type Link = `${ServiceName}->${ServiceName}`;

/** Every directed link a process of the store uses to call another. */
export function allLinks(): Array<[ServiceName, ServiceName]> {
  const out: Array<[ServiceName, ServiceName]> = [];
  const replicas = REPLICA_IDS.map((id) => `order-${id}` as ServiceName);
  for (const r of replicas) out.push(['frontend', r]);
  out.push(['frontend', 'catalog']);
  for (const a of replicas) for (const b of replicas) if (a !== b) out.push([a, b]);
  for (const r of replicas) out.push([r, 'catalog']);
  out.push(['catalog', 'frontend']);
  return out;
}

export interface LinkMesh {
  /** For `startCluster({ links })`: points each link at its proxy and returns the proxy's URL. */
  resolve(from: ServiceName, to: ServiceName, realUrl: string): string;
  set(from: ServiceName, to: ServiceName, mode: FaultMode): void;
  /** Every link back to pass. */
  healAll(): void;
  /** Links not passing now. */
  faulty(): Link[];
  /** Connections each link's proxy accepted so far. */
  connections(): Record<Link, number>;
  close(): Promise<void>;
}

/** One fault proxy per directed link, all on 127.0.0.1, targets filled in when the cluster launches. */
export async function startLinkMesh(): Promise<LinkMesh> {
  const proxies = new Map<Link, FaultProxy>();
  try {
    for (const [from, to] of allLinks()) proxies.set(`${from}->${to}`, await startFaultProxy());
  } catch (err) {
    await Promise.allSettled([...proxies.values()].map((p) => p.close()));
    throw err;
  }
  const get = (from: ServiceName, to: ServiceName) => {
    const p = proxies.get(`${from}->${to}`);
    if (!p) throw new Error(`no link ${from} -> ${to}`);
    return p;
  };
  return {
    resolve(from, to, realUrl) {
      const p = get(from, to);
      p.setTarget(realUrl);
      return p.url;
    },
    set: (from, to, mode) => get(from, to).setMode(mode),
    healAll() {
      for (const p of proxies.values()) if (p.mode.kind !== 'pass') p.setMode(PASS);
    },
    faulty: () => [...proxies].filter(([, p]) => p.mode.kind !== 'pass').map(([l]) => l),
    connections: () => Object.fromEntries([...proxies].map(([l, p]) => [l, p.stats().accepted])) as Record<Link, number>,
    close: async () => void (await Promise.allSettled([...proxies.values()].map((p) => p.close()))),
  };
}

/** The directed links a partition shape cuts, given who leads now. */
export function linksOf(shape: PartitionShape, leader: ReplicaId): Array<[ServiceName, ServiceName]> {
  const L: ServiceName = `order-${leader}`;
  const others = REPLICA_IDS.filter((id) => id !== leader).map((id) => `order-${id}` as ServiceName);
  switch (shape.shape) {
    case 'leader-follower': {
      const F = others[Math.min(others.length - 1, Math.floor(shape.pick * others.length))]!;
      if (shape.direction === 'from-leader') return [[L, F]];
      if (shape.direction === 'to-leader') return [[F, L]];
      return [[L, F], [F, L]];
    }
    case 'frontend-leader':
      return [['frontend', L]];
    case 'isolate-leader':
      return [...others.flatMap((F): Array<[ServiceName, ServiceName]> => [[L, F], [F, L]]), ['frontend', L]];
    case 'leader-catalog':
      return [[L, 'catalog']];
    case 'catalog-frontend':
      return [['catalog', 'frontend']];
  }
}

// ================================================================ power loss

export type CutResult =
  /** Cut `bytes` (0: the file ended where the last fsync did). */
  | { kind: 'cut'; bytes: number }
  /** No file or no sidecar (nothing was ever fsynced, or tracking is off). */
  | { kind: 'absent' }
  /** The sidecar does not hold a number (e.g. killed mid-write of it): the file is left alone. */
  | { kind: 'unreadable'; text: string };

/** Cuts `file` back to the byte length recorded in `<file>.synced` (what the last fsync covered). */
export async function cutToSynced(file: string): Promise<CutResult> {
  let text: string;
  let size: number;
  try {
    text = await fs.readFile(`${file}.synced`, 'utf8');
    size = (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  if (!/^\d+$/.test(text.trim())) return { kind: 'unreadable', text };
  const synced = Number(text.trim());
  if (synced >= size) return { kind: 'cut', bytes: 0 };
  await fs.truncate(file, synced);
  return { kind: 'cut', bytes: size - synced };
}

/** The durable files a service's power loss cuts back. */
export function durableFilesOf(dataDir: string, service: ServiceName): string[] {
  if (service === 'catalog') return [path.join(dataDir, 'catalog', 'ledger.csv')];
  if (service.startsWith('order-')) return [path.join(dataDir, service, 'orders.csv')];
  return [];
}

// ================================================================ history analysis

export interface OpCounts {
  ok: number;
  fail: number;
  info: number;
}

export interface HistoryStats {
  ops: OpCounts;
  byF: Record<HistoryEvent['f'], OpCounts>;
  /** 99th percentile (nearest rank) of invoke → ok latency over ok orders, ms; null without any. */
  p99OrderMs: number | null;
  /** Longest gap between consecutive ok order completions across all clients, ms; null with fewer than two. */
  longestStallMs: number | null;
  /** When the longest stall began (the earlier completion), ms. */
  longestStallAtMs: number | null;
}

/** Counts, order latency and the longest client-visible stall, from one history. */
export function analyzeHistory(events: readonly HistoryEvent[]): HistoryStats {
  const zero = (): OpCounts => ({ ok: 0, fail: 0, info: 0 });
  const ops = zero();
  const byF: Record<HistoryEvent['f'], OpCounts> = { query: zero(), order: zero(), read: zero() };
  const invokedAt = new Map<number, number>();
  const latencies: number[] = [];
  const okOrderTimes: number[] = [];
  for (const e of events) {
    if (e.type === 'invoke') {
      invokedAt.set(e.op, e.timeMs);
      continue;
    }
    ops[e.type]++;
    byF[e.f][e.type]++;
    if (e.f === 'order' && e.type === 'ok') {
      okOrderTimes.push(e.timeMs);
      const t0 = invokedAt.get(e.op);
      if (t0 !== undefined) latencies.push(e.timeMs - t0);
    }
  }
  latencies.sort((a, b) => a - b);
  okOrderTimes.sort((a, b) => a - b);
  let longestStallMs: number | null = null;
  let longestStallAtMs: number | null = null;
  for (let i = 1; i < okOrderTimes.length; i++) {
    const gap = okOrderTimes[i]! - okOrderTimes[i - 1]!;
    if (longestStallMs === null || gap > longestStallMs) {
      longestStallMs = gap;
      longestStallAtMs = okOrderTimes[i - 1]!;
    }
  }
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return { ops, byF, p99OrderMs: round(percentile(latencies, 0.99)), longestStallMs: round(longestStallMs), longestStallAtMs: round(longestStallAtMs) };
}

// ================================================================ options and arguments

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  clients: number;
  faults: readonly FaultKind[];
  /** Leave the run's directory (data, history, service logs) instead of removing it. */
  keep: boolean;
  /** Where to make the run's temporary directory (default os.tmpdir()). */
  tmpRoot?: string;
  /** Every timeline event as it happens (the CLI prints them). */
  onEvent?: (e: TimelineEvent) => void;
  /** Aborting stops the clients and the nemesis, stops every process and skips the checks. */
  signal?: AbortSignal;
  /** Probability a client orders a toy in stock (default 0.5). */
  p?: number;
  /** Pause between one client's iterations, ms (default 10). */
  thinkMs?: number;
  /** Deadline for the three order logs to become identical after healing (default 30 s). */
  convergeTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  restockIntervalMs?: number;
  timing?: ScheduleTiming;
  /** Extra environment for every service (e.g. COMMIT_QUORUM=1 to see the checker catch lost orders). */
  env?: Record<string, string>;
}

export class ChaosUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChaosUsageError';
  }
}

export const CHAOS_USAGE = `usage: npm run chaos -- [--seed N] [--duration S] [--clients N] [--faults LIST] [--keep] [--json]
  --seed N        schedule and client seed, integer 0-4294967295 (default: random, printed)
  --duration S    seconds of traffic and faults, 1-3600 (default 30)
  --clients N     concurrent retrying clients, 1-100 (default 5)
  --faults LIST   comma-separated: kill,pause,partition,power (default all; kill includes
                  the catalog and the frontend), or none
  --keep          keep the run's directory (data dir, history.jsonl, services.log)
  --json          print one JSON report instead of the timeline and summary
  -h, --help      show this help
Exit: 0 no violation, 1 violations (or the store could not start), 2 bad flags, 130 interrupted.`;

export interface ChaosArgs {
  seed: number | undefined;
  durationS: number;
  clients: number;
  faults: FaultKind[];
  keep: boolean;
  json: boolean;
  help: boolean;
}

export function parseChaosArgs(argv: readonly string[]): ChaosArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        faults: { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ChaosUsageError(err instanceof Error ? err.message : String(err));
  }
  const int = (flag: string, def: number, min: number, max: number): number => {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) throw new ChaosUsageError(`--${flag} must be an integer between ${min} and ${max}, got '${raw}'`);
    return Number(raw);
  };
  const seedRaw = values.seed as string | undefined;
  let durationS = 30;
  const rawDuration = values.duration as string | undefined;
  if (rawDuration !== undefined) {
    durationS = rawDuration.trim() === '' ? NaN : Number(rawDuration);
    if (!Number.isFinite(durationS) || durationS < 1 || durationS > 3600) throw new ChaosUsageError(`--duration must be a number of seconds between 1 and 3600, got '${rawDuration}'`);
  }
  const rawFaults = ((values.faults as string | undefined) ?? FAULT_KINDS.join(',')).trim();
  const faults = rawFaults === 'none' || rawFaults === '' ? [] : rawFaults.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of faults) if (!FAULT_KINDS.includes(f as FaultKind)) throw new ChaosUsageError(`--faults: unknown fault '${f}' (known: ${FAULT_KINDS.join(', ')}, or none)`);
  return {
    seed: seedRaw === undefined ? undefined : int('seed', 0, 0, 0xffffffff),
    durationS,
    clients: int('clients', 5, 1, 100),
    faults: [...new Set(faults as FaultKind[])],
    keep: values.keep === true,
    json: values.json === true,
    help: values.help === true,
  };
}

// ================================================================ the report

export type TimelineKind = 'phase' | 'fault' | 'heal' | 'leader' | 'exit' | 'note';
export interface TimelineEvent {
  /** ms since the clients started (the clock of the history); negative: during setup. */
  timeMs: number;
  /** Before the clients started (live printers cannot know the negative time yet). */
  setup?: boolean;
  kind: TimelineKind;
  text: string;
}

export interface ChaosViolation {
  /** `check` (the checker), `converge`, `restart`, `client` (read-back mismatch) or `fallback`. */
  source: 'check' | 'converge' | 'restart' | 'client' | 'fallback';
  kind: string;
  message: string;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  clients: number;
  faults: FaultKind[];
  /** The run's directory when kept, else null. */
  dir: string | null;
  schedule: FaultStep[];
  ops: OpCounts;
  opsByF: HistoryStats['byF'];
  /** Faults injected per kind (only the ones that took effect). */
  faultsInjected: Record<FaultKind, number>;
  leaderChanges: number;
  p99OrderMs: number | null;
  longestStallMs: number | null;
  /** When the longest stall began (ms on the timeline's clock), or null. */
  longestStallAtMs: number | null;
  /** Connections each directed link's fault proxy carried (every inter-service call goes through one). */
  linkConnections: Record<Link, number> | null;
  /** Exits nobody asked for (crashes), e.g. a replica refusing to start. */
  unexpectedExits: string[];
  /** ms from healing to identical logs, or null if they did not converge. */
  convergedAfterMs: number | null;
  /** Which checker judged: check-lib's checkDataDir, or the fallback. */
  checker: 'check-lib' | 'fallback';
  checkerSummary: string | null;
  violations: ChaosViolation[];
  timeline: TimelineEvent[];
  client: RunSummary | null;
  interrupted: boolean;
}

export function summaryLine(r: ChaosReport): string {
  const faults = FAULT_KINDS.filter((k) => r.faults.includes(k)).map((k) => `${k} ${r.faultsInjected[k]}`).join(', ') || 'none';
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  return (
    `chaos: seed ${r.seed}, ${r.durationMs / 1000} s, ${r.clients} clients | ops ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}` +
    ` | faults ${faults} | leader changes ${r.leaderChanges} | p99 order ${ms(r.p99OrderMs)} | longest stall ${ms(r.longestStallMs)}${r.longestStallAtMs !== null && r.longestStallAtMs !== undefined ? ` at ${fmtSec(r.longestStallAtMs)}` : ''}` +
    ` | violations ${r.violations.length}${r.interrupted ? ' | INTERRUPTED' : ''}`
  );
}

export function formatTimelineEvent(e: TimelineEvent): string {
  const t = (e.setup ? 'setup' : `${e.timeMs < 0 ? '-' : '+'}${(Math.abs(e.timeMs) / 1000).toFixed(2)}s`).padStart(9);
  return `${t}  ${e.kind.padEnd(6)} ${e.text}`;
}

/** Everything after the timeline: violations, then the summary line. */
export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  if (r.client) {
    const o = r.client.orders;
    lines.push(`orders: ${o.acknowledged} acknowledged, ${o.rejected} rejected (409), ${o.failed} failed, ${o.unknown} unknown; ${r.client.stats.order.replayed} replayed answers`);
  }
  if (r.checkerSummary) lines.push(r.checkerSummary);
  if (r.unexpectedExits.length) lines.push(`unexpected exits: ${r.unexpectedExits.join('; ')}`);
  if (r.dir) lines.push(`kept: ${r.dir}`);
  const shown = r.violations.slice(0, 50);
  for (const v of shown) lines.push(`VIOLATION [${v.source}/${v.kind}] ${v.message}`);
  if (r.violations.length > shown.length) lines.push(`... ${r.violations.length - shown.length} more violations`);
  lines.push(summaryLine(r));
  return lines.join('\n');
}

// ================================================================ the run

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

const replicaName = (id: ReplicaId): ServiceName => `order-${id}`;

/**
 * Runs one chaos experiment and returns its report. Throws only when the store cannot start or
 * the run directory cannot be made; everything the store does wrong is in the report.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const signal = opts.signal;
  const runDir = await fs.mkdtemp(path.join(opts.tmpRoot ?? os.tmpdir(), 'toystore-chaos-'));
  const dataDir = path.join(runDir, 'data');
  const historyPath = path.join(runDir, 'history.jsonl');
  const servicesLog = createWriteStream(path.join(runDir, 'services.log'));
  const schedule = makeSchedule(opts.seed, opts.durationMs, opts.faults, opts.timing);
  const http = createPooledHttp({ connectionsPerOrigin: 4 });

  let t0 = performance.now();
  let started = false;
  const timeline: TimelineEvent[] = [];
  const note = (kind: TimelineKind, text: string) => {
    const e: TimelineEvent = { timeMs: Math.round(performance.now() - t0), kind, text, ...(!started && { setup: true }) };
    timeline.push(e);
    try {
      opts.onEvent?.(e);
    } catch {
      // a throwing printer must not stop the run
    }
  };
  const injected: Record<FaultKind, number> = { kill: 0, pause: 0, partition: 0, power: 0 };
  const unexpectedExits: string[] = [];
  const violations: ChaosViolation[] = [];
  const events: HistoryEvent[] = [];
  let leaderChanges = 0;
  let client: RunSummary | null = null;
  let convergedAfterMs: number | null = null;
  let checker: ChaosReport['checker'] = 'check-lib';
  let checkerSummary: string | null = null;
  const recent: string[] = [];

  let mesh: LinkMesh | null = null;
  let linkConnections: Record<Link, number> | null = null;
  let cluster: Cluster | null = null;
  const paused = new Set<ServiceName>();
  let stopPolling = false;
  let poller: Promise<void> = Promise.resolve();
  let history: Awaited<ReturnType<typeof openHistoryFile>> | null = null;

  try {
    mesh = await startLinkMesh();
    const power = opts.faults.includes('power');
    note('phase', `starting the store in ${dataDir}${power ? ' (TRACK_FSYNC_OFFSETS=true)' : ''}`);
    const m = mesh;
    cluster = await startCluster({
      dataDir,
      env: { ...opts.env, ...(power && { TRACK_FSYNC_OFFSETS: 'true' }) },
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      restockIntervalMs: opts.restockIntervalMs ?? 2_000,
      links: (from, to, realUrl) => m.resolve(from, to, realUrl),
      output: (service, line) => {
        servicesLog.write(`[${service}] ${line}\n`);
        recent.push(`[${service}] ${line}`);
        if (recent.length > 50) recent.shift();
      },
      onExit: (info) => {
        if (info.expected) return;
        const text = `${info.service} (pid ${info.pid}) exited unexpectedly (${describeExit(info)})`;
        unexpectedExits.push(text);
        note('exit', text);
      },
    });
    const c = cluster;
    note('phase', `store up: frontend ${c.urls.frontend}, pids ${SERVICE_NAMES.map((s) => `${s} ${c.pids()[s]}`).join(', ')}`);

    // ---------------------------------------------------------------- leader watching
    const frontendHealth = async (): Promise<{ leaderId: number | null; epoch: number | null } | null> => {
      try {
        const res = await http({ method: 'GET', url: `${c.urls.frontend}/health`, timeoutMs: 500 });
        const data = (res.body as { data?: { leaderId?: unknown; epoch?: unknown } } | undefined)?.data;
        if (res.status !== 200 || !data) return null;
        return { leaderId: typeof data.leaderId === 'number' ? data.leaderId : null, epoch: typeof data.epoch === 'number' ? data.epoch : null };
      } catch {
        return null;
      }
    };
    /** The leader now: the frontend's view, else a replica that says it leads (highest epoch). */
    const findLeader = async (): Promise<ReplicaId | null> => {
      const h = await frontendHealth();
      if (h?.leaderId && REPLICA_IDS.includes(h.leaderId as ReplicaId)) return h.leaderId as ReplicaId;
      const statuses = await Promise.all(
        REPLICA_IDS.map(async (id) => {
          try {
            const res = await http({ method: 'GET', url: `${c.urls.replicas[id]}/internal/status`, timeoutMs: 300 });
            const d = (res.body as { data?: { role?: string; leaderEpoch?: number | null } } | undefined)?.data;
            return d?.role === 'leader' ? { id, epoch: d.leaderEpoch ?? 0 } : null;
          } catch {
            return null;
          }
        }),
      );
      const leaders = statuses.filter((s) => s !== null).sort((a, b) => b!.epoch - a!.epoch);
      return leaders[0]?.id ?? null;
    };
    const waitForLeader = async (deadlineMs: number): Promise<ReplicaId | null> => {
      const end = performance.now() + deadlineMs;
      while (!signal?.aborted && performance.now() < end) {
        const h = await frontendHealth();
        if (h?.leaderId) return h.leaderId as ReplicaId;
        await sleep(50, signal);
      }
      return null;
    };
    // A leader change is a new (leader, epoch) after another one, with or without an election gap
    // in between; a restarted frontend re-reporting the same leader and epoch is not one.
    const seen: { shown: number | null; known: { leaderId: number; epoch: number | null } | null } = { shown: null, known: null };
    poller = (async () => {
      while (!stopPolling) {
        const h = await frontendHealth();
        const prev = seen.known;
        if (h && h.leaderId !== null && (h.leaderId !== prev?.leaderId || h.epoch !== prev?.epoch)) {
          if (prev !== null && started) leaderChanges++;
          note('leader', `leader ${prev?.leaderId ?? '-'} -> ${h.leaderId} (epoch ${h.epoch})`);
          seen.known = { leaderId: h.leaderId, epoch: h.epoch };
          seen.shown = h.leaderId;
        } else if (h && h.leaderId === null && seen.shown !== null) {
          note('leader', `no leader (was ${seen.shown}; electing)`);
          seen.shown = null;
        } else if (h?.leaderId != null) seen.shown = h.leaderId;
        await sleep(100);
      }
    })();

    if ((await waitForLeader(30_000)) === null) throw new Error(`no leader was elected within 30 s\n${recent.join('\n')}`);

    // ---------------------------------------------------------------- nemesis
    const resolveReplica = async (t: ReplicaTarget): Promise<{ id: ReplicaId; why: string }> => {
      const leader = await findLeader();
      if (t.role === 'leader') return leader ? { id: leader, why: 'leader' } : { id: 3, why: 'no leader known; highest priority' };
      const others = REPLICA_IDS.filter((id) => id !== leader);
      return { id: others[Math.min(others.length - 1, Math.floor(t.pick * others.length))]!, why: leader ? `follower of ${leader}` : 'no leader known' };
    };
    const resolveProcess = async (t: ProcessTarget): Promise<{ service: ServiceName; why: string }> => {
      if (t.role === 'catalog' || t.role === 'frontend') return { service: t.role, why: t.role };
      const r = await resolveReplica(t);
      return { service: replicaName(r.id), why: r.why };
    };
    const restart = async (service: ServiceName): Promise<boolean> => {
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          await c.restart(service);
          return true;
        } catch (err) {
          note('note', `restart of ${service} failed (attempt ${attempt}): ${(err as Error).message.split('\n')[0]}`);
          if (signal?.aborted) return false;
          await sleep(500, signal);
        }
      }
      return false;
    };
    const powerCut = async (service: ServiceName): Promise<string> => {
      const cuts: string[] = [];
      for (const file of durableFilesOf(c.dataDir, service)) {
        const cut = await cutToSynced(file);
        const name = path.relative(c.dataDir, file);
        if (cut.kind === 'cut') cuts.push(`${name} -${cut.bytes} bytes`);
        else if (cut.kind === 'absent') cuts.push(`${name}: no file or no .synced sidecar, not cut`);
        else cuts.push(`${name}: .synced sidecar holds ${JSON.stringify(cut.text.slice(0, 20))}, not cut`);
      }
      return cuts.length ? cuts.join(', ') : 'nothing to cut';
    };

    /** Heals one step: what `apply` did, undone. */
    type Undo = () => Promise<void>;
    const apply = async (step: FaultStep): Promise<Undo | null> => {
      if (step.kind === 'partition') {
        const leader = (await findLeader()) ?? 3;
        const links = linksOf(step.links, leader);
        for (const [from, to] of links) m.set(from, to, step.mode);
        injected.partition++;
        note('fault', `partition ${links.map(([a, b]) => `${a}->${b}`).join(', ')} ${describeMode(step.mode)} (leader ${leader})`);
        return async () => {
          for (const [from, to] of links) m.set(from, to, PASS);
          note('heal', `links pass again: ${links.map(([a, b]) => `${a}->${b}`).join(', ')}`);
        };
      }
      const { service, why } = await resolveProcess(step.target);
      if (!c.isRunning(service)) {
        note('note', `${step.kind} ${service} skipped: not running`);
        return null;
      }
      if (step.kind === 'pause') {
        await c.pause(service);
        paused.add(service);
        injected.pause++;
        note('fault', `SIGSTOP ${service} (${why})`);
        return async () => {
          paused.delete(service);
          if (!c.isRunning(service)) return;
          await c.resume(service);
          note('heal', `SIGCONT ${service}`);
        };
      }
      await c.kill(service, 'SIGKILL');
      injected[step.kind]++;
      if (step.kind === 'power') note('fault', `power loss ${service} (${why}): SIGKILL, cut ${await powerCut(service)}`);
      else note('fault', `SIGKILL ${service} (${why})`);
      return async () => {
        if (await restart(service)) note('heal', `restarted ${service} (pid ${c.pids()[service]})`);
      };
    };

    const nemesisStop = new AbortController();
    const stopNemesis = () => nemesisStop.abort();
    signal?.addEventListener('abort', stopNemesis, { once: true });
    const nemesis = async () => {
      for (const step of schedule) {
        await sleep(t0 + step.atMs - performance.now(), nemesisStop.signal);
        if (nemesisStop.signal.aborted) return;
        let undo: Undo | null = null;
        try {
          undo = await apply(step);
        } catch (err) {
          note('note', `${step.kind} failed: ${(err as Error).message.split('\n')[0]}`);
        }
        await sleep(step.holdMs, nemesisStop.signal);
        try {
          await undo?.();
        } catch (err) {
          note('note', `healing ${step.kind} failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    };
    /** Everything back to normal: links pass, paused continue, what is down restarts. */
    const healAll = async () => {
      m.healAll();
      for (const s of [...paused]) {
        paused.delete(s);
        if (c.isRunning(s)) await c.resume(s);
      }
      for (const s of SERVICE_NAMES) {
        if (c.isRunning(s) || signal?.aborted) continue;
        if (await restart(s)) note('heal', `restarted ${s} (pid ${c.pids()[s]})`);
        else violations.push({ source: 'restart', kind: 'down', message: `${s} could not be restarted (see services.log)` });
      }
    };

    // ---------------------------------------------------------------- clients + nemesis
    history = await openHistoryFile(historyPath);
    const h = history;
    const clientsStop = new AbortController();
    const stopClients = () => clientsStop.abort();
    signal?.addEventListener('abort', stopClients, { once: true });
    const setupStart = t0;
    t0 = performance.now();
    started = true;
    for (const e of timeline) if (e.setup) e.timeMs -= Math.round(t0 - setupStart);
    note('phase', `clients start: ${opts.clients} clients for ${opts.durationMs / 1000} s; ${schedule.length} faults scheduled`);
    let healed: Promise<void> | null = null;
    const heal = () =>
      (healed ??= (async () => {
        note('phase', 'healing everything');
        stopNemesis();
        await nemesisRun;
        await healAll();
        if (!signal?.aborted && (await waitForLeader(30_000)) === null) note('note', 'no leader 30 s after healing');
      })());
    const nemesisRun = nemesis();
    const durationTimer = setTimeout(() => void heal(), opts.durationMs);
    let result;
    try {
      result = await runClients({
        baseUrl: c.urls.frontend,
        clients: opts.clients,
        durationMs: opts.durationMs,
        signal: clientsStop.signal,
        p: opts.p ?? 0.5,
        seed: opts.seed,
        thinkMs: opts.thinkMs ?? 10,
        timeoutMs: 3_000,
        retry: { retries: 10, minTimeout: 100, factor: 2, maxTimeout: 1_000 },
        timeOrigin: t0,
        history: (e) => {
          events.push(e);
          h.write(e);
        },
        skipReadBack: () => signal?.aborted ?? false,
        beforeReadBack: async () => {
          note('phase', 'clients done; read-back after healing');
          await heal();
        },
      });
    } finally {
      clearTimeout(durationTimer);
      await heal();
    }
    client = summarize(result);
    for (const mm of result.mismatches) violations.push({ source: 'client', kind: mm.kind, message: mm.message });
    await history.close();
    history = null;

    // ---------------------------------------------------------------- convergence
    if (!signal?.aborted) {
      const healedAt = performance.now();
      const deadline = healedAt + (opts.convergeTimeoutMs ?? 30_000);
      const logFiles = REPLICA_IDS.map((id) => path.join(c.dataDir, replicaName(id), 'orders.csv'));
      for (;;) {
        const files = await Promise.all(logFiles.map((f) => fs.readFile(f).catch(() => null)));
        if (files.every((f) => f !== null && f.equals(files[0]!))) {
          convergedAfterMs = Math.round(performance.now() - healedAt);
          note('phase', `order logs identical (${files[0]!.length} bytes) after ${convergedAfterMs} ms`);
          break;
        }
        if (performance.now() > deadline || signal?.aborted) {
          const sizes = files.map((f, i) => `order-${i + 1} ${f?.length ?? 'missing'}`).join(', ');
          violations.push({ source: 'converge', kind: 'divergence', message: `order logs not identical ${opts.convergeTimeoutMs ?? 30_000} ms after healing (${sizes} bytes)` });
          note('phase', `order logs did not converge (${sizes} bytes)`);
          break;
        }
        await sleep(100, signal);
      }
    }
    stopPolling = true;
    await poller;
    note('phase', 'stopping the store');
    await c.stop();

    // ---------------------------------------------------------------- judging
    if (!signal?.aborted) {
      const judged = await judge(c.dataDir, historyPath, events);
      checker = judged.checker;
      checkerSummary = judged.summary;
      violations.push(...judged.violations);
    }
  } finally {
    stopPolling = true;
    await poller.catch(() => {});
    if (cluster) {
      for (const s of paused) if (cluster.isRunning(s)) await cluster.resume(s).catch(() => {});
      await cluster.stop();
    }
    linkConnections = mesh?.connections() ?? null;
    await mesh?.close();
    await history?.close().catch(() => {});
    await http.close();
    await new Promise<void>((r) => servicesLog.end(() => r()));
    if (!opts.keep) await fs.rm(runDir, { recursive: true, force: true });
  }

  const stats = analyzeHistory(events);
  return {
    seed: opts.seed,
    durationMs: opts.durationMs,
    clients: opts.clients,
    faults: [...opts.faults],
    dir: opts.keep ? runDir : null,
    schedule,
    ops: stats.ops,
    opsByF: stats.byF,
    faultsInjected: injected,
    leaderChanges,
    p99OrderMs: stats.p99OrderMs,
    longestStallMs: stats.longestStallMs,
    longestStallAtMs: stats.longestStallAtMs,
    linkConnections,
    unexpectedExits,
    convergedAfterMs,
    checker,
    checkerSummary,
    violations,
    timeline,
    client,
    interrupted: signal?.aborted ?? false,
  };
}

// ================================================================ judging

interface Judgement {
  checker: ChaosReport['checker'];
  summary: string;
  violations: ChaosViolation[];
}

/**
 * The consistency checker (scripts/check-lib.ts `checkDataDir`) over the stopped store's data
 * dir and the history. If it cannot be loaded, the fallback below judges instead.
 */
export async function judge(dataDir: string, historyPath: string, events: readonly HistoryEvent[]): Promise<Judgement> {
  let lib: typeof import('./lib/check/index.ts');
  try {
    lib = await import('./lib/check/index.ts');
  } catch (err) {
    const fb = await fallbackCheck(dataDir, events);
    return { checker: 'fallback', summary: `check-lib could not be loaded (${(err as Error).message.split('\n')[0]}); fallback: ${fb.length} violations`, violations: fb };
  }
  let report: Awaited<ReturnType<typeof lib.checkDataDir>>;
  try {
    report = await lib.checkDataDir(dataDir, [historyPath]);
  } catch (err) {
    const message = `the checker could not read its input: ${(err as Error).message}`;
    return { checker: 'check-lib', summary: `check: ${message}`, violations: [{ source: 'check', kind: 'input', message }] };
  }
  const extra = [...report.skipped, ...report.notes].map((s) => `  ${s}`);
  return {
    checker: 'check-lib',
    summary: [lib.summaryLine(report), ...extra].join('\n'),
    violations: report.violations.map((v) => ({ source: 'check' as const, kind: v.kind, message: v.message })),
  };
}

/**
 * The minimal check used when check-lib is unavailable: the three logs parse, agree, are well
 * formed with unique keys and hold every acknowledged order; and every order in the log that no
 * client was told about is explained by an order whose outcome the client does not know (same toy
 * and quantity), otherwise it is a duplicate or a phantom.
 */
export async function fallbackCheck(dataDir: string, events: readonly HistoryEvent[]): Promise<ChaosViolation[]> {
  const out: ChaosViolation[] = [];
  const logs = new Map<string, OrderEntry[]>();
  for (const id of REPLICA_IDS) {
    const file = path.join(dataDir, replicaName(id), 'orders.csv');
    try {
      logs.set(replicaName(id), parseLog(file, await fs.readFile(file)).entries);
    } catch (err) {
      out.push({ source: 'fallback', kind: 'unreadable', message: `${file}: ${(err as Error).message}` });
    }
  }
  const invokes = new Map<number, HistoryEvent>();
  const acked: Array<{ orderNumber: number; name: string; quantity: number }> = [];
  const unknown = new Map<string, number>();
  for (const e of events) {
    if (e.f !== 'order') continue;
    if (e.type === 'invoke') invokes.set(e.op, e);
    const req = e.request as { name?: string; quantity?: number };
    if (e.type === 'ok') {
      const n = (e.response?.body as { data?: { order_number?: number } } | null)?.data?.order_number;
      if (typeof n === 'number') acked.push({ orderNumber: n, name: String(req.name), quantity: Number(req.quantity) });
    } else if (e.type === 'info') {
      const k = `${req.name}|${req.quantity}`;
      unknown.set(k, (unknown.get(k) ?? 0) + 1);
    }
  }
  const toViolation = (v: Violation): ChaosViolation => ({ source: 'fallback', kind: v.kind, message: v.message });
  out.push(...checkConvergedCluster(logs, acked).map(toViolation));
  const ref = logs.values().next().value as OrderEntry[] | undefined;
  if (ref) {
    const ackedNumbers = new Set(acked.map((a) => a.orderNumber));
    for (const e of ref) {
      if (ackedNumbers.has(e.index)) continue;
      const k = `${e.name}|${e.quantity}`;
      const left = unknown.get(k) ?? 0;
      if (left > 0) unknown.set(k, left - 1);
      else out.push({ source: 'fallback', kind: 'unexplained', message: `order ${e.index} (${e.quantity} ${e.name}) was never acknowledged and matches no order with an unknown outcome: a duplicate or a phantom` });
    }
  }
  return out;
}
