/**
 * `npm run build [-- --out DIR]`: compiles the services into dist/ (or DIR) so each runs with
 * plain `node dist/<service>/main.js`. The work is in scripts/lib/build/build.ts.
 */
import { parseArgs } from 'node:util';
import { build, DEFAULT_OUT_DIR, SERVICE_ENTRIES } from './lib/build/build.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: DEFAULT_OUT_DIR } } });
try {
  const r = await build(values.out);
  console.log(`built ${r.files} files into ${r.outDir} (assets: ${r.assets.join(', ') || 'none'})`);
  for (const [service, entry] of Object.entries(SERVICE_ENTRIES)) console.log(`  ${service}: node ${r.outDir}/${entry}`);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
