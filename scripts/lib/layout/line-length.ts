/**
 * The column limit (biome.json's `lineWidth`, 100) as a rule the tree must keep, not only the
 * formatter's target. Biome wraps code and we wrap comments, but neither can split a string literal
 * without changing what it says: like Google's and Prettier's styles, a line may pass the limit
 * only by the length of the strings, template literals and regular expressions on it (an error
 * message, a test name, the message a test expects). Anything else past the limit (code, a comment)
 * is a violation.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import type { SourceFile } from './source-files.ts';

/** The one column limit; biome.json says the same to the formatter (checked by the test). */
export const LINE_LIMIT = 100;

export interface LongLine {
  rel: string;
  /** 1-based. */
  line: number;
  columns: number;
  /** Columns of the line that are not string or template text. */
  codeColumns: number;
}

const STRINGY = new Set([
  ts.SyntaxKind.StringLiteral,
  ts.SyntaxKind.NoSubstitutionTemplateLiteral,
  ts.SyntaxKind.TemplateExpression,
  ts.SyntaxKind.RegularExpressionLiteral,
]);

/** How many columns of each line string and template literals take. */
function stringColumns(sf: ts.SourceFile): Map<number, number> {
  const byLine = new Map<number, number>();
  const visit = (node: ts.Node) => {
    if (STRINGY.has(node.kind)) {
      const start = node.getStart(sf);
      const end = node.getEnd();
      const first = sf.getLineAndCharacterOfPosition(start).line;
      const last = sf.getLineAndCharacterOfPosition(end).line;
      for (let l = first; l <= last; l++) {
        const from = Math.max(start, sf.getPositionOfLineAndCharacter(l, 0));
        const lineEnd = l === last ? end : sf.getLineEndOfPosition(from);
        byLine.set(l, (byLine.get(l) ?? 0) + Math.max(0, lineEnd - from));
      }
      return; // a template's substitutions are counted with it
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return byLine;
}

/** Lines past the limit by more than their strings (code points, as an editor counts columns). */
export function longLines(files: readonly SourceFile[], limit = LINE_LIMIT): LongLine[] {
  const out: LongLine[] = [];
  for (const { rel, sf } of files) {
    const lines = sf.text.split('\n');
    let strings: Map<number, number> | null = null;
    lines.forEach((text, i) => {
      const columns = [...text].length;
      if (columns <= limit) return;
      strings ??= stringColumns(sf);
      const codeColumns = columns - (strings.get(i) ?? 0);
      if (codeColumns > limit) out.push({ rel, line: i + 1, columns, codeColumns });
    });
  }
  return out;
}

/** biome.json's line width, so the test can hold the two to one number. */
export function biomeLineWidth(root: string): number | undefined {
  const config = JSON.parse(fs.readFileSync(path.join(root, 'biome.json'), 'utf8'));
  return config?.formatter?.lineWidth;
}
