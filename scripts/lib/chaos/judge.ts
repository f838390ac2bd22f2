/**
 * Judging a chaos run: the consistency checker (scripts/lib/check) over the stopped store's
 * data dir and the run's history. Anything the checker cannot read is itself a violation.
 */
import { checkDataDir, summaryLine } from '../check/index.ts';
import type { ChaosViolation } from './report.ts';

export interface Judgement {
  summary: string;
  violations: ChaosViolation[];
}

export async function judge(dataDir: string, historyPath: string): Promise<Judgement> {
  let report: Awaited<ReturnType<typeof checkDataDir>>;
  try {
    report = await checkDataDir(dataDir, [historyPath]);
  } catch (err) {
    const message = `the checker could not read its input: ${(err as Error).message}`;
    return {
      summary: `check: ${message}`,
      violations: [{ source: 'check', kind: 'input', message }],
    };
  }
  const extra = [...report.skipped, ...report.notes].map((s) => `  ${s}`);
  return {
    summary: [summaryLine(report), ...extra].join('\n'),
    violations: report.violations.map((v) => ({
      source: 'check' as const,
      kind: v.kind,
      message: v.message,
    })),
  };
}
