/**
 * The column limit holds (scripts/lib/layout/line-length.ts): no line of the tree passes 100
 * columns except by the length of its strings, and biome.json formats to the same limit.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { biomeLineWidth, LINE_LIMIT, longLines } from '../scripts/lib/layout/line-length.ts';
import { parseTree } from '../scripts/lib/layout/source-files.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const parse = (text: string) => ({
  rel: 'x.ts',
  sf: ts.createSourceFile('x.ts', text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS),
});

describe('the column limit', () => {
  it('no line of the tree passes it by more than its strings', () => {
    const long = longLines(parseTree(ROOT)).map(
      (l) => `${l.rel}:${l.line}: ${l.columns} columns, ${l.codeColumns} outside strings`,
    );
    expect(long).toEqual([]);
  });

  it('is the formatter’s line width too', () => {
    expect(biomeLineWidth(ROOT)).toBe(LINE_LIMIT);
  });

  it('lets a long string pass, and catches long code, a long comment, a long template with code', () => {
    const pad = 'x'.repeat(95);
    const ok = `throw new Error('${pad}');\n`;
    const code = `const ${pad} = 1;\n`;
    const comment = `// ${pad} more words\n`;
    const template = `f(\`a \${${pad}} b\`);\n`;
    expect(longLines([parse(ok)], 100)).toEqual([]);
    expect(longLines([parse(code)], 100)).toHaveLength(1);
    expect(longLines([parse(comment)], 100)).toHaveLength(1);
    // A template's substitutions count as part of it (the formatter cannot break them either).
    expect(longLines([parse(template)], 100)).toEqual([]);
    expect(longLines([parse(`${ok}${code}${comment}`)], 100).map((l) => l.line)).toEqual([2, 3]);
  });
});
