/** The checker's human report. */
import type { CheckReport } from './judge.ts';

export function summaryLine(r: CheckReport): string {
  return `check: ${r.orders} orders, ${r.replicas} replicas, ${r.violations.length} violations`;
}

const MAX_RECORDS_SHOWN = 10;

/** The human report: summary line, skipped checks, notes, then each violation with its records. */
export function formatReport(r: CheckReport): string {
  const lines = [summaryLine(r)];
  lines.push(`  source: ${r.mode} ${r.source}; reference log: ${r.reference ?? '(none)'}; ledger entries: ${r.ledgerEntries ?? '-'}; history events: ${r.historyEvents}`);
  for (const s of r.skipped) lines.push(`  ${s}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.violations.length) {
    lines.push(`violations by kind: ${Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const v of r.violations) {
      lines.push(`[${v.kind}] ${v.message}`);
      const recs = v.records ?? [];
      for (const rec of recs.slice(0, MAX_RECORDS_SHOWN)) lines.push(`    ${JSON.stringify(rec)}`);
      if (recs.length > MAX_RECORDS_SHOWN) lines.push(`    ... ${recs.length - MAX_RECORDS_SHOWN} more`);
    }
  }
  return lines.join('\n');
}

