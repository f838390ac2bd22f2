/**
 * Layers point one way (README "Code layout"): every import in the tree, parsed with the
 * TypeScript compiler (scripts/lib/layout/imports.ts), against the rule: services (catalog/,
 * frontend/, order/) import only shared/ and their own folder; shared/ imports no service, tool
 * or test; the tools (scripts/) import services and shared/; nothing outside test/ imports test/.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importsOf, layeringViolation, layeringViolations } from '../scripts/lib/layout/imports.ts';
import { parseTree } from '../scripts/lib/layout/source-files.ts';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Wrong imports that another change removes, each named with the change. Every entry must still
 * be found (a stale one fails too), so the list can only shrink.
 */
const PENDING: ReadonlyArray<{ from: string; to: RegExp; until: string }> = [];

describe('the layering rule', () => {
  it('no file in the tree imports against it', () => {
    const wrong = layeringViolations(parseTree(ROOT));
    const pending = wrong.filter((v) => PENDING.some((p) => p.from === v.from && p.to.test(v.to)));
    const rest = wrong
      .filter((v) => !pending.includes(v))
      .map((v) => `${v.from}:${v.line} imports ${v.specifier}: ${v.rule}`);
    expect(rest).toEqual([]);
    const stale = PENDING.filter(
      (p) => !pending.some((v) => v.from === p.from && p.to.test(v.to)),
    ).map((p) => `${p.from}: ${p.until}`);
    expect(stale, 'pending exceptions that no longer occur: delete them').toEqual([]);
  });

  it('says which imports break it, and why', () => {
    expect(layeringViolation('order/replica.ts', 'shared/clock.ts')).toBeNull();
    expect(layeringViolation('order/replica.ts', 'order/core.ts')).toBeNull();
    expect(layeringViolation('order/peers.ts', 'catalog/store.ts')).toMatch(
      /service .* only shared/,
    );
    expect(layeringViolation('frontend/app.ts', 'scripts/lib/check/index.ts')).toMatch(/service/);
    expect(layeringViolation('shared/invariants.ts', 'order/log.ts')).toMatch(
      /shared\/ imports no service/,
    );
    expect(layeringViolation('scripts/lib/chaos/run.ts', 'order/file-log.ts')).toBeNull();
    expect(layeringViolation('scripts/sim.ts', 'test/sim/simulation.ts')).toMatch(
      /nothing outside test/,
    );
    expect(layeringViolation('catalog/main.ts', 'test/support/stack.ts')).toMatch(
      /nothing outside test/,
    );
    expect(
      layeringViolation('test/stack/store.test.ts', 'scripts/lib/invariants/index.ts'),
    ).toBeNull();
  });

  it('counts every form of import: static, type-only, re-export, dynamic, and a module named by URL', () => {
    const text = [
      "import a from './a.ts';",
      "import type { B } from '../shared/b.ts';",
      "export { c } from '../test/c.ts';",
      "const d = await import('./d.ts');",
      "type E = typeof import('../order/e.ts');",
      "const f = new URL('../scripts/f.ts', import.meta.url);",
      "const root = new URL('..', import.meta.url);",
      "import pino from 'pino';",
      'const s = \'import x from "../test/fake.ts"\';',
    ].join('\n');
    const sf = ts.createSourceFile(
      'frontend/x.ts',
      text,
      ts.ScriptTarget.ES2022,
      true,
      ts.ScriptKind.TS,
    );
    const file = { rel: 'frontend/x.ts', sf };
    expect(importsOf(file).map((e) => e.to)).toEqual([
      'frontend/a.ts',
      'shared/b.ts',
      'test/c.ts',
      'frontend/d.ts',
      'order/e.ts',
      'scripts/f.ts',
    ]);
    expect(layeringViolations([file]).map((v) => `${v.line} ${v.to}`)).toEqual([
      '3 test/c.ts',
      '5 order/e.ts',
      '6 scripts/f.ts',
    ]);
  });
});
