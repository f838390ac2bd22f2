/**
 * The repair command's flags: either one data dir laid out as the services lay it out
 * (`DATA_DIR/catalog`, `DATA_DIR/order-N`, see README "Configuration"), or the dirs one by one.
 */
import fs from 'node:fs/promises';
import { parseFlags, UsageError } from '../cli/flags.ts';
import { RepairInputError } from './repair.ts';
import { catalogPaths, replicaIdsIn, replicaPaths } from '../../../shared/data-dir.ts';

export const USAGE = `usage:
  npm run repair -- --data-dir DIR [--dry-run]
  npm run repair -- --catalog-dir DIR --order-dir DIR[,DIR...] [--dry-run]

Repairs a catalog that refuses to start because its ledger is damaged (a corrupt record or lost
records) or its meta file is unreadable: keeps the ledger's valid prefix (the damaged file is kept
beside it), restores the purchase of every committed order whose key has no decrement left (from
the longest valid order log), adds restocks where stock would go negative, and says what it did.
Stop the catalog first. --dry-run prints the plan and writes nothing.`;

/** Where to repair: one data dir laid out as the services lay it out, or the dirs one by one. */
export type RepairSource = { dataDir: string } | { catalogDir: string; orderDirs: string[] };

export interface RepairArgs {
  help: boolean;
  /** null only with --help. */
  source: RepairSource | null;
  dryRun: boolean;
}

/** Parses the flags (argv without node and the script); throws UsageError on misuse. */
export function parseRepairArgs(argv: readonly string[]): RepairArgs {
  const values = parseFlags(argv, {
    'data-dir': { type: 'string' },
    'catalog-dir': { type: 'string' },
    'order-dir': { type: 'string', multiple: true },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  const dryRun = values['dry-run'] ?? false;
  if (values.help) return { help: true, source: null, dryRun };
  const dataDir = values['data-dir'];
  const orderDirs = (values['order-dir'] ?? [])
    .flatMap((d) => d.split(','))
    .map((d) => d.trim())
    .filter(Boolean);
  if (dataDir !== undefined) {
    if (values['catalog-dir'] !== undefined || orderDirs.length)
      throw new UsageError(
        '--data-dir replaces --catalog-dir and --order-dir; give one or the other',
      );
    if (dataDir === '') throw new UsageError('--data-dir must not be empty');
    return { help: false, source: { dataDir }, dryRun };
  }
  if (values['catalog-dir'] === undefined)
    throw new UsageError('--catalog-dir (or --data-dir) is required');
  if (orderDirs.length === 0)
    throw new UsageError('--order-dir is required: the order logs say which purchases to restore');
  return { help: false, source: { catalogDir: values['catalog-dir'], orderDirs }, dryRun };
}

/** The catalog dir and the order dirs to repair from: those given, or those of the data dir. */
export async function repairDirs(
  source: RepairSource,
): Promise<{ catalogDir: string; orderDirs: string[] }> {
  if (!('dataDir' in source)) return source;
  return {
    catalogDir: catalogPaths(source.dataDir).dir,
    orderDirs: await orderDirsIn(source.dataDir),
  };
}

/** Every `order-N` directory of a data dir, by id. */
async function orderDirsIn(dataDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dataDir);
  } catch (err) {
    throw new RepairInputError(`cannot read data dir ${dataDir}: ${(err as Error).message}`);
  }
  return replicaIdsIn(names).map((id) => replicaPaths(dataDir, id).dir);
}
