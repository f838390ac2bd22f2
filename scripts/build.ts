/**
 * `npm run build [-- --out DIR]`: compiles the services into dist/ (or DIR) so each runs with
 * plain `node dist/<service>/main.js`. The work is in scripts/lib/build/build.ts.
 */
import { parseArgs } from 'node:util';
import { printHelp, usageLine } from '../shared/cli.ts';
import { build, DEFAULT_OUT_DIR, SERVICE_ENTRIES } from './lib/build/build.ts';

const USAGE = `build: compiles the services to plain JavaScript, so each runs with node and no TypeScript at run time.

usage: npm run build [-- --out DIR]
  --out DIR    where to write (default ${DEFAULT_OUT_DIR}); the tree runs wherever it is put, with
               the production dependencies installed beside it (npm ci --omit=dev)
  -h, --help   show this help
Exit: 0 built, 1 the build failed, 2 bad flags.`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_OUT_DIR },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  console.error(usageLine('build', 'npm run build', (err as Error).message));
  process.exit(2);
}
if (values.help) printHelp(USAGE);
try {
  const r = await build(values.out);
  console.log(`built ${r.files} files into ${r.outDir} (assets: ${r.assets.join(', ') || 'none'})`);
  for (const [service, entry] of Object.entries(SERVICE_ENTRIES))
    console.log(`  ${service}: node ${r.outDir}/${entry}`);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
