/**
 * The checker's human report, summary first: one line with the counts per kind, then what was
 * skipped and noted, then the violations grouped by kind, at most `maxPerKind` of each (with
 * "and N more"), so a broken run with thousands of violations still reads in a screen or two.
 */
import type { Violation } from '../invariants/index.ts';
import type { CheckReport } from './judge.ts';

export const DEFAULT_MAX_PER_KIND = 20;
const MAX_RECORDS_SHOWN = 10;

export function summaryLine(r: CheckReport): string {
  const byKind = Object.entries(r.counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const uncovered = r.uncovered > 0 ? `; ${r.uncovered} committed orders in no history` : '';
  return `check: ${r.orders} orders, ${r.replicas} replicas, ${r.violations.length} violations${byKind ? ` (${byKind})` : ''}${uncovered}`;
}

export function formatReport(r: CheckReport, maxPerKind = DEFAULT_MAX_PER_KIND): string {
  const lines = [summaryLine(r)];
  lines.push(
    `  source: ${r.mode} ${r.source}; reference log: ${r.reference ?? '(none)'}; ledger entries: ${r.ledgerEntries ?? '-'}; history events: ${r.historyEvents}`,
  );
  for (const s of r.skipped) lines.push(`  ${s}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  const byKind = new Map<string, Violation[]>();
  for (const v of r.violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v]);
  for (const [kind, list] of byKind) {
    lines.push(`${kind}: ${list.length}`);
    for (const v of list.slice(0, maxPerKind)) lines.push(...formatViolation(v));
    if (list.length > maxPerKind) lines.push(`  ... and ${list.length - maxPerKind} more ${kind}`);
  }
  return lines.join('\n');
}

function formatViolation(v: Violation): string[] {
  const lines = [`[${v.kind}] ${v.message}`];
  const recs = v.records ?? [];
  for (const rec of recs.slice(0, MAX_RECORDS_SHOWN)) lines.push(`    ${JSON.stringify(rec)}`);
  if (recs.length > MAX_RECORDS_SHOWN)
    lines.push(`    ... ${recs.length - MAX_RECORDS_SHOWN} more`);
  return lines;
}
