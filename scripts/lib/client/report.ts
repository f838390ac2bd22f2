/** The client's human-readable report. */
import { REQUEST_TYPES, type Progress, type RunSummary } from './types.ts';
import { describeStoreViolation } from './violations.ts';

const fmtMs = (v: number | null) => (v === null ? '-' : v.toFixed(2));

/** The human-readable report: one row per request type, then order outcomes and mismatches. */
export function formatReport(s: RunSummary): string {
  const header = ['request', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'failures', 'attempts'];
  const rows = REQUEST_TYPES.map((t) => {
    const st = s.stats[t];
    return [
      t,
      String(st.count),
      fmtMs(st.p50),
      fmtMs(st.p95),
      fmtMs(st.p99),
      String(st.failures),
      String(st.attempts),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const bound = [
    s.iterations !== null ? `${s.iterations} iterations` : null,
    s.timeLimitMs !== null ? `${s.timeLimitMs / 1000} s` : null,
  ]
    .filter(Boolean)
    .join(' or ');
  const out = [
    `toystore client: ${s.clients} clients x ${bound}, p=${s.p}, seed=${s.seed}, idempotency ${s.idempotency ? 'on' : 'off'}, ${s.baseUrl}, ${s.durationMs} ms`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `orders: ${s.orders.acknowledged} acknowledged, ${s.orders.rejected} rejected (409), ${s.orders.unknown} unknown outcome, ${s.orders.failed} failed` +
      (s.stats.order.replayed ? `; ${s.stats.order.replayed} answers were replays` : ''),
    `read-back: ${s.verified} verified, ${s.unverified} unverified, ${s.mismatches.length} mismatches`,
  ];
  const reasons = Object.entries(s.failureReasons);
  if (reasons.length)
    out.push('', 'failures / unknown outcomes:', ...reasons.map(([k, n]) => `  ${n} x ${k}`));
  if (s.mismatches.length)
    out.push('', 'MISMATCHES:', ...s.mismatches.map((m) => `  [${m.kind}] ${m.message}`));
  if (s.storeViolationCount) {
    const more = s.storeViolationCount - s.storeViolations.length;
    out.push(
      '',
      `STORE VIOLATIONS (${s.storeViolationCount}):`,
      ...s.storeViolations.map((v) => `  [${v.kind}] ${describeStoreViolation(v)}`),
    );
    if (more > 0) out.push(`  and ${more} more`);
  }
  return out.join('\n');
}

/** The progress line a terminal shows while the run goes (no newline: the CLI rewrites it). */
export function formatProgress(p: Progress): string {
  const p99 = p.p99Ms === null ? '-' : `${p.p99Ms.toFixed(1)} ms`;
  const broken = p.storeViolations ? `, ${p.storeViolations} store violations` : '';
  return `${(p.elapsedMs / 1000).toFixed(0)} s: ${p.requests} requests, ${p.perSecond} req/s, ${p.errors} errors${broken}, p99 ${p99}`;
}
