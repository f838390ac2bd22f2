/**
 * The Markdown report's catch-up section says which runtime every row ran: the production build
 * (as a production host restarts a replica), tsx when the build failed (with the reason), and
 * tsx for rows of a results file older than the field.
 */
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../scripts/lib/bench/markdown.ts';
import type { CatchUpRow } from '../../scripts/lib/bench/scenarios/catchup.ts';
import { evaluateTargets } from '../../scripts/lib/bench/targets.ts';
import { catchUpRow, measured } from './fixtures.ts';

function catchUpSection(rows: CatchUpRow[]): string[] {
  const r = measured({ catchUp: rows });
  const md = renderMarkdown({ ...r, targets: evaluateTargets(r) }).split('\n');
  const start = md.indexOf('## Catch-up');
  const end = md.findIndex((l, i) => i > start && l.startsWith('## '));
  return md.slice(start, end === -1 ? undefined : end);
}
const tableRows = (section: string[]) => section.filter((l) => /^\| \w/.test(l)).slice(1);

describe('the catch-up section of results.md', () => {
  it('when the rows ran on the production build, the text and every row say node', () => {
    const s = catchUpSection([catchUpRow(101_000, 1_000, 600), catchUpRow(101_000, 100_000, 300)]);
    expect(s.join('\n')).toMatch(/from the production build \(`npm run build`, plain node\)/);
    expect(s.find((l) => l.startsWith('| runtime'))).toBeDefined();
    expect(tableRows(s).map((l) => l.split('|')[1]!.trim())).toEqual(['node', 'node']);
  });

  it('when the build failed, the text says the rows ran under tsx and why', () => {
    const s = catchUpSection([
      { ...catchUpRow(101_000, 1_000, 1_400, 'tsx'), buildError: 'tsc failed (exit 2):' },
    ]);
    expect(s.join('\n')).toMatch(/under tsx, because the production build failed \(tsc failed/);
    expect(tableRows(s).map((l) => l.split('|')[1]!.trim())).toEqual(['tsx']);
  });

  it('rows of an older results file, without the field, read as tsx (all of them ran so)', () => {
    const { runtime: _, ...old } = catchUpRow(101_000, 1_000, 1_600);
    const s = catchUpSection([old as CatchUpRow]);
    expect(s.join('\n')).toMatch(/under tsx \(the TypeScript compiled at every start\)/);
    expect(tableRows(s).map((l) => l.split('|')[1]!.trim())).toEqual(['tsx']);
  });
});
