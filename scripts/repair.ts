/**
 * `npm run repair -- --data-dir DIR`: brings back a catalog that refuses to start on a damaged
 * ledger or meta file (scripts/lib/repair/). This file only reads argv, prints and picks the exit
 * code: 0 repaired (or nothing to repair), 1 the repaired catalog would not open, 2 bad flags or
 * nothing to repair from.
 */
import { parseRepairArgs, repairDirs, USAGE } from './lib/repair/args.ts';
import { RepairInputError, repairCatalog } from './lib/repair/repair.ts';
import { toolArgs } from './lib/cli/flags.ts';
import { finish } from './lib/cli/finish.ts';

async function main(): Promise<number> {
  const args = toolArgs(
    {
      name: 'repair',
      what: 'brings back a catalog that refuses to start on a damaged ledger or meta file, from the order logs.',
      usage: USAGE,
    },
    parseRepairArgs,
  );
  try {
    const report = await repairCatalog({
      ...(await repairDirs(args.source!)),
      dryRun: args.dryRun,
    });
    for (const line of report.lines) console.log(`repair: ${line}`);
    return 0;
  } catch (err) {
    if (!(err instanceof RepairInputError)) throw err;
    console.error(`repair: ${err.message}`);
    return 2;
  }
}

finish('repair', main, 1);
