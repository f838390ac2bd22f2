/**
 * `npm run layout [-- --over N] [--roots catalog,order,...] [--root DIR]`: what a reader has to
 * hold, and whether the layers point one way. Prints every function over N lines (default 70), the
 * largest function and the longest file per root, and every import that breaks the layering rule
 * (scripts/lib/layout/imports.ts); exits 1 on a wrong import.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { printHelp, toolHelp, usageLine } from '../shared/cli.ts';
import { fileLines, functionSizes } from './lib/layout/functions.ts';
import { layeringViolations } from './lib/layout/imports.ts';
import { CODE_ROOTS, parseTree } from './lib/layout/source-files.ts';
import { finish } from './lib/cli/finish.ts';

const USAGE = `usage: npm run layout -- [--over N] [--roots catalog,order,...] [--root DIR]
  --over N      list the functions longer than N lines (default 70)
  --roots LIST  the top-level dirs to read (default ${CODE_ROOTS.join(',')})
  --root DIR    the tree to read (default this repository)
  -h, --help    this text
Exit: 0 the layers point one way, 1 an import breaks the layering rule, 2 bad flags.`;

let values: { over?: string; roots?: string; root?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      over: { type: 'string', default: '70' },
      roots: { type: 'string' },
      root: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(usageLine('layout', 'npm run layout', (err as Error).message));
  process.exit(2);
}
if (values.help)
  printHelp(
    toolHelp(
      'layout',
      'what a reader has to hold (functions over N lines, the largest function, the longest file) and whether the layers point one way.',
      USAGE,
    ),
  );
const over = Number(values.over);
if (!Number.isInteger(over) || over < 1) {
  console.error(
    usageLine(
      'layout',
      'npm run layout',
      `--over must be a positive integer, got ${JSON.stringify(values.over)}`,
    ),
  );
  process.exit(2);
}
async function main(): Promise<number> {
  const roots = values.roots ? values.roots.split(',') : [...CODE_ROOTS];
  const root = values.root ?? fileURLToPath(new URL('..', import.meta.url));
  const files = parseTree(root, roots);

  const fns = files.flatMap(functionSizes).sort((a, b) => b.lines - a.lines);
  console.log(`functions over ${over} lines: ${fns.filter((f) => f.lines > over).length}`);
  for (const f of fns.filter((f) => f.lines > over))
    console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.file}:${f.line}`);
  const longest = files
    .map((f) => ({ rel: f.rel, lines: fileLines(f) }))
    .sort((a, b) => b.lines - a.lines);
  console.log(
    `largest function: ${fns[0] ? `${fns[0].name} (${fns[0].lines} lines, ${fns[0].file})` : 'none'}`,
  );
  console.log(
    `longest file: ${longest[0] ? `${longest[0].rel} (${longest[0].lines} lines)` : 'none'}`,
  );
  const wrong = layeringViolations(files);
  console.log(`imports against the layering rule: ${wrong.length}`);
  for (const v of wrong) console.log(`  ${v.from}:${v.line} -> ${v.specifier} (${v.rule})`);
  return wrong.length ? 1 : 0;
}

finish('layout', main, 2);
