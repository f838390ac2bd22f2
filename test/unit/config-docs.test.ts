/**
 * The README's configuration table is the config table (shared/config.ts), rendered: a variable
 * added, dropped or changed in one and not the other fails here.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configTableMarkdown } from '../../shared/cli.ts';
import { SETTING_LIST } from '../../shared/config.ts';

const README = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The README's table: from its header row to the first blank line after it. */
function readmeTable(): string {
  const start = README.indexOf('| variable | default | type | read by | meaning |');
  expect(
    start,
    'the README has a configuration table with the columns variable, default, type, read by, meaning',
  ).toBeGreaterThan(0);
  const end = README.indexOf('\n\n', start);
  return README.slice(start, end);
}

describe("the README's configuration table", () => {
  it('is the config table, rendered (paste configTableMarkdown() when this fails)', () => {
    const expected = configTableMarkdown();
    expect(readmeTable(), `README.md's configuration table should be:\n\n${expected}\n`).toBe(
      expected,
    );
  });

  it('names every variable once', () => {
    const rows = readmeTable()
      .split('\n')
      .slice(2)
      .map((row) => /^\| `([A-Z_]+)` \|/.exec(row)?.[1]);
    expect(rows).toEqual(SETTING_LIST.map((s) => s.env));
    expect(new Set(rows).size).toBe(rows.length);
  });
});
