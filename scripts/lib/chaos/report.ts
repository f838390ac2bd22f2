/** The chaos run's report: the timeline, violations, figures, and how they are printed. */
import type { RunSummary } from '../client/index.ts';
import type { Link } from './links.ts';
import type { HistoryStats, OpCounts } from './history-stats.ts';
import { FAULT_KINDS, fmtSec, type FaultKind, type FaultStep } from './schedule.ts';

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
  /**
   * `check` (the checker), `converge`, `restart`, `client` (read-back mismatch, or a promise the
   * client saw broken) or `cache` (product reads through the frontend after healing).
   */
  source: 'check' | 'converge' | 'restart' | 'client' | 'cache';
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
  /** Several faults at once (--overlap). */
  overlap: boolean;
  /** Most faults in force at one moment during the run. */
  maxConcurrentFaults: number;
  /** Faults injected per kind (only the ones that took effect). */
  faultsInjected: Record<FaultKind, number>;
  /** Every power cut: how long it took to land and the bytes it removed. */
  powerCuts: Array<{
    service: string;
    tries: number;
    unsyncedAtKill: number;
    wrote: boolean;
    removedBytes: number;
  }>;
  /**
   * ms after healing until every product read through the frontend matched the catalog (null:
   * never, or not checked).
   */
  cacheFreshAfterMs: number | null;
  leaderChanges: number;
  p99OrderMs: number | null;
  longestStallMs: number | null;
  /** When the longest stall began (ms on the timeline's clock), or null. */
  longestStallAtMs: number | null;
  /**
   * Connections each directed link's fault proxy carried (every inter-service call goes through
   * one).
   */
  linkConnections: Record<Link, number> | null;
  /** Exits nobody asked for (crashes), e.g. a replica refusing to start. */
  unexpectedExits: string[];
  /** ms from healing to identical logs, or null if they did not converge. */
  convergedAfterMs: number | null;
  checkerSummary: string | null;
  violations: ChaosViolation[];
  timeline: TimelineEvent[];
  client: RunSummary | null;
  interrupted: boolean;
}

export function summaryLine(r: ChaosReport): string {
  const faults =
    FAULT_KINDS.filter((k) => r.faults.includes(k))
      .map((k) => `${k} ${r.faultsInjected[k]}`)
      .join(', ') || 'none';
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  const cuts = r.powerCuts ?? [];
  const removed = cuts.reduce((n, c) => n + c.removedBytes, 0);
  const idle = cuts.filter((c) => c.removedBytes === 0 && !c.wrote).length;
  const power = cuts.length
    ? ` | power cuts ${cuts.length}, ${cuts.filter((c) => c.removedBytes > 0).length} removed bytes (${removed} in all), ${idle} hit a process writing nothing`
    : '';
  const overlap = r.overlap ? ` | overlap, up to ${r.maxConcurrentFaults} at once` : '';
  return (
    `chaos: seed ${r.seed}, ${r.durationMs / 1000} s, ${r.clients} clients | ops ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}` +
    ` | faults ${faults}${overlap}${power} | leader changes ${r.leaderChanges} | p99 order ${ms(r.p99OrderMs)} | longest stall ${ms(r.longestStallMs)}${r.longestStallAtMs !== null && r.longestStallAtMs !== undefined ? ` at ${fmtSec(r.longestStallAtMs)}` : ''}` +
    ` | violations ${r.violations.length}${r.interrupted ? ' | INTERRUPTED' : ''}`
  );
}

export function formatTimelineEvent(e: TimelineEvent): string {
  const t = (
    e.setup ? 'setup' : `${e.timeMs < 0 ? '-' : '+'}${(Math.abs(e.timeMs) / 1000).toFixed(2)}s`
  ).padStart(9);
  return `${t}  ${e.kind.padEnd(6)} ${e.text}`;
}

/** Everything after the timeline: violations, then the summary line. */
export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  if (r.client) {
    const o = r.client.orders;
    lines.push(
      `orders: ${o.acknowledged} acknowledged, ${o.rejected} rejected (409), ${o.failed} failed, ${o.unknown} unknown; ${r.client.stats.order.replayed} replayed answers`,
    );
  }
  if (r.checkerSummary) lines.push(r.checkerSummary);
  if (r.unexpectedExits.length) lines.push(`unexpected exits: ${r.unexpectedExits.join('; ')}`);
  if (r.dir) lines.push(`kept: ${r.dir}`);
  const shown = r.violations.slice(0, 50);
  for (const v of shown) lines.push(`VIOLATION [${v.source}/${v.kind}] ${v.message}`);
  if (r.violations.length > shown.length)
    lines.push(`... ${r.violations.length - shown.length} more violations`);
  lines.push(summaryLine(r));
  return lines.join('\n');
}
