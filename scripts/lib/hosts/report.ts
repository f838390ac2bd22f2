/**
 * The multi-host run's command line (options, usage) and its human report: the figures the
 * issue asks for first (errors when a frontend and when the leader dies, orders/s through the
 * load balancer against one frontend, the duelling figures), then each fault, the checker's
 * verdict and the teardown's leak check.
 */
import { parseArgs } from 'node:util';
import {
  FAULT_KINDS,
  parseKinds,
  QUICK_TIMING,
  DEFAULT_TIMING,
  roundDurationMs,
  type FaultKind,
} from './schedule.ts';
import type { SupervisedReport, SupervisorOptions } from './supervisor.ts';

export const USAGE = `usage: npm run cluster:hosts -- [--seed N] [--duration S] [--clients N] [--faults LIST]
                              [--throughput S] [--quick] [--dist DIR] [--keep] [--json] [--deadline S]
  Runs every service on its own network namespace host, two frontends behind haproxy, a seeded
  fault plan (${FAULT_KINDS.join(', ')}), the checker, and tears it all down. Needs root.
  --quick       one round of every fault kind, short phases (what npm test runs)
  --throughput  seconds per orders/s measurement (through the load balancer, then one frontend); 0 skips
  --dist        a built tree (npm run build) instead of building a fresh one
  exit codes: 0 no violation, 1 violations or an unclean teardown, 2 usage, 3 this machine cannot run it`;

export class UsageError extends Error {}

export interface CliOptions extends SupervisorOptions {
  json: boolean;
}

export function parseCliArgs(argv: readonly string[]): CliOptions {
  let v;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        seed: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        faults: { type: 'string' },
        throughput: { type: 'string' },
        quick: { type: 'boolean', default: false },
        dist: { type: 'string' },
        keep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        deadline: { type: 'string' },
        'log-level': { type: 'string', default: 'warn' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (v.help) throw new UsageError('');
  const num = (
    name: string,
    raw: string | undefined,
    fallback: number,
    min: number,
    max: number,
  ) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
    return n;
  };
  let kinds: FaultKind[];
  try {
    kinds = v.faults ? parseKinds(v.faults) : [...FAULT_KINDS];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const quick = v.quick!;
  const timing = quick ? QUICK_TIMING : DEFAULT_TIMING;
  const durationMs =
    num('duration', v.duration, quick ? roundDurationMs(kinds, timing) / 1000 : 60, 1, 3_600) *
    1000;
  const throughputMs = num('throughput', v.throughput, quick ? 2 : 8, 0, 600) * 1000;
  const margin = 120_000 + (quick ? 0 : 60_000);
  return {
    seed: num('seed', v.seed, Math.floor(Math.random() * 0x7fffffff), 0, 0xffffffff),
    quick,
    kinds,
    durationMs,
    throughputMs,
    clients: num('clients', v.clients, quick ? 4 : 8, 1, 200),
    distDir: v.dist,
    keep: v.keep!,
    json: v.json!,
    logLevel: v['log-level']!,
    deadlineMs:
      num('deadline', v.deadline, (durationMs + 2 * throughputMs + margin) / 1000, 10, 7_200) *
      1000,
  };
}

const pct = (a: number, b: number) => (b ? `${Math.round((a / b) * 1000) / 10} %` : '-');

export function formatReport(s: SupervisedReport): string {
  const r = s.report;
  const out: string[] = [];
  if (!r) {
    out.push(
      `no report: the controller exited ${s.controllerExit}${s.deadlineHit ? ' after the deadline' : ''}`,
    );
  } else {
    const fk = r.errorsWhen.frontendKilled;
    const lk = r.errorsWhen.leaderKilled;
    const d = r.duel;
    out.push(
      `multi-host run, seed ${r.seed}${r.quick ? ' (quick)' : ''}: ${r.clients} clients through haproxy, ${r.faults.length} faults`,
    );
    out.push(
      `  client-visible errors when a frontend dies: ${fk.attemptErrors} failed attempts, ${fk.opFailures} failed operations (${fk.faults} kills)`,
    );
    out.push(
      `  client-visible errors when the leader dies:  ${lk.attemptErrors} failed attempts, ${lk.opFailures} failed operations (${lk.faults} kills)`,
    );
    if (r.throughput)
      out.push(
        `  orders/s: ${r.throughput.lbOrdersPerSec} through the load balancer, ${r.throughput.directOrdersPerSec} through one frontend alone (x${r.throughput.ratio}; ${r.throughput.clients} clients, ${r.throughput.ms / 1000} s each, load average ${r.throughput.loadAverage})`,
      );
    if (d.startup)
      out.push(
        `  first election: ${d.startup.epochs} epochs before replica ${d.startup.leaderId} led`,
      );
    out.push(
      `  duelling: ${d.epochs} epochs over ${d.replicaFaults} replica faults (${d.epochsPerReplicaFault ?? '-'} per fault), ${d.leaderChanges} leader changes, ${d.tookLeadBack} lead taken back by a restarted replica`,
    );
    out.push(
      `  frontends disagreed on the leader in ${d.agreement.disagreements} of ${d.agreement.samples} samples (${pct(d.agreement.disagreements, d.agreement.samples)}; longest ${d.agreement.longestDisagreementMs} ms); one had none in ${d.agreement.oneWithout}`,
    );
    out.push(
      '  faults:    time kind               epochs leader changes, moved after; failed attempts, failed ops',
    );
    for (const f of r.faults) {
      out.push(
        `    +${(f.atMs / 1000).toFixed(1)}s ${f.kind.padEnd(18)} ${String(f.epochs).padStart(2)} epochs ${String(f.leaderChanges).padStart(2)} leader changes ${f.leaderMovedAfterMs === null ? '    -   ' : `${String(f.leaderMovedAfterMs).padStart(5)} ms`} ${String(f.attemptErrors).padStart(4)} failed attempts ${String(f.opFailures).padStart(3)} failed ops${f.tookLeadBack ? '  TOOK THE LEAD BACK' : ''}  ${f.detail}`,
      );
      if (f.attemptErrors)
        out.push(
          `      failed attempts: ${Object.entries(f.errorKinds)
            .map(([k, n]) => `${n} ${k}`)
            .join(', ')}`,
        );
    }
    if (r.client)
      out.push(
        `  client: ${r.client.orders.acknowledged} orders acknowledged, ${r.client.orders.unknown} unknown, ${r.client.orders.failed} failed; ${r.client.verified} read back, ${r.client.mismatches.length} mismatches`,
      );
    if (r.interrupted)
      out.push('  INTERRUPTED: the run was stopped early; the checker did not run');
    else
      out.push(
        `  ${r.check ?? 'checker not run'}; logs ${r.logsIdentical ? 'byte-identical' : 'NOT identical'}${r.convergedAfterMs !== null ? `, converged ${r.convergedAfterMs} ms after healing` : ''}`,
      );
    for (const v of r.violations) out.push(`  VIOLATION ${v}`);
  }
  const t = s.teardown;
  out.push(
    `  teardown: ${t.namespacesLeft.length} namespaces left, ${t.processesLeft.length} processes left, root nft ruleset ${t.rootRulesetUnchanged ? 'unchanged' : 'CHANGED'} (${t.killedAtTeardown} killed at teardown)`,
  );
  if (s.runDir) out.push(`  run dir kept: ${s.runDir}`);
  return out.join('\n');
}

/** A clean run: a report with no violation, and nothing left behind. */
export function runPassed(s: SupervisedReport): boolean {
  const t = s.teardown;
  return (
    Boolean(s.report?.ok) &&
    t.namespacesLeft.length === 0 &&
    t.processesLeft.length === 0 &&
    t.rootRulesetUnchanged
  );
}
